import t from 'tap'
import { fileURLToPath } from 'node:url'
import { WebSocket as NodeWebSocket } from 'ws'
import * as server from '../../plugins/signaling/messages.js'
import { SignalCode } from '../../plugins/signaling/errors.js'
import { BEARER_SUBPROTOCOL_PREFIX as SERVER_BEARER_PREFIX } from '../../plugins/auth/extract.js'
import { backoffDelay, CloseCode, endpoints, reconnectableClose, REPLAYED_TYPES, SUBPROTOCOL, type SocketConstructor } from '../../client/index.js'
import { BEARER_SUBPROTOCOL_PREFIX } from '../../client/protocol.js'

// Both WebSocket implementations the client is meant for fit its transport type (checked by tsc).
const nodeCtor: SocketConstructor = NodeWebSocket
const browserCtor: SocketConstructor | undefined = (globalThis as { WebSocket?: typeof globalThis.WebSocket }).WebSocket
// Node 22+ has a global WebSocket (undici's), Node 20 none: the suite runs on both.
const NODE_MAJOR = Number(process.versions.node.split('.')[0])

t.test('client and server constants agree (one definition, in client/protocol.ts)', async (t) => {
  t.equal(SUBPROTOCOL, server.SUBPROTOCOL)
  t.equal(BEARER_SUBPROTOCOL_PREFIX, SERVER_BEARER_PREFIX)
  for (const [name, code] of Object.entries(server.CloseCode)) {
    t.equal(CloseCode[name as keyof typeof CloseCode], code, `CloseCode.${name}`)
  }
  t.same([...REPLAYED_TYPES].sort(), [...server.REPLAYED_TYPES].sort())
  t.notOk(Object.values(server.CloseCode).includes(CloseCode.CLIENT_RECONNECTING as never), 'the client\'s own close code is not one the server uses')
  t.ok(nodeCtor)
  if (NODE_MAJOR >= 22) t.type(browserCtor, 'function', 'Node 22+ has a global WebSocket')
  else t.equal(browserCtor, undefined, 'no global WebSocket in Node 20')
})

t.test('close codes: which ones reconnect', async (t) => {
  const table = Object.values(server.CloseCode).map((code) => [code, reconnectableClose(code, false), reconnectableClose(code, true)])
  t.same(table, [
    [1001, true, true], [1007, true, true], [1008, false, false], [1009, true, true], [4001, false, true],
    [4002, true, true], [4003, false, false], [4008, true, true], [4009, false, false], [4010, true, true], [4029, true, true]
  ])
  t.equal(reconnectableClose(1000, true), false, 'our own goodbye')
  t.equal(reconnectableClose(1006, false), true, 'a dropped connection')
  t.equal(reconnectableClose(1011, false), true, 'server error: the session may still be resumable')
  t.ok(Object.values(SignalCode).every((c) => c.startsWith('SWB_')))
})

t.test('backoff grows by factor, is capped, and jitter only shortens it', async (t) => {
  const opts = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5, maxAttempts: Infinity }
  t.same([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, opts, () => 0)), [100, 200, 400, 800, 1000, 1000])
  t.same([1, 2, 5].map((n) => backoffDelay(n, opts, () => 0.999)), [50, 100, 500])
})

t.test('endpoints: either the service URL or the socket URL', async (t) => {
  t.same(endpoints('https://sb.example.com'), { http: 'https://sb.example.com', signal: 'wss://sb.example.com/v1/signal' })
  t.same(endpoints('https://sb.example.com/prefix/'), { http: 'https://sb.example.com/prefix', signal: 'wss://sb.example.com/prefix/v1/signal' })
  t.same(endpoints('http://127.0.0.1:8080'), { http: 'http://127.0.0.1:8080', signal: 'ws://127.0.0.1:8080/v1/signal' })
  t.same(endpoints('wss://sb.example.com/v1/signal'), { http: 'https://sb.example.com', signal: 'wss://sb.example.com/v1/signal' })
  t.same(endpoints('ws://sb.example.com:81/prefix/v1/signal'), { http: 'http://sb.example.com:81/prefix', signal: 'ws://sb.example.com:81/prefix/v1/signal' })
  t.same(endpoints('wss://sb.example.com'), { http: 'https://sb.example.com', signal: 'wss://sb.example.com/v1/signal' })
  t.throws(() => endpoints('sb.example.com'), TypeError)
  t.throws(() => endpoints('ftp://sb.example.com'), /expected http/)
})

t.test('the client bundles for browsers without any server code or Node module', async (t) => {
  const esbuild = await import('esbuild')
  const entry = fileURLToPath(new URL('../../client/index.ts', import.meta.url))
  const result = await esbuild.build({ entryPoints: [entry], bundle: true, platform: 'browser', format: 'esm', write: false, metafile: true, logLevel: 'silent' })
  const inputs = Object.keys(result.metafile.inputs)
  t.ok(inputs.length > 0 && inputs.every((path) => path.startsWith('client/')), `only client/ modules: ${inputs.join(', ')}`)
  const code = result.outputFiles[0]?.text ?? ''
  t.notMatch(code, /typebox|node:|require\(/i)
  // Unminified, PeerCall included; the package's minified browser bundle is about half of this.
  t.ok(code.length < 90_000, `small (${code.length} bytes)`)
})
