import t from 'tap'
import { pair, signalingServer, type Harness } from '../../helpers/signaling-harness.js'
import { WsPeer, until, type Msg } from '../../helpers/ws-peer.js'

const REPLAYED = ['joined', 'left', 'peer-joined', 'peer-left', 'offer', 'answer', 'candidate', 'message']

/** Long grace: these tests resume well within it. */
const config = { RESUME_GRACE_SECONDS: 3600 }

async function dropped (h: Harness, peer: WsPeer): Promise<void> {
  peer.drop()
  await peer.closed
  await until(() => !h.app.signaling.hub.connections.has(peer.peerId), 'the server to notice the drop')
}

function seqs (messages: Msg[]): number[] {
  return messages.filter((m) => REPLAYED.includes(m.type)).map((m) => m.seq)
}

t.test('resume within the grace period: same peerId, queued messages replayed in order, the peer never saw peer-left', async (t) => {
  const h = await signalingServer(t, config)
  const [a, b] = await pair(h, 'r')
  const lastSeq = a.lastSeq
  t.equal(lastSeq, 2, 'a saw joined and peer-joined')
  await dropped(h, a)

  // B carries on as if nothing happened; no error, the messages wait for A.
  const sent = [
    { type: 'offer', room: 'r', to: a.peerId, sdp: 'v=0 re-offer' },
    { type: 'candidate', room: 'r', to: a.peerId, candidate: { candidate: 'candidate:9 1 udp 1 198.51.100.7 9 typ host', sdpMid: '0' } },
    { type: 'candidate', room: 'r', to: a.peerId, candidate: null },
    { type: 'message', room: 'r', to: a.peerId, data: { chat: 'are you there?' } },
    { type: 'message', room: 'r', data: 'broadcast while away' }
  ]
  for (const m of sent) b.send(m)
  await b.sync()
  t.same(b.ofType('error'), [], 'sending to a dropped peer is not an error')

  const token = await h.token('doctor')
  const resumed = h.track(await WsPeer.resume(h.base, token, a))
  t.match(resumed.welcome, { type: 'welcome', resumed: true, peerId: a.peerId, userId: 'doctor', rooms: ['r'], seq: lastSeq })
  t.notOk('resumeError' in resumed.welcome)
  t.not(resumed.welcome.resumeToken, a.welcome.resumeToken, 'a fresh resume token')

  const replayed = await resumed.waitCount('candidate', 2).then(() => resumed.waitCount('message', 2))
  t.equal(replayed.length, 2)
  t.same(resumed.received.filter((m) => REPLAYED.includes(m.type)).map((m) => m.type), ['offer', 'candidate', 'candidate', 'message', 'message'], 'in the order sent')
  t.same(seqs(resumed.received), [3, 4, 5, 6, 7], 'consecutive seq continuing from lastSeq')
  t.match(resumed.ofType('offer')[0], { from: b.peerId, sdp: 'v=0 re-offer' })
  t.equal(resumed.ofType('candidate')[1]?.candidate, null)
  t.match(resumed.ofType('message'), [{ data: { chat: 'are you there?' } }, { data: 'broadcast while away' }])

  // Live again, both ways.
  resumed.send({ type: 'answer', room: 'r', to: b.peerId, sdp: 'v=0 answer after resume' })
  t.match(await b.next('answer'), { from: a.peerId })
  b.send({ type: 'message', room: 'r', to: a.peerId, data: 'welcome back' })
  t.match(await resumed.next((m) => m.type === 'message' && m.data === 'welcome back'), { seq: 8 })

  await b.sync()
  t.same(b.ofType('peer-left', 'peer-joined').map((m) => m.type), [], 'b never saw a.peer-left (nor a second peer-joined)')
})

