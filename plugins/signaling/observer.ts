import type { Metrics } from '../metrics/definitions.js'
import type { Audit } from '../audit/index.js'
import type { DeliveryOutcome } from '../registry/types.js'
import type { ClientMessageOf } from './messages.js'
import { SignalCode } from './errors.js'

/** Who did something; a refused connection has no peer id yet. */
export interface Who { peerId?: string, userId: string }

/**
 * What signaling reports as it works: counters and histograms for operators, and audit events for
 * security reviews. Only ids, room names, codes and numbers pass through here, never message content.
 */
export interface SignalingObserver {
  connected (who: Who, resumed: boolean): void
  disconnected (who: Who, code: number): void
  joined (who: Who, room: string, role: string | undefined): void
  left (who: Who, room: string): void
  sessionEnded (peerId: string, reason: 'left' | 'timeout' | 'revoked'): void
  /** A server message (joined, peer-left...) for one peer. */
  delivered (type: string, outcome: DeliveryOutcome): void
  /** A relayed client message reached its recipient's socket or replay buffer, `seconds` after it arrived. */
  relayed (type: string, outcome: 'delivered' | 'queued', seconds: number): void
  refused (who: Who, code: string): void
  slowConsumer (): void
  heartbeatTimeout (): void
  callQuality (report: ClientMessageOf<'stats'>): void
}

/** Children of the hot-path metrics, looked up by label values without building a key or label object. */
function labelCache<T> (make: (type: string, outcome: string) => T): (type: string, outcome: string) => T {
  const byType = new Map<string, Map<string, T>>()
  return (type, outcome) => {
    let byOutcome = byType.get(type)
    if (byOutcome === undefined) byType.set(type, byOutcome = new Map())
    let child = byOutcome.get(outcome)
    if (child === undefined) byOutcome.set(outcome, child = make(type, outcome))
    return child
  }
}

export function createObserver (metrics: Metrics, audit: Audit): SignalingObserver {
  const messages = labelCache((type, outcome) => metrics.messagesTotal.child(type, outcome))
  const latency = labelCache((type) => metrics.relayLatency.child(type))
  return {
    connected (who, resumed) {
      metrics.wsConnectionsTotal.inc({ resumed: String(resumed) })
      audit('signal.connect', { ...who, resumed })
    },
    disconnected (who, code) {
      metrics.wsClosesTotal.inc({ code: String(code) })
      audit('signal.disconnect', { ...who, closeCode: code })
    },
    joined (who, room, role) {
      audit('room.join', { ...who, room, role })
    },
    left (who, room) {
      audit('room.leave', { ...who, room, reason: 'left' })
    },
    sessionEnded (peerId, reason) {
      metrics.sessionsEndedTotal.inc({ reason })
      audit('session.end', { peerId, reason })
    },
    delivered (type, outcome) {
      messages(type, outcome).value++
    },
    relayed (type, outcome, seconds) {
      messages(type, outcome).value++
      latency(type, '').observe(seconds)
    },
    refused (who, code) {
      metrics.refusedTotal.inc({ code })
      // A flood of rate-limited frames is counted, not audited line by line (the abuse close is logged).
      if (code === SignalCode.RATE_LIMITED) metrics.rateLimitedTotal.inc({ scope: 'ws' })
      else audit('message.refused', { ...who, code })
    },
    slowConsumer () {
      metrics.slowConsumerTotal.inc()
    },
    heartbeatTimeout () {
      metrics.heartbeatTimeoutTotal.inc()
    },
    callQuality (report) {
      const labels = { candidate_type: report.candidateType }
      metrics.callReportsTotal.inc(labels)
      if (report.rttMs !== undefined) metrics.callRtt.observe(labels, report.rttMs / 1000)
      if (report.jitterMs !== undefined) metrics.callJitter.observe(labels, report.jitterMs / 1000)
      if (report.packetLoss !== undefined) metrics.callPacketLoss.observe(labels, report.packetLoss)
      if (report.bitrateBps !== undefined) metrics.callBitrate.observe(labels, report.bitrateBps)
    }
  }
}
