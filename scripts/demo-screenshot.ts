/**
 * Takes a screenshot of the demo page in an established, relayed call, so a person can see what
 * users see. Everything is real and local: a Switchboard instance (development mode), a coturn on
 * 127.0.0.1 whose secret matches TURN_SECRET, and headless Chromium with fake camera and microphone.
 *
 *   npx tsx scripts/demo-screenshot.ts [--out docs/demo-screenshot.jpg]
 *
 * Needs /usr/bin/chromium (or CHROMIUM_PATH) and turnserver. Every process it starts is stopped on exit.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { chromium } from 'playwright-core'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../test/helpers/browser.js'
import { connected, openPair } from '../test/helpers/e2e-demo.js'
import { startTurnServer } from '../test/helpers/turnserver.js'

const { values } = parseArgs({ options: { out: { type: 'string', default: 'docs/demo-screenshot.jpg' } } })
const out = resolve(values.out ?? 'docs/demo-screenshot.jpg')

/** Cleanups run in reverse order, whatever happens (the helpers register theirs here). */
const cleanups: Array<() => unknown> = []
const scope = {
  teardown (fn: () => unknown) { cleanups.push(fn) },
  fail (message: string) { throw new Error(message) },
  comment (message: string) { console.log(message) }
}
async function cleanup (): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn()
    } catch (err) {
      console.error('cleanup failed:', (err as Error).message)
    }
  }
}
process.once('SIGINT', () => { void cleanup().then(() => process.exit(130)) })

async function main (): Promise<void> {
  const secret = randomBytes(16).toString('hex')
  const turn = await startTurnServer(scope, { secrets: [secret] })
  const config = loadConfig({
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'error',
    AUDIT_LOG_LEVEL: 'silent',
    TURN_SECRET: secret,
    TURN_URLS: `turn:127.0.0.1:${turn.port}?transport=udp`,
    STUN_URLS: `stun:127.0.0.1:${turn.port}`
  })
  const app = await buildApp(config)
  cleanups.push(() => app.close())
  const origin = await app.listen({ host: '127.0.0.1', port: 0 })

  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS })
  cleanups.push(() => browser.close())
  const { a, b } = await openPair(browser, origin, { room: 'consultation-42', relay: true }, scope)
  await Promise.all([a, b].map((p) => p.waitFor('connected over relay', (s) => connected(s) && s.selected?.local === 'relay')))
  await a.chat('Hello, can you hear me?')
  await b.chat('Loud and clear, through the relay.')
  // Let some video play and a round-trip time arrive, as a user would see after a few seconds.
  const state = await a.waitFor('showing frames and a round-trip time', (s) => s.media.videoFramesDecoded > 30 && s.selected?.rttMs !== undefined, 15_000)

  mkdirSync(dirname(out), { recursive: true })
  await a.page.screenshot({ path: out, type: out.endsWith('.png') ? 'png' : 'jpeg', ...(out.endsWith('.png') ? {} : { quality: 80 }), fullPage: true })
  const pair = state.selected
  console.log(`call: ${pair?.local}/${pair?.relayProtocol ?? '?'} → ${pair?.remote}, rtt ${pair?.rttMs} ms, ${state.media.videoFramesDecoded} frames decoded`)
  console.log(`screenshot: ${out} (${Math.round(statSync(out).size / 1024)} KiB)`)
}

try {
  await main()
} catch (err) {
  console.error('demo-screenshot failed:', (err as Error).message)
  process.exitCode = 1
} finally {
  await cleanup()
}
