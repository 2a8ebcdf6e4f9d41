import { Type, type Static } from '@sinclair/typebox'
import { parseHostPorts } from './redis-config.js'

/**
 * The registry plugin's part of ConfigSchema: the shared room registry (docs/redis.md). Without
 * REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES it is in memory (one instance). src/config.ts composes it.
 */
export const RegistryConfigSchema = Type.Object({
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'redis:// or rediss:// (TLS) URL of a single Redis server, with user:password if it needs them' })),
  REDIS_SENTINELS: Type.Optional(Type.String({ minLength: 1, description: 'Comma-separated host:port of Redis Sentinels (with REDIS_SENTINEL_NAME)' })),
  REDIS_SENTINEL_NAME: Type.Optional(Type.String({ minLength: 1, description: 'Name of the master the Sentinels monitor' })),
  REDIS_SENTINEL_PASSWORD: Type.Optional(Type.String({ minLength: 1, description: 'Password of the Sentinels themselves, if they need one' })),
  REDIS_CLUSTER_NODES: Type.Optional(Type.String({ minLength: 1, description: 'Comma-separated host:port seed nodes of a Redis Cluster' })),
  REDIS_USERNAME: Type.Optional(Type.String({ minLength: 1, description: 'ACL user for Redis (overrides one in REDIS_URL)' })),
  REDIS_PASSWORD: Type.Optional(Type.String({ minLength: 1, description: 'Password for Redis (overrides one in REDIS_URL)' })),
  REDIS_TLS: Type.Boolean({ default: false, description: 'TLS to Sentinel-managed or Cluster nodes (REDIS_URL uses rediss://)' }),
  REDIS_TLS_CA_FILE: Type.Optional(Type.String({ minLength: 1, description: 'PEM CA bundle that signed the Redis server certificates' })),
  REDIS_KEY_PREFIX: Type.String({ default: 'swb:', pattern: '^[A-Za-z0-9:._-]{0,64}$', description: 'Prefix of every Redis key and channel, so deployments can share one Redis' }),
  INSTANCE_ID: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'Readable instance name (e.g. the pod name); a per-process suffix keeps it unique' })),
  REDIS_INSTANCE_TTL_SECONDS: Type.Number({ default: 5, minimum: 0.5, maximum: 120, description: 'Liveness key TTL: an instance silent this long is dead' }),
  REDIS_REAP_INTERVAL_SECONDS: Type.Number({ default: 2, minimum: 0.1, maximum: 60, description: 'How often each instance looks for dead instances' }),
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ default: 1000, minimum: 50, maximum: 60000, description: 'A Redis command slower than this fails (SWB_REGISTRY_UNAVAILABLE)' }),
  REDIS_CONNECT_TIMEOUT_MS: Type.Integer({ default: 10000, minimum: 100, maximum: 300000, description: 'Startup fails if Redis is not reachable within this time' })
})
export type RegistryConfig = Static<typeof RegistryConfigSchema>

/** Cross-variable rules for the Redis settings; returns a message naming the variables, or undefined. */
export function redisConfigProblem (config: RegistryConfig): string | undefined {
  const modes = [config.REDIS_URL, config.REDIS_SENTINELS, config.REDIS_CLUSTER_NODES].filter(Boolean).length
  if (modes > 1) return 'REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES are exclusive: set only one'
  if (config.REDIS_SENTINELS !== undefined && !config.REDIS_SENTINEL_NAME) return 'REDIS_SENTINELS needs REDIS_SENTINEL_NAME (the monitored master name)'
  if (config.REDIS_SENTINEL_NAME !== undefined && !config.REDIS_SENTINELS) return 'REDIS_SENTINEL_NAME is set but REDIS_SENTINELS is not'
  if (config.REDIS_SENTINEL_PASSWORD !== undefined && !config.REDIS_SENTINELS) return 'REDIS_SENTINEL_PASSWORD is set but REDIS_SENTINELS is not'
  if (config.REDIS_SENTINELS !== undefined && !parseHostPorts(config.REDIS_SENTINELS)) return 'REDIS_SENTINELS must be a comma-separated list of host:port'
  if (config.REDIS_CLUSTER_NODES !== undefined && !parseHostPorts(config.REDIS_CLUSTER_NODES)) return 'REDIS_CLUSTER_NODES must be a comma-separated list of host:port'
  if (modes === 0) {
    const stray = [
      config.REDIS_USERNAME !== undefined && 'REDIS_USERNAME',
      config.REDIS_PASSWORD !== undefined && 'REDIS_PASSWORD',
      config.REDIS_TLS && 'REDIS_TLS',
      config.REDIS_TLS_CA_FILE !== undefined && 'REDIS_TLS_CA_FILE'
    ].filter((name): name is string => typeof name === 'string')
    if (stray.length > 0) return `${stray.join(', ')} set without REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES`
  }
  if (config.REDIS_URL !== undefined && config.REDIS_TLS) return 'REDIS_TLS does not apply to REDIS_URL: use a rediss:// URL for TLS'
  const tls = config.REDIS_TLS || config.REDIS_URL?.startsWith('rediss://') === true
  if (config.REDIS_TLS_CA_FILE !== undefined && !tls) return 'REDIS_TLS_CA_FILE needs TLS: a rediss:// REDIS_URL or REDIS_TLS=true'
  if (config.REDIS_REAP_INTERVAL_SECONDS > config.REDIS_INSTANCE_TTL_SECONDS) {
    return 'REDIS_REAP_INTERVAL_SECONDS must not exceed REDIS_INSTANCE_TTL_SECONDS (a dead instance would be noticed late)'
  }
  return undefined
}
