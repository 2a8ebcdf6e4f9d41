import t from 'tap'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { Socket, type AddressInfo } from 'node:net'
import { buildApp } from '../../../src/app.js'
import { pair, signalingServer } from '../../helpers/signaling-harness.js'
import { build, listen } from '../../helpers/build.js'
import { testConfig } from '../../helpers/config.js'
import { signTestToken } from '../../helpers/tokens.js'
import { WsPeer, until } from '../../helpers/ws-peer.js'

const JITTER = 400

t.test('drain: ready 503 at once, joins refused, clients told to reconnect, resume still works', async (t) => {
  const h = await signalingServer(t, { RECONNECT_JITTER_MS: JITTER, RESUME_GRACE_SECONDS: 3600 })
  const [a, b] = await pair(h, 'r')
  const idle = await h.connect('idle')
  t.equal((await h.app.inject('/health/ready')).statusCode, 200)

  // Far off, so that every step below happens during the drain however busy the machine is; the clients
  // move on at the end, which ends it. The deadline itself has its own test below.
  const deadlineMs = 60_000
  const drained = h.app.signaling.drain(deadlineMs)

  const ready = await h.app.inject('/health/ready')
  t.equal(ready.statusCode, 503, 'readiness fails at once')
  t.match(ready.json(), { status: 'not-ready', draining: true })
  const preflight = await h.app.inject({ url: '/v1/signal/preflight', headers: { authorization: `Bearer ${await h.token('new')}` } })
  t.equal(preflight.statusCode, 503)
  t.match(preflight.json(), { code: 'SWB_DRAINING' })

  for (const p of [a, b, idle]) {
    const reconnect = await p.next('reconnect')
    t.match(reconnect, { type: 'reconnect', reason: 'draining' })
    t.ok(Number.isInteger(reconnect.afterMs) && (reconnect.afterMs as number) >= 0 && (reconnect.afterMs as number) <= JITTER, `afterMs ${String(reconnect.afterMs)} within [0, ${JITTER}]`)
    t.equal(reconnect.seq, p.lastSeq, 'transient: carries the current seq')
  }

  idle.send({ type: 'join', id: 'late-join', room: 'r2' })
  t.match(await idle.errorFor('late-join'), { code: 'SWB_DRAINING' })

  // Calls in progress carry on until the client moves.
  a.send({ type: 'offer', room: 'r', to: b.peerId, sdp: 'v=0 during drain' })
  t.match(await b.next('offer'), { sdp: 'v=0 during drain' })

  // A client whose network blips during the drain can still resume here.
  a.drop()
  await a.closed
  const resumed = h.track(await WsPeer.resume(h.base, await h.token('doctor'), a))
  t.match(resumed.welcome, { resumed: true, peerId: a.peerId, rooms: ['r'] })
  t.match(await resumed.next('reconnect'), { reason: 'draining' }, 'and is told to move on as well')
  resumed.send({ type: 'answer', room: 'r', to: b.peerId, sdp: 'v=0 after resume' })
  t.match(await b.next('answer'), { from: a.peerId })

  await b.sync()
  t.same(b.ofType('peer-left'), [], 'a drain is not a goodbye: nobody was told a peer left')
  for (const p of [b, idle, resumed]) p.close(4000)
  await drained
  t.same([b, idle, resumed].map((p) => p.closeCode), [4000, 4000, 4000], 'nobody was closed by the server meanwhile')
})

t.test('whoever has not moved on by the deadline is closed with 1001, not before', async (t) => {
  const h = await signalingServer(t, { RECONNECT_JITTER_MS: JITTER, RESUME_GRACE_SECONDS: 3600 })
  const [a, b] = await pair(h, 'r')
  const deadlineMs = 300
  const started = Date.now()
  const drained = h.app.signaling.drain(deadlineMs)
  // The timeouts only fail fast: ws's own close timeout (30 s) is what a missing close would wait for.
  const codes = await Promise.all([a, b].map(async (p) => p.waitClosed(deadlineMs + 10_000)))
  t.same(codes, [1001, 1001], 'closed with 1001 (going away)')
  t.ok(Date.now() - started >= deadlineMs - 60, `not before the deadline (${Date.now() - started} ms)`)
  await drained
  t.same([...a.ofType('peer-left'), ...b.ofType('peer-left')], [], 'a drain is not a goodbye: nobody was told a peer left')
})

t.test('drain returns as soon as every client has moved on', async (t) => {
  const h = await signalingServer(t, { RECONNECT_JITTER_MS: 0 })
  const peers = await Promise.all(['a', 'b', 'c'].map(async (u) => h.connect(u)))
  const deadlineMs = 60_000
  const started = Date.now()
  const drained = h.app.signaling.drain(deadlineMs)
  for (const p of peers) {
    t.match(await p.next('reconnect'), { afterMs: 0 }, 'RECONNECT_JITTER_MS=0: reconnect at once')
    // A client that means to resume elsewhere must not close with 1000 (that ends its session).
    p.close(4000)
  }
  await drained
  // Bounded by a fraction of the deadline, so a busy machine cannot pass for a drain that waited it out.
  t.ok(Date.now() - started < deadlineMs / 4, `drained in ${Date.now() - started} ms, not at the ${deadlineMs / 1000} s deadline`)
})

