import t from 'tap'
import { Redis } from 'ioredis'
import { requireRedis, startRedis } from '../helpers/redis-server.js'
import { startInstances } from '../helpers/instances.js'
import { ADMIN_KEY, adminClient } from '../helpers/admin-client.js'
import { signTestToken } from '../helpers/tokens.js'
import { WsPeer, until } from '../helpers/ws-peer.js'

const { skip } = requireRedis(t)

/**
 * How the subscriber is kept away: its connection is killed (CLIENT KILL) in the same MULTI that lowers
 * `maxclients` to the number of connections left, so its reconnects are refused for as long as the test
 * wants, while every other connection (the revoking instance's included) works on. Deterministic: the
 * revocation's notice is published while the subscriber is surely away, and restoring `maxclients` lets
 * it back. CLIENT PAUSE would not do: it holds the publisher too, and the notice would arrive late, not be lost.
 */
t.test('a revoke notice published while an instance\'s subscriber is reconnecting: the sessions still end (4003) once it is back', { skip }, async (t) => {
  const redis = await startRedis(t)
  // B starts second: its subscriber connection has the higher client id.
  const [a, b] = await startInstances(t, ['rev-a', 'rev-b'], { REDIS_URL: redis.url, ADMIN_API_KEYS: ADMIN_KEY })
  if (a === undefined || b === undefined) throw new Error('two instances')
  const nurse = await WsPeer.connect(b.base, await signTestToken({ sub: 'nurse' }))
  const doctor = await WsPeer.connect(b.base, await signTestToken({ sub: 'doctor' }))
  t.teardown(() => { nurse.drop(); doctor.drop() })
  for (const p of [nurse, doctor]) {
    p.send({ type: 'join', room: 'ward' })
    await p.next('joined')
  }

  const ctl = new Redis(redis.url)
  t.teardown(() => ctl.disconnect())
  const subscribers = (await ctl.client('LIST') as string).split('\n').filter((l) => l.includes('name=switchboard:registry-sub'))
  const ids = subscribers.map((l) => Number(/\bid=(\d+)/.exec(l)?.[1]))
  t.equal(ids.length, 2, 'one subscriber per instance')
  const connected = Number(/connected_clients:(\d+)/.exec(await ctl.info('clients'))?.[1])
  await ctl.multi().config('SET', 'maxclients', String(connected - 1)).client('KILL', 'ID', String(Math.max(...ids))).exec()
  t.teardown(() => ctl.config('SET', 'maxclients', '10000'))
  await until(async () => (await fetch(`${b.base}/health/ready`)).status === 503, 'B to notice its subscriber is away')

  const revoked = await adminClient(a.base)('DELETE', '/users/nurse/sessions')
  t.equal(revoked.status, 200, 'revoked through A')
  t.ok(nurse.isOpen, 'the notice did not reach B')

  await ctl.config('SET', 'maxclients', '10000')
  t.equal(await nurse.waitClosed(5000), 4003, 'closed with 4003 once the subscriber is back')
  await doctor.next((m) => m.type === 'peer-left' && m.peerId === nurse.peerId && m.reason === 'revoked')
  await doctor.sync()
  t.ok(doctor.isOpen, 'another user\'s session stays')
  await until(async () => (await fetch(`${b.base}/health/ready`)).status === 200, 'B ready again')
})
