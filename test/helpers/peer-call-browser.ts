import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser, Page } from 'playwright-core'
import type { HarnessInfo, StartOptions } from './peer-call-page.js'

/**
 * Serves peer-call-page.ts (with the client) on its own loopback origin, as an app would, and opens
 * pages on it. The instance must allow that origin (CORS_ORIGINS).
 */

interface Teardown { teardown (fn: () => unknown): void }

export async function servePeerCallPage (t: Teardown): Promise<string> {
  const { build } = await import('esbuild')
  const result = await build({
    entryPoints: [new URL('./peer-call-page.ts', import.meta.url).pathname],
    bundle: true, write: false, format: 'esm', platform: 'browser', target: ['chrome111'], logLevel: 'silent'
  })
  const js = result.outputFiles[0]?.text ?? ''
  const site = createServer((req, res) => {
    const script = req.url === '/harness.js'
    res.writeHead(200, { 'content-type': script ? 'text/javascript' : 'text/html' })
    res.end(script ? js : '<!doctype html><title>PeerCall</title><script type="module" src="/harness.js"></script>')
  })
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => site.close(resolve)))
  return `http://127.0.0.1:${(site.address() as AddressInfo).port}`
}

export interface HarnessPage {
  page: Page
  start (options: StartOptions): Promise<void>
  openChannel (label: string): Promise<void>
  roundTrip (): Promise<number>
  restartIce (): Promise<void>
  /** Offers made from now on wait for releaseOffers() (to make two offers cross for sure). */
  holdOffers (): Promise<void>
  releaseOffers (): Promise<void>
  info (): Promise<HarnessInfo>
  /** Polls info() until `predicate` holds; fails with the last info after `timeoutMs`. */
  waitFor (what: string, predicate: (info: HarnessInfo) => boolean, timeoutMs?: number): Promise<HarnessInfo>
}

export async function openHarness (t: Teardown, browser: Browser, site: string): Promise<HarnessPage> {
  const context = await browser.newContext()
  t.teardown(() => context.close().catch(() => {}))
  const page = await context.newPage()
  await page.goto(site)
  await page.waitForFunction(() => window.harness !== undefined, undefined, { timeout: 10_000 })
  const info = async (): Promise<HarnessInfo> => page.evaluate(async () => window.harness.snapshot())
  return {
    page,
    start: async (options) => page.evaluate(async (o) => window.harness.start(o), options),
    openChannel: async (label) => page.evaluate(async (l) => window.harness.openChannel(l), label),
    roundTrip: async () => page.evaluate(async () => window.harness.roundTrip()),
    restartIce: async () => page.evaluate(async () => window.harness.restartIce()),
    holdOffers: async () => page.evaluate(() => window.harness.holdOffers()),
    releaseOffers: async () => page.evaluate(() => window.harness.releaseOffers()),
    info,
    async waitFor (what, predicate, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const now = await info()
        if (predicate(now)) return now
        if (Date.now() > deadline) throw new Error(`not ${what} within ${timeoutMs} ms: ${JSON.stringify(now)}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
  }
}
