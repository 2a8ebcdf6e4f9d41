import t from 'tap'
import { requireRedis, startRedis } from '../helpers/redis-server.js'
import { startInstances, type Instance } from '../helpers/instances.js'
import { signTestToken } from '../helpers/tokens.js'
import { WsPeer, until } from '../helpers/ws-peer.js'

const skip = requireRedis(t)

const ROUNDS = 100

/** A resume attempt: open with the token, then whichever comes first, a welcome or a close. */
async function attempt (instance: Instance, token: string, resumeToken: string, lastSeq: number): Promise<WsPeer> {
  const peer = await WsPeer.open(instance.base, token, { query: { resume: resumeToken, lastSeq: String(lastSeq) } })
  await Promise.race([peer.next('welcome', 10_000).then((welcome) => { peer.welcome = welcome }), peer.closed])
  return peer
}

const liveAs = (peerId: string) => (p: WsPeer): boolean => p.isOpen && p.welcome?.peerId === peerId && p.welcome?.resumed === true

t.test(`${ROUNDS} rounds of two simultaneous resumes of one session, one per instance: exactly one live socket each time`, skip, async (t) => {
  const redis = await startRedis(t)
  const instances = await startInstances(t, ['a', 'b'], { REDIS_URL: redis.url, RESUME_GRACE_SECONDS: 60, MAX_CONNECTIONS_PER_USER: 20 })
  const [a, b] = instances
  if (!a || !b) throw new Error('instances')
  const token = await signTestToken({ sub: 'patient' })
  const doctor = await WsPeer.connect(a.base, await signTestToken({ sub: 'doctor' }))
  let live = await WsPeer.connect(b.base, token)
  const sockets: WsPeer[] = [doctor, live]
  t.teardown(() => { for (const s of sockets) s.drop() })
  doctor.send({ type: 'join', room: 'r' })
  await doctor.next('joined')
  live.send({ type: 'join', room: 'r' })
  await live.next('joined')
  const peerId = live.peerId
  const tally = { replaced: 0, resumeErrors: 0, resumedOnA: 0, resumedOnB: 0 }

  for (let round = 0; round < ROUNDS; round++) {
    const previous = live
    // Half the rounds the old socket is gone (the phone lost its network); half it is still open (half-open).
    if (round % 2 === 0) previous.drop()
    const attempts = await Promise.all([a, b].map(async (i) => attempt(i, token, previous.welcome.resumeToken as string, previous.lastSeq)))
    sockets.push(...attempts)

    // Settled: one socket holds the peer on one instance, everyone else gave way or got a resume error.
    const serving = (): number => instances.filter((i) => i.app.signaling.hub.connections.has(peerId)).length
    await until(() => attempts.filter(liveAs(peerId)).length === 1 && serving() === 1 && !previous.isOpen, `round ${round} to settle`, 2000)
    const winner = attempts.find(liveAs(peerId))
    if (!winner) throw new Error('no winner')
    for (const other of attempts.filter((p) => p !== winner)) {
      if (other.welcome?.resumeError !== undefined) {
        // A fresh session with a resume error: never the contested peer.
        if (other.welcome.peerId === peerId) t.fail(`round ${round}: a refused resume kept the peer id`)
        t.match(other.welcome.resumeError, { code: /^SWB_RESUME_/ })
        tally.resumeErrors++
        other.close()
      } else {
        t.equal(await other.waitClosed(), 4009, `round ${round}: the other attempt was closed as replaced`)
        tally.replaced++
      }
    }
    if (round % 2 === 1) t.equal(await previous.waitClosed(), 4009, `round ${round}: the half-open socket was replaced`)
    if (winner.welcome.peerId === peerId && a.app.signaling.hub.connections.has(peerId)) tally.resumedOnA++
    else tally.resumedOnB++

    // The live one is reachable, and nothing was lost: the doctor's message arrives there, once.
    doctor.send({ type: 'message', room: 'r', to: peerId, data: round })
    t.match(await winner.next((m) => m.type === 'message' && m.data === round), { from: doctor.peerId })
    live = winner
  }
  await doctor.sync()
  await live.sync()
  t.equal(doctor.ofType('peer-left').length, 0, 'the session was never lost to a race')
  const received = live.ofType('message').length
  t.ok(received >= 1, `the last socket received its messages (${received})`)
  t.comment(`outcomes: ${JSON.stringify(tally)}`)
})
