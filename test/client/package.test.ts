import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { build, listen } from '../helpers/build.js'
import { signTestToken } from '../helpers/tokens.js'
import { launchBrowser, requireE2E } from '../helpers/browser.js'
import { packAndInstallClient, ROOT, runOrExplain } from '../helpers/client-package.js'

/**
 * @switchboard/client as its users get it: `npm pack`, installed from the tarball into a fresh
 * project, type-checked under `strict`, run in Node (with `ws`) against a real instance, and its
 * browser bundle loaded in Chromium against the same instance.
 */

const TSC = join(ROOT, 'node_modules/typescript/bin/tsc')
// npm pack (tsc + esbuild), npm install and a strict tsc run: about 15 s on an idle machine, much more on a busy one.
t.setTimeout(300_000)

// A consumer program: two users meet in a room and exchange a message; TURN credentials fetched.
const PROGRAM = `
import { WebSocket } from 'ws'
import { SwitchboardClient, SwitchboardError, PeerCall, encodeTurnCredentials, type PeerCallOptions, type ServerMessageOf } from '@switchboard/client'

const url = process.env.SWB_URL ?? ''
const room = process.env.SWB_ROOM ?? ''
const alice = new SwitchboardClient({ url, token: process.env.SWB_TOKEN_A ?? '', WebSocket })
const bob = new SwitchboardClient({ url, token: () => process.env.SWB_TOKEN_B ?? '', WebSocket })
const welcome = await alice.connect()
await bob.connect()
await alice.join(room, { name: 'Alice' })
const joined = await bob.join(room)
const received = bob.waitFor('message', { timeoutMs: 5000 })
alice.send(room, { hello: 'bob' })
const message: ServerMessageOf<'message'> = await received
const ice = await alice.getIceServers()
let refused = ''
try {
  await alice.join('bad room name!')
} catch (err) {
  if (err instanceof SwitchboardError) refused = err.code
}
// PeerCall's types are part of the package too (the call itself is proven by the PeerCall tests).
const options: Partial<PeerCallOptions> = { room, adaptIceServers: encodeTurnCredentials, iceRestart: { maxAttempts: 3 } }
await alice.close()
await bob.close()
console.log(JSON.stringify({
  peerId: welcome.peerId, others: joined.peers.map((p) => p.meta?.name), data: message.data,
  iceServers: ice.iceServers.length, refused, peerCall: typeof PeerCall, options: Object.keys(options)
}))
`

t.test('npm pack → install → strict type-check → Node → Chromium', async (t) => {
  const pkg = await packAndInstallClient(t)
  t.ok(pkg.files.includes('package/package.json'))
  for (const file of ['index.js', 'index.d.ts', 'peer-call.js', 'peer-call.d.ts', 'switchboard-client.browser.js']) {
    t.ok(pkg.files.includes(`package/dist/${file}`), `the tarball has dist/${file}`)
  }
  t.notOk(pkg.files.some((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts')), 'no TypeScript sources, only the build')
  const manifest = JSON.parse(readFileSync(join(pkg.app, 'node_modules/@switchboard/client/package.json'), 'utf8')) as Record<string, unknown>
  t.equal(manifest.name, '@switchboard/client')
  t.equal(manifest.sideEffects, false)
  t.notOk('dependencies' in manifest, 'no runtime dependencies')

  // Type-check and compile the consumer under strict, resolving the package through its exports map.
  writeFileSync(join(pkg.app, 'main.ts'), PROGRAM)
  writeFileSync(join(pkg.app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM'], types: ['node'], strict: true, skipLibCheck: false, outDir: 'out' },
    files: ['main.ts']
  }))
  await runOrExplain(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: pkg.app })
  t.pass('the program type-checks under strict (declaration files included: skipLibCheck false)')

  const app = await build(t, { AUDIT_LOG_LEVEL: 'silent', CORS_ORIGINS: '*' })
  const origin = await listen(app)
  const room = `pkg-${randomBytes(4).toString('hex')}`
  const env = { ...process.env, SWB_URL: origin, SWB_ROOM: room, SWB_TOKEN_A: await signTestToken({ sub: 'alice' }), SWB_TOKEN_B: await signTestToken({ sub: 'bob' }) }
  const out = await runOrExplain(process.execPath, ['out/main.js'], { cwd: pkg.app, env, timeout: 20_000 })
  const result = JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, unknown>
  t.match(result, { others: ['Alice'], data: { hello: 'bob' }, refused: 'SWB_INVALID_MESSAGE', peerCall: 'function' }, 'runs in Node against a real instance')
  t.ok((result.iceServers as number) > 0, 'TURN credentials fetched')

  const { skip } = requireE2E(t, { turnserver: false })
  if (skip !== false) return
  const browser = await launchBrowser(t)
  const page = await (await browser.newContext()).newPage()
  const bundle = readFileSync(join(pkg.app, 'node_modules/@switchboard/client/dist/switchboard-client.browser.js'), 'utf8')
  // The app's page comes from its own origin, as in production: the instance lists it in CORS_ORIGINS.
  // (page.route could serve it, but routing a page breaks its WebSockets.)
  const site = createServer((req, res) => {
    const js = req.url === '/switchboard-client.browser.js'
    res.writeHead(200, { 'content-type': js ? 'text/javascript' : 'text/html' })
    res.end(js ? bundle : '<!doctype html><title>app</title>')
  })
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => site.close(resolve)))
  const siteOrigin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`
  await page.goto(`${siteOrigin}/`)
  const token = await signTestToken({ sub: 'carol' })
  const inBrowser = await page.evaluate(async ({ token, room, origin }) => {
    const sb = await import('/switchboard-client.browser.js' as string) as typeof import('../../client/index.js')
    const client = new sb.SwitchboardClient({ url: origin, token })
    const welcome = await client.connect()
    const joined = await client.join(room)
    const call = new sb.PeerCall(client, { room, peerId: 'someone-else', iceServers: false })
    const state = (await call.ready).connectionState
    call.close()
    await client.close()
    return { peerId: welcome.peerId, peers: joined.peers.length, state, exports: Object.keys(sb).length }
  }, { token, room: `${room}-browser`, origin })
  t.type(inBrowser.peerId, 'string', 'the bundle connects from Chromium')
  t.equal(inBrowser.state, 'new', 'and a PeerCall on the browser\'s RTCPeerConnection')
})
