import t, { type Test } from 'tap'
import { startRedis, requireRedis, type RedisServer } from '../helpers/redis-server.js'
import { DEATH_WATCH, spawnInstance, startInstance, type ChildInstance, type Instance } from '../helpers/instances.js'
import { signTestToken } from '../helpers/tokens.js'
import { WsPeer, until } from '../helpers/ws-peer.js'

const skip = requireRedis(t)

/**
 * Every key under the prefix, with its TTL in ms (-1 = none), read in one redis-cli call: redis-cli
 * runs synchronously and blocks this process, which hosts the survivor; a call per key (polled in a
 * loop) stalled it for seconds on a busy machine, long enough to refuse its own peers.
 */
const KEYS_WITH_TTL = "local out = {} for _, k in ipairs(redis.call('KEYS', 'swb:*')) do out[#out + 1] = k out[#out + 1] = redis.call('PTTL', k) end return out"
function keysWithTtl (redis: RedisServer): Map<string, number> {
  const lines = redis.cli('--no-raw', 'eval', KEYS_WITH_TTL, '0').split('\n').filter(Boolean)
  const keys = new Map<string, number>()
  for (let i = 0; i + 1 < lines.length; i += 2) keys.set(JSON.parse(lines[i]!.replace(/^\s*\d+\) /, '')) as string, Number(lines[i + 1]!.replace(/^\s*\d+\) \(integer\) /, '')))
  return keys
}

t.test('SIGKILL of an instance: its peers leave their rooms within the documented bound and nothing stale stays', skip, async (t) => {
  const redis = await startRedis(t)
  const graceSeconds = 1
  const watch = { REDIS_INSTANCE_TTL_SECONDS: String(DEATH_WATCH.REDIS_INSTANCE_TTL_SECONDS), REDIS_REAP_INTERVAL_SECONDS: String(DEATH_WATCH.REDIS_REAP_INTERVAL_SECONDS) }
  const doomed = await spawnInstance(t, { ...watch, REDIS_URL: redis.url, INSTANCE_ID: 'doomed', RESUME_GRACE_SECONDS: String(graceSeconds), ROOM_CAPACITY: '3' })
  // Only the doomed child needs the short TTL; the in-process survivor keeps the default so a busy
  // test runner does not get it presumed dead too. Its reap interval sets how fast it notices.
  const survivor = await startInstance(t, { REDIS_REAP_INTERVAL_SECONDS: DEATH_WATCH.REDIS_REAP_INTERVAL_SECONDS, REDIS_URL: redis.url, INSTANCE_ID: 'survivor', RESUME_GRACE_SECONDS: graceSeconds, ROOM_CAPACITY: 3 })

  const doctor = await WsPeer.connect(survivor.base, await signTestToken({ sub: 'doctor' }))
  const patient = await WsPeer.connect(doomed.base, await signTestToken({ sub: 'patient' }))
  const nurse = await WsPeer.connect(doomed.base, await signTestToken({ sub: 'nurse' }))
  t.teardown(() => { doctor.drop(); patient.drop(); nurse.drop() })
  for (const p of [doctor, patient, nurse]) {
    p.send({ type: 'join', room: 'ward' })
    t.match(await p.next((m) => m.type !== 'welcome'), { type: 'joined' })
  }
  await doctor.waitCount('peer-joined', 2)
  const doomedId = redis.cli('zrange', 'swb:instances', '0', '-1').split('\n').find((id) => id.startsWith('doomed-'))
  t.ok(doomedId, 'the child registered itself')

  const killedAt = Date.now()
  doomed.child.kill('SIGKILL')
  t.match(await doomed.exited, { signal: 'SIGKILL' })

  // Bound (docs/redis.md): liveness TTL + reap interval + resume grace, plus delivery.
  const boundMs = (DEATH_WATCH.REDIS_INSTANCE_TTL_SECONDS + DEATH_WATCH.REDIS_REAP_INTERVAL_SECONDS + graceSeconds) * 1000
  const left = await Promise.all([
    doctor.next((m) => m.type === 'peer-left' && m.peerId === patient.peerId, boundMs + 2000),
    doctor.next((m) => m.type === 'peer-left' && m.peerId === nurse.peerId, boundMs + 2000)
  ])
  const elapsed = Date.now() - killedAt
  t.comment(`peer-left ${elapsed} ms after SIGKILL (bound ${boundMs} ms + delivery)`)
  t.ok(elapsed >= graceSeconds * 1000, 'not before the resume grace period')
  // Delivery on a loaded 2-core runner may add up to a couple of seconds beyond the bound.
  t.ok(elapsed <= boundMs + 2000, `within the bound (${elapsed} ms)`)
  t.match(left, [{ room: 'ward', reason: 'timeout' }, { room: 'ward', reason: 'timeout' }])

  // Nothing of the dead instance or its peers is left, and every remaining key expires on its own.
  await until(() => ![...keysWithTtl(redis).keys()].some((k) => k.includes(`{i:${doomedId}}`)), 'the dead instance keys to go')
  const keys = keysWithTtl(redis)
  for (const peerId of [patient.peerId, nurse.peerId]) {
    t.notOk([...keys.keys()].some((k) => k.includes(`{p:${peerId}}`)), `no session keys left for ${peerId}`)
  }
  t.same(redis.cli('hkeys', 'swb:room:{r:ward}').split('\n').filter(Boolean), [doctor.peerId], 'only the live peer is in the room')
  t.same(redis.cli('zrange', 'swb:instances', '0', '-1').split('\n').filter((id) => id !== '' && !id.startsWith('survivor-')), [], 'the dead instance is unregistered')
  t.equal(redis.cli('hgetall', 'swb:conn:{u:patient}').trim(), '', 'its connection counts are gone')
  for (const [key, ttl] of keys) t.ok(ttl > 0, `${key} has a TTL (${ttl} ms)`)

  // The room works on: the doctor can still be joined and reached.
  const other = await WsPeer.connect(survivor.base, await signTestToken({ sub: 'patient' }))
  t.teardown(() => other.drop())
  other.send({ type: 'join', room: 'ward' })
  t.match(await other.next('joined'), { peers: [{ peerId: doctor.peerId }] })
})

