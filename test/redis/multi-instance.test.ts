import t, { type Test } from 'tap'
import { hashResumeToken } from '../../plugins/signaling/hub.js'
import { startRedis, requireRedis } from '../helpers/redis-server.js'
import { startInstances } from '../helpers/instances.js'
import { signTestToken } from '../helpers/tokens.js'
import { WsPeer, until } from '../helpers/ws-peer.js'
import { scrape } from '../helpers/metrics.js'

const skip = requireRedis(t)

async function peer (t: Test, base: string, sub: string): Promise<WsPeer> {
  const p = await WsPeer.connect(base, await signTestToken({ sub }))
  t.teardown(() => p.drop())
  return p
}

/** A patient (whose socket a test will try to resume elsewhere) and a doctor, both joined to room `r`. */
async function patientWithDoctor (t: Test, patientBase: string, doctorBase: string): Promise<{ token: string, old: WsPeer, doctor: WsPeer }> {
  const token = await signTestToken({ sub: 'patient' })
  const old = await WsPeer.connect(patientBase, token)
  t.teardown(() => old.drop())
  const doctor = await peer(t, doctorBase, 'doctor')
  old.send({ type: 'join', room: 'r' })
  await old.next('joined')
  doctor.send({ type: 'join', room: 'r' })
  await doctor.next('joined')
  await old.next('peer-joined')
  return { token, old, doctor }
}

t.test('peers on different instances join one room and relay offer, answer and candidates both ways', skip, async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await startInstances(t, ['a', 'b'], { REDIS_URL: redis.url })
  if (!a || !b) throw new Error('instances')
  const doctor = await peer(t, a.base, 'doctor')
  const patient = await peer(t, b.base, 'patient')

  doctor.send({ type: 'join', room: 'consult-1', meta: { name: 'Dr A' } })
  t.match(await doctor.next('joined'), { room: 'consult-1', peers: [] })
  patient.send({ type: 'join', room: 'consult-1' })
  t.match(await patient.next('joined'), { room: 'consult-1', peers: [{ peerId: doctor.peerId, userId: 'doctor', meta: { name: 'Dr A' } }] })
  t.match(await doctor.next('peer-joined'), { room: 'consult-1', peer: { peerId: patient.peerId, userId: 'patient' } })

  doctor.send({ type: 'offer', room: 'consult-1', to: patient.peerId, sdp: 'v=0 offer from a' })
  t.match(await patient.next('offer'), { from: doctor.peerId, sdp: 'v=0 offer from a' })
  patient.send({ type: 'answer', room: 'consult-1', to: doctor.peerId, sdp: 'v=0 answer from b' })
  t.match(await doctor.next('answer'), { from: patient.peerId, sdp: 'v=0 answer from b' })

  // A burst of candidates in each direction arrives complete and in order, with consecutive seqs.
  for (let i = 0; i < 30; i++) {
    doctor.send({ type: 'candidate', room: 'consult-1', to: patient.peerId, candidate: { candidate: `candidate:${i} 1 udp 1 127.0.0.1 ${4000 + i} typ host` } })
    patient.send({ type: 'candidate', room: 'consult-1', to: doctor.peerId, candidate: { candidate: `candidate:${i} 1 udp 1 127.0.0.1 ${5000 + i} typ host` } })
  }
  for (const [receiver, from] of [[patient, doctor], [doctor, patient]] as const) {
    const got = (await receiver.waitCount('candidate', 30)).filter((m) => m.from === from.peerId)
    t.same(got.map((m) => (m.candidate as { candidate: string }).candidate.split(' ')[0]), Array.from({ length: 30 }, (_, i) => `candidate:${i}`), 'in send order')
    const seqs = receiver.received.filter((m) => m.type !== 'welcome').map((m) => m.seq)
    t.same(seqs, seqs.map((_, i) => (seqs[0] ?? 0) + i), 'seqs consecutive, no gap and no duplicate')
  }

  // Broadcast and a leave cross instances too.
  patient.send({ type: 'message', room: 'consult-1', data: { muted: true } })
  t.match(await doctor.next('message'), { from: patient.peerId, data: { muted: true } })
  patient.send({ type: 'leave', room: 'consult-1' })
  t.match(await patient.next('left'), { room: 'consult-1' })
  t.match(await doctor.next('peer-left'), { peerId: patient.peerId, reason: 'left' })

  // A message to someone no longer in the room is refused as with one instance.
  doctor.send({ type: 'offer', id: 'late', room: 'consult-1', to: patient.peerId, sdp: 'v=0' })
  t.match(await doctor.errorFor('late'), { code: 'SWB_PEER_NOT_IN_ROOM' })

  // Operators see the traffic crossing instances, on both sides.
  t.ok((await scrape(a.base, 'switchboard_cross_instance_deliveries_total') ?? 0) >= 30, 'a counted its deliveries to b')
  t.ok((await scrape(b.base, 'switchboard_cross_instance_deliveries_total') ?? 0) >= 30, 'b counted its deliveries to a')
})

