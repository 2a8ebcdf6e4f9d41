import tap from 'tap'
import { randomBytes } from 'node:crypto'
import type { Config } from '../../src/config.js'
import { startRedis, type RedisServer } from './redis-server.js'

/**
 * Which registry the app-level tests run against. The signaling scenario suite runs twice: as is
 * (in memory), and again with SWB_TEST_REGISTRY=redis (see test/redis/signaling-on-redis.*.test.ts),
 * where every app gets REDIS_URL of one redis-server per test process and a key prefix of its own.
 */
export const TEST_REGISTRY_ENV = 'SWB_TEST_REGISTRY'

let shared: Promise<RedisServer> | undefined

/** The config overrides that put an app on the registry this process tests; none for memory. */
export async function registryOverrides (overrides: Partial<Config>): Promise<Partial<Config>> {
  if (process.env[TEST_REGISTRY_ENV] !== 'redis') return {}
  if (overrides.REDIS_URL !== undefined || overrides.REDIS_SENTINELS !== undefined || overrides.REDIS_CLUSTER_NODES !== undefined) return {}
  // One server for the whole file, stopped when the file's root test ends.
  shared ??= startRedis(tap)
  const redis = await shared
  return { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `swb${randomBytes(4).toString('hex')}:` }
}
