import t from 'tap'
import type { CloseEvent, ReconnectingEvent, ServerMessageOf } from '../../client/index.js'
import { signTestToken } from '../helpers/tokens.js'
import { connectedClient, makeClient, startServer, until } from './helpers.js'

t.test('drain: the client moves by itself after the server asks, and its session survives', async (t) => {
  const { app, base } = await startServer(t, { RECONNECT_JITTER_MS: 200 })
  const alice = await connectedClient(t, base, 'alice')
  const bob = await connectedClient(t, base, 'bob', { reconnect: { initialDelayMs: 100, jitter: 0 } })
  await alice.join('r')
  await bob.join('r')
  const bobPeerId = bob.peerId
  const notices: Array<ServerMessageOf<'reconnect'>> = []
  bob.on('reconnect', (m) => notices.push(m))
  const closes: CloseEvent[] = []
  bob.on('close', (e) => closes.push(e))
  const reconnects: ReconnectingEvent[] = []
  bob.on('reconnecting', (e) => reconnects.push(e))
  const leftAlice: unknown[] = []
  alice.on('peer-left', (m) => leftAlice.push(m))

  const resumed = bob.waitFor('resumed', { timeoutMs: 3000 })
  const drained = app.signaling.drain(1500)
  t.match(await resumed, { peerId: bobPeerId, rooms: ['r'] })
  t.ok(notices[0]!.afterMs >= 0 && notices[0]!.afterMs < 200, 'afterMs is within RECONNECT_JITTER_MS')
  t.match(closes[0], { code: 4000, reason: 'draining', willReconnect: true }, 'the client left on its own, not at the deadline')
  t.match(reconnects[0], { attempt: 1, delayMs: 0, reason: 'draining' }, 'the first move is immediate')

  // One instance only: the resumed connection is on the draining instance again and is told to move
  // again. The client backs off between such moves instead of bouncing at the rate of afterMs.
  await until(() => reconnects.length >= 3, 3000, 'two more drain moves')
  t.match(reconnects.slice(1, 3).map((r) => [r.reason, r.delayMs]), [['draining', 100], ['draining', 200]])

  // While draining, the instance refuses joins: the client surfaces the code.
  await t.rejects(bob.join('elsewhere'), { code: 'SWB_DRAINING' })
  await drained
  const relayed = alice.waitFor('message', { timeoutMs: 3000 })
  bob.send('r', 'still here', alice.peerId)
  t.match(await relayed, { data: 'still here', from: bobPeerId }, 'the session and its room survived the drain')
  t.same(leftAlice, [], 'nobody left the room during the drain')
})

t.test('token-expiring with a token function: the client sends refresh and the connection outlives the first token', async (t) => {
  const { base } = await startServer(t)
  const exp = Math.floor(Date.now() / 1000) + 2
  let calls = 0
  const client = makeClient(t, base, {
    token: async () => (++calls === 1 ? signTestToken({ sub: 'renew', exp }) : signTestToken({ sub: 'renew', exp: exp + 3600 }))
  })
  // TOKEN_EXPIRY_WARNING_SECONDS (60) exceeds the token's life: the warning comes right after the welcome.
  const expiringEvent = client.waitFor('token-expiring', { timeoutMs: 3000 })
  const refreshedEvent = client.waitFor('refreshed', { timeoutMs: 3000 })
  await client.connect()
  const expiring = await expiringEvent
  t.equal(expiring.tokenExpiresAt, exp * 1000)
  const refreshed = await refreshedEvent
  t.equal(refreshed.tokenExpiresAt, (exp + 3600) * 1000)
  t.equal(calls, 2)
  const closes: CloseEvent[] = []
  client.on('close', (e) => closes.push(e))
  await until(() => Date.now() > exp * 1000 + 300, 4000, 'the first token to lapse')
  t.equal(client.state, 'open')
  t.same(closes, [], 'no 4001')
  t.ok(await client.ping() >= 0)
})

t.test('a refused refresh surfaces as an error event; the client does not loop', async (t) => {
  const { base } = await startServer(t)
  let calls = 0
  const client = makeClient(t, base, {
    // The renewed token is for another user: the server refuses it.
    token: async () => (++calls === 1 ? signTestToken({ sub: 'someone' }, { expiresIn: '30s' }) : signTestToken({ sub: 'someone-else' }))
  })
  const errorEvent = client.waitFor('error', { timeoutMs: 3000 })
  await client.connect()
  const error = await errorEvent
  t.match(error, { code: 'SWB_REFRESH_REJECTED', ref: /\d+/ })
  t.equal(calls, 2)
  t.equal(client.state, 'open', 'the connection goes on until the token lapses')
})

t.test('getIceServers returns an RTCConfiguration from the TURN route, or the problem code', async (t) => {
  const { base } = await startServer(t, { TURN_TTL_SECONDS: 600 })
  const client = await connectedClient(t, base, 'alice')
  const config = await client.getIceServers()
  t.equal(config.ttl, 600)
  t.match(config.iceServers, [{ urls: ['stun:127.0.0.1:3478'] }, { urls: ['turn:127.0.0.1:3478?transport=udp', 'turn:127.0.0.1:3478?transport=tcp'], username: /^\d+:alice$/, credential: String }])
  t.ok(Date.parse(config.expiresAt) > Date.now() && Date.parse(config.refreshAt) < Date.parse(config.expiresAt))
  t.equal((await client.getIceServers(120)).ttl, 120, 'a shorter lifetime on request')
  await t.rejects(client.getIceServers(5), { code: 'SWB_VALIDATION', status: 400 })

  const { SwitchboardClient } = await import('../../client/index.js')
  const forged = new SwitchboardClient({ url: base, token: await signTestToken({ sub: 'x' }, { secret: 'another-secret-that-is-long-enough-0123' }) })
  await t.rejects(forged.getIceServers(), { code: 'SWB_AUTH_BAD_SIGNATURE', status: 401 })
  const failing = new SwitchboardClient({ url: base, token: async () => { throw new Error('IdP down') } })
  await t.rejects(failing.getIceServers(), { code: 'SWB_CLIENT_TOKEN_UNAVAILABLE', message: /IdP down/ })
})

t.test('preflight says whether an upgrade would be accepted, and why not', async (t) => {
  const { app, base } = await startServer(t, { MAX_CONNECTIONS_PER_USER: 1 })
  const client = await connectedClient(t, base, 'alice')
  const { SwitchboardClient } = await import('../../client/index.js')
  const other = new SwitchboardClient({ url: base.replace(/^http/, 'ws') + '/v1/signal', token: await signTestToken({ sub: 'bob' }) })
  const result = await other.preflight()
  t.same(Object.keys(result).sort(), ['connections', 'limits', 'ok', 'tokenExpiresAt', 'userId'], 'the shape PreflightResult declares')
  t.match(result, { ok: true, userId: 'bob', connections: 0, limits: client.welcome!.limits })
  await t.rejects(client.preflight(), { code: 'SWB_TOO_MANY_CONNECTIONS', status: 429 }, 'alice already has her one connection')
  void app.signaling.drain(100)
  await t.rejects(other.preflight(), { code: 'SWB_DRAINING', status: 503 })
})
