import { Counter, Gauge, type Registry } from 'prom-client'
import type { Report } from './delivery.js'
import type { WebhookQueue } from './queue.js'

/**
 * The webhook metrics, on the app's registry: deliveries by event type and outcome (`delivered`: a
 * 2xx; `failed`: an attempt that will be retried; `dropped`: given up after the last attempt, or
 * still pending at shutdown; `overflow`: the queue was full), the queue depth and the age of the
 * oldest pending event. With Redis the last two are the shared queue's, the same on every instance.
 */
export function webhookMetrics (registry: Registry, queue: () => WebhookQueue | undefined): Report {
  const deliveries = new Counter({
    name: 'switchboard_webhook_deliveries_total',
    help: 'Webhook delivery outcomes by event type: delivered, failed (attempt to be retried), dropped (gave up), overflow (queue full)',
    labelNames: ['type', 'outcome'] as const,
    registers: [registry]
  })
  /** A scrape must not fail because Redis is slow: the last good value stays. */
  const sample = (read: (q: WebhookQueue) => Promise<number>) => async function (this: Gauge) {
    const q = queue()
    if (q === undefined) return
    try {
      this.set(await read(q))
    } catch {}
  }
  new Gauge({ name: 'switchboard_webhook_queue_depth', help: 'Webhook events pending delivery (summed over endpoints)', registers: [registry], collect: sample(async (q) => q.depth()) })
  new Gauge({ name: 'switchboard_webhook_oldest_pending_seconds', help: 'Age of the oldest webhook event pending delivery', registers: [registry], collect: sample(async (q) => q.oldestAgeSeconds()) })
  return (type, outcome) => deliveries.inc({ type, outcome })
}
