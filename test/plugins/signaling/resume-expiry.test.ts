import t from 'tap'
import { pair, signalingServer, signalingServerWithLogs, type Harness } from '../../helpers/signaling-harness.js'
import { WsPeer, until } from '../../helpers/ws-peer.js'

async function dropped (h: Harness, peer: WsPeer): Promise<void> {
  peer.drop()
  await peer.closed
  await until(() => !h.app.signaling.hub.connections.has(peer.peerId), 'the server to notice the drop')
}

t.test('after the grace period: the peer got peer-left (timeout), and a resume is SWB_RESUME_EXPIRED with a fresh peerId', async (t) => {
  const h = await signalingServer(t, { RESUME_GRACE_SECONDS: 0.3 })
  const [a, b] = await pair(h, 'r')
  t.equal((a.welcome.limits as { resumeGraceMs: number }).resumeGraceMs, 300)
  const droppedAt = Date.now()
  await dropped(h, a)
  b.send({ type: 'message', room: 'r', to: a.peerId, data: 'queued, then dropped with the session' })

  t.match(await b.next('peer-left', 2000), { type: 'peer-left', room: 'r', peerId: a.peerId, reason: 'timeout' })
  t.ok(Date.now() - droppedAt >= 250, 'not before the grace period')
  t.same(await h.app.registry.members('r').then((m) => m.map((p) => p.peerId)), [b.peerId], 'the room let it go')

  const late = h.track(await WsPeer.resume(h.base, await h.token('doctor'), a))
  t.match(late.welcome, { resumed: false, resumeError: { code: 'SWB_RESUME_EXPIRED' }, rooms: [], seq: 0 })
  t.not(late.peerId, a.peerId, 'a fresh peer id')
  await late.sync()
  t.same(late.ofType('message'), [], 'the old session’s messages are gone with it')

  // Messages to the expired peer id are refused now.
  b.send({ type: 'message', id: 'to-ghost', room: 'r', to: a.peerId, data: 'x' })
  t.match(await b.errorFor('to-ghost'), { code: 'SWB_PEER_NOT_IN_ROOM' })

  // The fresh session can rejoin the room it lost.
  late.send({ type: 'join', room: 'r' })
  t.match(await late.next('joined'), { peers: [{ peerId: b.peerId }] })
  t.match(await b.next('peer-joined'), { peer: { peerId: late.peerId } })
})

t.test('resuming within the grace period cancels the timeout', async (t) => {
  const h = await signalingServerWithLogs(t, { RESUME_GRACE_SECONDS: 1 })
  const [a, b] = await pair(h, 'r')
  await dropped(h, a)
  // At once: the resume has the whole second of grace to arrive, however busy the machine is.
  const resumed = h.track(await WsPeer.resume(h.base, await h.token('doctor'), a))
  t.match(resumed.welcome, { resumed: true })
  // Past the original deadline on the server's own clock: its grace started when it logged the drop
  // (later than this process saw the socket go), so a deadline reckoned here could still be ahead of it.
  const closedAt = h.logs.lines.find((l) => l.peerId === a.peerId && l.msg === 'connection closed')?.time as number
  t.type(closedAt, 'number', 'the server logged the drop')
  await until(() => Date.now() > closedAt + 1000 + 200, 'the original grace deadline to pass', 5000)
  await b.sync()
  t.same(b.ofType('peer-left'), [], 'no peer-left: the grace timer was cancelled')
  t.same(h.logs.lines.filter((l) => l.peerId === a.peerId && l.msg === 'session ended'), [], 'the session never ended')
  t.ok(resumed.isOpen)
})

t.test('RESUME_BUFFER_MESSAGES overflow: SWB_RESUME_OVERFLOW, a fresh session, and the old one ends at once', async (t) => {
  const h = await signalingServer(t, { RESUME_BUFFER_MESSAGES: 3, RESUME_GRACE_SECONDS: 3600 })
  const [a, b] = await pair(h, 'r')
  const lastSeq = a.lastSeq
  await dropped(h, a)
  // Three fit in the buffer; a fourth evicts the oldest, which the client never saw.
  for (let i = 0; i < 3; i++) b.send({ type: 'message', room: 'r', to: a.peerId, data: i })
  await b.sync()
  b.send({ type: 'message', room: 'r', to: a.peerId, data: 3 })
  b.send({ type: 'message', room: 'r', to: a.peerId, data: 4 })
  await b.sync()

  const over = h.track(await WsPeer.resume(h.base, await h.token('doctor'), a, lastSeq))
  t.match(over.welcome, { resumed: false, resumeError: { code: 'SWB_RESUME_OVERFLOW', message: /buffer/ } })
  t.not(over.peerId, a.peerId)
  t.match(await b.next('peer-left'), { peerId: a.peerId, reason: 'timeout' }, 'the room does not wait for a session that cannot be made whole')
})

t.test('a resume within what the buffer still holds works even after older messages were evicted', async (t) => {
  const h = await signalingServer(t, { RESUME_BUFFER_MESSAGES: 3, RESUME_GRACE_SECONDS: 3600 })
  const [a, b] = await pair(h, 'r')
  for (let i = 0; i < 5; i++) b.send({ type: 'message', room: 'r', to: a.peerId, data: i })
  await a.waitCount('message', 5) // seq 3..7; the buffer now holds 5, 6, 7
  await dropped(h, a)
  const resumed = h.track(await WsPeer.resume(h.base, await h.token('doctor'), a, 5))
  t.match(resumed.welcome, { resumed: true })
  const replayed = await resumed.waitCount('message', 2)
  t.same(replayed.map((m) => [m.seq, m.data]), [[6, 3], [7, 4]])
})

t.test('RESUME_BUFFER_BYTES overflow is SWB_RESUME_OVERFLOW too', async (t) => {
  const h = await signalingServer(t, { RESUME_BUFFER_BYTES: 1024, RESUME_GRACE_SECONDS: 3600 })
  const [a, b] = await pair(h, 'r')
  const lastSeq = a.lastSeq
  await dropped(h, a)
  for (let i = 0; i < 3; i++) b.send({ type: 'message', room: 'r', to: a.peerId, data: 'z'.repeat(500) })
  await b.sync()
  const over = h.track(await WsPeer.resume(h.base, await h.token('doctor'), a, lastSeq))
  t.match(over.welcome, { resumed: false, resumeError: { code: 'SWB_RESUME_OVERFLOW' } })
})
