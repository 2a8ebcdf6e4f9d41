import t from 'tap'
import { signalingServer, signalingServerWithLogs, type Harness } from '../../helpers/signaling-harness.js'
import { ADMIN_KEY, adminClient, enc } from '../../helpers/admin-client.js'
import { WsPeer } from '../../helpers/ws-peer.js'
import { signTestToken } from '../../helpers/tokens.js'
import type { RoomEventMap } from '../../../plugins/signaling/events.js'

/*
 * The admin API on one instance, against the registry this process tests (memory; Redis again through
 * test/redis/admin-on-redis.test.ts). Real HTTP and real sockets; test/redis/admin-cross-instance.test.ts
 * covers calls made on one instance for peers on another.
 */

const ROOM = 'clinic-42/a'

async function server (t: Parameters<typeof signalingServer>[0], overrides = {}): Promise<Harness & { admin: ReturnType<typeof adminClient> }> {
  const h = await signalingServer(t, { ADMIN_API_KEYS: ADMIN_KEY, ...overrides })
  return { ...h, admin: adminClient(h.base) }
}

/** Records one kind of room event. */
function record<K extends keyof RoomEventMap> (h: Harness, event: K): Array<RoomEventMap[K]> {
  const seen: Array<RoomEventMap[K]> = []
  h.app.signaling.events.on(event, (e) => { seen.push(e) })
  return seen
}

t.test('without ADMIN_API_KEYS every admin route is a 404; with them a missing or wrong key is a 401 problem', async (t) => {
  const off = await signalingServer(t)
  for (const [method, path] of [['GET', '/rooms'], ['GET', '/stats'], ['DELETE', `/rooms/${enc(ROOM)}`], ['DELETE', '/users/u/sessions']] as const) {
    const answer = await adminClient(off.base)(method, path)
    t.equal(answer.status, 404, `${method} ${path} is off`)
    t.match(answer.body, { code: 'SWB_NOT_FOUND' })
  }
  const on = await server(t)
  for (const key of [null, 'wrong-key-0123456789abcdefgh', `${ADMIN_KEY}x`]) {
    const answer = await adminClient(on.base, key)('GET', '/rooms')
    t.equal(answer.status, 401)
    t.match(answer.headers.get('content-type'), /^application\/problem\+json/)
    t.match(answer.body, { code: 'SWB_ADMIN_UNAUTHORIZED' })
    t.match(answer.headers.get('www-authenticate'), /^Bearer realm="switchboard-admin"/)
  }
  t.equal((await on.admin('GET', '/rooms')).status, 200)
})

t.test('every call is audited with the key id, never the key', async (t) => {
  const h = await signalingServerWithLogs(t, { ADMIN_API_KEYS: `other-key-0123456789abcdefgh,${ADMIN_KEY}` })
  const admin = adminClient(h.base)
  await admin('GET', `/rooms/${enc(ROOM)}`)
  await adminClient(h.base, 'wrong-key-0123456789abcdefgh')('GET', '/stats')
  const audits = h.logs.lines.filter((l) => l.audit === true && l.event === 'admin.call')
  t.match(audits, [
    { operation: 'getRoom', status: 404, room: ROOM, keyId: /^key-/ },
    { operation: 'getStats', status: 401, keyId: undefined }
  ])
  t.notOk(h.logs.text().includes(ADMIN_KEY), 'the key itself is never logged')
})

t.test('the admin API is rate-limited per client IP', async (t) => {
  const h = await server(t, { ADMIN_RATE_LIMIT_MAX: 2 })
  t.equal((await h.admin('GET', '/stats')).status, 200)
  t.equal((await h.admin('GET', '/stats')).status, 200)
  const limited = await h.admin('GET', '/stats')
  t.equal(limited.status, 429)
  t.match(limited.body, { code: 'SWB_RATE_LIMITED' })
  t.ok(Number(limited.headers.get('retry-after')) >= 1)
})

