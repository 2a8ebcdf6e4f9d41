import t from 'tap'
import type { Test } from 'tap'
import { pair, signalingServer, type Harness } from '../../helpers/signaling-harness.js'
import { WsPeer, until } from '../../helpers/ws-peer.js'
import { PENDING_MAX_MESSAGES } from '../../../plugins/signaling/connection.js'

/** Another pair, in another room, still relays: one client's abuse never takes the server down. */
async function stillServing (t: Test, h: Harness, room: string): Promise<void> {
  const [x, y] = await pair(h, room, [`${room}-x`, `${room}-y`])
  x.send({ type: 'offer', room, to: y.peerId, sdp: 'v=0 still serving' })
  t.match(await y.next('offer'), { from: x.peerId, sdp: 'v=0 still serving' }, 'another pair still relays')
}

t.test('message size: over WS_MAX_MESSAGE_BYTES is refused, over twice that closes 1009; others are unaffected', async (t) => {
  const h = await signalingServer(t, { WS_MAX_MESSAGE_BYTES: 4096 })
  const [a, b] = await pair(h, 'r')
  t.equal((a.welcome.limits as { maxMessageBytes: number }).maxMessageBytes, 4096)

  // Exactly at the limit is fine.
  const envelope = JSON.stringify({ type: 'message', room: 'r', to: b.peerId, data: '' })
  a.send({ type: 'message', room: 'r', to: b.peerId, data: 'x'.repeat(4096 - envelope.length) })
  t.equal(((await b.next('message')).data as string).length, 4096 - envelope.length)

  a.send({ type: 'message', id: 'big', room: 'r', to: b.peerId, data: 'x'.repeat(5000) })
  t.match(await a.next('error'), { code: 'SWB_MESSAGE_TOO_LARGE', message: /4096/ })
  t.ok(a.isOpen, 'an oversized message is refused, not fatal')
  await b.sync()
  t.equal(b.ofType('message').length, 1, 'the oversized message was not relayed')

  // The connection still works.
  a.send({ type: 'message', room: 'r', to: b.peerId, data: 'small' })
  t.match(await b.nextNew('message'), { data: 'small' })

  a.send({ type: 'message', room: 'r', to: b.peerId, data: 'x'.repeat(2 * 4096 + 1) })
  t.equal(await a.waitClosed(), 1009, 'twice the limit closes with 1009 (message too big)')
  await b.sync()
  t.equal(b.ofType('message').length, 2)
  await stillServing(t, h, 'after-1009')
})

t.test('under load, every frame over twice the limit closes with 1009, never a bare 1006', async (t) => {
  const h = await signalingServer(t, { WS_MAX_MESSAGE_BYTES: 65536, WS_SEND_BUFFER_LIMIT_BYTES: 64 * 1024 * 1024, WS_MESSAGES_PER_SECOND: 10_000, WS_MESSAGE_BURST: 10_000 })
  // Load as the server sees it: messages still queued towards the peer when its oversized frame
  // arrives. The close frame queues behind them; were the TCP connection destroyed rather than ended,
  // it would be lost with them and the peer would only see the connection drop (1006).
  // Any backlog does it: with the socket destroyed, 3 queued messages already gave 4 × 1006, so 20 per
  // peer is ample. A larger one only measured the machine (16 × 150 × 60 kB took over 15 s with both
  // cores busy), not the server.
  const pairs = await Promise.all(Array.from({ length: 4 }, async (_, i) => pair(h, `load-${i}`, [`talker-${i}`, `victim-${i}`])))
  const chunk = 'x'.repeat(60_000)
  pairs.forEach(([talker, victim], i) => {
    victim.socket.pause()
    for (let n = 0; n < 20; n++) talker.send({ type: 'message', room: `load-${i}`, to: victim.peerId, data: chunk })
  })
  await Promise.all(pairs.map(async ([talker]) => talker.sync(15_000))) // all of it has reached the server
  const frame = JSON.stringify({ type: 'message', data: 'x'.repeat(200_000) })
  for (const [, victim] of pairs) {
    victim.sendRaw(frame)
    victim.socket.resume()
  }
  const codes = await Promise.all(pairs.map(async ([, victim]) => victim.waitClosed(15_000)))
  const counts: Record<number, number> = {}
  for (const c of codes) counts[c] = (counts[c] ?? 0) + 1
  t.same(counts, { 1009: 4 }, 'all 4 closes are 1009 (message too big)')
  await stillServing(t, h, 'after-many-1009')
})

t.test('a frame ws refuses (too big, invalid UTF-8) closes with its code even while the server is busy with earlier frames (found by the fuzzer)', async (t) => {
  // A burst that takes every frame below, so that none is refused for the rate.
  const h = await signalingServer(t, { WS_MAX_MESSAGE_BYTES: 4096, WS_MESSAGE_BURST: 1000 })
  const bad: Array<[string, Buffer, number]> = [
    ['too big', Buffer.alloc(100_000, 0x61), 1009],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 1007]
  ]
  for (const [what, frame, code] of bad) {
    const peers = await Promise.all(Array.from({ length: 10 }, async (_, i) => h.connect(`sender-${i}`)))
    for (const peer of peers) {
      // Frames before the bad one keep the server busy, frames after it are still arriving when it is
      // refused: resetting the connection then discarded the close frame (the client saw 1006).
      for (let i = 0; i < 300; i++) peer.sendRaw('{"type":"ping"}')
      peer.sendRaw(frame)
      for (let i = 0; i < 30; i++) peer.sendRaw('{"type":"ping"}')
    }
    t.same(await Promise.all(peers.map(async (p) => p.waitClosed())), peers.map(() => code), `${what}: every socket closed with ${code}`)
    for (const peer of peers) peer.drop()
  }
  await stillServing(t, h, 'after-bad-frames')
})

