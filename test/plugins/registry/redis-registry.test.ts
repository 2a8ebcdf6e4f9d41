import t from 'tap'
import { randomBytes } from 'node:crypto'
import { pino } from 'pino'
import { RedisRegistry } from '../../../plugins/registry/redis-registry.js'
import { requireRedis, startRedis } from '../../helpers/redis-server.js'
import { testConfig } from '../../helpers/config.js'
import { registryScenarios } from '../../helpers/registry-scenarios.js'

// The same scenarios as the memory registry, against a real redis-server: one interface, one contract.
const { skip } = requireRedis(t)
if (skip === false) {
  const redis = await startRedis(t)
  const config = testConfig()
  registryScenarios(t, async (limits) => RedisRegistry.connect({
    settings: { mode: { kind: 'url', url: redis.url }, commandTimeoutMs: 2000, connectTimeoutMs: 2000 },
    // A namespace per registry: the scenarios reuse peer and room names.
    keyPrefix: `swb-test-${randomBytes(4).toString('hex')}:`,
    instanceTtlMs: 10_000,
    reapIntervalMs: 60_000,
    graceMs: Math.round(config.RESUME_GRACE_SECONDS * 1000),
    limits,
    log: pino({ level: 'silent' })
  }))
}
