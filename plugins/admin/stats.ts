import type { FastifyInstance } from 'fastify'
import { VERSION } from '../../src/version.js'
import type { Stats } from './schemas.js'

/** Sums a metric's samples (those `keep` accepts), read through the metrics registry as a scrape would. */
async function total (app: FastifyInstance, name: string, keep: (labels: Record<string, string | number>) => boolean = () => true): Promise<number> {
  const metric = app.metrics.registry.getSingleMetric(name)
  if (metric === undefined) return 0
  const { values } = await metric.get()
  return values.filter((v) => keep(v.labels as Record<string, string | number>)).reduce((sum, v) => sum + v.value, 0)
}

/** GET /v1/admin/stats: this instance at a glance (the `/stats` of the services Switchboard replaces). */
export async function collectStats (app: FastifyInstance, self: { instanceId: string, startedAt: number }): Promise<Stats> {
  const { registry } = app
  const [health, relayed, refused] = await Promise.all([
    registry.healthy(),
    total(app, 'switchboard_messages_total', (labels) => labels.outcome === 'delivered' || labels.outcome === 'queued'),
    total(app, 'switchboard_messages_refused_total')
  ])
  const { rooms, peers } = registry.stats()
  const memory = process.memoryUsage()
  return {
    instanceId: self.instanceId,
    version: VERSION,
    uptimeSeconds: Math.round((Date.now() - self.startedAt) / 1000),
    registry: { kind: registry.kind, healthy: health.ok, ...(health.detail !== undefined && { detail: health.detail }) },
    connections: app.signaling.hub.connections.size,
    rooms,
    peers,
    memory: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed },
    messages: { relayed, refused }
  }
}
