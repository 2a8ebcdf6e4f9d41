import t from 'tap'
import { SwitchboardClient, SwitchboardError, type ServerMessageOf } from '../../client/index.js'
import { signTestToken } from '../helpers/tokens.js'
import { startJwksServer } from '../helpers/jwks-server.js'
import { connectedClient, makeClient, startServer, withoutGlobalWebSocket } from './helpers.js'

t.test('two clients join a room and relay offer, answer, candidates and app messages', async (t) => {
  const { base } = await startServer(t)
  const doctor = await connectedClient(t, base, 'doctor')
  const patient = await connectedClient(t, base, 'patient')
  t.equal(doctor.state, 'open')
  t.match(doctor.welcome, { type: 'welcome', userId: 'doctor', resumed: false, seq: 0, rooms: [] })

  const joinedA = await doctor.join('consult-1', { name: 'Dr. A' })
  t.match(joinedA, { type: 'joined', room: 'consult-1', peers: [] })
  const peerJoined = doctor.waitFor('peer-joined', { timeoutMs: 2000 })
  const joinedB = await patient.join('consult-1')
  t.match(joinedB.peers, [{ peerId: doctor.peerId, userId: 'doctor', meta: { name: 'Dr. A' } }])
  t.match(await peerJoined, { room: 'consult-1', peer: { peerId: patient.peerId, userId: 'patient' } })

  const offer = patient.waitFor('offer', { timeoutMs: 2000 })
  doctor.sendOffer('consult-1', patient.peerId!, 'v=0 offer')
  const received: ServerMessageOf<'offer'> = await offer
  t.match(received, { room: 'consult-1', from: doctor.peerId, sdp: 'v=0 offer' })

  const answer = doctor.waitFor('answer', { timeoutMs: 2000 })
  patient.sendAnswer('consult-1', doctor.peerId!, 'v=0 answer')
  t.match(await answer, { from: patient.peerId, sdp: 'v=0 answer' })

  const candidates: Array<ServerMessageOf<'candidate'>> = []
  doctor.on('candidate', (m) => candidates.push(m))
  // An RTCIceCandidate-like object with extra fields: only the RTCIceCandidateInit fields are sent.
  patient.sendCandidate('consult-1', doctor.peerId!, Object.assign({ candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 }, { address: '127.0.0.1', port: 9 }))
  patient.sendCandidate('consult-1', doctor.peerId!, null)
  await doctor.waitFor('candidate', { filter: (m) => m.candidate === null, timeoutMs: 2000 })
  t.same(candidates.map((m) => m.candidate), [{ candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 }, null])

  const broadcast = patient.waitFor('message', { timeoutMs: 2000 })
  doctor.send('consult-1', { kind: 'mute', on: true })
  t.match(await broadcast, { from: doctor.peerId, data: { kind: 'mute', on: true } })

  const rtt = await doctor.ping()
  t.ok(rtt >= 0 && rtt < 2000, 'ping resolves with the round trip')

  const left = await patient.leave('consult-1')
  t.match(left, { type: 'left', room: 'consult-1' })
})

t.test('refusals reject with a SwitchboardError carrying the server code and the message id', async (t) => {
  const { base } = await startServer(t)
  const guest = await connectedClient(t, base, 'guest', {})
  const limited = makeClient(t, base, { token: await signTestToken({ sub: 'limited', rooms: ['allowed'] }) })
  await limited.connect()

  const errors: Array<ServerMessageOf<'error'>> = []
  limited.on('error', (m) => errors.push(m))
  const refused = await limited.join('not-granted').catch((err: unknown) => err)
  t.type(refused, SwitchboardError)
  t.match(refused, { code: 'SWB_ROOM_FORBIDDEN', ref: /^\d+$/ })
  t.equal(errors[0]?.ref, (refused as SwitchboardError).ref, 'the error event carries the same ref')

  await t.rejects(limited.leave('allowed'), { code: 'SWB_NOT_IN_ROOM' })
  await limited.join('allowed')
  await guest.join('allowed')
  const third = await connectedClient(t, base, 'third')
  await t.rejects(third.join('allowed'), { code: 'SWB_ROOM_FULL' }, 'ROOM_CAPACITY defaults to 2')

  // Relaying to a peer outside the room: the id returned by sendOffer comes back as ref.
  const error = third.waitFor('error', { timeoutMs: 2000 })
  const id = third.sendOffer('allowed', limited.peerId!, 'v=0')
  t.match(await error, { code: 'SWB_NOT_IN_ROOM', ref: id })
})