t.test('GET rooms (paged) and a room (settings and peers, connected or in grace); 404 for an unknown room', async (t) => {
  const h = await server(t, { RESUME_GRACE_SECONDS: 30 })
  const doctor = await h.connect({ sub: 'dr', role: 'host' })
  doctor.send({ type: 'join', room: ROOM, meta: { name: 'Dr A' } })
  await doctor.next('joined')
  const patient = await h.joined('pt', ROOM)
  await h.joined('other', 'clinic-42/b')
  await h.joined('third', 'zz-room')

  const first = await h.admin('GET', '/rooms?limit=2')
  t.equal(first.status, 200)
  t.match(first.body, { rooms: [{ room: 'clinic-42/a', peers: 2, createdAt: String }, { room: 'clinic-42/b', peers: 1 }], next: String })
  const second = await h.admin('GET', `/rooms?limit=2&cursor=${enc(String(first.body.next))}`)
  t.same((second.body.rooms as Array<{ room: string }>).map((r) => r.room), ['zz-room'])
  t.notOk('next' in second.body, 'the last page has no next')
  t.equal((await h.admin('GET', '/rooms?limit=0')).status, 400, 'limit is validated')

  const detail = await h.admin('GET', `/rooms/${enc(ROOM)}`)
  t.equal(detail.status, 200)
  t.match(detail.body, { room: ROOM, createdAt: String })
  const peers = detail.body.peers as Array<Record<string, unknown>>
  t.match(peers.find((p) => p.peerId === doctor.peerId), { userId: 'dr', role: 'host', meta: { name: 'Dr A' }, joinedAt: String, connected: true })
  t.match(peers.find((p) => p.peerId === patient.peerId), { userId: 'pt', connected: true })

  patient.drop()
  await doctor.sync()
  let inGrace: Record<string, unknown> | undefined
  for (let i = 0; i < 100 && inGrace?.connected !== false; i++) {
    inGrace = ((await h.admin('GET', `/rooms/${enc(ROOM)}`)).body.peers as Array<Record<string, unknown>>).find((p) => p.peerId === patient.peerId)
  }
  t.match(inGrace, { connected: false }, 'a dropped peer is reported inside its grace period')

  const unknown = await h.admin('GET', `/rooms/${enc('nobody/here')}`)
  t.equal(unknown.status, 404)
  t.match(unknown.body, { code: 'SWB_ADMIN_ROOM_NOT_FOUND' })
})

t.test('PUT settings: capacity overrides ROOM_CAPACITY, lowering it refuses joins but removes nobody; metadata reaches joiners', async (t) => {
  const h = await server(t, { ROOM_CAPACITY: 2 })
  const put = await h.admin('PUT', `/rooms/${enc(ROOM)}`, { capacity: 3, metadata: { topic: 'follow-up', clinician: 'Dr A' } })
  t.equal(put.status, 200)
  t.match(put.body, { room: ROOM, createdAt: String, settings: { capacity: 3, metadata: { topic: 'follow-up' } } })
  t.match((await h.admin('GET', '/rooms')).body, { rooms: [{ room: ROOM, peers: 0, settings: { capacity: 3 } }] }, 'a configured room is listed before anyone joins')

  const a = await h.connect('a')
  a.send({ type: 'join', room: ROOM })
  t.match(await a.next('joined'), { room: ROOM, metadata: { topic: 'follow-up', clinician: 'Dr A' } })
  const b = await h.joined('b', ROOM)
  const c = await h.joined('c', ROOM)
  t.ok(c.isOpen, 'a third peer fits: the room capacity is 3, ROOM_CAPACITY 2')

  t.equal((await h.admin('PUT', `/rooms/${enc(ROOM)}`, { capacity: 1 })).status, 200)
  const d = await h.connect('d')
  d.send({ type: 'join', id: 'full', room: ROOM })
  t.match(await d.errorFor('full'), { code: 'SWB_ROOM_FULL', message: /1 peers/ })
  await Promise.all([a.sync(), b.sync(), c.sync()])
  t.equal((await h.app.registry.members(ROOM)).length, 3, 'nobody was removed')
  t.same([a, b, c].flatMap((p) => p.ofType('peer-left', 'removed', 'room-ended')), [])

  const tooBig = await h.admin('PUT', `/rooms/${enc(ROOM)}`, { metadata: { big: 'x'.repeat(5000) } })
  t.equal(tooBig.status, 400)
  t.match(tooBig.body, { code: 'SWB_ADMIN_METADATA_TOO_LARGE' })
  const unknownField = await h.admin('PUT', `/rooms/${enc(ROOM)}`, { capacity: 2, colour: 'red' })
  t.equal(unknownField.status, 400)
  t.match(unknownField.body, { code: 'SWB_VALIDATION' })
  t.equal((await h.admin('PUT', `/rooms/${enc('bad room!')}`, {})).status, 400, 'room names are validated')
  const longest = 'a/'.repeat(64)
  t.equal((await h.admin('PUT', `/rooms/${enc(longest)}`, {})).status, 200, 'a 128-character room name fits, URL-encoded')
  t.equal((await h.admin('PUT', `/rooms/${enc(longest + 'a')}`, {})).status, 400, 'one more character does not')
  t.match((await h.admin('GET', `/rooms/${'a'.repeat(2000)}`)).body, { code: 'SWB_URI_TOO_LONG' }, 'a path parameter past any valid name')
})

