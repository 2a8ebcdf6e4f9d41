import fp from 'fastify-plugin'
import { list } from '../../src/env-list.js'
import { redisConnectionSettings } from '../registry/redis-connection.js'
import { webhookKeys } from './config.js'
import { Endpoint, systemClock, type Report } from './delivery.js'
import { prepareEvent, type WebhookEvent } from './events.js'
import { membershipEvents } from './listener.js'
import { MemoryQueue } from './memory-queue.js'
import type { WebhookQueue } from './queue.js'
import { RedisQueue } from './redis-queue.js'

export interface Webhooks {
  readonly enabled: boolean
  /**
   * Queues one event for every endpoint; never throws, never waits. The registry's membership
   * changes arrive here on their own; operations that end rooms or remove peers for other reasons
   * (the admin API, a room's maximum duration) emit theirs through it.
   */
  emit (event: WebhookEvent): void
  /** The queue, while webhooks are on (metrics and tests read it). */
  readonly queue?: WebhookQueue
}

declare module 'fastify' {
  interface FastifyInstance { webhooks: Webhooks }
}

/**
 * Signed webhooks (Standard Webhooks 1.0) for room and peer lifecycle events (docs/webhooks.md), to
 * every WEBHOOK_URLS endpoint, at least once and in order per room. In memory (one instance), or
 * through Redis streams shared by every instance. Registered before the registry: its onClose runs
 * after the registry's, so the departures a closing in-memory registry reports are still delivered.
 */
export default fp(async (app) => {
  const config = app.config
  const urls = list(config.WEBHOOK_URLS)
  const keys = webhookKeys(config.WEBHOOK_SECRET)
  if (urls.length === 0 || keys === undefined || keys.length === 0) {
    app.decorate('webhooks', { enabled: false, emit () {} })
    return
  }
  const log = app.log.child({ component: 'webhooks' })
  // Labels are event types and outcomes: bounded sets.
  const report: Report = (type, outcome) => app.metrics.webhookDeliveriesTotal.inc({ type, outcome })
  const settings = { maxAttempts: config.WEBHOOK_MAX_ATTEMPTS, retryBaseMs: config.WEBHOOK_RETRY_BASE_SECONDS * 1000, timeoutMs: config.WEBHOOK_TIMEOUT_SECONDS * 1000 }
  const endpoints = urls.map((url) => new Endpoint(url, keys, settings, systemClock, report, log))
  const redis = redisConnectionSettings(config)
  const queue: WebhookQueue = redis === undefined
    ? new MemoryQueue(endpoints, config.WEBHOOK_QUEUE_MAX, systemClock, report, log)
    : await RedisQueue.connect(endpoints, {
      settings: redis,
      keyPrefix: config.REDIS_KEY_PREFIX,
      leaseMs: Math.round(config.REDIS_INSTANCE_TTL_SECONDS * 1000),
      max: config.WEBHOOK_QUEUE_MAX
    }, systemClock, report, log)
  // Depth and the oldest event's age are read from the queue at scrape time.
  app.metrics.sources.webhooks = queue

  const emit = (event: WebhookEvent): void => {
    try {
      queue.enqueue(prepareEvent(event, systemClock.now()))
    } catch (err) {
      log.error({ err: { message: (err as Error).message }, type: event.type }, 'could not queue a webhook event')
    }
  }
  app.decorate('webhooks', { enabled: true, emit, queue })
  log.info({ endpoints: endpoints.map((e) => e.label), queue: redis === undefined ? 'memory' : 'redis' }, 'webhooks on')
  // The registry is registered after this plugin; no session exists before ready.
  // With Redis the registry records the events in its rooms' outboxes and moves them into the queue
  // (in the order of each room's changes, and durably); in memory it reports them as it decides them.
  const listener = membershipEvents(emit)
  app.addHook('onReady', async () => { app.registry.watch(queue instanceof RedisQueue ? { ...listener, recorded: queue } : listener) })
  app.addHook('onClose', async () => queue.close(config.SHUTDOWN_DRAIN_SECONDS * 1000))
}, { fastify: '5.x', name: 'switchboard-webhooks', dependencies: ['switchboard-metrics'] })
