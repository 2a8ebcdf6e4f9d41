import t from 'tap'
import { buildApp } from '../../../src/app.js'
import { ConfigError, checkConfig, loadConfig } from '../../../src/config.js'
import { build, buildWithLogs, listen } from '../../helpers/build.js'
import { testConfig } from '../../helpers/config.js'
import { signTestToken } from '../../helpers/tokens.js'
import { WsPeer, until } from '../../helpers/ws-peer.js'
import { WebhookReceiver, newWebhookSecret } from '../../helpers/webhook-receiver.js'

/** Retries in tens of milliseconds instead of minutes: the schedule is config, not a sleep. */
const FAST_RETRIES = { WEBHOOK_RETRY_BASE_SECONDS: 0.01, WEBHOOK_MAX_ATTEMPTS: 12 }

async function joined (peer: WsPeer, room: string, extra: Record<string, unknown> = {}): Promise<void> {
  peer.send({ type: 'join', room, ...extra })
  const answer = await peer.next((m) => (m.type === 'joined' && m.room === room) || m.type === 'error')
  if (answer.type === 'error') throw new Error(`join refused: ${String(answer.code)}`)
}

t.test('one instance: signed lifecycle events, ids only, balanced and in order per room', async (t) => {
  const secret = newWebhookSecret()
  const receiver = await WebhookReceiver.start(t, secret)
  const app = await build(t, { WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: secret, RESUME_GRACE_SECONDS: 30, ...FAST_RETRIES })
  const base = await listen(app)

  const alice = await WsPeer.connect(base, await signTestToken({ sub: 'alice', rooms: [{ room: 'consult-1', role: 'doctor' }] }))
  const bob = await WsPeer.connect(base, await signTestToken({ sub: 'bob' }))
  t.teardown(() => { alice.drop(); bob.drop() })
  await joined(alice, 'consult-1', { meta: { secretNote: 'never-in-a-webhook' } })
  await joined(bob, 'consult-1')
  bob.send({ type: 'leave', room: 'consult-1' })
  await bob.next('left')
  alice.close(1000)
  await receiver.until((r) => r.story('consult-1').includes('room.ended:empty'), 'room.ended')

  t.same(receiver.story('consult-1'), ['room.started', 'peer.joined', 'peer.joined', 'peer.left:left', 'peer.left:left', 'room.ended:empty'])
  const events = receiver.events
  t.match(events[0], { type: 'room.started', data: { room: 'consult-1', peerId: alice.peerId, userId: 'alice', role: 'doctor' } })
  t.match(events[1], { type: 'peer.joined', data: { room: 'consult-1', peerId: alice.peerId, userId: 'alice', role: 'doctor' } })
  t.same(events[2]?.data, { room: 'consult-1', peerId: bob.peerId, userId: 'bob' })
  t.same(events[3]?.data, { room: 'consult-1', peerId: bob.peerId, userId: 'bob', reason: 'left' })
  t.match(events[4], { type: 'peer.left', data: { peerId: alice.peerId, reason: 'left' } })
  t.ok(events.every((e) => !Number.isNaN(Date.parse(e.timestamp))), 'every event has an ISO timestamp')
  t.equal(new Set(events.map((e) => e.id)).size, events.length, 'one webhook-id per event')
  t.notOk(events.some((e) => e.body.includes('never-in-a-webhook') || e.body.includes('meta')), 'meta never leaves in a webhook')
  t.equal(receiver.invalid, 0, 'every delivery verifies with standardwebhooks')

  // A drop resumed within the grace period: peer.resumed, not a left/joined pair.
  const carolToken = await signTestToken({ sub: 'carol' })
  const carol = await WsPeer.connect(base, carolToken)
  await joined(carol, 'consult-2')
  carol.drop()
  const back = await WsPeer.resume(base, carolToken, carol)
  t.teardown(() => back.drop())
  t.equal(back.welcome.resumed, true)
  await receiver.next((e) => e.type === 'peer.resumed', 'peer.resumed')
  back.close(1000)
  await receiver.until((r) => r.story('consult-2').includes('room.ended:empty'), 'consult-2 to end')
  t.same(receiver.story('consult-2'), ['room.started', 'peer.joined', 'peer.resumed', 'peer.left:left', 'room.ended:empty'])
  t.match(receiver.events.find((e) => e.type === 'peer.resumed'), { data: { room: 'consult-2', peerId: carol.peerId, userId: 'carol' } })
})

