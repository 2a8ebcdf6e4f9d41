import t from 'tap'
import { signalingServer, pair } from '../../helpers/signaling-harness.js'
import { signTestToken } from '../../helpers/tokens.js'
import { WsPeer } from '../../helpers/ws-peer.js'
import { build } from '../../helpers/build.js'
import { sample } from '../../helpers/metrics.js'


t.test('counters move with real signaling, TURN and auth traffic', async (t) => {
  const h = await signalingServer(t)
  const scrape = async (): Promise<string> => {
    const res = await fetch(`${h.base}/metrics`)
    t.equal(res.status, 200)
    t.match(res.headers.get('content-type') ?? '', /^text\/plain/)
    return res.text()
  }
  const before = await scrape()
  t.equal(sample(before, 'switchboard_ws_connections'), 0)

  const [a, b] = await pair(h, 'consult-1', ['doctor', 'patient'])
  a.send({ type: 'offer', room: 'consult-1', to: b.peerId, sdp: 'v=0' })
  await b.next('offer')
  b.send({ type: 'candidate', room: 'consult-1', to: a.peerId, candidate: null })
  await a.next('candidate')
  a.send({ type: 'teleport', id: 'x1' })
  await a.errorFor('x1')
  a.send({ type: 'stats', candidateType: 'relay', rttMs: 42, jitterMs: 3, packetLoss: 0.01, bitrateBps: 500000 })
  a.send({ type: 'ping', id: 'sync' })
  await a.next((m) => m.type === 'pong' && m.ref === 'sync')

  const token = await signTestToken({ sub: 'doctor' })
  const issued = await fetch(`${h.base}/v1/turn/credentials`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
  t.equal(issued.status, 200)
  const forged = await fetch(`${h.base}/v1/turn/credentials`, { method: 'POST', headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` } })
  t.equal(forged.status, 401)
  t.equal((await WsPeer.refusal(h.base, 'not-a-jwt')).status, 401)

  const text = await scrape()
  t.equal(sample(text, 'switchboard_ws_connections'), 2)
  t.equal(sample(text, 'switchboard_rooms'), 1)
  t.equal(sample(text, 'switchboard_peers'), 2)
  t.equal(sample(text, 'switchboard_ws_connections_total', 'resumed="false"'), 2)
  t.equal(sample(text, 'switchboard_messages_total', 'type="offer",outcome="delivered"'), 1)
  t.equal(sample(text, 'switchboard_messages_total', 'type="candidate",outcome="delivered"'), 1)
  t.equal(sample(text, 'switchboard_messages_total', 'type="joined",outcome="delivered"'), 2)
  t.equal(sample(text, 'switchboard_messages_refused_total', 'code="SWB_UNKNOWN_TYPE"'), 1)
  t.equal(sample(text, 'switchboard_relay_latency_seconds_count', 'type="offer"'), 1)
  t.equal(sample(text, 'switchboard_turn_credentials_issued_total', 'provider="hmac"'), 1)
  t.equal(sample(text, 'switchboard_jwt_rejections_total', 'reason="SWB_AUTH_BAD_SIGNATURE"'), 1)
  t.equal(sample(text, 'switchboard_jwt_rejections_total', 'reason="SWB_AUTH_MALFORMED_TOKEN"'), 1)
  t.equal(sample(text, 'switchboard_call_quality_reports_total', 'candidate_type="relay"'), 1)
  t.equal(sample(text, 'switchboard_call_rtt_seconds_sum', 'candidate_type="relay"'), 0.042)
  t.equal(sample(text, 'switchboard_call_packet_loss_ratio_count', 'candidate_type="relay"'), 1)
  t.equal(sample(text, 'switchboard_cross_instance_deliveries_total'), 0, 'one process: nothing crosses instances')
  t.ok(sample(text, 'process_cpu_user_seconds_total') !== undefined, 'Node process defaults are exported')

  // Bounded cardinality: no room, user or peer id ever becomes a label value.
  for (const id of ['consult-1', 'doctor', 'patient', a.peerId, b.peerId]) {
    t.notOk(text.split('\n').some((l) => !l.startsWith('#') && l.includes(`"${id}"`)), `no label carries ${id}`)
  }

  a.close(1000)
  await b.next('peer-left')
  const after = await scrape()
  t.equal(sample(after, 'switchboard_ws_closes_total', 'code="1000"'), 1)
  t.equal(sample(after, 'switchboard_sessions_ended_total', 'reason="left"'), 1)
  t.equal(sample(after, 'switchboard_rooms'), 1)
  t.equal(sample(after, 'switchboard_peers'), 1)
})

t.test('a bad stats report is refused like any invalid message', async (t) => {
  const h = await signalingServer(t)
  const a = await h.connect('doctor')
  a.send({ type: 'stats', id: 's1', candidateType: 'satellite', rttMs: -1 })
  t.equal((await a.errorFor('s1')).code, 'SWB_INVALID_MESSAGE')
})

t.test('the HTTP rate limit is counted', async (t) => {
  const app = await build(t, { TURN_RATE_LIMIT_MAX: 1 })
  const headers = { authorization: `Bearer ${await signTestToken({ sub: 'greedy' })}` }
  t.equal((await app.inject({ method: 'POST', url: '/v1/turn/credentials', headers })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: '/v1/turn/credentials', headers })).statusCode, 429)
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.equal(sample(text, 'switchboard_rate_limit_rejections_total', 'scope="http"'), 1)
  t.equal(sample(text, 'switchboard_turn_credentials_issued_total', 'provider="hmac"'), 1)
})

t.test('METRICS_PORT keeps /metrics off the public port; METRICS_ENABLED=false removes it', async (t) => {
  const separate = await build(t, { METRICS_PORT: 9464 })
  t.equal((await separate.inject({ method: 'GET', url: '/metrics' })).statusCode, 404)
  const off = await build(t, { METRICS_ENABLED: false })
  t.equal((await off.inject({ method: 'GET', url: '/metrics' })).statusCode, 404)
})
