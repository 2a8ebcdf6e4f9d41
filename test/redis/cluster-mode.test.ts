import t from 'tap'
import { requireRedis, startRedisCluster } from '../helpers/redis-server.js'
import { startInstances } from '../helpers/instances.js'
import { signTestToken } from '../helpers/tokens.js'
import { WsPeer } from '../helpers/ws-peer.js'
import type { RedisRegistry } from '../../plugins/registry/redis-registry.js'
import { WebhookReceiver, newWebhookSecret } from '../helpers/webhook-receiver.js'

const skip = requireRedis(t)

t.test('Redis Cluster (3 masters): relay across instances (the relay script publishes from inside Redis), capacity still atomic, webhooks in order', skip, async (t) => {
  const cluster = await startRedisCluster(t)
  const secret = newWebhookSecret()
  const receiver = await WebhookReceiver.start(t, secret)
  const [a, b] = await startInstances(t, ['a', 'b'], {
    REDIS_CLUSTER_NODES: cluster.nodes,
    REDIS_KEY_PREFIX: 'tenant1:',
    WEBHOOK_URLS: receiver.url,
    WEBHOOK_SECRET: secret,
    WEBHOOK_RETRY_BASE_SECONDS: 0.01
  })
  if (!a || !b) throw new Error('instances')
  t.equal(a.app.registry.kind, 'redis')

  // Each instance listens on its own plain channel, on one node; publications reach it over the cluster bus.
  const channelCounts = [a, b].map((i) => {
    const channel = `tenant1:inst:{i:${(i.app.registry as RedisRegistry).instanceId}}:chan`
    // A node counts only the subscribers connected to it.
    return cluster.servers.reduce((sum, s) => sum + Number(s.cli('pubsub', 'numsub', channel).split('\n')[1]), 0)
  })
  t.same(channelCounts, [1, 1], 'both instances hold one subscription')

  const doctor = await WsPeer.connect(a.base, await signTestToken({ sub: 'doctor' }))
  const patient = await WsPeer.connect(b.base, await signTestToken({ sub: 'patient' }))
  const third = await WsPeer.connect(b.base, await signTestToken({ sub: 'intruder' }))
  t.teardown(() => { doctor.drop(); patient.drop(); third.drop() })
  doctor.send({ type: 'join', room: 'clinic-7/consult' })
  await doctor.next('joined')
  // Capacity 2: of these two simultaneous joins on B, exactly one gets in.
  patient.send({ type: 'join', id: 'j', room: 'clinic-7/consult' })
  third.send({ type: 'join', id: 'j', room: 'clinic-7/consult' })
  const outcomes = await Promise.all([patient, third].map((p) => p.next((m) => m.type === 'joined' || (m.type === 'error' && m.ref === 'j'))))
  t.same(outcomes.map((m) => m.type).sort(), ['error', 'joined'])
  const [inside] = outcomes[0]?.type === 'joined' ? [patient] : [third]
  if (!inside) throw new Error('nobody joined')
  await doctor.next('peer-joined')

  doctor.send({ type: 'offer', room: 'clinic-7/consult', to: inside.peerId, sdp: 'v=0 offer' })
  t.match(await inside.next('offer'), { from: doctor.peerId, sdp: 'v=0 offer' })
  inside.send({ type: 'answer', room: 'clinic-7/consult', to: doctor.peerId, sdp: 'v=0 answer' })
  t.match(await doctor.next('answer'), { from: inside.peerId })
  for (let i = 0; i < 10; i++) inside.send({ type: 'candidate', room: 'clinic-7/consult', to: doctor.peerId, candidate: { candidate: `c${i}` } })
  const got = await doctor.waitCount('candidate', 10)
  t.same(got.map((m) => (m.candidate as { candidate: string }).candidate), Array.from({ length: 10 }, (_, i) => `c${i}`))

  // Keys carry the prefix and hash tags: a room's keys and a peer's keys each sit in one slot.
  const keys = cluster.servers.flatMap((s) => s.cli('--scan', '--pattern', '*').split('\n').filter(Boolean))
  t.ok(keys.length > 0 && keys.every((k) => k.startsWith('tenant1:')), 'every key is prefixed')
  const slot = (key: string): string => cluster.servers[0]?.cli('cluster', 'keyslot', key).trim() ?? ''
  t.equal(slot(`tenant1:peer:{p:${doctor.peerId}}`), slot(`tenant1:peer:{p:${doctor.peerId}}:buf`))
  t.equal(slot(`tenant1:peer:{p:${doctor.peerId}}`), slot(`tenant1:peer:{p:${doctor.peerId}}:rooms`))
  t.equal(slot('tenant1:room:{r:clinic-7/consult}'), slot('tenant1:room:{r:clinic-7/consult}:events'), 'a room\'s outbox sits in its slot')

  // The room's events, recorded by its scripts in its outbox and moved to the webhook stream (another slot).
  doctor.close(1000)
  inside.close(1000)
  await receiver.until((r) => r.story('clinic-7/consult').includes('room.ended:empty'), 'the room to end')
  t.same(receiver.story('clinic-7/consult'), ['room.started', 'peer.joined', 'peer.joined', 'peer.left:left', 'peer.left:left', 'room.ended:empty'])
  t.match(receiver.events.slice(0, 2), [{ type: 'room.started', data: { peerId: doctor.peerId } }, { type: 'peer.joined', data: { peerId: doctor.peerId } }])
  t.equal(receiver.invalid, 0)
})