t.test('a drop not resumed within the grace period: peer.left timeout', async (t) => {
  const secret = newWebhookSecret()
  const receiver = await WebhookReceiver.start(t, secret)
  const app = await build(t, { WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: secret, RESUME_GRACE_SECONDS: 0.1, ...FAST_RETRIES })
  const base = await listen(app)
  const dave = await WsPeer.connect(base, await signTestToken({ sub: 'dave' }))
  await joined(dave, 'consult-3')
  dave.drop()
  await receiver.until((r) => r.story('consult-3').includes('room.ended:empty'), 'consult-3 to end')
  t.same(receiver.story('consult-3'), ['room.started', 'peer.joined', 'peer.left:timeout', 'room.ended:empty'])
  t.match(receiver.events[2], { type: 'peer.left', data: { peerId: dave.peerId, userId: 'dave', reason: 'timeout' } })
})

t.test('an endpoint that is down for a while: retried with backoff, nothing lost, order kept', async (t) => {
  const secret = newWebhookSecret()
  const receiver = await WebhookReceiver.start(t, secret)
  receiver.down = true
  const app = await build(t, { WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: secret, ROOM_CAPACITY: 3, ...FAST_RETRIES })
  const base = await listen(app)
  const peers = await Promise.all(['p1', 'p2', 'p3'].map(async (sub) => WsPeer.connect(base, await signTestToken({ sub }))))
  t.teardown(() => { for (const p of peers) p.drop() })
  for (const p of peers) await joined(p, 'ward')
  for (const p of peers) p.close(1000)
  await Promise.all(peers.map(async (p) => p.closed))
  // Several failed attempts (the first event's retries) before the endpoint comes back.
  await receiver.until((r) => r.refused >= 4, 'failed attempts')
  receiver.down = false
  await receiver.until((r) => r.story('ward').includes('room.ended:empty'), 'the backlog')
  t.same(receiver.story('ward'), ['room.started', 'peer.joined', 'peer.joined', 'peer.joined', 'peer.left:left', 'peer.left:left', 'peer.left:left', 'room.ended:empty'])
  t.same(receiver.events.filter((e) => e.type === 'peer.joined').map((e) => e.data.userId), ['p1', 'p2', 'p3'], 'joins in order')

  const metrics = await app.metrics.registry.getSingleMetricAsString('switchboard_webhook_deliveries_total')
  t.match(metrics, /switchboard_webhook_deliveries_total\{type="room.started",outcome="failed"\} [1-9]/, 'failed attempts are counted')
  t.match(metrics, /switchboard_webhook_deliveries_total\{type="peer.joined",outcome="delivered"\} 3/)
  // The last acknowledgement reached the receiver; the instance takes the event off its queue as it reads the answer.
  await until(async () => /switchboard_webhook_queue_depth 0/.test(await app.metrics.registry.getSingleMetricAsString('switchboard_webhook_queue_depth')), 'an empty queue')
})

t.test('rotation: every delivery carries a signature per secret, and a receiver holding either verifies it', async (t) => {
  const [oldSecret, newSecret] = [newWebhookSecret(), newWebhookSecret()]
  const withOld = await WebhookReceiver.start(t, oldSecret)
  const withNew = await WebhookReceiver.start(t, newSecret)
  const app = await build(t, { WEBHOOK_URLS: `${withOld.url},${withNew.url}`, WEBHOOK_SECRET: `${oldSecret},${newSecret}`, ...FAST_RETRIES })
  const base = await listen(app)
  const peer = await WsPeer.connect(base, await signTestToken({ sub: 'dora' }))
  t.teardown(() => peer.drop())
  await joined(peer, 'rotating')
  await withOld.until((r) => r.events.length === 2, 'two events at the old-secret receiver')
  await withNew.until((r) => r.events.length === 2, 'two events at the new-secret receiver')
  t.same(withOld.story('rotating'), ['room.started', 'peer.joined'])
  t.same(withNew.events.map((e) => e.id), withOld.events.map((e) => e.id), 'the same events, with the same ids')
  t.match(withNew.events[0]?.signature, /^v1,[A-Za-z0-9+/=]+ v1,[A-Za-z0-9+/=]+$/, 'two signatures, space-separated')
  t.equal(withOld.invalid + withNew.invalid, 0)
})

