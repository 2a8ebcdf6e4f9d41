import t from 'tap'
import { signalingServer } from '../../helpers/signaling-harness.js'
import type { WsPeer } from '../../helpers/ws-peer.js'

t.test('20 simultaneous joins to a room of capacity 2: exactly 2 join, the rest are refused SWB_ROOM_FULL', async (t) => {
  const h = await signalingServer(t, { ROOM_CAPACITY: 2 })
  const peers: WsPeer[] = await Promise.all(Array.from({ length: 20 }, async (_, i) => h.connect(`user-${i}`)))
  // All frames leave in the same tick, so the server sees them as concurrently as it can.
  for (const p of peers) p.send({ type: 'join', id: 'j', room: 'hot-room' })
  const answers = await Promise.all(peers.map(async (p) => p.next((m) => m.type === 'joined' || (m.type === 'error' && m.ref === 'j'))))

  const joined = peers.filter((_, i) => answers[i]?.type === 'joined')
  const refused = answers.filter((m) => m.type === 'error')
  t.equal(joined.length, 2, 'exactly capacity peers joined')
  t.equal(refused.length, 18)
  t.ok(refused.every((m) => m.code === 'SWB_ROOM_FULL'), 'every refusal is SWB_ROOM_FULL')
  t.same((await h.app.registry.members('hot-room')).map((m) => m.peerId).sort(), joined.map((p) => p.peerId).sort())

  // The two that made it see each other, and nobody else.
  const [first, second] = joined as [WsPeer, WsPeer]
  first.send({ type: 'offer', room: 'hot-room', to: second.peerId, sdp: 'v=0' })
  t.match(await second.next('offer'), { from: first.peerId })
  await Promise.all(peers.map(async (p) => p.sync()))
  const outsiders = peers.filter((p) => !joined.includes(p))
  t.ok(outsiders.every((p) => p.ofType('peer-joined', 'offer', 'message').length === 0), 'refused peers got no room traffic')

  // A relay into the room from a refused peer is refused too.
  const outsider = outsiders[0] as WsPeer
  outsider.send({ type: 'offer', id: 'sneak', room: 'hot-room', to: first.peerId, sdp: 'v=0' })
  t.match(await outsider.errorFor('sneak'), { code: 'SWB_NOT_IN_ROOM' })
})

t.test('capacity races across rooms: 4 rooms of capacity 3, 40 concurrent joins', async (t) => {
  const h = await signalingServer(t, { ROOM_CAPACITY: 3 })
  const peers = await Promise.all(Array.from({ length: 40 }, async (_, i) => h.connect(`u${i}`)))
  peers.forEach((p, i) => p.send({ type: 'join', id: 'j', room: `room-${i % 4}` }))
  const answers = await Promise.all(peers.map(async (p) => p.next((m) => m.type === 'joined' || (m.type === 'error' && m.ref === 'j'))))
  t.equal(answers.filter((m) => m.type === 'joined').length, 12)
  for (let r = 0; r < 4; r++) t.equal((await h.app.registry.members(`room-${r}`)).length, 3, `room-${r} is exactly full`)
})

t.test('room grants: clinic-1/* admits clinic-1/a, not clinic-2/a; the grant role shows in joined and peer-joined', async (t) => {
  const h = await signalingServer(t)
  const doctor = await h.connect({ sub: 'dr', rooms: [{ room: 'clinic-1/*', role: 'host' }] })
  const patient = await h.connect({ sub: 'pt', rooms: ['clinic-1/a'], role: 'guest' })

  doctor.send({ type: 'join', id: 'other-clinic', room: 'clinic-2/a' })
  t.match(await doctor.errorFor('other-clinic'), { code: 'SWB_ROOM_FORBIDDEN' })
  // A prefix is not a substring: clinic-1 alone and clinic-10/a do not match clinic-1/*.
  doctor.send({ type: 'join', id: 'bare', room: 'clinic-1' })
  t.match(await doctor.errorFor('bare'), { code: 'SWB_ROOM_FORBIDDEN' })
  doctor.send({ type: 'join', id: 'ten', room: 'clinic-10/a' })
  t.match(await doctor.errorFor('ten'), { code: 'SWB_ROOM_FORBIDDEN' })
  t.same(await h.app.registry.members('clinic-2/a'), [], 'the forbidden room was not created')

  doctor.send({ type: 'join', room: 'clinic-1/a' })
  t.match(await doctor.next('joined'), { room: 'clinic-1/a', role: 'host', peers: [] })
  patient.send({ type: 'join', id: 'b', room: 'clinic-1/b' })
  t.match(await patient.errorFor('b'), { code: 'SWB_ROOM_FORBIDDEN' }, 'an exact grant admits only that room')
  patient.send({ type: 'join', room: 'clinic-1/a' })
  // The patient's grant names no role, so its global role applies.
  t.match(await patient.next('joined'), { room: 'clinic-1/a', role: 'guest', peers: [{ peerId: doctor.peerId, userId: 'dr', role: 'host' }] })
  t.match(await doctor.next('peer-joined'), { peer: { peerId: patient.peerId, userId: 'pt', role: 'guest' } })
})

t.test('a token with an empty rooms claim may join nothing', async (t) => {
  const h = await signalingServer(t)
  const p = await h.connect({ sub: 'nobody', rooms: [] })
  p.send({ type: 'join', id: 'x', room: 'anything' })
  t.match(await p.errorFor('x'), { code: 'SWB_ROOM_FORBIDDEN' })
})

t.test('MAX_ROOMS_PER_PEER: one more join is refused SWB_TOO_MANY_ROOMS; leaving frees a slot', async (t) => {
  const h = await signalingServer(t, { MAX_ROOMS_PER_PEER: 2 })
  const p = await h.connect('busy')
  t.equal((p.welcome.limits as { maxRoomsPerPeer: number }).maxRoomsPerPeer, 2, 'the limit is announced in welcome')
  p.send({ type: 'join', room: 'r1' })
  p.send({ type: 'join', room: 'r2' })
  p.send({ type: 'join', id: 'third', room: 'r3' })
  t.match(await p.errorFor('third'), { code: 'SWB_TOO_MANY_ROOMS' })
  t.same(p.ofType('joined').map((m) => m.room), ['r1', 'r2'])
  t.same(await h.app.registry.members('r3'), [])

  // Rejoining a room it is already in does not count as another room.
  p.send({ type: 'join', id: 'again', room: 'r2' })
  t.match(await p.nextNew('joined'), { room: 'r2' })

  p.send({ type: 'leave', room: 'r1' })
  await p.next('left')
  p.send({ type: 'join', room: 'r3' })
  t.match(await p.next((m) => m.type === 'joined' && m.room === 'r3'), { peers: [] })
})

t.test('a full room refuses, and takes a peer again once someone leaves', async (t) => {
  const h = await signalingServer(t, { ROOM_CAPACITY: 1 })
  const a = await h.joined('a', 'solo')
  const b = await h.connect('b')
  b.send({ type: 'join', id: 'full', room: 'solo' })
  t.match(await b.errorFor('full'), { code: 'SWB_ROOM_FULL', message: /full/ })
  a.send({ type: 'leave', room: 'solo' })
  await a.next('left')
  b.send({ type: 'join', room: 'solo' })
  t.match(await b.next('joined'), { room: 'solo', peers: [] })
})
