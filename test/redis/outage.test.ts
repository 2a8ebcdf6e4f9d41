import t from 'tap'
import { startRedis, requireRedis, type RedisServer } from '../helpers/redis-server.js'
import { startInstances } from '../helpers/instances.js'
import { signTestToken } from '../helpers/tokens.js'
import { WsPeer, until } from '../helpers/ws-peer.js'
import { scrape } from '../helpers/metrics.js'

const skip = requireRedis(t)

async function readiness (base: string): Promise<{ status: number, body: { checks?: Record<string, { ok: boolean, detail?: string }> } }> {
  const res = await fetch(`${base}/health/ready`)
  return { status: res.status, body: await res.json() as { checks?: Record<string, { ok: boolean, detail?: string }> } }
}

/** The server's run_id: a restarted redis-server has a new one. */
function runId (redis: RedisServer): string {
  return /run_id:(\w+)/.exec(redis.cli('info', 'server'))?.[1] ?? ''
}

t.test('Redis killed and restarted empty: not ready, fast SWB_REGISTRY_UNAVAILABLE, then the same peers signal on', skip, async (t) => {
  const redis = await startRedis(t)
  // A command timeout far longer than "at once" may take on a busy machine: a fast refusal is then
  // told apart from one that waited for the timeout by a margin that load does not eat.
  const commandTimeoutMs = 10_000
  const [a, b] = await startInstances(t, ['a', 'b'], { REDIS_URL: redis.url, ROOM_CAPACITY: 3, REDIS_COMMAND_TIMEOUT_MS: commandTimeoutMs })
  if (!a || !b) throw new Error('instances')
  const doctorToken = await signTestToken({ sub: 'doctor' })
  const patientToken = await signTestToken({ sub: 'patient' })
  const doctor = await WsPeer.connect(a.base, doctorToken)
  const patient = await WsPeer.connect(b.base, patientToken)
  t.teardown(() => { doctor.drop(); patient.drop() })
  doctor.send({ type: 'join', room: 'r', meta: { name: 'Dr A' } })
  await doctor.next('joined')
  patient.send({ type: 'join', room: 'r' })
  await patient.next('joined')
  await doctor.next('peer-joined')
  doctor.send({ type: 'offer', room: 'r', to: patient.peerId, sdp: 'v=0 before' })
  await patient.next('offer')
  t.equal((await readiness(a.base)).status, 200)

  const runIdBefore = runId(redis)
  await redis.kill('SIGKILL')

  // Readiness turns off on both instances.
  await until(async () => (await readiness(a.base)).status === 503 && (await readiness(b.base)).status === 503, 'not-ready during the outage', 3000)
  t.match((await readiness(a.base)).body.checks, { registry: { ok: false } })

  // Signaling answers at once with a clear code instead of hanging.
  const started = Date.now()
  doctor.send({ type: 'offer', id: 'o1', room: 'r', to: patient.peerId, sdp: 'v=0 during' })
  t.match(await doctor.errorFor('o1', commandTimeoutMs), { code: 'SWB_REGISTRY_UNAVAILABLE' })
  t.ok(Date.now() - started < commandTimeoutMs / 4, `refused in ${Date.now() - started} ms, not after the ${commandTimeoutMs} ms command timeout`)
  const preflight = await fetch(`${a.base}/v1/signal/preflight`, { headers: { authorization: `Bearer ${doctorToken}` } })
  t.equal(preflight.status, 503)
  t.match(await preflight.json(), { code: 'SWB_REGISTRY_UNAVAILABLE' })
  const refused = await WsPeer.open(b.base, await signTestToken({ sub: 'nurse' }))
  t.teardown(() => refused.drop())
  t.match(await refused.next('error'), { code: 'SWB_REGISTRY_UNAVAILABLE' })
  t.equal(await refused.waitClosed(), 1013, 'closed with "try again later"')
  t.ok(doctor.isOpen && patient.isOpen, 'connected clients stay connected')

  // Redis comes back empty; each instance writes its peers and rooms back.
  await redis.restart()
  // No persistence (--save '' --appendonly no): a new run id means a new, empty server. (Counting keys
  // here would race with the instances, which write their state back as soon as they reconnect.)
  t.not(runId(redis), runIdBefore, 'Redis restarted')
  await until(async () => (await readiness(a.base)).status === 200 && (await readiness(b.base)).status === 200, 'ready again', 5000)
  t.ok((await scrape(a.base, 'switchboard_redis_reconnections_total') ?? 0) >= 1, 'the reconnection is counted')
  t.ok((await scrape(a.base, 'switchboard_redis_command_errors_total') ?? 0) >= 1, 'the failed commands are counted')
  t.same(redis.cli('hkeys', 'swb:room:{r:r}').split('\n').filter(Boolean).sort(), [doctor.peerId, patient.peerId].sort(), 'room membership re-registered')
  t.match(JSON.parse(redis.cli('hget', 'swb:room:{r:r}', doctor.peerId)), { peerId: doctor.peerId, userId: 'doctor', meta: { name: 'Dr A' } })

  // Same sockets, same peers: signaling goes on in both directions, seqs continue without a gap.
  doctor.send({ type: 'offer', room: 'r', to: patient.peerId, sdp: 'v=0 after' })
  t.match(await patient.next((m) => m.type === 'offer' && m.sdp === 'v=0 after'), { from: doctor.peerId })
  patient.send({ type: 'answer', room: 'r', to: doctor.peerId, sdp: 'v=0 answer after' })
  t.match(await doctor.next('answer'), { from: patient.peerId })
  const seqs = patient.received.filter((m) => m.type !== 'welcome' && m.type !== 'error').map((m) => m.seq)
  t.same(seqs, seqs.map((_, i) => (seqs[0] ?? 0) + i), 'consecutive seqs across the outage')

  // The rebuilt room is the real one: a newcomer sees both, and connection counts were restored.
  const nurse = await WsPeer.connect(a.base, await signTestToken({ sub: 'nurse' }))
  t.teardown(() => nurse.drop())
  nurse.send({ type: 'join', room: 'r' })
  const joined = await nurse.next('joined')
  await patient.next((m) => m.type === 'peer-joined' && (m.peer as { peerId: string }).peerId === nurse.peerId)
  t.same((joined.peers as Array<{ peerId: string }>).map((p) => p.peerId).sort(), [doctor.peerId, patient.peerId].sort())
  t.equal(redis.cli('hvals', 'swb:conn:{u:doctor}').trim(), '1')

  // Resume still works after the outage: the patient drops, misses a message, and resumes on A.
  const lastSeq = patient.lastSeq
  patient.drop()
  await until(() => redis.cli('hget', `swb:peer:{p:${patient.peerId}}`, 'attached').trim() === '0', 'the drop to be recorded')
  doctor.send({ type: 'message', room: 'r', to: patient.peerId, data: 'missed' })
  await doctor.sync()
  const resumed = await WsPeer.resume(a.base, patientToken, patient, lastSeq)
  t.teardown(() => resumed.drop())
  t.match(resumed.welcome, { resumed: true, peerId: patient.peerId })
  t.match(await resumed.next('message'), { data: 'missed', seq: lastSeq + 1 })
})

