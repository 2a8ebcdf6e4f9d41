import t from 'tap'
import { pino } from 'pino'
import { Revocations } from '../../../plugins/registry/revocations.js'
import { MemoryRegistry } from '../../../plugins/registry/memory-registry.js'
import { RedisRegistry } from '../../../plugins/registry/redis-registry.js'
import { loadConfig } from '../../../src/config.js'
import { requireRedis, startRedis } from '../../helpers/redis-server.js'

const { skip } = requireRedis(t)
const DAY = 86_400_000

t.test('a revocation is kept as long as the retention, then forgotten (injectable clock)', async (t) => {
  let now = 10 * DAY
  const revocations = new Revocations(DAY, () => now)
  t.equal(revocations.record('alice', now), true, 'news')
  t.equal(revocations.record('alice', now - 1), false, 'an older one is not news')
  t.equal(revocations.at('alice'), 10 * DAY)
  now += DAY
  t.equal(revocations.at('alice'), 10 * DAY, 'kept for the whole retention')
  t.equal(revocations.record('bob', now), true)
  now += 1
  t.equal(revocations.at('alice'), undefined, 'past the retention: a token issued before it is accepted again')
  t.same(revocations.prune(), [], 'already forgotten when read')
  t.equal(revocations.record('carol', now - DAY - 1), false, 'one already past the retention is not kept')
  now += DAY
  t.same(revocations.prune(), ['bob'], 'pruned')
})

t.test('memory registry: REVOCATION_RETENTION_SECONDS bounds what it keeps', async (t) => {
  let now = 100 * DAY
  const registry = new MemoryRegistry({ bufferMessages: 10, bufferBytes: 10_000, revocationRetentionMs: 3_600_000 }, () => now)
  await registry.revokeUser('alice', now)
  t.equal(registry.revokedAt('alice'), now)
  now += 3_600_001
  t.equal(registry.revokedAt('alice'), undefined)
})

t.test('Redis registry: entries past the retention are dropped from the hash, the others kept', { skip }, async (t) => {
  const redis = await startRedis(t)
  const now = Date.now()
  redis.cli('hset', 'ret:revoked', 'old%20user', String(now - 2 * 3_600_000), 'fresh', String(now - 60_000))
  const registry = await RedisRegistry.connect({
    settings: { mode: { kind: 'url', url: redis.url }, commandTimeoutMs: 2000, connectTimeoutMs: 2000 },
    keyPrefix: 'ret:',
    instanceTtlMs: 10_000,
    reapIntervalMs: 60_000,
    graceMs: 1000,
    limits: { bufferMessages: 10, bufferBytes: 10_000, revocationRetentionMs: 3_600_000 },
    log: pino({ level: 'silent' })
  })
  t.teardown(() => registry.close())
  t.equal(registry.revokedAt('old user'), undefined)
  t.equal(registry.revokedAt('fresh'), now - 60_000)
  t.same(redis.cli('hkeys', 'ret:revoked').trim().split('\n'), ['fresh'], 'the stale entry left the hash')
  await registry.revokeUser('alice', now)
  const ttl = Number(redis.cli('pttl', 'ret:revoked').trim())
  t.ok(ttl > 3_500_000 && ttl <= 3_600_000, 'the hash lives as long as the retention after the last revocation')
})

t.test('REVOCATION_RETENTION_SECONDS: a bad value names the variable', async (t) => {
  const env = { JWT_SECRET: 'x'.repeat(40), NODE_ENV: 'test' }
  t.equal(loadConfig(env).REVOCATION_RETENTION_SECONDS, 7 * 86400, 'a week by default')
  t.equal(loadConfig({ ...env, REVOCATION_RETENTION_SECONDS: '3600' }).REVOCATION_RETENTION_SECONDS, 3600)
  t.throws(() => loadConfig({ ...env, REVOCATION_RETENTION_SECONDS: '5' }), { message: /REVOCATION_RETENTION_SECONDS/ })
})
