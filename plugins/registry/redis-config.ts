import type { Config } from '../../src/config.js'

/** The Redis-related subset of Config (kept structural so src/config.ts can call the check below). */
type RedisConfig = Pick<Config,
  'REDIS_URL' | 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME' | 'REDIS_SENTINEL_PASSWORD' | 'REDIS_CLUSTER_NODES' |
  'REDIS_USERNAME' | 'REDIS_PASSWORD' | 'REDIS_TLS' | 'REDIS_TLS_CA_FILE' | 'REDIS_INSTANCE_TTL_SECONDS' | 'REDIS_REAP_INTERVAL_SECONDS'>

export interface HostPort { host: string, port: number }

export type RedisMode =
  | { kind: 'url', url: string }
  | { kind: 'sentinel', sentinels: HostPort[], name: string }
  | { kind: 'cluster', nodes: HostPort[] }

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/

/** `host:port,host:port` (IPv6 as `[::1]:6379`); undefined when an entry is malformed. */
export function parseHostPorts (value: string): HostPort[] | undefined {
  const entries = value.split(',').map((s) => s.trim()).filter(Boolean)
  const parsed: HostPort[] = []
  for (const entry of entries) {
    const m = HOST_PORT.exec(entry)
    const port = Number(m?.[2])
    if (!m?.[1] || port < 1 || port > 65535) return undefined
    parsed.push({ host: m[1].replace(/^\[|\]$/g, ''), port })
  }
  return parsed.length > 0 ? parsed : undefined
}

/** Which Redis deployment the config names, or undefined for the in-memory registry. Call after the check below. */
export function redisMode (config: RedisConfig): RedisMode | undefined {
  if (config.REDIS_URL) return { kind: 'url', url: config.REDIS_URL }
  if (config.REDIS_SENTINELS) {
    return { kind: 'sentinel', sentinels: parseHostPorts(config.REDIS_SENTINELS) ?? [], name: config.REDIS_SENTINEL_NAME ?? '' }
  }
  if (config.REDIS_CLUSTER_NODES) return { kind: 'cluster', nodes: parseHostPorts(config.REDIS_CLUSTER_NODES) ?? [] }
  return undefined
}

/** Cross-variable rules for the Redis settings; the message names the variables (checkConfig throws it). */
export function redisConfigProblem (config: RedisConfig): string | undefined {
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
