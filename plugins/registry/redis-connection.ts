import { readFileSync } from 'node:fs'
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { Config } from '../../src/config.js'
import { redisMode, type RedisMode } from './redis-config.js'

export type RedisClient = Redis | Cluster

/** How to reach Redis, resolved once from the config; shared by the registry and the rate limiter. */
export interface RedisConnectionSettings {
  mode: RedisMode
  username?: string
  password?: string
  sentinelPassword?: string
  tls?: { ca?: Buffer }
  commandTimeoutMs: number
  connectTimeoutMs: number
}

export function redisConnectionSettings (config: Config): RedisConnectionSettings | undefined {
  const mode = redisMode(config)
  if (!mode) return undefined
  const tls = config.REDIS_TLS || config.REDIS_URL?.startsWith('rediss://') === true
  return {
    mode,
    ...(config.REDIS_USERNAME !== undefined && { username: config.REDIS_USERNAME }),
    ...(config.REDIS_PASSWORD !== undefined && { password: config.REDIS_PASSWORD }),
    ...(config.REDIS_SENTINEL_PASSWORD !== undefined && { sentinelPassword: config.REDIS_SENTINEL_PASSWORD }),
    ...(tls && { tls: config.REDIS_TLS_CA_FILE === undefined ? {} : { ca: readFileSync(config.REDIS_TLS_CA_FILE) } }),
    commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
    connectTimeoutMs: config.REDIS_CONNECT_TIMEOUT_MS
  }
}

/** Where Redis is, for logs and errors: hosts and ports only, never credentials. */
export function describeRedis (mode: RedisMode): string {
  switch (mode.kind) {
    case 'url': {
      const url = new URL(mode.url)
      return `${url.protocol}//${url.host}`
    }
    case 'sentinel': return `sentinel ${mode.name} via ${mode.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`
    case 'cluster': return `cluster ${mode.nodes.map((s) => `${s.host}:${s.port}`).join(',')}`
  }
}

/** Reconnect quickly (Redis restarts are the case we care about) but never spin. */
function reconnectDelay (attempt: number): number {
  return Math.min(50 * attempt, 1000)
}

/**
 * A client that fails fast: no offline queue (a command while disconnected rejects at once), a
 * command timeout, and endless background reconnects. Handlers then answer SWB_REGISTRY_UNAVAILABLE
 * instead of hanging, and the registry re-registers its state when the connection is back.
 *
 * No auto-pipelining: ioredis sends one auto-pipeline at a time and queues every later command in
 * memory until the previous batch is fully answered, so one stalled reply would hold back (and pile
 * up) everything behind it. Commands are written as they come; concurrent ones still share the
 * connection without waiting for each other's replies.
 */
export function createRedisClient (settings: RedisConnectionSettings, name: string, role: 'command' | 'subscriber' = 'command'): RedisClient {
  const node: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    enableReadyCheck: true,
    maxRetriesPerRequest: 1,
    commandTimeout: settings.commandTimeoutMs,
    connectTimeout: Math.min(settings.connectTimeoutMs, 5000),
    connectionName: name,
    retryStrategy: reconnectDelay,
    // After a Sentinel failover the old master turns replica: reconnect (to the new master) and retry.
    reconnectOnError: (err) => err.message.startsWith('READONLY') ? 2 : false,
    ...(settings.username !== undefined && { username: settings.username }),
    ...(settings.password !== undefined && { password: settings.password }),
    ...(settings.tls && { tls: settings.tls.ca ? { ca: settings.tls.ca } : {} })
  }
  const client = buildClient(settings, node, role)
  // Failures surface as failed commands and as `status`; an 'error' event nobody listens to would
  // only print "[ioredis] Unhandled error event" on every reconnect attempt.
  client.on('error', () => {})
  return client
}

function buildClient (settings: RedisConnectionSettings, node: RedisOptions, role: 'command' | 'subscriber'): RedisClient {
  const mode = settings.mode
  switch (mode.kind) {
    case 'url':
      return new Redis(mode.url, node)
    case 'sentinel':
      return new Redis({
        ...node,
        sentinels: mode.sentinels,
        name: mode.name,
        sentinelRetryStrategy: reconnectDelay,
        ...(settings.sentinelPassword !== undefined && { sentinelPassword: settings.sentinelPassword }),
        ...(settings.tls && { enableTLSForSentinelMode: true, sentinelTLS: settings.tls.ca ? { ca: settings.tls.ca } : {} })
      })
    case 'cluster': {
      const options: ClusterOptions = {
        lazyConnect: true,
        enableOfflineQueue: false,
        enableReadyCheck: true,
        // No auto-pipelining (see createRedisClient).
        enableAutoPipelining: false,
        scaleReads: 'master',
        maxRedirections: 8,
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        clusterRetryStrategy: reconnectDelay,
        clusterNodeRetryStrategy: reconnectDelay,
        shardedSubscribers: role === 'subscriber',
        redisOptions: node
      }
      return new Cluster(mode.nodes, options)
    }
  }
}

/** Connects, or throws within the connect timeout with the last error (no credentials in it). */
export async function connectRedis (client: RedisClient, settings: RedisConnectionSettings): Promise<void> {
  let lastError: Error | undefined
  const onError = (err: Error): void => { lastError = err }
  client.on('error', onError)
  let timer: NodeJS.Timeout | undefined
  let onReady: (() => void) | undefined
  try {
    // connect() rejects on the first failed attempt, but the client keeps retrying: wait for `ready`.
    client.connect().catch((err: unknown) => { lastError ??= err as Error })
    await new Promise<void>((resolve, reject) => {
      if (client.status === 'ready') return resolve()
      onReady = resolve
      client.once('ready', onReady)
      timer = setTimeout(() => reject(new Error('timed out')), settings.connectTimeoutMs)
    })
    // A wrong password surfaces as an error event while `connect()` may already have resolved.
    await client.ping()
  } catch (err) {
    client.disconnect()
    const reason = lastError?.message ?? (err as Error).message
    throw new Error(`Redis (${describeRedis(settings.mode)}) not reachable within ${settings.connectTimeoutMs} ms: ${reason}`)
  } finally {
    clearTimeout(timer)
    if (onReady) client.off('ready', onReady)
    client.off('error', onError)
  }
}