t.test('a room grant may carry the capacity of the rooms it starts; API settings win over it', async (t) => {
  const h = await server(t, { ROOM_CAPACITY: 2 })
  const grant = { rooms: [{ room: 'group/*', capacity: 3 }] }
  const members: WsPeer[] = []
  for (const sub of ['p1', 'p2', 'p3']) {
    const p = await h.connect({ sub, ...grant })
    p.send({ type: 'join', room: 'group/tuesday' })
    await p.next('joined')
    members.push(p)
  }
  const fourth = await h.connect({ sub: 'p4', ...grant })
  fourth.send({ type: 'join', id: 'j', room: 'group/tuesday' })
  t.match(await fourth.errorFor('j'), { code: 'SWB_ROOM_FULL', message: /3 peers/ })
  await h.admin('PUT', `/rooms/${enc('group/tuesday')}`, { capacity: 4 })
  fourth.send({ type: 'join', room: 'group/tuesday' })
  t.match(await fourth.next('joined'), { room: 'group/tuesday' }, 'the API capacity wins')
})

t.test('DELETE a room: every peer gets room-ended and is out; the name starts afresh', async (t) => {
  const h = await server(t)
  const ended = record(h, 'roomEnded')
  await h.admin('PUT', `/rooms/${enc(ROOM)}`, { capacity: 5, metadata: { x: 1 } })
  const a = await h.joined('a', ROOM)
  const b = await h.joined('b', ROOM)
  const answer = await h.admin('DELETE', `/rooms/${enc(ROOM)}`)
  t.equal(answer.status, 204)
  for (const p of [a, b]) t.match(await p.next('room-ended'), { room: ROOM, reason: 'api', seq: Number })
  t.match(ended, [{ room: ROOM, reason: 'api' }])
  t.same(ended[0]?.peers.map((p) => p.peerId).sort(), [a.peerId, b.peerId].sort())
  a.send({ type: 'offer', id: 'o', room: ROOM, to: b.peerId, sdp: 'v=0' })
  t.match(await a.errorFor('o'), { code: 'SWB_NOT_IN_ROOM' }, 'they are out of the room')
  t.equal((await h.admin('GET', `/rooms/${enc(ROOM)}`)).status, 404)
  t.equal((await h.admin('DELETE', `/rooms/${enc(ROOM)}`)).status, 404, 'a second DELETE finds nothing')

  a.send({ type: 'join', room: ROOM })
  const rejoined = await a.nextNew('joined')
  t.notOk('metadata' in rejoined, 'the settings went with the old room')
  t.ok(a.isOpen && b.isOpen, 'the sockets stay open: only the room ended')
})

t.test('DELETE a peer: it gets removed, the others peer-left with reason removed', async (t) => {
  const h = await server(t, { ROOM_CAPACITY: 3 })
  const removed = record(h, 'peerRemoved')
  const a = await h.joined('a', ROOM)
  const b = await h.joined('b', ROOM)
  const c = await h.joined('c', ROOM)
  t.equal((await h.admin('DELETE', `/rooms/${enc(ROOM)}/peers/${b.peerId}`)).status, 204)
  t.match(await b.next('removed'), { room: ROOM, reason: 'api' })
  for (const p of [a, c]) t.match(await p.next((m) => m.type === 'peer-left' && m.peerId === b.peerId), { room: ROOM, reason: 'removed' })
  t.match(removed, [{ room: ROOM, peer: { peerId: b.peerId, userId: 'b' }, reason: 'removed' }])
  b.send({ type: 'offer', id: 'o', room: ROOM, to: a.peerId, sdp: 'v=0' })
  t.match(await b.errorFor('o'), { code: 'SWB_NOT_IN_ROOM' })
  const again = await h.admin('DELETE', `/rooms/${enc(ROOM)}/peers/${b.peerId}`)
  t.equal(again.status, 404)
  t.match(again.body, { code: 'SWB_ADMIN_PEER_NOT_FOUND' })
})

t.test('POST a message: from "server" to one peer or to everyone in the room', async (t) => {
  const h = await server(t)
  const [a, b] = [await h.joined('a', ROOM), await h.joined('b', ROOM)]
  const toOne = await h.admin('POST', `/rooms/${enc(ROOM)}/messages`, { data: { text: 'running 5 minutes late' }, to: b.peerId })
  t.same(toOne.body, { delivered: 1 })
  t.match(await b.next('message'), { room: ROOM, from: 'server', data: { text: 'running 5 minutes late' } })
  await a.sync()
  t.same(a.ofType('message'), [], 'only the addressed peer got it')
  t.same((await h.admin('POST', `/rooms/${enc(ROOM)}/messages`, { data: 'all' })).body, { delivered: 2 })
  for (const p of [a, b]) t.match(await p.next((m) => m.type === 'message' && m.data === 'all'), { from: 'server' })
  t.match((await h.admin('POST', `/rooms/${enc('empty/room')}/messages`, { data: 1 })).body, { code: 'SWB_ADMIN_ROOM_NOT_FOUND' })
  t.match((await h.admin('POST', `/rooms/${enc(ROOM)}/messages`, { data: 1, to: 'nobody' })).body, { code: 'SWB_ADMIN_PEER_NOT_FOUND' })
  t.match((await h.admin('POST', `/rooms/${enc(ROOM)}/messages`, { to: a.peerId })).body, { code: 'SWB_VALIDATION' }, 'data is required')
})