t.test('an endpoint that never answers 2xx: dropped after the last attempt, counted and logged without content', async (t) => {
  const secret = newWebhookSecret()
  const receiver = await WebhookReceiver.start(t, secret)
  receiver.down = true
  const { app, logs } = await buildWithLogs(t, { WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: secret, WEBHOOK_RETRY_BASE_SECONDS: 0.005, WEBHOOK_MAX_ATTEMPTS: 3 })
  const base = await listen(app)
  const peer = await WsPeer.connect(base, await signTestToken({ sub: 'erin' }))
  t.teardown(() => peer.drop())
  await joined(peer, 'doomed-room')
  // room.started and peer.joined, three attempts each.
  await receiver.until((r) => r.refused === 6, 'every attempt')
  const deliveries = async (): Promise<string> => app.metrics.registry.getSingleMetricAsString('switchboard_webhook_deliveries_total')
  // The last answer reached the receiver; the instance counts the drop as it handles that answer.
  await until(async () => (await deliveries()).split('outcome="dropped"} 1').length === 3, 'both drops to be counted')
  const text = await deliveries()
  t.match(text, /type="room.started",outcome="dropped"\} 1/)
  t.match(text, /type="peer.joined",outcome="dropped"\} 1/)
  const drops = logs.lines.filter((l) => l.msg === 'webhook dropped after its last attempt')
  t.match(drops, [{ type: 'room.started', room: 'doomed-room', attempts: 3, last: 'HTTP 503' }, { type: 'peer.joined' }])
  t.notOk(logs.text().includes(secret.slice(6)), 'the secret is never logged')
  t.notOk(logs.text().includes('"timestamp"'), 'no event body is logged')
})

t.test('graceful shutdown (memory): the sessions end with the instance and their events are delivered before close returns', async (t) => {
  const secret = newWebhookSecret()
  const receiver = await WebhookReceiver.start(t, secret)
  const config = testConfig({ WEBHOOK_URLS: receiver.url, WEBHOOK_SECRET: secret, SHUTDOWN_DRAIN_SECONDS: 5, ...FAST_RETRIES })
  const app = await buildApp(config)
  const base = await listen(app)
  const peer = await WsPeer.connect(base, await signTestToken({ sub: 'fay' }))
  t.teardown(() => peer.drop())
  await joined(peer, 'closing')
  await receiver.until((r) => r.events.length === 2, 'the join')
  receiver.down = true
  // Down for the first attempts of the departures: close() waits for the retries, within the deadline.
  void receiver.until((r) => r.refused >= 2, 'failed attempts').then(() => { receiver.down = false })
  await app.close()
  t.same(receiver.story('closing'), ['room.started', 'peer.joined', 'peer.left:timeout', 'room.ended:empty'])
})

t.test('configuration errors name the variable', async (t) => {
  const env = { JWT_SECRET: 'x'.repeat(40), NODE_ENV: 'test' }
  t.throws(() => loadConfig({ ...env, WEBHOOK_URLS: 'https://example.com/hook' }), { name: 'ConfigError', message: /WEBHOOK_URLS needs WEBHOOK_SECRET/ })
  t.throws(() => loadConfig({ ...env, WEBHOOK_URLS: 'ftp://example.com/x', WEBHOOK_SECRET: newWebhookSecret() }), { message: /WEBHOOK_URLS: entry 1/ })
  t.throws(() => loadConfig({ ...env, WEBHOOK_SECRET: 'not-a-secret' }), { message: /WEBHOOK_SECRET must be whsec_/ })
  t.throws(() => loadConfig({ ...env, WEBHOOK_SECRET: `${newWebhookSecret()},whsec_c2hvcnQ=` }), { message: /WEBHOOK_SECRET/ })
  t.throws(() => checkConfig(testConfig({ WEBHOOK_URLS: 'http://127.0.0.1:1/x' })), ConfigError)
  t.doesNotThrow(() => loadConfig({ ...env, WEBHOOK_URLS: 'https://a.example/h, http://b.example/h', WEBHOOK_SECRET: `${newWebhookSecret()},${newWebhookSecret()}` }))
})

t.test('the OpenAPI document lists every webhook event', async (t) => {
  const app = await build(t)
  const doc = (await app.inject('/docs/json')).json<{ webhooks: Record<string, { post: { operationId: string } }> }>()
  t.same(Object.keys(doc.webhooks).sort(), ['peer.joined', 'peer.left', 'peer.resumed', 'room.ended', 'room.started'])
  t.equal(doc.webhooks['peer.left']?.post.operationId, 'webhookPeerLeft')
})