t.test('a session that ends during the outage is ended (peer-left) once Redis is back', skip, async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await startInstances(t, ['a', 'b'], { REDIS_URL: redis.url })
  if (!a || !b) throw new Error('instances')
  const doctor = await WsPeer.connect(a.base, await signTestToken({ sub: 'doctor' }))
  const patient = await WsPeer.connect(b.base, await signTestToken({ sub: 'patient' }))
  t.teardown(() => { doctor.drop(); patient.drop() })
  doctor.send({ type: 'join', room: 'r' })
  await doctor.next('joined')
  patient.send({ type: 'join', room: 'r' })
  await patient.next('joined')
  await doctor.next('peer-joined')

  await redis.kill('SIGKILL')
  await until(async () => (await fetch(`${b.base}/health/ready`)).status === 503, 'not-ready', 3000)
  // The patient hangs up (close 1000) while Redis is away: its session cannot be ended yet.
  patient.close(1000)
  await patient.waitClosed()
  await redis.restart()
  t.match(await doctor.next('peer-left', 10_000), { peerId: patient.peerId, reason: 'timeout' })
  await until(() => redis.cli('exists', `swb:peer:{p:${patient.peerId}}`).trim() === '0', 'the session to be gone')
  t.same(redis.cli('hkeys', 'swb:room:{r:r}').split('\n').filter(Boolean), [doctor.peerId])
})
