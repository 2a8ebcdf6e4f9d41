import type { FastifyBaseLogger } from 'fastify'
import type { QueuedEvent, WebhookEventType } from './events.js'
import { webhookHeaders } from './signer.js'

export interface DeliverySettings {
  maxAttempts: number
  /** Delay before the first retry; each next one doubles. */
  retryBaseMs: number
  timeoutMs: number
}

/** Time as delivery sees it; tests may pass their own. */
export interface Clock {
  now (): number
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep (ms: number, signal: AbortSignal): Promise<void>
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: async (ms, signal) => new Promise<void>((resolve) => {
    if (signal.aborted) return resolve()
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}

/** Requests to one endpoint at a time, at most (per instance). */
const MAX_CONCURRENT_ATTEMPTS = 16

/** What one attempt or one event came to, as counted by `switchboard_webhook_deliveries_total`. */
export type DeliveryOutcome = 'delivered' | 'failed' | 'dropped' | 'overflow'
export type Report = (type: WebhookEventType, outcome: DeliveryOutcome) => void

/**
 * The delay before retry `n` (1 = the first retry): base × 2^(n-1), ±25 % jitter so that the
 * retries of many events, or of many instances, do not hit a recovering endpoint all at once.
 */
export function retryDelayMs (retry: number, baseMs: number, random: () => number = Math.random): number {
  return baseMs * 2 ** (retry - 1) * (0.75 + 0.5 * random())
}

/**
 * One endpoint: signs and posts an event until a 2xx acknowledges it or the attempts run out (then
 * it is dropped, counted and logged, ids only). Any other answer, a timeout or a network error is a
 * failed attempt. The id and body are the same on every attempt; the timestamp is the attempt's.
 */
export class Endpoint {
  /** For logs: where, without path, query or credentials. */
  readonly label: string
  /** Attempts in flight, and the ones waiting for a slot: a backlog of many rooms must not open hundreds of requests at once. */
  private active = 0
  private readonly waiting: Array<() => void> = []

  constructor (
    readonly url: string,
    private readonly keys: readonly Buffer[],
    private readonly settings: DeliverySettings,
    private readonly clock: Clock,
    private readonly report: Report,
    private readonly log: FastifyBaseLogger
  ) {
    this.label = new URL(url).host
  }

  /** 'aborted' when `signal` stopped it (shutdown, or another instance took over): the event stays pending. */
  async deliver (event: QueuedEvent, signal: AbortSignal): Promise<'delivered' | 'dropped' | 'aborted'> {
    let last = ''
    for (let attempt = 1; attempt <= this.settings.maxAttempts; attempt++) {
      if (attempt > 1) await this.clock.sleep(retryDelayMs(attempt - 1, this.settings.retryBaseMs), signal)
      if (signal.aborted) return 'aborted'
      last = await this.attempt(event, signal)
      if (last === 'ok') {
        this.report(event.type, 'delivered')
        return 'delivered'
      }
      if (signal.aborted) return 'aborted'
      this.report(event.type, 'failed')
    }
    this.report(event.type, 'dropped')
    this.log.warn({ webhookId: event.id, type: event.type, room: event.room, endpoint: this.label, attempts: this.settings.maxAttempts, last },
      'webhook dropped after its last attempt')
    return 'dropped'
  }

  /** 'ok', or why it failed (an HTTP status or an error name): for the log line, never content. */
  private async attempt (event: QueuedEvent, signal: AbortSignal): Promise<string> {
    // A finished attempt hands its slot straight to the next waiting one.
    if (this.active >= MAX_CONCURRENT_ATTEMPTS) await new Promise<void>((resolve) => this.waiting.push(resolve))
    else this.active++
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: webhookHeaders(this.keys, event.id, event.body, this.clock.now()),
        body: event.body,
        redirect: 'manual',
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.settings.timeoutMs)])
      })
      // Read to the end so the connection goes back to the pool; what it says does not matter.
      await res.arrayBuffer().catch(() => {})
      return res.status >= 200 && res.status < 300 ? 'ok' : `HTTP ${res.status}`
    } catch (err) {
      return (err as Error).name
    } finally {
      const next = this.waiting.shift()
      if (next !== undefined) next()
      else this.active--
    }
  }
}
