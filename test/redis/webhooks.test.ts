import t from 'tap'
import { startRedis, requireRedis } from '../helpers/redis-server.js'
import { DEATH_WATCH, spawnInstance, startInstance, startInstances } from '../helpers/instances.js'
import { signTestToken } from '../helpers/tokens.js'
import { WsPeer, until } from '../helpers/ws-peer.js'
import { WebhookReceiver, newWebhookSecret } from '../helpers/webhook-receiver.js'
import type { FastifyInstance } from 'fastify'
import { RedisQueue } from '../../plugins/webhooks/redis-queue.js'

const skip = requireRedis(t)

/** Whether this instance delivers the (single) endpoint's queue right now. */
function holding (app: FastifyInstance): boolean {
  const queue = app.webhooks.queue
  if (!(queue instanceof RedisQueue)) throw new Error('not the Redis queue')
  return queue.holding()[0] === true
}

async function join (peer: WsPeer, room: string): Promise<void> {
  peer.send({ type: 'join', room })
  const answer = await peer.next((m) => (m.type === 'joined' && m.room === room) || m.type === 'error')
  if (answer.type === 'error') throw new Error(`join refused: ${String(answer.code)}`)
}

t.test('two instances on Redis: each event delivered once, by one instance; a room starts and ends once however its peers race', skip, async (t) => {
  const redis = await startRedis(t)
  const secret = newWebhookSecret()
  const receiver = await WebhookReceiver.start(t, secret)
  const settings = { REDIS_URL: redis.url, WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: secret, WEBHOOK_RETRY_BASE_SECONDS: 0.01, ROOM_CAPACITY: 4 }
  const [a, b] = await startInstances(t, ['a', 'b'], settings)
  if (a === undefined || b === undefined) throw new Error('two instances')
  const holders = (): number => [a, b].filter((i) => holding(i.app)).length
  await until(() => holders() === 1, 'a holder of the lease')

  const peers = await Promise.all([[a, 'ann'], [b, 'ben'], [a, 'cat'], [b, 'dan']].map(async ([inst, sub]) =>
    WsPeer.connect((inst as typeof a).base, await signTestToken({ sub: sub as string }))))
  t.teardown(() => { for (const p of peers) p.drop() })
  // All four join the empty room at once, from both instances; then all leave at once.
  await Promise.all(peers.map(async (p) => join(p, 'race')))
  for (const p of peers) p.close(1000)
  await receiver.until((r) => r.story('race').length === 10, 'ten events')
  // A barrier: the marker's events were queued after the race's, so by the time one is delivered the
  // holder has read every race event from the stream; a duplicate would have to come from a second reader.
  const marker = await WsPeer.connect(b.base, await signTestToken({ sub: 'marker' }))
  t.teardown(() => marker.drop())
  await join(marker, 'marker')
  await receiver.next((e) => e.data.room === 'marker' && e.type === 'peer.joined', 'the marker')

  // Which join started the room and which departure ended it was decided atomically, once (the order
  // across instances is the subject of webhooks-order.test.ts).
  const story = receiver.story('race')
  t.equal(story.filter((s) => s === 'room.started').length, 1, 'one room.started')
  t.equal(story.filter((s) => s === 'room.ended:empty').length, 1, 'one room.ended')
  const race = receiver.events.filter((e) => e.data.room === 'race')
  t.equal(race.length, 10, 'no event delivered twice')
  for (const p of peers) {
    const own = race.filter((e) => e.data.peerId === p.peerId && e.type.startsWith('peer.')).map((e) => e.type)
    t.same(own, ['peer.joined', 'peer.left'], `${p.peerId}: one peer.joined, then one peer.left`)
  }
  t.equal(receiver.invalid, 0)

  // A peer that drops on one instance and resumes on the other: peer.resumed, no left/joined pair.
  const token = await signTestToken({ sub: 'eve' })
  const eve = await WsPeer.connect(a.base, token)
  await join(eve, 'moving')
  eve.drop()
  const back = await WsPeer.resume(b.base, token, eve)
  t.teardown(() => back.drop())
  t.equal(back.welcome.resumed, true)
  back.close(1000)
  await receiver.until((r) => r.story('moving').includes('room.ended:empty'), 'the moving room to end')
  t.same(receiver.story('moving'), ['room.started', 'peer.joined', 'peer.resumed', 'peer.left:left', 'room.ended:empty'])
  t.equal(holders(), 1, 'still one holder')
})

