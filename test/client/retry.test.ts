import t from 'tap'
import { SwitchboardError } from '../../client/index.js'
import { connectedClient, startServer } from './helpers.js'

/**
 * Refusals that say "not now" are retried with backoff; final ones reject at once with their code.
 * Real refusals from real instances: the per-connection message rate (SWB_RATE_LIMITED as a WebSocket
 * `error`) and the TURN credentials rate limit (HTTP 429 SWB_RATE_LIMITED with Retry-After).
 */

t.test('a join refused by the message rate limit is retried and succeeds', async (t) => {
  const { base } = await startServer(t, { WS_MESSAGES_PER_SECOND: 5, WS_MESSAGE_BURST: 3 })
  const client = await connectedClient(t, base, 'alice', { retry: { initialDelayMs: 500, maxDelayMs: 2000 } })
  const refusals: string[] = []
  client.on('error', (m) => refusals.push(m.code))
  // The burst is spent: the join that follows is refused once, then retried after the bucket refilled.
  await Promise.all([client.ping(), client.ping(), client.ping()])
  const joined = await client.join('retry-room')
  t.equal(joined.room, 'retry-room', 'joined in the end')
  t.same(refusals, ['SWB_RATE_LIMITED'], 'after one SWB_RATE_LIMITED refusal')
})

t.test('a final refusal is surfaced at once with its code (no retry)', async (t) => {
  const { base } = await startServer(t)
  const client = await connectedClient(t, base, 'bob')
  const refusals: string[] = []
  client.on('error', (m) => refusals.push(m.code))
  const error = await client.join('not a room name!').catch((err: unknown) => err)
  t.ok(error instanceof SwitchboardError)
  t.equal((error as SwitchboardError).code, 'SWB_INVALID_MESSAGE')
  t.same(refusals, ['SWB_INVALID_MESSAGE'], 'sent once')
})

t.test('HTTP 429 with a short Retry-After is waited out; a long one is surfaced with its code', async (t) => {
  const short = await startServer(t, { TURN_RATE_LIMIT_MAX: 1, TURN_RATE_LIMIT_WINDOW_SECONDS: 1 })
  const carol = await connectedClient(t, short.base, 'carol')
  await carol.getIceServers()
  const started = Date.now()
  const second = await carol.getIceServers()
  t.ok(second.iceServers.length > 0, 'the second request succeeded after waiting')
  t.ok(Date.now() - started >= 500, `it waited for the window (${Date.now() - started} ms)`)

  const long = await startServer(t, { TURN_RATE_LIMIT_MAX: 1, TURN_RATE_LIMIT_WINDOW_SECONDS: 60 })
  const dave = await connectedClient(t, long.base, 'dave')
  await dave.getIceServers()
  const refused = Date.now()
  const error = await dave.getIceServers().catch((err: unknown) => err) as SwitchboardError
  t.equal(error.code, 'SWB_RATE_LIMITED')
  t.equal(error.status, 429)
  t.ok((error.retryAfterMs ?? 0) > 4000, `Retry-After ${error.retryAfterMs} ms: longer than the client waits`)
  t.ok(Date.now() - refused < 1000, 'surfaced at once')
})
