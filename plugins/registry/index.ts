import fp from 'fastify-plugin'
import { MemoryRegistry } from './memory-registry.js'
import { RedisRegistry } from './redis-registry.js'
import { redisConnectionSettings } from './redis-connection.js'
import type { RegistryLimits, RoomRegistry } from './types.js'

declare module 'fastify' {
  interface FastifyInstance { registry: RoomRegistry }
}

/**
 * The room registry. One interface, two backends: in memory by default (one instance, no Redis
 * needed), shared through Redis when REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES is set, so
 * any number of instances behind a plain load balancer behave as one (docs/redis.md).
 */
export default fp(async (app) => {
  const config = app.config
  const limits: RegistryLimits = {
    bufferMessages: config.RESUME_BUFFER_MESSAGES,
    bufferBytes: config.RESUME_BUFFER_BYTES,
    revocationRetentionMs: config.REVOCATION_RETENTION_SECONDS * 1000
  }
  const settings = redisConnectionSettings(config)
  let registry: RoomRegistry
  if (settings) {
    registry = await RedisRegistry.connect({
      settings,
      keyPrefix: config.REDIS_KEY_PREFIX,
      ...(config.INSTANCE_ID !== undefined && { instanceName: config.INSTANCE_ID }),
      instanceTtlMs: Math.round(config.REDIS_INSTANCE_TTL_SECONDS * 1000),
      reapIntervalMs: Math.round(config.REDIS_REAP_INTERVAL_SECONDS * 1000),
      graceMs: Math.round(config.RESUME_GRACE_SECONDS * 1000),
      limits,
      log: app.log.child({ component: 'registry' })
    })
  } else {
    app.log.info('using the in-memory room registry (single instance; set REDIS_URL to run several)')
    registry = new MemoryRegistry(limits)
  }
  app.decorate('registry', registry)
  app.health.addCheck('registry', () => registry.healthy())
  app.addHook('onClose', async () => registry.close())
}, { fastify: '5.x', name: 'switchboard-registry', dependencies: ['switchboard-health'] })
