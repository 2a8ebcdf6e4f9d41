import t from 'tap'
import { WebSocket } from 'ws'
import type { SocketLike } from '../../client/transport.js'
import type { CloseEvent, DroppedEvent, ReconnectingEvent, ServerMessageOf } from '../../client/index.js'
import { signTestToken } from '../helpers/tokens.js'
import { connectedClient, dropServerSide, makeClient, startServer, until } from './helpers.js'

t.test('after a drop the client resumes by itself: messages sent meanwhile arrive exactly once, in order', async (t) => {
  const { app, base } = await startServer(t)
  const alice = await connectedClient(t, base, 'alice')
  // A slower first retry, so that Alice's messages really are sent while Bob is away.
  const bob = await connectedClient(t, base, 'bob', { reconnect: { initialDelayMs: 150, jitter: 0 } })
  await alice.join('r')
  await bob.join('r')
  const bobPeerId = bob.peerId

  const received: unknown[] = []
  bob.on('message', (m) => received.push(m.data))
  const aliceGot: unknown[] = []
  alice.on('message', (m) => aliceGot.push(m.data))
  const peerLeft: Array<ServerMessageOf<'peer-left'>> = []
  alice.on('peer-left', (m) => peerLeft.push(m))
  const lifecycle: string[] = []
  bob.on('close', (e: CloseEvent) => lifecycle.push(`close:${e.code}:${String(e.willReconnect)}`))
  bob.on('reconnecting', (e: ReconnectingEvent) => lifecycle.push(`reconnecting:${e.attempt}:${e.reason}`))
  bob.on('resumed', () => lifecycle.push('resumed'))
  bob.on('session-lost', () => lifecycle.push('session-lost'))

  for (let i = 1; i <= 3; i++) alice.send('r', `m${i}`, bobPeerId)
  await until(() => received.length === 3, 2000, 'the first three messages')
  const seqBeforeDrop = bob.lastSeq

  const closed = bob.waitFor('close', { timeoutMs: 2000 })
  dropServerSide(app, bobPeerId)
  await closed
  t.equal(bob.state, 'reconnecting')
  for (let i = 4; i <= 8; i++) alice.send('r', `m${i}`, bobPeerId)
  // Sent while disconnected: queued, then flushed once the session is resumed.
  bob.send('r', 'from-bob-while-away', alice.peerId)
  t.equal(bob.queued, 1)

  const resumed = await bob.waitFor('resumed', { timeoutMs: 3000 })
  t.match(resumed, { resumed: true, peerId: bobPeerId, rooms: ['r'], seq: seqBeforeDrop }, 'same peer, same rooms; welcome.seq is the lastSeq presented')
  await until(() => received.length >= 8 && aliceGot.length === 1, 2000, 'the replay and the flushed queue')
  t.same(received, ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8'], 'exactly once, in order')
  t.same(aliceGot, ['from-bob-while-away'])
  t.equal(bob.queued, 0)
  t.same(lifecycle, ['close:1006:true', 'reconnecting:1:dropped', 'resumed'])
  t.same(peerLeft, [], 'Alice never saw Bob leave')
  t.ok(bob.lastSeq > seqBeforeDrop)

  // Live traffic continues on the new socket, and a second drop resumes again from the new lastSeq.
  dropServerSide(app, bobPeerId)
  alice.send('r', 'm9', bobPeerId)
  await bob.waitFor('resumed', { timeoutMs: 3000 })
  await until(() => received.length >= 9, 2000, 'm9')
  t.same(received.slice(8), ['m9'])
})

/**
 * `ws`, except that the first resume attempt after `loseNextResumeWelcome()` dies on its first message:
 * the server rotated the token and sent the welcome, and the client never read it.
 */
class LossyWebSocket implements SocketLike {
  static losing = false
  static lost = 0
  static loseNextResumeWelcome (): void { LossyWebSocket.losing = true }
  private readonly ws: WebSocket
  onopen: SocketLike['onopen'] = null
  onmessage: SocketLike['onmessage'] = null
  onclose: SocketLike['onclose'] = null
  onerror: SocketLike['onerror'] = null

  constructor (url: string, protocols?: string | string[]) {
    this.ws = new WebSocket(url, protocols)
    const lose = LossyWebSocket.losing && new URL(url).searchParams.has('resume')
    if (lose) LossyWebSocket.losing = false
    this.ws.onopen = (e) => this.onopen?.(e)
    this.ws.onmessage = (e) => {
      // Everything this socket received is lost (ws still emits what arrived in the same read).
      if (lose) {
        if (this.ws.readyState === WebSocket.OPEN) LossyWebSocket.lost++
        this.ws.terminate()
        return
      }
      this.onmessage?.(e)
    }
    this.ws.onclose = (e) => this.onclose?.(e)
    this.ws.onerror = (e) => this.onerror?.(e)
  }

  get readyState (): number { return this.ws.readyState }
  get protocol (): string { return this.ws.protocol }
  send (data: string): void { this.ws.send(data) }
  close (code?: number, reason?: string): void { this.ws.close(code, reason) }
}

t.test('a welcome lost with its socket: the client resumes again with the token it has, and nothing is lost', async (t) => {
  const { app, base } = await startServer(t)
  const alice = await connectedClient(t, base, 'alice')
  const bob = await connectedClient(t, base, 'bob', { WebSocket: LossyWebSocket, reconnect: { initialDelayMs: 50, maxDelayMs: 50, jitter: 0 } })
  await alice.join('r')
  await bob.join('r')
  const bobPeerId = bob.peerId
  const received: unknown[] = []
  bob.on('message', (m) => received.push(m.data))
  const peerLeft: unknown[] = []
  alice.on('peer-left', (m) => peerLeft.push(m))
  const lifecycle: string[] = []
  bob.on('reconnecting', (e: ReconnectingEvent) => lifecycle.push(`reconnecting:${e.attempt}:${e.reason}`))
  bob.on('resumed', () => lifecycle.push('resumed'))
  bob.on('session-lost', () => lifecycle.push('session-lost'))

  alice.send('r', 'm1', bobPeerId)
  await until(() => received.length === 1, 2000, 'm1')
  LossyWebSocket.loseNextResumeWelcome()
  dropServerSide(app, bobPeerId)
  for (let i = 2; i <= 6; i++) alice.send('r', `m${i}`, bobPeerId)

  const resumed = await bob.waitFor('resumed', { timeoutMs: 3000 })
  t.equal(LossyWebSocket.lost, 1, 'one resumed socket died before the client read its welcome')
  t.match(resumed, { resumed: true, peerId: bobPeerId, rooms: ['r'] })
  await until(() => received.length >= 6, 2000, 'the replay')
  t.same(received, ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'], 'exactly once, in order')
  t.same(lifecycle, ['reconnecting:1:dropped', 'reconnecting:2:retry', 'resumed'], 'no session-lost')
  t.same(peerLeft, [], 'Alice never saw Bob leave')
})

t.test('a join in flight when the socket drops is answered after the resume', async (t) => {
  const { app, base } = await startServer(t)
  const bob = await connectedClient(t, base, 'bob', { reconnect: { initialDelayMs: 100, jitter: 0 } })
  // Dropped before the join is written: it waits in the queue and goes out after the resume.
  dropServerSide(app, bob.peerId)
  await bob.waitFor('close', { timeoutMs: 2000 })
  const joined = bob.join('late')
  t.match(await joined, { type: 'joined', room: 'late' })
  t.match(bob.welcome, { resumed: true })
})

t.test('when the grace period is over, the client gets session-lost and a fresh session', async (t) => {
  const { app, base } = await startServer(t, { RESUME_GRACE_SECONDS: 0.1 })
  const alice = await connectedClient(t, base, 'alice')
  const bob = await connectedClient(t, base, 'bob', { reconnect: { initialDelayMs: 400, jitter: 0 } })
  await alice.join('r')
  await bob.join('r')
  const oldPeerId = bob.peerId

  const timedOut = alice.waitFor('peer-left', { timeoutMs: 2000 })
  dropServerSide(app, oldPeerId)
  await bob.waitFor('close', { timeoutMs: 2000 })
  const dropped: DroppedEvent[] = []
  bob.on('dropped', (e) => dropped.push(e))
  bob.send('r', 'meant for the old session')
  const queuedJoin = bob.join('r')

  t.match(await timedOut, { room: 'r', peerId: oldPeerId, reason: 'timeout' })
  // The app's job on session-lost: join again. The client is already open when the event fires.
  const rejoined = new Promise((resolve, reject) => {
    bob.once('session-lost', () => { bob.join('r').then(resolve, reject) })
  })
  const lost = await bob.waitFor('session-lost', { timeoutMs: 3000 })
  t.match(lost, { code: 'SWB_RESUME_EXPIRED', welcome: { resumed: false, resumeError: { code: 'SWB_RESUME_EXPIRED' } } })
  t.not(bob.peerId, oldPeerId, 'a new peer id')
  t.equal(bob.lastSeq, 0, 'the new session counts from 0')
  await t.rejects(queuedJoin, { code: 'SWB_RESUME_EXPIRED' }, 'requests meant for the old session fail with the reason')
  t.match(dropped.map((d) => [d.message.type, d.error.code]), [['message', 'SWB_RESUME_EXPIRED'], ['join', 'SWB_RESUME_EXPIRED']])
  t.match(await rejoined, { room: 'r', peers: [{ peerId: alice.peerId }] })
  t.match(await alice.waitFor('peer-joined', { timeoutMs: 2000 }), { peer: { peerId: bob.peerId } })
})

t.test('close() ends the session at once: the other peer gets peer-left "left"', async (t) => {
  const { base } = await startServer(t, { RESUME_GRACE_SECONDS: 60 })
  const alice = await connectedClient(t, base, 'alice')
  const bob = await connectedClient(t, base, 'bob')
  await alice.join('r')
  await bob.join('r')
  const left = alice.waitFor('peer-left', { timeoutMs: 2000 })
  const reconnecting: ReconnectingEvent[] = []
  bob.on('reconnecting', (e) => reconnecting.push(e))
  await bob.close()
  t.match(await left, { room: 'r', peerId: bob.peerId, reason: 'left' })
  t.equal(bob.state, 'closed')
  t.same(reconnecting, [], 'no reconnect after close()')
})

t.test('an unresponsive connection is detected by the client and resumed on a new socket', async (t) => {
  const { app, base } = await startServer(t)
  const bob = await connectedClient(t, base, 'bob', { pingIntervalMs: 100 })
  await bob.join('r')
  const peerId = bob.peerId
  // The server stops reading this socket: nothing the client sends is answered any more (a half-open TCP).
  app.signaling.hub.connections.get(peerId!)?.socket.pause()
  const closed = await bob.waitFor('close', { timeoutMs: 2000 })
  t.match(closed, { code: 4000, reason: 'unresponsive', willReconnect: true })
  t.match(await bob.waitFor('resumed', { timeoutMs: 2000 }), { peerId, rooms: ['r'] })
})

t.test('automatic reconnect can be turned off', async (t) => {
  const { app, base } = await startServer(t)
  const bob = await connectedClient(t, base, 'bob', { reconnect: false })
  const closed = bob.waitFor('close', { timeoutMs: 2000 })
  dropServerSide(app, bob.peerId)
  t.match(await closed, { code: 1006, willReconnect: false })
  t.equal(bob.state, 'closed')
  t.throws(() => bob.send('r', 'x'), { code: 'SWB_CLIENT_CLOSED' })
})

t.test('reconnect attempts back off and give up after maxAttempts when the server is gone', async (t) => {
  const { app, base } = await startServer(t)
  const bob = await connectedClient(t, base, 'bob', { reconnect: { initialDelayMs: 10, factor: 2, jitter: 0, maxAttempts: 3 } })
  const attempts: ReconnectingEvent[] = []
  bob.on('reconnecting', (e) => attempts.push(e))
  const finalClose = bob.waitFor('close', { filter: (e) => !e.willReconnect, timeoutMs: 5000 })
  await app.close()
  const last = await finalClose
  t.match(last, { willReconnect: false, error: { code: 'SWB_CLIENT_NETWORK' } })
  t.same(attempts.map((a) => [a.attempt, a.delayMs, a.reason]), [[1, 10, 'dropped'], [2, 20, 'retry'], [3, 40, 'retry']])
  t.equal(bob.state, 'closed')
})

t.test('a token-expired close without a token function stops; with one, the client reconnects', async (t) => {
  const { base } = await startServer(t)
  const exp = Math.floor(Date.now() / 1000) + 2
  // Static token: nothing can renew it.
  const fixed = await connectedClient(t, base, 'fixed', { token: await signTestToken({ sub: 'fixed', exp }) })
  // Listened for from here on: on a busy machine exp may pass while the other client is still being set
  // up, and a close that happened before waitFor() was called would never be seen.
  const fixedClosed = fixed.waitFor('close', { timeoutMs: 15_000 })
  // Token function that only renews with the same expiry first (refresh cannot help), then properly.
  let calls = 0
  const renewing = makeClient(t, base, {
    token: async () => (++calls <= 2 ? signTestToken({ sub: 'renewing', exp }) : signTestToken({ sub: 'renewing' }))
  })
  const renewingClosed = renewing.waitFor('close', { timeoutMs: 15_000 })
  const expiring: number[] = []
  renewing.on('token-expiring', (m) => expiring.push(m.tokenExpiresAt))
  await renewing.connect()
  await renewing.join('r')

  const [fixedClose, renewingClose] = await Promise.all([fixedClosed, renewingClosed])
  t.match(fixedClose, { code: 4001, willReconnect: false })
  t.equal(fixed.state, 'closed')
  t.match(renewingClose, { code: 4001, willReconnect: true })
  t.match(await renewing.waitFor('resumed', { timeoutMs: 3000 }), { rooms: ['r'] })
  t.ok(renewing.welcome!.tokenExpiresAt > Date.now() + 30 * 60_000, 'resumed with the fresh token')
  t.equal(calls, 3, 'connect, one refresh for that expiry (no loop), reconnect')
  t.ok(expiring.length >= 2 && expiring.every((e) => e === exp * 1000), 'warned again after the useless refresh, and not answered again')
})

t.test('close() while reconnecting stops for good and drops what was queued', async (t) => {
  const { app, base } = await startServer(t)
  const bob = await connectedClient(t, base, 'bob', { reconnect: { initialDelayMs: 300, jitter: 0 } })
  await bob.join('r')
  const reconnecting = bob.waitFor('reconnecting', { timeoutMs: 2000 })
  dropServerSide(app, bob.peerId)
  await reconnecting
  const dropped: DroppedEvent[] = []
  bob.on('dropped', (e) => dropped.push(e))
  bob.send('r', 'never sent')
  const pendingJoin = bob.join('r2')
  const attempts: ReconnectingEvent[] = []
  bob.on('reconnecting', (e) => attempts.push(e))
  await bob.close()
  t.equal(bob.state, 'closed')
  await t.rejects(pendingJoin, { code: 'SWB_CLIENT_CLOSED' })
  t.same(dropped.map((d) => [d.message.type, d.error.code]), [['message', 'SWB_CLIENT_CLOSED'], ['join', 'SWB_CLIENT_CLOSED']])
  await new Promise((resolve) => setTimeout(resolve, 400))
  t.same(attempts, [], 'the scheduled attempt never ran')
  t.equal(app.signaling.hub.connections.size, 0, 'and no socket was opened')
})
