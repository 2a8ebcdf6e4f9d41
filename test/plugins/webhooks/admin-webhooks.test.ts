import t, { type Test } from 'tap'
import { requireRedis, startRedis } from '../../helpers/redis-server.js'
import { build, listen } from '../../helpers/build.js'
import { signTestToken } from '../../helpers/tokens.js'
import { WsPeer } from '../../helpers/ws-peer.js'
import { WebhookReceiver, newWebhookSecret } from '../../helpers/webhook-receiver.js'
import type { Config } from '../../../src/config.js'

// The integrator's decisions (admin API) reach its webhooks with their reasons: a room ended by the
// API ends with `api` after each peer left `removed`; a removed peer leaves `removed`; a revoked user's
// sessions leave `revoked`. Every joined is balanced by one left, and the room ends once.
const KEY = 'admin-key-for-webhook-tests-0123456789'
const FAST_RETRIES = { WEBHOOK_RETRY_BASE_SECONDS: 0.01, WEBHOOK_MAX_ATTEMPTS: 12 }

async function scenario (t: Test, registry: Partial<Config>): Promise<void> {
  const secret = newWebhookSecret()
  const receiver = await WebhookReceiver.start(t, secret)
  const app = await build(t, { WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: secret, ADMIN_API_KEYS: KEY, ...FAST_RETRIES, ...registry })
  const base = await listen(app)
  const admin = async (method: string, path: string): Promise<number> =>
    (await fetch(`${base}/v1/admin${path}`, { method, headers: { authorization: `Bearer ${KEY}` } })).status
  const peer = async (sub: string, room: string): Promise<WsPeer> => {
    const p = await WsPeer.connect(base, await signTestToken({ sub }))
    t.teardown(() => p.drop())
    p.send({ type: 'join', room })
    await p.next('joined')
    return p
  }

  const a = await peer('doctor', 'clinic/a')
  const b = await peer('patient', 'clinic/a')
  t.equal(await admin('DELETE', `/rooms/${encodeURIComponent('clinic/a')}`), 204, 'room ended through the API')
  await receiver.until((r) => r.story('clinic/a').includes('room.ended:api'), 'room.ended api')
  t.same(receiver.story('clinic/a'), ['room.started', 'peer.joined', 'peer.joined', 'peer.left:removed', 'peer.left:removed', 'room.ended:api'])
  t.same(new Set(receiver.events.filter((e) => e.type === 'peer.left').map((e) => e.data.peerId)), new Set([a.peerId, b.peerId]))

  const c = await peer('nurse', 'clinic/b')
  const d = await peer('guest', 'clinic/b')
  t.equal(await admin('DELETE', `/rooms/${encodeURIComponent('clinic/b')}/peers/${d.peerId}`), 204, 'peer removed through the API')
  await receiver.until((r) => r.story('clinic/b').includes('peer.left:removed'), 'peer.left removed')
  t.equal(await admin('DELETE', '/users/nurse/sessions'), 200, 'the nurse\'s sessions revoked')
  await receiver.until((r) => r.story('clinic/b').includes('room.ended:empty'), 'the room to end')
  t.same(receiver.story('clinic/b'), ['room.started', 'peer.joined', 'peer.joined', 'peer.left:removed', 'peer.left:revoked', 'room.ended:empty'])
  t.match(receiver.events.filter((e) => e.data.room === 'clinic/b' && e.type === 'peer.left'), [{ data: { peerId: d.peerId } }, { data: { peerId: c.peerId } }])
  t.equal(receiver.invalid, 0, 'every delivery verifies with standardwebhooks')
}

t.test('admin operations in webhooks, in-memory registry', async (t) => scenario(t, {}))

t.test('admin operations in webhooks, Redis registry', requireRedis(t), async (t) => {
  const redis = await startRedis(t)
  await scenario(t, { REDIS_URL: redis.url })
})
