import type { FastifyBaseLogger } from 'fastify'
import type { Clock, Endpoint, Report } from './delivery.js'
import type { QueuedEvent } from './events.js'
import { RoomLanes } from './lanes.js'
import type { WebhookQueue } from './queue.js'

/** One endpoint's share: its lanes, and its pending events by id in the order they came (oldest first). */
interface Outbox {
  endpoint: Endpoint
  lanes: RoomLanes<QueuedEvent>
  pending: Map<string, QueuedEvent>
}

/**
 * One instance without Redis: a bounded queue per endpoint in this process. An event past the bound
 * is dropped and counted (`overflow`) rather than growing memory while an endpoint is down; a graceful
 * shutdown delivers what it can within the drain deadline, and counts the rest as dropped.
 */
export class MemoryQueue implements WebhookQueue {
  private readonly outboxes: Outbox[]
  private readonly abort = new AbortController()

  constructor (
    endpoints: Endpoint[],
    private readonly max: number,
    private readonly clock: Clock,
    private readonly report: Report,
    private readonly log: FastifyBaseLogger
  ) {
    this.outboxes = endpoints.map((endpoint) => {
      const pending = new Map<string, QueuedEvent>()
      const lanes = new RoomLanes<QueuedEvent>(async (event) => {
        const result = await endpoint.deliver(event, this.abort.signal)
        if (result !== 'aborted') pending.delete(event.id)
      })
      return { endpoint, lanes, pending }
    })
  }

  enqueue (event: QueuedEvent): void {
    for (const outbox of this.outboxes) {
      if (outbox.pending.size >= this.max) {
        this.report(event.type, 'overflow')
        this.log.warn({ webhookId: event.id, type: event.type, room: event.room, endpoint: outbox.endpoint.label, max: this.max },
          'webhook queue full: event dropped')
        continue
      }
      outbox.pending.set(event.id, event)
      outbox.lanes.push(event)
    }
  }

  async depth (): Promise<number> {
    return this.outboxes.reduce((sum, o) => sum + o.pending.size, 0)
  }

  async oldestAgeSeconds (): Promise<number> {
    let oldest = Infinity
    for (const o of this.outboxes) {
      const first = o.pending.values().next().value
      if (first !== undefined) oldest = Math.min(oldest, first.queuedAt)
    }
    return oldest === Infinity ? 0 : Math.max(0, (this.clock.now() - oldest) / 1000)
  }

  async close (deadlineMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, deadlineMs) })
    await Promise.race([Promise.all(this.outboxes.map(async (o) => o.lanes.idle())), deadline])
    clearTimeout(timer)
    this.abort.abort()
    for (const o of this.outboxes) {
      o.lanes.stop()
      if (o.pending.size === 0) continue
      for (const event of o.pending.values()) this.report(event.type, 'dropped')
      this.log.warn({ endpoint: o.endpoint.label, events: o.pending.size }, 'webhooks still pending at the shutdown deadline: dropped')
      o.pending.clear()
    }
  }
}
