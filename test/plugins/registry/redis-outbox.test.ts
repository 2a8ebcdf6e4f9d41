import t from 'tap'
import { pino } from 'pino'
import { RedisRegistry } from '../../../plugins/registry/redis-registry.js'
import { NO_MEMBERSHIP_LISTENER, type RecordedEvent } from '../../../plugins/registry/types.js'
import { requireRedis, startRedis } from '../../helpers/redis-server.js'
import { until } from '../../helpers/ws-peer.js'

// The events of a room step are recorded by the step itself (in the room's outbox): an instance that
// dies after the step and before its events reached the queue loses nothing; its reaper moves them.
const { skip } = requireRedis(t)

t.test('an instance dead between its room step and its enqueue: the reaper moves its events, in order, once', { skip }, async (t) => {
  const redis = await startRedis(t)
  const connect = async (): Promise<RedisRegistry> => RedisRegistry.connect({
    settings: { mode: { kind: 'url', url: redis.url }, commandTimeoutMs: 100, connectTimeoutMs: 2000 },
    keyPrefix: 'outbox:',
    instanceTtlMs: 500,
    reapIntervalMs: 100,
    graceMs: 60_000,
    limits: { bufferMessages: 100, bufferBytes: 100_000 },
    log: pino({ level: 'silent' })
  })
  const doomed = await connect()
  // Its queueing never finishes: it has taken the room's outbox when it "dies".
  let reached = 0
  doomed.watch({ ...NO_MEMBERSHIP_LISTENER, recorded: { add: async () => { reached++; await new Promise(() => {}) } } })
  await doomed.createSession('p1', 'u1', 'hash-1')
  await doomed.createSession('p2', 'u2', 'hash-2')
  await doomed.join('ward', { peerId: 'p1', userId: 'u1', role: 'doctor', meta: { note: 'never-queued' } }, { capacity: 4, maxRoomsPerPeer: 2 })
  await doomed.join('ward', { peerId: 'p2', userId: 'u2' }, { capacity: 4, maxRoomsPerPeer: 2 })
  await until(() => reached > 0, 'the doomed instance to start queueing')
  // Dead without a goodbye: no heartbeat, no connection (its liveness key lapses).
  doomed.liveness.stop()
  doomed.client.disconnect()
  t.teardown(() => (doomed as unknown as { subscriber: { disconnect: () => void } }).subscriber.disconnect())

  const survivor = await connect()
  t.teardown(() => survivor.close())
  const queued: RecordedEvent[] = []
  survivor.watch({ ...NO_MEMBERSHIP_LISTENER, recorded: { add: async (events) => { queued.push(...events) } } })
  await until(() => queued.length >= 3, 'the survivor to move the dead instance\'s events', 5000)
  t.same(queued.map((e) => `${e.type} ${JSON.parse(e.data).peerId as string}`), ['room.started p1', 'peer.joined p1', 'peer.joined p2'])
  t.same(JSON.parse(queued[0]?.data ?? ''), { room: 'ward', peerId: 'p1', userId: 'u1', role: 'doctor' }, 'ids only, never meta')
  t.ok(queued.every((e) => e.room === 'ward' && /^\d+-\d+$/.test(e.key)), 'keyed by the room\'s outbox ids')
  t.equal(redis.cli('xlen', 'outbox:room:{r:ward}:events').trim(), '0', 'the outbox is empty')
  t.equal(redis.cli('exists', `outbox:inst:{i:${doomed.instanceId}}:outboxes`).trim(), '0', 'the dead instance\'s set is gone')
})