t.test('concurrent joins on three instances never exceed the room capacity', skip, async (t) => {
  const redis = await startRedis(t)
  const instances = await startInstances(t, ['a', 'b', 'c'], { REDIS_URL: redis.url, ROOM_CAPACITY: 3 })
  const peers: WsPeer[] = []
  for (let i = 0; i < 12; i++) peers.push(await peer(t, instances[i % 3]?.base ?? '', `user-${i}`))
  // Everyone asks at once; replies tell who got in.
  for (const p of peers) p.send({ type: 'join', id: 'j', room: 'race' })
  const outcomes = await Promise.all(peers.map((p) => p.next((m) => m.type === 'joined' || (m.type === 'error' && m.ref === 'j'))))
  const admitted = outcomes.filter((m) => m.type === 'joined').length
  t.equal(admitted, 3, 'exactly the capacity got in')
  t.equal(outcomes.filter((m) => m.code === 'SWB_ROOM_FULL').length, 9, 'the others are told the room is full')
  t.equal(Number(redis.cli('hlen', 'swb:room:{r:race}').trim()), 3, 'Redis holds exactly 3 members')
})

t.test('MAX_CONNECTIONS_PER_USER holds across instances', skip, async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await startInstances(t, ['a', 'b'], { REDIS_URL: redis.url, MAX_CONNECTIONS_PER_USER: 2 })
  if (!a || !b) throw new Error('instances')
  const token = await signTestToken({ sub: 'busy' })
  const first = await WsPeer.connect(a.base, token)
  const second = await WsPeer.connect(b.base, token)
  t.teardown(() => { first.drop(); second.drop() })
  const pre = await fetch(`${a.base}/v1/signal/preflight`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(pre.status, 429, 'preflight on A counts the connection on B')
  t.match(await pre.json(), { code: 'SWB_TOO_MANY_CONNECTIONS' })
  const third = await WsPeer.open(a.base, token)
  t.teardown(() => third.drop())
  t.match(await third.next('error'), { code: 'SWB_TOO_MANY_CONNECTIONS' })
  t.equal(await third.waitClosed(), 1008)
  // Closing one on B frees a slot for A.
  second.close()
  await second.waitClosed()
  const deadline = Date.now() + 3000
  let fourth: WsPeer | undefined
  while (!fourth && Date.now() < deadline) {
    const attempt = await WsPeer.open(a.base, token)
    const reply = await attempt.next((m) => m.type === 'welcome' || m.type === 'error')
    if (reply.type === 'welcome') fourth = attempt
    else attempt.drop()
  }
  t.ok(fourth, 'a slot frees up once B released it')
  fourth?.drop()
})

