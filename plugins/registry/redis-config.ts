import type { RegistryConfig } from './config.js'

/** The subset of the registry config that names the Redis deployment (structural, so a full Config fits). */
type RedisConfig = Pick<RegistryConfig, 'REDIS_URL' | 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME' | 'REDIS_CLUSTER_NODES'>

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

/** Which Redis deployment the config names, or undefined for the in-memory registry. Call after redisConfigProblem (./config.ts) passed. */
export function redisMode (config: RedisConfig): RedisMode | undefined {
  if (config.REDIS_URL) return { kind: 'url', url: config.REDIS_URL }
  if (config.REDIS_SENTINELS) {
    return { kind: 'sentinel', sentinels: parseHostPorts(config.REDIS_SENTINELS) ?? [], name: config.REDIS_SENTINEL_NAME ?? '' }
  }
  if (config.REDIS_CLUSTER_NODES) return { kind: 'cluster', nodes: parseHostPorts(config.REDIS_CLUSTER_NODES) ?? [] }
  return undefined
}