t.test('an instance SIGKILLed with events pending: the other delivers them, and its peers\' peer.left timeout comes from the reaper', skip, async (t) => {
  const redis = await startRedis(t)
  const secret = newWebhookSecret()
  const receiver = await WebhookReceiver.start(t, secret)
  receiver.down = true
  const common = { REDIS_URL: redis.url, WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: secret, WEBHOOK_RETRY_BASE_SECONDS: '0.02', WEBHOOK_MAX_ATTEMPTS: '20', RESUME_GRACE_SECONDS: '0.5' }
  // The doomed instance starts first, so it holds the queue's lease and takes the events.
  // A short liveness TTL (and so lease) for the doomed child only, as in instance-failure.test.ts.
  const doomed = await spawnInstance(t, { ...common, INSTANCE_ID: 'doomed', REDIS_INSTANCE_TTL_SECONDS: String(DEATH_WATCH.REDIS_INSTANCE_TTL_SECONDS), REDIS_REAP_INTERVAL_SECONDS: String(DEATH_WATCH.REDIS_REAP_INTERVAL_SECONDS) })
  const survivor = await startInstance(t, {
    REDIS_URL: redis.url,
    WEBHOOK_URLS: receiver.url,
    WEBHOOK_SECRET: secret,
    WEBHOOK_RETRY_BASE_SECONDS: 0.02,
    WEBHOOK_MAX_ATTEMPTS: 20,
    RESUME_GRACE_SECONDS: 0.5,
    REDIS_REAP_INTERVAL_SECONDS: DEATH_WATCH.REDIS_REAP_INTERVAL_SECONDS,
    INSTANCE_ID: 'survivor'
  })
  t.equal(holding(survivor.app), false, 'the survivor is not delivering yet')

  const patient = await WsPeer.connect(doomed.base, await signTestToken({ sub: 'patient' }))
  t.teardown(() => patient.drop())
  await join(patient, 'ward')
  // The doomed instance has taken the first event and is retrying it: it is in its pending list.
  await receiver.until((r) => r.refused >= 2, 'attempts from the doomed instance')
  // The queue is shared: the instance that does not deliver it sees it too.
  const gauge = async (name: string): Promise<number> => Number((await survivor.app.metrics.registry.getSingleMetricAsString(name)).match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1])
  t.equal(await gauge('switchboard_webhook_queue_depth'), 2, 'room.started and peer.joined are pending')
  t.ok(await gauge('switchboard_webhook_oldest_pending_seconds') > 0, 'and have an age')
  doomed.child.kill('SIGKILL')
  t.match(await doomed.exited, { signal: 'SIGKILL' })
  receiver.down = false

  // The survivor takes the lease over when it lapses, delivers what was pending, in order, and its
  // reaper ends the dead instance's session after the grace period.
  await receiver.until((r) => r.story('ward').includes('room.ended:empty'), 'the whole story of the room', 15_000)
  t.same(receiver.story('ward'), ['room.started', 'peer.joined', 'peer.left:timeout', 'room.ended:empty'])
  t.match(receiver.events.find((e) => e.type === 'peer.left'), { data: { peerId: patient.peerId, userId: 'patient', reason: 'timeout' } })
  t.equal(holding(survivor.app), true, 'the survivor delivers now')
  t.equal(receiver.invalid, 0)
})
