import t from 'tap'
import { requireRedis, startRedis } from '../helpers/redis-server.js'
import { spawnInstance, startInstance } from '../helpers/instances.js'
import { ADMIN_KEY, adminClient, enc } from '../helpers/admin-client.js'
import { signTestToken } from '../helpers/tokens.js'
import { WsPeer, until } from '../helpers/ws-peer.js'
import { WebhookReceiver, newWebhookSecret } from '../helpers/webhook-receiver.js'

// A room's max duration is a deadline shared through Redis: the instance that armed it may die, and
// another one still ends the room, once.
const { skip } = requireRedis(t)
const ROOM = 'clinic-7/timed'

t.test('maxDurationSeconds armed on an instance that is then SIGKILLed: the other one ends the room, once', { skip }, async (t) => {
  const redis = await startRedis(t)
  const secret = newWebhookSecret()
  const receiver = await WebhookReceiver.start(t, secret)
  const common = { REDIS_URL: redis.url, WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: secret, ADMIN_API_KEYS: ADMIN_KEY }
  const armer = await spawnInstance(t, { ...common, INSTANCE_ID: 'armer', WEBHOOK_RETRY_BASE_SECONDS: '0.02' })
  const survivor = await startInstance(t, { ...common, INSTANCE_ID: 'survivor', WEBHOOK_RETRY_BASE_SECONDS: 0.02, REDIS_REAP_INTERVAL_SECONDS: 0.2 })

  // The peer is on the survivor, and joined before the room had settings: the survivor armed nothing.
  const peer = await WsPeer.connect(survivor.base, await signTestToken({ sub: 'patient' }))
  t.teardown(() => peer.drop())
  peer.send({ type: 'join', room: ROOM })
  await peer.next('joined')
  t.equal((await adminClient(armer.base)('PUT', `/rooms/${enc(ROOM)}`, { maxDurationSeconds: 1 })).status, 200, 'max duration set on the armer')
  armer.child.kill('SIGKILL')
  t.match(await armer.exited, { signal: 'SIGKILL' })

  const ended = await peer.next('room-ended', 10_000)
  t.match(ended, { room: ROOM, reason: 'max-duration' })
  await receiver.until((r) => r.story(ROOM).includes('room.ended:max-duration'), 'room.ended max-duration', 10_000)
  // A barrier: a later room's events are queued after the ending's, so once one arrives nothing of it is still on its way.
  peer.send({ type: 'join', room: 'after' })
  await peer.next((m) => m.type === 'joined' && m.room === 'after')
  await receiver.next((e) => e.data.room === 'after' && e.type === 'peer.joined', 'the barrier', 10_000)
  t.same(receiver.story(ROOM), ['room.started', 'peer.joined', 'peer.left:removed', 'room.ended:max-duration'], 'ended exactly once')
  t.equal(peer.ofType('room-ended').length, 1, 'one room-ended')
  await until(() => redis.cli('zcard', 'swb:deadlines').trim() === '0', 'the deadline to be done with')
})