t.test('a peer resumes on another instance after a drain and gets its queued messages in order', skip, async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await startInstances(t, ['a', 'b'], { REDIS_URL: redis.url, RESUME_GRACE_SECONDS: 30, RECONNECT_JITTER_MS: 0 })
  if (!a || !b) throw new Error('instances')
  const patientToken = await signTestToken({ sub: 'patient' })
  const doctor = await peer(t, b.base, 'doctor')
  const patient = await WsPeer.connect(a.base, patientToken)
  t.teardown(() => patient.drop())
  doctor.send({ type: 'join', room: 'r' })
  await doctor.next('joined')
  patient.send({ type: 'join', room: 'r' })
  await patient.next('joined')
  await doctor.next('peer-joined')
  doctor.send({ type: 'offer', room: 'r', to: patient.peerId, sdp: 'v=0 first' })
  await patient.next('offer')
  const lastSeq = patient.lastSeq

  // Instance A drains and shuts down; the patient's session stays in Redis.
  const drained = a.app.signaling.drain(200)
  t.match(await patient.next('reconnect'), { reason: 'draining' })
  patient.drop()
  await drained
  await a.app.close()

  // Meanwhile the doctor keeps signaling: these queue in Redis.
  for (let i = 0; i < 5; i++) doctor.send({ type: 'candidate', room: 'r', to: patient.peerId, candidate: { candidate: `candidate:${i}` } })
  doctor.send({ type: 'message', room: 'r', to: patient.peerId, data: 'still there?' })
  await doctor.sync()

  const resumed = await WsPeer.resume(b.base, patientToken, patient, lastSeq)
  t.teardown(() => resumed.drop())
  t.match(resumed.welcome, { resumed: true, peerId: patient.peerId, rooms: ['r'] })
  const replayed = await resumed.waitCount('candidate', 5)
  t.same(replayed.map((m) => (m.candidate as { candidate: string }).candidate), ['candidate:0', 'candidate:1', 'candidate:2', 'candidate:3', 'candidate:4'])
  t.match(await resumed.next('message'), { data: 'still there?' })
  const seqs = resumed.received.filter((m) => m.type !== 'welcome').map((m) => m.seq)
  t.same(seqs, [lastSeq + 1, lastSeq + 2, lastSeq + 3, lastSeq + 4, lastSeq + 5, lastSeq + 6], 'replayed in order, nothing lost or doubled')

  // Live again, now on B: both directions work and the doctor never saw the patient leave.
  resumed.send({ type: 'answer', room: 'r', to: doctor.peerId, sdp: 'v=0 answer after resume' })
  t.match(await doctor.next('answer'), { from: patient.peerId })
  doctor.send({ type: 'message', room: 'r', to: patient.peerId, data: 'welcome back' })
  t.match(await resumed.next((m) => m.type === 'message' && m.data === 'welcome back'), { seq: lastSeq + 7 })
  t.equal(doctor.ofType('peer-left').length, 0)
})

t.test('resuming on another instance while the old socket is still open retires it there (4009)', skip, async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await startInstances(t, ['a', 'b'], { REDIS_URL: redis.url })
  if (!a || !b) throw new Error('instances')
  const { token, old, doctor } = await patientWithDoctor(t, a.base, a.base)

  const fresh = await WsPeer.resume(b.base, token, old)
  t.teardown(() => fresh.drop())
  t.equal(fresh.welcome.resumed, true)
  t.equal(await old.waitClosed(), 4009, 'the half-open socket on A is closed as replaced')
  // Messages now reach the new socket on B, and nobody saw the patient leave.
  doctor.send({ type: 'offer', room: 'r', to: old.peerId, sdp: 'v=0 to b' })
  t.match(await fresh.next('offer'), { sdp: 'v=0 to b' })
  await doctor.sync()
  t.equal(doctor.ofType('peer-left').length, 0)
  // A later close 1000 on B ends it for good.
  fresh.close(1000)
  t.match(await doctor.next('peer-left'), { peerId: old.peerId, reason: 'left' })
})

t.test('a resume refused on another instance ends the session and closes its socket where it still is', skip, async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await startInstances(t, ['a', 'b'], { REDIS_URL: redis.url })
  if (!a || !b) throw new Error('instances')
  const { token, old, doctor } = await patientWithDoctor(t, a.base, b.base)

  // lastSeq ahead of the session: B cannot resume it, so it ends it; A must drop its socket.
  const fresh = await WsPeer.resume(b.base, token, old, old.lastSeq + 50)
  t.teardown(() => fresh.drop())
  t.match(fresh.welcome, { resumed: false, resumeError: { code: 'SWB_RESUME_BAD_SEQ' } })
  t.not(fresh.peerId, old.peerId)
  t.equal(await old.waitClosed(), 4009, 'the socket on A is closed, not left with no session behind it')
  t.match(await doctor.next('peer-left'), { peerId: old.peerId, reason: 'timeout' })
  t.equal(redis.cli('exists', `swb:peer:{p:${old.peerId}}`).trim(), '0')
})

