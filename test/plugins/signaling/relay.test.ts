import t from 'tap'
import { pair, signalingServer } from '../../helpers/signaling-harness.js'
import type { Msg } from '../../helpers/ws-peer.js'

/** Replayed messages advance seq by exactly one each: no gaps, no repeats. */
function consecutive (messages: Msg[]): boolean {
  const seqs = messages.filter((m) => !['welcome', 'pong', 'error', 'reconnect', 'token-expiring', 'refreshed'].includes(m.type)).map((m) => m.seq)
  return seqs.every((s, i) => s === i + 1)
}

t.test('offer, answer and candidates relay both ways, with `from` set by the server', async (t) => {
  const h = await signalingServer(t)
  const [a, b] = await pair(h, 'consult-1')

  a.send({ type: 'offer', room: 'consult-1', to: b.peerId, sdp: 'v=0 offer from a' })
  t.strictSame(await b.next('offer'), { type: 'offer', seq: 2, room: 'consult-1', from: a.peerId, sdp: 'v=0 offer from a' })
  b.send({ type: 'answer', room: 'consult-1', to: a.peerId, sdp: 'v=0 answer from b' })
  t.match(await a.next('answer'), { room: 'consult-1', from: b.peerId, sdp: 'v=0 answer from b' })

  // The other direction too: B renegotiates.
  b.send({ type: 'offer', room: 'consult-1', to: a.peerId, sdp: 'v=0 offer from b' })
  t.match(await a.next('offer'), { from: b.peerId, sdp: 'v=0 offer from b' })
  a.send({ type: 'answer', room: 'consult-1', to: b.peerId, sdp: 'v=0 answer from a' })
  t.match(await b.next('answer'), { from: a.peerId, sdp: 'v=0 answer from a' })

  const candidate = { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'abcd' }
  a.send({ type: 'candidate', room: 'consult-1', to: b.peerId, candidate })
  t.strictSame((await b.next('candidate')).candidate, candidate)
  b.send({ type: 'candidate', room: 'consult-1', to: a.peerId, candidate: { ...candidate, sdpMid: null, sdpMLineIndex: 1 } })
  t.match(await a.next('candidate'), { from: b.peerId, candidate: { sdpMid: null, sdpMLineIndex: 1 } })

  // null is end-of-candidates and must arrive as null, not be dropped or turned into {}.
  a.send({ type: 'candidate', room: 'consult-1', to: b.peerId, candidate: null })
  const end = await b.next((m) => m.type === 'candidate' && m.candidate === null)
  t.equal(end.from, a.peerId)
  b.send({ type: 'candidate', room: 'consult-1', to: a.peerId, candidate: null })
  t.equal((await a.next((m) => m.type === 'candidate' && m.candidate === null)).from, b.peerId)

  await a.sync()
  await b.sync()
  t.ok(consecutive(a.received), `a seqs consecutive: ${a.received.map((m) => `${m.type}:${m.seq}`).join(' ')}`)
  t.ok(consecutive(b.received), `b seqs consecutive: ${b.received.map((m) => `${m.type}:${m.seq}`).join(' ')}`)
  // Each side only ever got what the other sent: nothing echoes back to the sender.
  t.ok(a.ofType('offer', 'answer', 'candidate').every((m) => m.from === b.peerId))
  t.ok(b.ofType('offer', 'answer', 'candidate').every((m) => m.from === a.peerId))
})