t.test('a burst of barrier messages (pings, joins) past the pending bound is answered in full; the socket is read again afterwards (found by the fuzzer)', async (t) => {
  const h = await signalingServer(t, { WS_MESSAGE_BURST: 1000 })
  const [a, b] = await pair(h, 'r')
  // More than PENDING_MAX_MESSAGES: reading pauses until they are done, and must then resume.
  const count = PENDING_MAX_MESSAGES + 72
  for (let i = 0; i < count; i++) a.send({ type: 'ping', id: `p${i}` })
  t.equal((await a.waitCount('pong', count)).length, count, 'every ping answered')
  a.send({ type: 'offer', room: 'r', to: b.peerId, sdp: 'v=0 after the burst' })
  t.match(await b.next('offer'), { sdp: 'v=0 after the burst' }, 'and the connection goes on')
  await a.sync()
})

t.test('rate limit: refusals with SWB_RATE_LIMITED, then close 4029 when the client keeps pushing', async (t) => {
  const h = await signalingServer(t, { WS_MESSAGES_PER_SECOND: 1, WS_MESSAGE_BURST: 5 })
  const a = await h.connect('pushy')
  // Eleven frames in a few milliseconds: at 1/s the bucket refills far less than one token meanwhile.
  for (let i = 0; i < 5; i++) a.send({ type: 'ping', id: `ok-${i}` })
  for (let i = 0; i < 5; i++) a.send({ type: 'ping', id: `over-${i}` })
  const errors = await a.waitCount('error', 5)
  t.equal((await a.waitCount('pong', 5)).length, 5, 'the burst is served')
  t.equal(errors.length, 5)
  t.ok(errors.every((e) => e.code === 'SWB_RATE_LIMITED'), 'each refusal says SWB_RATE_LIMITED')
  t.ok(errors.every((e) => !('ref' in e)), 'and names no message: the frame was refused before it was parsed (docs/signaling.md)')
  t.ok(a.isOpen, 'a burst of refusals alone does not disconnect')

  // One refusal more than the burst, in a row, is abuse.
  a.send({ type: 'ping', id: 'abuse' })
  t.equal(await a.waitClosed(), 4029)
  await stillServing(t, h, 'after-4029')
})

t.test('rate limit: a client that backs off after a refusal is served again and stays connected', async (t) => {
  const h = await signalingServer(t, { WS_MESSAGES_PER_SECOND: 20, WS_MESSAGE_BURST: 3 })
  const a = await h.connect('polite')
  for (let i = 0; i < 4; i++) a.send({ type: 'ping', id: `p${i}` })
  t.match(await a.next('error'), { code: 'SWB_RATE_LIMITED' })
  await new Promise((resolve) => setTimeout(resolve, 120)) // 20/s refills two tokens
  a.send({ type: 'ping', id: 'later' })
  t.match(await a.next((m) => m.type === 'pong' && m.ref === 'later'), { type: 'pong' })
  t.ok(a.isOpen)
})

t.test('MAX_CONNECTIONS_PER_USER: preflight says 429, the extra socket gets SWB_TOO_MANY_CONNECTIONS and 1008', async (t) => {
  const h = await signalingServer(t, { MAX_CONNECTIONS_PER_USER: 2 })
  const token = await h.token('busy-user')
  const preflight = async (): Promise<{ statusCode: number, json: () => Record<string, unknown> }> =>
    h.app.inject({ url: '/v1/signal/preflight', headers: { authorization: `Bearer ${token}` } })

  t.match((await preflight()).json(), { ok: true, connections: 0, limits: { maxConnectionsPerUser: 2 } })
  const first = await h.connect('busy-user')
  await h.connect('busy-user')
  const refusedPreflight = await preflight()
  t.equal(refusedPreflight.statusCode, 429)
  t.match(refusedPreflight.json(), { code: 'SWB_TOO_MANY_CONNECTIONS', status: 429 })

  const third = h.track(await WsPeer.open(h.base, token))
  t.match(await third.next('error'), { code: 'SWB_TOO_MANY_CONNECTIONS' })
  t.equal(await third.waitClosed(2000), 1008, 'closed promptly with 1008 (policy)')
  t.same(third.ofType('welcome'), [], 'no session was started for it')

  // Other users are not affected by this user's cap.
  await h.connect('someone-else')

  // Closing one frees a slot.
  // The client sees its close before the server has released the slot: poll, do not race a delay.
  first.close(1000)
  await first.closed
  await until(async () => (await preflight()).statusCode === 200, 'the closed socket to release its slot')
  t.match((await preflight()).json(), { ok: true, connections: 1 })
  const again = await h.connect('busy-user')
  t.equal(again.welcome.type, 'welcome')
})

t.test('a dropped socket releases its connection slot even though its session waits for a resume', async (t) => {
  const h = await signalingServer(t, { MAX_CONNECTIONS_PER_USER: 1, RESUME_GRACE_SECONDS: 3600 })
  const a = await h.connect('one-device')
  a.drop()
  await a.closed
  const token = await h.token('one-device')
  // The server notices the drop asynchronously; poll the preflight instead of sleeping.
  const deadline = Date.now() + 2000
  let status = 0
  while (Date.now() < deadline) {
    status = (await h.app.inject({ url: '/v1/signal/preflight', headers: { authorization: `Bearer ${token}` } })).statusCode
    if (status === 200) break
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  t.equal(status, 200)
  const resumed = await WsPeer.resume(h.base, token, a)
  h.track(resumed)
  t.match(resumed.welcome, { resumed: true, peerId: a.peerId })
})