t.test('a welcome lost across instances loses nothing: the presented token resumes again elsewhere, until its successor is used', skip, async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await startInstances(t, ['a', 'b'], { REDIS_URL: redis.url, RESUME_GRACE_SECONDS: 30 })
  if (!a || !b) throw new Error('instances')
  const patientToken = await signTestToken({ sub: 'patient' })
  const doctor = await peer(t, b.base, 'doctor')
  const patient = await WsPeer.connect(a.base, patientToken)
  t.teardown(() => patient.drop())
  doctor.send({ type: 'join', room: 'r' })
  await doctor.next('joined')
  patient.send({ type: 'join', room: 'r' })
  await patient.next('joined')
  await doctor.next('peer-joined')
  const lastSeq = patient.lastSeq
  const gone = async (p: WsPeer, on: typeof a): Promise<void> => {
    p.drop()
    await until(() => !on.app.signaling.hub.connections.has(p.peerId), 'the instance to notice the drop')
  }
  let n = 0
  const sendToPatient = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) doctor.send({ type: 'message', room: 'r', to: patient.peerId, data: n++ })
    await doctor.sync()
  }
  await gone(patient, a)
  await sendToPatient(3)

  // Resumed with T1 on B, which rotates to T2; the socket dies before the patient reads the welcome.
  const lost = await WsPeer.resume(b.base, patientToken, patient, lastSeq)
  t.teardown(() => lost.drop())
  t.match(lost.welcome, { resumed: true, peerId: patient.peerId })
  await sendToPatient(3)
  await gone(lost, b)
  await sendToPatient(3)

  // The patient retries with T1 and its lastSeq, through the balancer, landing on A this time.
  const back = await WsPeer.resume(a.base, patientToken, patient, lastSeq)
  t.teardown(() => back.drop())
  t.match(back.welcome, { resumed: true, peerId: patient.peerId, rooms: ['r'], seq: lastSeq })
  await back.waitCount('message', n)
  await back.sync()
  t.same(back.ofType('message').map((m) => m.data), Array.from({ length: n }, (_, i) => i), 'every message, once, in order')
  const seqs = back.received.filter((m) => m.type === 'message').map((m) => m.seq)
  t.same(seqs, Array.from({ length: n }, (_, i) => lastSeq + 1 + i), 'consecutive seq from lastSeq')
  await sendToPatient(1)
  t.match(await back.next((m) => m.type === 'message' && m.data === n - 1), { seq: lastSeq + n }, 'live on A again')
  await doctor.sync()
  t.equal(doctor.ofType('peer-left').length, 0, 'the doctor never saw the patient leave')

  // T2 was superseded; once T3 is used (on B), T1 is too.
  const t2 = await WsPeer.resume(a.base, patientToken, lost)
  t.teardown(() => t2.drop())
  t.match(t2.welcome, { resumed: false, resumeError: { code: 'SWB_RESUME_UNKNOWN' } })
  await gone(back, a)
  const latest = await WsPeer.resume(b.base, patientToken, back)
  t.teardown(() => latest.drop())
  t.match(latest.welcome, { resumed: true, peerId: patient.peerId })
  const t1 = await WsPeer.resume(a.base, patientToken, patient, lastSeq)
  t.teardown(() => t1.drop())
  t.match(t1.welcome, { resumed: false, resumeError: { code: 'SWB_RESUME_UNKNOWN' } })
  t.ok(latest.isOpen, 'the resumed connection was not disturbed')
  t.same(redis.cli('hmget', `swb:peer:{p:${patient.peerId}}`, 'tok', 'prev').trim().split('\n'),
    [hashResumeToken(latest.welcome.resumeToken as string), hashResumeToken(back.welcome.resumeToken as string)],
    'the session answers to T4 and T3 only')
})