t.test('the payload goes on as the sender wrote it, unless a key is written twice: then the checked value, once', async (t) => {
  const h = await signalingServer(t)
  const [a, b] = await pair(h, 'r')
  const frames: string[] = []
  let binary = 0
  b.socket.on('message', (data, isBinary) => {
    frames.push(data.toString())
    if (isBinary) binary++
  })

  // Spacing and escapes the server would not write itself (\u0041 is "A") reach the recipient as sent.
  a.sendRaw(`{"type":"offer","room":"r","to":"${b.peerId}","sdp": "v=0\\r\\n\\u0041"}`)
  t.equal((await b.next('offer')).sdp, 'v=0\r\nA')
  t.match(frames.at(-1), /,"sdp": ?"v=0\\r\\n\\u0041"\}$/)

  // sdp twice: JSON.parse keeps the last, a first-wins parser would take the first. The recipient gets one.
  a.sendRaw(`{"type":"answer","room":"r","to":"${b.peerId}","sdp":"v=0 unchecked","sdp":"v=0 checked"}`)
  t.equal((await b.next('answer')).sdp, 'v=0 checked')
  t.notMatch(frames.at(-1), /unchecked/)
  a.sendRaw(`{"type":"candidate","room":"r","to":"${b.peerId}","candidate":{"sdpMid":{"x":1},"sdpMid":"0"}}`)
  t.strictSame((await b.next('candidate')).candidate, { sdpMid: '0' })
  t.equal(frames.at(-1)?.match(/sdpMid/g)?.length, 1)

  // Text frames, every character intact.
  a.send({ type: 'offer', room: 'r', to: b.peerId, sdp: 'v=0 é 😀 ✓' })
  t.equal((await b.next((m) => m.type === 'offer' && m.sdp !== 'v=0\r\nA')).sdp, 'v=0 é 😀 ✓')
  t.equal(binary, 0, 'every frame was a text frame')
})

t.test('a client-supplied `from` is refused as an invalid message and nothing is relayed', async (t) => {
  const h = await signalingServer(t, { ROOM_CAPACITY: 3 })
  const [a, b] = await pair(h, 'r')
  const c = await h.joined('nurse', 'r')

  for (const type of ['offer', 'answer']) {
    a.send({ type, id: `spoof-${type}`, room: 'r', to: b.peerId, from: c.peerId, sdp: 'v=0 spoofed' })
    t.match(await a.errorFor(`spoof-${type}`), { type: 'error', code: 'SWB_INVALID_MESSAGE', message: /from|additional/i })
  }
  a.send({ type: 'candidate', id: 'spoof-c', room: 'r', to: b.peerId, from: c.peerId, candidate: null })
  t.match(await a.errorFor('spoof-c'), { code: 'SWB_INVALID_MESSAGE' })
  a.send({ type: 'message', id: 'spoof-m', room: 'r', from: c.peerId, data: 'hi' })
  t.match(await a.errorFor('spoof-m'), { code: 'SWB_INVALID_MESSAGE' })

  await b.sync()
  await c.sync()
  t.same(b.ofType('offer', 'answer', 'candidate', 'message'), [], 'b received nothing')
  t.same(c.ofType('offer', 'answer', 'candidate', 'message'), [], 'c received nothing')
})

t.test('app messages go to one peer with `to`, or to everyone else in the room without it', async (t) => {
  const h = await signalingServer(t, { ROOM_CAPACITY: 3 })
  const [a, b] = await pair(h, 'group')
  const c = await h.joined('nurse', 'group')
  await a.next((m) => m.type === 'peer-joined' && (m.peer as { peerId: string }).peerId === c.peerId)

  a.send({ type: 'message', room: 'group', to: b.peerId, data: { kind: 'mute', on: true } })
  t.strictSame((await b.next('message')).data, { kind: 'mute', on: true })
  c.send({ type: 'message', room: 'group', to: a.peerId, data: 'direct from c' })
  t.match(await a.next('message'), { from: c.peerId, data: 'direct from c' })

  b.send({ type: 'message', room: 'group', data: ['broadcast', 1, null] })
  t.match(await a.next((m) => m.type === 'message' && m.from === b.peerId), { room: 'group', data: ['broadcast', 1, null] })
  t.match(await c.next((m) => m.type === 'message' && m.from === b.peerId), { room: 'group', data: ['broadcast', 1, null] })

  await a.sync(); await b.sync(); await c.sync()
  t.equal(c.ofType('message').length, 1, 'c did not see the direct message to b')
  t.same(b.ofType('message').map((m) => m.from), [a.peerId], 'b did not get its own broadcast back')
  t.equal(a.ofType('message').length, 2)
})