/**
 * A patient on a child instance (which the test will kill or stop; it is presumed dead 1.5 s after its
 * last heartbeat) and a doctor on an in-process survivor, both in room `r`, with a 10 s resume grace.
 */
async function patientOnChild (t: Test, child: string): Promise<{ redis: RedisServer, instance: ChildInstance, survivor: Instance, patient: WsPeer, patientToken: string, doctor: WsPeer }> {
  const redis = await startRedis(t)
  const env = { REDIS_URL: redis.url, RESUME_GRACE_SECONDS: '10', REDIS_INSTANCE_TTL_SECONDS: String(DEATH_WATCH.REDIS_INSTANCE_TTL_SECONDS) }
  const instance = await spawnInstance(t, { ...env, INSTANCE_ID: child })
  const survivor = await startInstance(t, { REDIS_REAP_INTERVAL_SECONDS: DEATH_WATCH.REDIS_REAP_INTERVAL_SECONDS, REDIS_URL: redis.url, INSTANCE_ID: 'survivor', RESUME_GRACE_SECONDS: 10 })
  const patientToken = await signTestToken({ sub: 'patient' })
  const doctor = await WsPeer.connect(survivor.base, await signTestToken({ sub: 'doctor' }))
  const patient = await WsPeer.connect(instance.base, patientToken)
  t.teardown(() => { doctor.drop(); patient.drop() })
  patient.send({ type: 'join', room: 'r' })
  await patient.next('joined')
  doctor.send({ type: 'join', room: 'r' })
  await doctor.next('joined')
  await patient.next('peer-joined')
  return { redis, instance, survivor, patient, patientToken, doctor }
}

t.test('after a SIGKILL the client resumes on another instance within the grace and keeps peerId, rooms and queued messages', skip, async (t) => {
  const { redis, instance: doomed, survivor, patient, patientToken, doctor } = await patientOnChild(t, 'doomed')
  const lastSeq = patient.lastSeq

  doomed.child.kill('SIGKILL')
  await patient.waitClosed()
  // While the patient is away, the doctor's messages queue in Redis.
  for (let i = 0; i < 4; i++) doctor.send({ type: 'candidate', room: 'r', to: patient.peerId, candidate: { candidate: `c${i}` } })
  await doctor.sync()
  // Let the survivor notice the death and adopt the session: the resume must work after that too.
  await until(() => redis.cli('hget', `swb:peer:{p:${patient.peerId}}`, 'owner').trim().startsWith('survivor-'), 'the survivor to adopt the session', 5000)

  const resumed = await WsPeer.resume(survivor.base, patientToken, patient, lastSeq)
  t.teardown(() => resumed.drop())
  t.match(resumed.welcome, { resumed: true, peerId: patient.peerId, rooms: ['r'] })
  const got = await resumed.waitCount('candidate', 4)
  t.same(got.map((m) => (m.candidate as { candidate: string }).candidate), ['c0', 'c1', 'c2', 'c3'])
  t.same(got.map((m) => m.seq), [lastSeq + 1, lastSeq + 2, lastSeq + 3, lastSeq + 4])
  resumed.send({ type: 'answer', room: 'r', to: doctor.peerId, sdp: 'v=0' })
  t.match(await doctor.next('answer'), { from: patient.peerId })
  await doctor.sync()
  t.equal(doctor.ofType('peer-left').length, 0, 'the doctor never saw the patient leave')
})

t.test('a stalled instance (SIGSTOP past its TTL) closes its sockets with 4010 when it runs again; the client resumes elsewhere with nothing lost', skip, async (t) => {
  const { redis, instance: stalled, survivor, patient, patientToken, doctor } = await patientOnChild(t, 'stalled')

  // A long stall (as a GC pause or a frozen VM would be): its liveness key lapses, the survivor adopts.
  stalled.child.kill('SIGSTOP')
  t.teardown(() => { stalled.child.kill('SIGCONT') })
  await until(() => redis.cli('hget', `swb:peer:{p:${patient.peerId}}`, 'owner').trim().startsWith('survivor-'), 'the survivor to adopt the session', 5000)
  doctor.send({ type: 'offer', room: 'r', to: patient.peerId, sdp: 'v=0 while moving' })
  await doctor.sync()
  t.equal(doctor.ofType('error').length, 0, 'the doctor can still address the patient')
  const lastSeq = patient.lastSeq

  // Running again, the instance hears it was presumed dead. No other socket holds the session, so the
  // client is told to resume (4010), not that it was replaced (4009, after which it would give up).
  stalled.child.kill('SIGCONT')
  t.equal(await patient.waitClosed(5000), 4010, 'closed as moved')

  const resumed = await WsPeer.resume(survivor.base, patientToken, patient, lastSeq)
  t.teardown(() => resumed.drop())
  t.match(resumed.welcome, { resumed: true, peerId: patient.peerId, rooms: ['r'] })
  t.match(await resumed.next('offer'), { from: doctor.peerId, sdp: 'v=0 while moving', seq: lastSeq + 1 })
  await doctor.sync()
  t.equal(doctor.ofType('peer-left').length, 0, 'the doctor never saw the patient leave')
})
