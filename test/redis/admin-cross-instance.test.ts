import t from 'tap'
import { requireRedis, startRedis } from '../helpers/redis-server.js'
import { startInstance, startInstances } from '../helpers/instances.js'
import { ADMIN_KEY, adminClient, enc } from '../helpers/admin-client.js'
import { WsPeer } from '../helpers/ws-peer.js'
import { signTestToken } from '../helpers/tokens.js'

/*
 * The admin API with two instances on one Redis: every call is made on one instance for peers whose
 * sockets are on the other (and an instance started later knows about an earlier revocation).
 */

const { skip } = requireRedis(t)
const ROOM = 'clinic-42/a'

t.test('admin calls on instance A act on peers held by instance B (and the other way round)', { skip }, async (t) => {
  const redis = await startRedis(t)
  const settings = { REDIS_URL: redis.url, ADMIN_API_KEYS: ADMIN_KEY, ROOM_CAPACITY: 5 }
  const [a, b] = await startInstances(t, ['admin-a', 'admin-b'], settings)
  if (a === undefined || b === undefined) throw new Error('instances did not start')
  const adminA = adminClient(a.base)
  const adminB = adminClient(b.base)
  const peers: WsPeer[] = []
  t.teardown(() => { for (const p of peers) p.drop() })
  const join = async (base: string, sub: string, room = ROOM): Promise<WsPeer> => {
    const p = await WsPeer.connect(base, await signTestToken({ sub }))
    peers.push(p)
    p.send({ type: 'join', room })
    await p.next('joined')
    return p
  }

  // Settings put on A apply to joins on B.
  t.equal((await adminA('PUT', `/rooms/${enc(ROOM)}`, { capacity: 3, metadata: { topic: 'consult' } })).status, 200)
  const doctor = await join(b.base, 'dr')
  t.match(doctor.received.find((m) => m.type === 'joined'), { metadata: { topic: 'consult' } }, 'the metadata put on A reaches a joiner on B')
  const patient = await join(b.base, 'pt')
  const nurse = await join(b.base, 'nurse')
  const late = await WsPeer.connect(b.base, await signTestToken({ sub: 'late' }))
  peers.push(late)
  late.send({ type: 'join', id: 'j', room: ROOM })
  t.match(await late.errorFor('j'), { code: 'SWB_ROOM_FULL', message: /3 peers/ }, 'the capacity put on A holds on B')

  // Reads on A see B's peers, connected.
  t.match((await adminA('GET', '/rooms')).body, { rooms: [{ room: ROOM, peers: 3, settings: { capacity: 3 } }] })
  const detail = await adminA('GET', `/rooms/${enc(ROOM)}`)
  const listed = detail.body.peers as Array<{ peerId: string, connected: boolean }>
  t.same(listed.map((p) => p.peerId).sort(), [doctor.peerId, patient.peerId, nurse.peerId].sort())
  t.ok(listed.every((p) => p.connected), 'all connected (on B)')

  // A message from the server, sent on A, to a peer on B.
  t.same((await adminA('POST', `/rooms/${enc(ROOM)}/messages`, { data: 'late by 5', to: patient.peerId })).body, { delivered: 1 })
  t.match(await patient.next('message'), { from: 'server', data: 'late by 5', room: ROOM })

  // Removing, on A, a peer held by B: B forgets the room too, so its relays into the room are refused.
  t.equal((await adminA('DELETE', `/rooms/${enc(ROOM)}/peers/${nurse.peerId}`)).status, 204)
  t.match(await nurse.next('removed'), { room: ROOM, reason: 'api' })
  for (const p of [doctor, patient]) t.match(await p.next((m) => m.type === 'peer-left' && m.peerId === nurse.peerId), { reason: 'removed' })
  nurse.send({ type: 'offer', id: 'o', room: ROOM, to: doctor.peerId, sdp: 'v=0' })
  t.match(await nurse.errorFor('o'), { code: 'SWB_NOT_IN_ROOM' }, 'instance B dropped the room from its copy')

  // Ending, on B, a room with peers on both instances.
  const onA = await join(a.base, 'visitor')
  t.equal((await adminB('DELETE', `/rooms/${enc(ROOM)}`)).status, 204)
  for (const p of [doctor, patient, onA]) t.match(await p.next('room-ended'), { room: ROOM, reason: 'api' })
  onA.send({ type: 'offer', id: 'o', room: ROOM, to: doctor.peerId, sdp: 'v=0' })
  t.match(await onA.errorFor('o'), { code: 'SWB_NOT_IN_ROOM' })
  t.equal((await adminA('GET', `/rooms/${enc(ROOM)}`)).status, 404)

  // Both report the shared registry.
  for (const admin of [adminA, adminB]) t.match((await admin('GET', '/stats')).body, { registry: { kind: 'redis', healthy: true } })
})

t.test('revoking on A closes the user\'s sockets on B (4003) and every instance refuses its old tokens', { skip }, async (t) => {
  const redis = await startRedis(t)
  const settings = { REDIS_URL: redis.url, ADMIN_API_KEYS: ADMIN_KEY }
  const [a, b] = await startInstances(t, ['revoke-a', 'revoke-b'], settings)
  if (a === undefined || b === undefined) throw new Error('instances did not start')
  const oldToken = await signTestToken({ sub: 'dr' })
  const onB = await WsPeer.connect(b.base, oldToken)
  const alsoOnB = await WsPeer.connect(b.base, oldToken)
  const patient = await WsPeer.connect(a.base, await signTestToken({ sub: 'pt' }))
  t.teardown(() => { for (const p of [onB, alsoOnB, patient]) p.drop() })
  onB.send({ type: 'join', room: ROOM })
  await onB.next('joined')
  patient.send({ type: 'join', room: ROOM })
  await patient.next('joined')

  const answer = await adminClient(a.base)('DELETE', `/users/${enc('dr')}/sessions`)
  t.equal(answer.status, 200)
  t.equal(await onB.waitClosed(), 4003)
  t.equal(await alsoOnB.waitClosed(), 4003)
  t.match(await patient.next((m) => m.type === 'peer-left'), { peerId: onB.peerId, reason: 'revoked' }, 'the patient on A is told')
  for (const base of [a.base, b.base]) t.match((await WsPeer.refusal(base, oldToken)).body, { code: 'SWB_AUTH_TOKEN_REVOKED' })

  // An instance started after the revocation reads it from Redis.
  const c = await startInstance(t, { ...settings, INSTANCE_ID: 'revoke-c' })
  t.match((await WsPeer.refusal(c.base, oldToken)).body, { code: 'SWB_AUTH_TOKEN_REVOKED' }, 'a later instance knows it')
  const fresh = await signTestToken({ sub: 'dr', iat: Math.floor(Date.parse(String(answer.body.revokedAt)) / 1000) + 1 })
  const back = await WsPeer.resume(c.base, fresh, onB)
  t.teardown(() => back.drop())
  t.match(back.welcome, { resumed: false, resumeError: { code: 'SWB_RESUME_EXPIRED' } }, 'a newer token works, but the revoked session is over')
})