t.test('joined lists the peers already there with role and meta; peer-joined tells the others', async (t) => {
  const h = await signalingServer(t, { ROOM_CAPACITY: 3 })
  const a = await h.connect({ sub: 'dr-who', rooms: [{ room: 'ward/*', role: 'host' }] })
  a.send({ type: 'join', room: 'ward/7', meta: { name: 'Dr Who' } })
  t.strictSame(await a.next('joined'), { type: 'joined', seq: 1, room: 'ward/7', role: 'host', peers: [] })

  const b = await h.connect({ sub: 'pat', role: 'guest' })
  b.send({ type: 'join', room: 'ward/7' })
  const joined = await b.next('joined')
  t.strictSame(joined, {
    type: 'joined', seq: 1, room: 'ward/7', role: 'guest',
    peers: [{ peerId: a.peerId, userId: 'dr-who', role: 'host', meta: { name: 'Dr Who' } }]
  })
  t.strictSame(await a.next('peer-joined'), { type: 'peer-joined', seq: 2, room: 'ward/7', peer: { peerId: b.peerId, userId: 'pat', role: 'guest' } })

  // Joining again is idempotent: a fresh `joined`, and no second peer-joined for the others.
  b.send({ type: 'join', room: 'ward/7' })
  t.match(await b.nextNew('joined'), { room: 'ward/7', peers: [{ peerId: a.peerId }] })
  await a.sync()
  t.equal(a.ofType('peer-joined').length, 1)
})

t.test('leave answers `left`, tells the others `peer-left` (left), and ends relaying in that room', async (t) => {
  const h = await signalingServer(t)
  const [a, b] = await pair(h, 'r')
  b.send({ type: 'leave', room: 'r' })
  t.match(await b.next('left'), { type: 'left', room: 'r' })
  t.match(await a.next('peer-left'), { room: 'r', peerId: b.peerId, reason: 'left' })

  b.send({ type: 'offer', id: 'after-leave', room: 'r', to: a.peerId, sdp: 'v=0' })
  t.match(await b.errorFor('after-leave'), { code: 'SWB_NOT_IN_ROOM' })
  a.send({ type: 'offer', id: 'to-gone', room: 'r', to: b.peerId, sdp: 'v=0' })
  t.match(await a.errorFor('to-gone'), { code: 'SWB_PEER_NOT_IN_ROOM' })
  b.send({ type: 'leave', id: 'leave-again', room: 'r' })
  t.match(await b.errorFor('leave-again'), { code: 'SWB_NOT_IN_ROOM' })

  // The room has space again.
  const c = await h.joined('nurse', 'r')
  t.match(await a.next((m) => m.type === 'peer-joined' && (m.peer as { peerId: string }).peerId === c.peerId), { room: 'r' })
})

t.test('closing with 1000 ends the session at once: peer-left (left) without waiting for the grace period', async (t) => {
  const h = await signalingServer(t, { RESUME_GRACE_SECONDS: 3600 })
  const [a, b] = await pair(h, 'r')
  b.close(1000)
  // Within seconds, where the grace period is an hour: no stopwatch needed to tell the two apart.
  t.match(await a.next('peer-left', 10_000), { room: 'r', peerId: b.peerId, reason: 'left' })
  // Its resume token is now dead.
  const again = await h.connect('patient', { query: { resume: b.welcome.resumeToken as string, lastSeq: '0' } })
  t.match(again.welcome, { resumed: false, resumeError: { code: 'SWB_RESUME_EXPIRED' } })
  t.not(again.peerId, b.peerId)
})

t.test('ping is answered by pong carrying the current seq, without advancing it', async (t) => {
  const h = await signalingServer(t)
  const [a] = await pair(h, 'r')
  const seqBefore = a.lastSeq
  a.send({ type: 'ping', id: 'p-1' })
  t.strictSame(await a.next('pong'), { type: 'pong', seq: seqBefore, ref: 'p-1' })
  a.send({ type: 'ping' })
  t.strictSame(await a.nextNew('pong'), { type: 'pong', seq: seqBefore })
})