t.test('resume with an older lastSeq replays from there; replayed duplicates carry their original seq', async (t) => {
  const h = await signalingServer(t, config)
  const [a, b] = await pair(h, 'r')
  for (let i = 0; i < 3; i++) b.send({ type: 'message', room: 'r', to: a.peerId, data: i })
  await a.waitCount('message', 3)
  const originals = a.received.filter((m) => REPLAYED.includes(m.type))
  t.same(seqs(originals), [1, 2, 3, 4, 5])
  await dropped(h, a)
  b.send({ type: 'message', room: 'r', to: a.peerId, data: 'while away' })
  await b.sync()

  const resumed = h.track(await WsPeer.resume(h.base, await h.token('doctor'), a, 2))
  t.match(resumed.welcome, { resumed: true, seq: 2 })
  const messages = await resumed.waitCount('message', 4)
  t.same(seqs(resumed.received), [3, 4, 5, 6])
  t.same(messages.map((m) => m.data), [0, 1, 2, 'while away'])
  t.same(resumed.received.slice(1, 4), originals.slice(2), 'byte-for-byte the messages first sent')
})

t.test('resume with lastSeq 0 replays the whole session, joined included', async (t) => {
  const h = await signalingServer(t, config)
  const [a] = await pair(h, 'r')
  await dropped(h, a)
  const resumed = h.track(await WsPeer.resume(h.base, await h.token('doctor'), a, 0))
  await resumed.waitCount('peer-joined', 1)
  t.same(resumed.received.map((m) => `${m.type}:${m.seq}`), ['welcome:0', 'joined:1', 'peer-joined:2'])
})

t.test('a lost welcome loses nothing: the presented token works again, until its successor is used', async (t) => {
  const h = await signalingServer(t, config)
  const [a, b] = await pair(h, 'r')
  const lastSeq = a.lastSeq
  const token = await h.token('doctor')
  await dropped(h, a)
  let n = 0
  const sendToA = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) b.send({ type: 'message', room: 'r', to: a.peerId, data: n++ })
    await b.sync()
  }
  await sendToA(3)

  // A resumes with T1. The server rotates to T2, but the socket dies before A reads anything: the
  // welcome (and whatever came after it) is lost, and A still holds T1 and its old lastSeq.
  const lost = h.track(await WsPeer.resume(h.base, token, a, lastSeq))
  t.match(lost.welcome, { resumed: true, peerId: a.peerId })
  await sendToA(3)
  await dropped(h, lost)
  await sendToA(3)

  // A tries again with what it has: T1 and lastSeq.
  const back = h.track(await WsPeer.resume(h.base, token, a, lastSeq))
  t.match(back.welcome, { resumed: true, peerId: a.peerId, rooms: ['r'], seq: lastSeq })
  t.notOk('resumeError' in back.welcome)
  await back.waitCount('message', n)
  await back.sync()
  t.same(back.ofType('message').map((m) => m.data), Array.from({ length: n }, (_, i) => i), 'every message B sent, once, in order')
  t.same(seqs(back.received), Array.from({ length: n }, (_, i) => lastSeq + 1 + i), 'consecutive seq from lastSeq')
  await b.sync()
  t.same(b.ofType('peer-left'), [], 'B never saw A leave')

  // T2 was never presented and T1 was presented again: T2 is superseded.
  const t2 = h.track(await WsPeer.resume(h.base, token, lost))
  t.match(t2.welcome, { resumed: false, resumeError: { code: 'SWB_RESUME_UNKNOWN' } })
  t.not(t2.peerId, a.peerId)

  // A resumes with T3 (the welcome arrived this time): T1 is retired now.
  await dropped(h, back)
  const latest = h.track(await WsPeer.resume(h.base, token, back))
  t.match(latest.welcome, { resumed: true, peerId: a.peerId })
  const t1 = h.track(await WsPeer.resume(h.base, token, a, lastSeq))
  t.match(t1.welcome, { resumed: false, resumeError: { code: 'SWB_RESUME_UNKNOWN', message: /successor/ }, rooms: [] })
  t.not(t1.peerId, a.peerId, 'a fresh session')
  t.ok(latest.isOpen, 'the resumed connection was not disturbed')
  b.send({ type: 'message', room: 'r', to: a.peerId, data: 'to the real one' })
  t.match(await latest.next('message'), { data: 'to the real one' })
  await t1.sync()
  t.same(t1.ofType('message'), [])
})

