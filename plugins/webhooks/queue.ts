import type { QueuedEvent } from './events.js'

/**
 * Where emitted events wait until every endpoint has them (or gave up): in this process, or in Redis
 * streams shared by every instance. Enqueueing never throws and never waits for delivery.
 */
export interface WebhookQueue {
  enqueue (event: QueuedEvent): void
  /** Pending events, summed over the endpoints. */
  depth (): Promise<number>
  /** Age of the oldest pending event (0 when none). */
  oldestAgeSeconds (): Promise<number>
  /** Stops delivering; the memory queue first delivers what it can within `deadlineMs`. */
  close (deadlineMs: number): Promise<void>
}