t.test('client-side checks: size limit, not connected, closed, bad options', async (t) => {
  const { base } = await startServer(t, { WS_MAX_MESSAGE_BYTES: 4096 })
  const idle = makeClient(t, base, { token: await signTestToken({ sub: 'idle' }) })
  t.throws(() => idle.send('r', 'x'), { code: 'SWB_CLIENT_NOT_CONNECTED' })
  await t.rejects(idle.join('r'), { code: 'SWB_CLIENT_NOT_CONNECTED' })

  const client = await connectedClient(t, base, 'big')
  await client.join('r')
  t.throws(() => client.send('r', 'x'.repeat(5000)), { code: 'SWB_MESSAGE_TOO_LARGE' }, 'refused before it reaches the server')
  t.equal(client.state, 'open', 'and the connection is untouched')

  const closed = client.waitFor('close', { timeoutMs: 2000 })
  await client.close()
  t.match(await closed, { code: 1000, willReconnect: false })
  t.equal(client.state, 'closed')
  t.throws(() => client.sendOffer('r', 'x', 'v=0'), { code: 'SWB_CLIENT_CLOSED' })
  await t.rejects(client.connect(), { code: 'SWB_CLIENT_CLOSED' })

  t.throws(() => new SwitchboardClient({ url: 'ftp://x', token: 't' }), TypeError)
  t.throws(() => new SwitchboardClient({ url: base, token: '' }), TypeError)
  t.throws(() => makeClient(t, base, { token: 't', reconnect: { jitter: 2 } }), /jitter/)
})

t.test('a refused upgrade rejects connect() with the reason from the preflight route', async (t) => {
  const { base } = await startServer(t, { MAX_CONNECTIONS_PER_USER: 1 })
  const forged = makeClient(t, base, { token: await signTestToken({ sub: 'x' }, { secret: 'another-secret-that-is-long-enough-0123' }) })
  await t.rejects(forged.connect(), { code: 'SWB_AUTH_BAD_SIGNATURE', status: 401 })
  t.equal(forged.state, 'idle', 'connect() may be called again')

  const expired = makeClient(t, base, { token: await signTestToken({ sub: 'x' }, { expiresIn: '-10m' }) })
  await t.rejects(expired.connect(), { code: 'SWB_AUTH_TOKEN_EXPIRED' })

  // Admitted by the upgrade, refused after it: the server's `error` before closing 1008 is the reason.
  const first = await connectedClient(t, base, 'solo')
  const second = makeClient(t, base, { token: await signTestToken({ sub: 'solo' }) })
  await t.rejects(second.connect(), { code: 'SWB_TOO_MANY_CONNECTIONS' })
  t.equal(first.state, 'open')

  const nowhere = makeClient(t, 'http://127.0.0.1:1', { token: 'x.y.z' })
  await t.rejects(nowhere.connect(), { code: 'SWB_CLIENT_NETWORK' }, 'nothing listens: the preflight cannot reach it either')
})

t.test('connect() waits out a refusal with Retry-After: the IdP signs with a key the server fetches after its cooldown', async (t) => {
  const idp = await startJwksServer(t, ['ES256'])
  // 3 s: the new key's first attempt must land inside the cooldown even on a loaded machine.
  const { base } = await startServer(t, { JWT_SECRET: undefined, JWT_JWKS_URL: idp.url, JWT_JWKS_COOLDOWN_SECONDS: 3 })
  await connectedClient(t, base, 'first', { token: await idp.keys[0]!.sign({ sub: 'first' }) })
  const rotated = await idp.addKey('ES256')

  const preflights: Array<{ status: number, retryAfter: string | null }> = []
  const client = makeClient(t, base, {
    token: async () => rotated.sign({ sub: 'rotated' }),
    fetch: async (input, init) => {
      const res = await fetch(input, init)
      preflights.push({ status: res.status, retryAfter: res.headers.get('retry-after') })
      return res
    }
  })
  const welcome = await client.connect()
  t.match(welcome, { userId: 'rotated' }, 'in, without the app retrying')
  t.ok(preflights.length > 0, 'the first attempt was refused (the key was not fetched yet)')
  t.ok(preflights.every((p) => p.status === 503 && p.retryAfter !== null), 'the refusals on the way were the retryable 503, never a 401')
  t.equal(idp.fetches, 2, 'one refetch, after the cooldown')
})

t.test('without a WebSocket implementation connect() says how to provide one; HTTP calls still work', async (t) => {
  const { base } = await startServer(t)
  const token = await signTestToken({ sub: 'http-only' })
  const globalBefore = (globalThis as { WebSocket?: unknown }).WebSocket
  // Node 22+ has a global WebSocket: take it away while the client looks for one (in its constructor), as in Node 20.
  const client = withoutGlobalWebSocket(() => new SwitchboardClient({ url: base, token }))
  t.teardown(() => client.close())
  t.equal((globalThis as { WebSocket?: unknown }).WebSocket, globalBefore, 'the global (if any) is back')
  await t.rejects(client.connect(), { name: 'TypeError', message: /pass \{ WebSocket \}/ })
  t.equal(client.state, 'idle')
  t.match(await client.preflight(), { ok: true, userId: 'http-only' })
})

t.test('with a global WebSocket (Node 22+) the client needs no WebSocket option', {
  skip: (globalThis as { WebSocket?: unknown }).WebSocket === undefined ? 'no global WebSocket in this Node (20)' : false
}, async (t) => {
  const { base } = await startServer(t)
  const client = new SwitchboardClient({ url: base, token: await signTestToken({ sub: 'global-ws' }) })
  t.teardown(() => client.close())
  t.match(await client.connect(), { type: 'welcome', userId: 'global-ws', resumed: false })
  t.match(await client.join('r'), { type: 'joined', room: 'r' })
  t.ok(await client.ping() >= 0)
  await client.close()
  t.equal(client.state, 'closed')
})