t.test('a token whose successor was used is SWB_RESUME_UNKNOWN and does not disturb the resumed session', async (t) => {
  const h = await signalingServer(t, config)
  const [a, b] = await pair(h, 'r')
  await dropped(h, a)
  const token = await h.token('doctor')
  const first = h.track(await WsPeer.resume(h.base, token, a))
  t.match(first.welcome, { resumed: true, peerId: a.peerId })
  await dropped(h, first)
  const second = h.track(await WsPeer.resume(h.base, token, first))
  t.match(second.welcome, { resumed: true, peerId: a.peerId })

  const stale = h.track(await WsPeer.resume(h.base, token, a))
  t.match(stale.welcome, { resumed: false, resumeError: { code: 'SWB_RESUME_UNKNOWN' }, rooms: [] })
  t.not(stale.peerId, a.peerId, 'a fresh peer id')
  t.ok(second.isOpen, 'the resumed connection was not replaced')
  b.send({ type: 'message', room: 'r', to: a.peerId, data: 'to the real one' })
  t.match(await second.next('message'), { data: 'to the real one' })
  await stale.sync()
  t.same(stale.ofType('message'), [])

  // The token from the latest welcome works.
  await dropped(h, second)
  const third = h.track(await WsPeer.resume(h.base, token, second))
  t.match(third.welcome, { resumed: true, peerId: a.peerId })
})

t.test('an unknown resume token gives a fresh session with SWB_RESUME_UNKNOWN', async (t) => {
  const h = await signalingServer(t, config)
  const p = await h.connect('someone', { query: { resume: 'not-a-real-token', lastSeq: '0' } })
  t.match(p.welcome, { resumed: false, resumeError: { code: 'SWB_RESUME_UNKNOWN', message: /resume token/i }, seq: 0, rooms: [] })
  p.send({ type: 'join', room: 'fresh' })
  t.match(await p.next('joined'), { seq: 1 })
})

t.test("another user's resume token is SWB_RESUME_FORBIDDEN and leaves the owner's session intact", async (t) => {
  const h = await signalingServer(t, config)
  const [a, b] = await pair(h, 'r')
  await dropped(h, a)
  b.send({ type: 'message', room: 'r', to: a.peerId, data: 'private' })
  await b.sync()

  // The patient got hold of the doctor's resume token.
  const thief = h.track(await WsPeer.resume(h.base, await h.token('patient'), a))
  t.match(thief.welcome, { resumed: false, resumeError: { code: 'SWB_RESUME_FORBIDDEN' }, rooms: [] })
  t.not(thief.peerId, a.peerId)
  await thief.sync()
  t.same(thief.ofType('message', 'joined', 'peer-joined'), [], 'nothing of the session leaked')

  const owner = h.track(await WsPeer.resume(h.base, await h.token('doctor'), a))
  t.match(owner.welcome, { resumed: true, peerId: a.peerId })
  t.match(await owner.next('message'), { data: 'private' })
  await b.sync()
  t.same(b.ofType('peer-left'), [])
})

t.test('resuming while the old socket is still open (half-open network) replaces it with 4009', async (t) => {
  const h = await signalingServer(t, config)
  const [a, b] = await pair(h, 'r')
  const resumed = h.track(await WsPeer.resume(h.base, await h.token('doctor'), a))
  t.match(resumed.welcome, { resumed: true, peerId: a.peerId })
  t.equal(await a.waitClosed(), 4009, 'the old socket is closed: session replaced')
  t.equal(h.app.signaling.hub.connections.get(a.peerId)?.socket.readyState, 1, 'the new one is the live one')

  b.send({ type: 'message', room: 'r', to: a.peerId, data: 'reaches the new socket' })
  t.match(await resumed.next('message'), { data: 'reaches the new socket' })
  await b.sync()
  t.same(b.ofType('peer-left'), [], 'no peer-left for a replaced socket')
  // The replaced socket's close did not start a grace timer that would later expire the session.
  resumed.send({ type: 'ping', id: 'still' })
  await resumed.next('pong')
  t.same(await h.app.registry.members('r').then((m) => m.map((p) => p.peerId).sort()), [a.peerId, b.peerId].sort())
})