t.test('DELETE a user\'s sessions: 4003 on every socket, not resumable, old tokens refused, newer ones accepted', async (t) => {
  const h = await server(t)
  const revokedSessions = record(h, 'sessionRevoked')
  const oldToken = await signTestToken({ sub: 'dr' })
  const phone = h.track(await WsPeer.connect(h.base, oldToken))
  const laptop = h.track(await WsPeer.connect(h.base, oldToken))
  phone.send({ type: 'join', room: ROOM })
  await phone.next('joined')
  const patient = await h.joined('pt', ROOM)

  const answer = await h.admin('DELETE', `/users/${enc('dr')}/sessions`)
  t.equal(answer.status, 200)
  t.match(answer.body, { userId: 'dr', revokedAt: String })
  t.equal(await phone.waitClosed(), 4003)
  t.equal(await laptop.waitClosed(), 4003)
  t.match(await patient.next((m) => m.type === 'peer-left'), { room: ROOM, peerId: phone.peerId, reason: 'revoked' })
  t.same(revokedSessions.map((e) => e.peerId).sort(), [phone.peerId, laptop.peerId].sort())
  t.match(revokedSessions.find((e) => e.peerId === phone.peerId), { userId: 'dr', rooms: [ROOM], reason: 'revoked' })

  const refused = await WsPeer.refusal(h.base, oldToken)
  t.equal(refused.status, 401)
  t.match(refused.body, { code: 'SWB_AUTH_TOKEN_REVOKED' })
  const noIat = await signTestToken({ sub: 'dr', iat: undefined })
  t.match((await WsPeer.refusal(h.base, noIat)).body, { code: 'SWB_AUTH_TOKEN_REVOKED' }, 'a token without iat cannot show it is newer')

  // A token issued after the revocation (iat has a one-second resolution: the next second).
  const fresh = await signTestToken({ sub: 'dr', iat: Math.floor(Date.parse(String(answer.body.revokedAt)) / 1000) + 1 })
  const back = h.track(await WsPeer.resume(h.base, fresh, phone))
  t.match(back.welcome, { resumed: false, resumeError: { code: 'SWB_RESUME_EXPIRED' } }, 'the revoked session cannot be resumed')
  const other = await h.admin('DELETE', `/users/${enc('nobody')}/sessions`)
  t.equal(other.status, 200, 'revoking a user without sessions is fine')
})

t.test('maxDurationSeconds: the room ends by itself with reason max-duration', async (t) => {
  const h = await server(t)
  const ended = record(h, 'roomEnded')
  const a = await h.joined('a', ROOM)
  const b = await h.joined('b', ROOM)
  t.equal((await h.admin('PUT', `/rooms/${enc(ROOM)}`, { maxDurationSeconds: 1 })).status, 200)
  for (const p of [a, b]) t.match(await p.next('room-ended', 5000), { room: ROOM, reason: 'max-duration' })
  t.match(ended, [{ room: ROOM, reason: 'max-duration' }])
  t.equal((await h.admin('GET', `/rooms/${enc(ROOM)}`)).status, 404)
})

t.test('GET stats, and GET /health as an alias of /health/ready', async (t) => {
  const h = await server(t)
  const [a, b] = [await h.joined('a', ROOM), await h.joined('b', ROOM)]
  a.send({ type: 'offer', room: ROOM, to: b.peerId, sdp: 'v=0' })
  await b.next('offer')
  a.send({ type: 'offer', id: 'x', room: 'elsewhere', to: b.peerId, sdp: 'v=0' })
  await a.errorFor('x')
  const stats = await h.admin('GET', '/stats')
  t.equal(stats.status, 200)
  t.match(stats.body, {
    instanceId: String,
    version: String,
    uptimeSeconds: Number,
    registry: { kind: h.app.registry.kind, healthy: true },
    connections: 2,
    peers: 2,
    rooms: 1,
    memory: { rssBytes: Number, heapUsedBytes: Number }
  })
  const messages = stats.body.messages as { relayed: number, refused: number }
  t.ok(messages.relayed >= 1 && messages.refused >= 1, 'messages relayed and refused are counted')
  const health = await fetch(`${h.base}/health`)
  t.equal(health.status, 200)
  t.match(await health.json(), { status: 'ready', checks: { registry: { ok: true } } })
})