t.test('a second drain() call is harmless', async (t) => {
  const h = await signalingServer(t, { RECONNECT_JITTER_MS: 0 })
  const p = await h.connect('a')
  const first = h.app.signaling.drain(300)
  await h.app.signaling.drain(300)
  await first
  t.equal(p.ofType('reconnect').length, 1, 'one reconnect only')
  t.equal(await p.waitClosed(), 1001)
})

t.test('app.close() closes every socket with 1001', async (t) => {
  const app = await build(t)
  const base = await listen(app)
  const peers = await Promise.all(['a', 'b'].map(async (u) => WsPeer.connect(base, await signTestToken({ sub: u }))))
  const paused = await WsPeer.connect(base, await signTestToken({ sub: 'unresponsive' }))
  t.teardown(() => { for (const p of [...peers, paused]) p.drop() })
  peers[0]?.send({ type: 'join', room: 'r' })
  await peers[0]?.next('joined')
  paused.socket.pause() // never answers the closing handshake

  const started = Date.now()
  await app.close()
  // An unresponsive client is terminated a second after its close frame; without that, ws would wait for
  // its 30 s close timeout. The bound sits between the two, well clear of either on a busy machine.
  t.ok(Date.now() - started < 10_000, `app.close() finished in ${Date.now() - started} ms even with an unresponsive client`)
  for (const p of peers) t.equal(await p.waitClosed(), 1001)
  paused.socket.resume()
  await paused.waitClosed()
  await until(() => app.signaling.hub.connections.size === 0, 'every connection to be released')
})

t.test('an upgrade read while app.close() runs gets a 503 and its connection closed; close() finishes', async (t) => {
  const app = await buildApp(testConfig())
  t.teardown(() => app.close())
  const client = new Socket()
  t.teardown(() => client.destroy())
  const request = `GET /v1/signal HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n` +
    `Authorization: Bearer ${await signTestToken({ sub: 'late' })}\r\n\r\n`
  let response = ''
  let responded: () => void = () => {}
  const answered = new Promise<void>((resolve) => { responded = resolve })
  client.setEncoding('utf8')
  client.on('data', (chunk: string) => { response += chunk; if (response.includes('\r\n\r\n')) responded() })
  // A shutdown step that takes a while: the upgrade request is read during it, once requests get 503.
  app.addHook('preClose', async () => {
    client.write(request)
    await answered
  })
  await app.ready()
  await listen(app)
  client.connect((app.server.address() as AddressInfo).port, '127.0.0.1')
  const [serverSide] = await once(app.server, 'connection') as [Socket]
  const ended = new Promise<boolean>((resolve) => {
    // Bounded: a connection the server forgot stays open until the client gives up; this one does after 5 s.
    const timer = setTimeout(() => resolve(false), 5000)
    client.once('end', () => { clearTimeout(timer); resolve(true) })
  })

  const closed = app.close()
  await answered
  t.match(response, /^HTTP\/1\.1 503 /, 'the late upgrade is refused with 503')
  const serverEnded = await ended
  t.ok(serverEnded, 'the server ends the connection (the client need not hang up)')
  // Else release it, or close() would wait for it for ever.
  if (!serverEnded) serverSide.destroy()
  await closed
})

t.test('a connection still being set up when app.close() closes the others is closed with 1001 too; close() finishes', async (t) => {
  const app = await build(t)
  const base = await listen(app)
  const hub = app.signaling.hub
  // The token check of the upgrade below is held until the hub has closed every connection it had.
  let verifying: () => void = () => {}
  const verifyStarted = new Promise<void>((resolve) => { verifying = resolve })
  let release: () => void = () => {}
  const released = new Promise<void>((resolve) => { release = resolve })
  const verify = app.auth.verify
  app.auth.verify = async (token) => {
    verifying()
    await released
    return verify(token)
  }
  const closeHub = hub.close.bind(hub)
  hub.close = () => {
    closeHub()
    release()
  }
  const opening = WsPeer.open(base, await signTestToken({ sub: 'late' }))
  await verifyStarted
  const closed = app.close()
  const peer = await opening
  const code = await peer.waitClosed(5000).catch(() => undefined)
  t.equal(code, 1001, 'closed like the connections that were there when close() began')
  t.same(peer.received.map((m) => m.type), [], 'no welcome: the session was never offered')
  // Else release it, or close() would wait for it for ever.
  if (code === undefined) peer.drop()
  await closed
})