t.test('lastSeq ahead of the session is SWB_RESUME_BAD_SEQ: a fresh session, and the old one ends', async (t) => {
  const h = await signalingServer(t, config)
  const [a, b] = await pair(h, 'r')
  await dropped(h, a)
  const p = h.track(await WsPeer.resume(h.base, await h.token('doctor'), a, 999))
  t.match(p.welcome, { resumed: false, resumeError: { code: 'SWB_RESUME_BAD_SEQ' } })
  t.not(p.peerId, a.peerId)
  t.match(await b.next('peer-left'), { peerId: a.peerId, reason: 'timeout' })
})

t.test('a failed resume from a still-open socket retires that socket instead of leaving it without a session', async (t) => {
  const h = await signalingServer(t, config)
  const [a, b] = await pair(h, 'r')
  const p = h.track(await WsPeer.resume(h.base, await h.token('doctor'), a, 999))
  t.match(p.welcome, { resumed: false, resumeError: { code: 'SWB_RESUME_BAD_SEQ' } })
  t.equal(await a.waitClosed(), 4009)
  t.match(await b.next('peer-left'), { peerId: a.peerId, reason: 'timeout' })
})

t.test('resume parameters are checked before the upgrade', async (t) => {
  const h = await signalingServer(t, config)
  const token = await h.token('doctor')
  const queries: Array<Record<string, string>> = [{ resume: 'abc' }, { resume: 'abc', lastSeq: '-1' }, { resume: 'abc', lastSeq: 'ten' }, { resume: 'abc', lastSeq: '1.5' }]
  for (const query of queries) {
    const refusal = await WsPeer.refusal(h.base, token, { query })
    t.equal(refusal.status, 400, JSON.stringify(query))
    t.match(refusal.body, { code: 'SWB_VALIDATION' })
  }
})

t.test('messages sent while a peer resumes are neither lost nor duplicated', async (t) => {
  const h = await signalingServer(t, { ...config, WS_MESSAGES_PER_SECOND: 100_000, WS_MESSAGE_BURST: 100_000 })
  const [a, b] = await pair(h, 'r')
  await dropped(h, a)
  // Give the registry the latency a networked one (Redis) has, so deliveries really do land between
  // the resume's steps (reading the backlog, rotating the token, attaching the new socket).
  const registry = h.app.registry
  const claim = registry.claimSession.bind(registry)
  registry.claimSession = async (peerId, newHash, presentedHash) => {
    await new Promise((resolve) => setTimeout(resolve, 30))
    return claim(peerId, newHash, presentedHash)
  }
  const token = await h.token('doctor')
  const total = 300
  let n = 0
  // B keeps sending from before the resume until well after it.
  const sending = (async () => {
    while (n < total) {
      for (let i = 0; i < 10; i++) b.send({ type: 'message', room: 'r', to: a.peerId, data: n++ })
      await new Promise((resolve) => setImmediate(resolve))
    }
  })()
  const resumed = h.track(await WsPeer.resume(h.base, token, a))
  await sending
  const got = await resumed.waitCount('message', total, 10_000)
  await resumed.sync()
  t.same(resumed.ofType('message').map((m) => m.data), Array.from({ length: total }, (_, i) => i), 'every message once, in order')
  t.same(seqs(resumed.received), Array.from({ length: total }, (_, i) => i + 3), 'consecutive seq')
  t.equal(got.length, total)
})

t.test('ack lets the server free its replay buffer; resuming from before an ack is SWB_RESUME_OVERFLOW', async (t) => {
  const h = await signalingServer(t, config)
  const [a, b] = await pair(h, 'r')
  for (let i = 0; i < 3; i++) b.send({ type: 'message', room: 'r', to: a.peerId, data: i })
  await a.waitCount('message', 3)
  a.send({ type: 'ack', seq: 4 })
  await a.sync()
  await dropped(h, a)

  // From the ack onwards is fine...
  const resumed = h.track(await WsPeer.resume(h.base, await h.token('doctor'), a, 4))
  t.match(resumed.welcome, { resumed: true })
  await resumed.waitCount('message', 1)
  t.same(seqs(resumed.received), [5])
  // ...from before it, the acknowledged messages are gone, and the server says so instead of skipping them.
  await dropped(h, resumed)
  const tooEarly = h.track(await WsPeer.resume(h.base, await h.token('doctor'), resumed, 1))
  t.match(tooEarly.welcome, { resumed: false, resumeError: { code: 'SWB_RESUME_OVERFLOW' } })
})
