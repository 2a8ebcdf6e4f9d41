import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { HotCounter, HotHistogram } from './hot-path.js'

/**
 * Every Switchboard metric. Labels are bounded sets (message types, outcomes, error codes, providers,
 * candidate types): never a room, user or peer id, so cardinality cannot grow with traffic.
 */
/** Live sizes read at scrape time; the registry and signaling plugins fill them in. */
export interface GaugeSources {
  rooms?: () => number
  peers?: () => number
  connections?: () => number
  /** Running totals kept by the room registry (see RegistryCounters). */
  registry?: () => { crossInstanceDeliveries: number, commandErrors: number, reconnections: number }
  /** The webhook queue, while webhooks are on (with Redis: the shared queue, the same from every instance). */
  webhooks?: { depth (): Promise<number>, oldestAgeSeconds (): Promise<number> }
}

export function createMetrics (sources: GaugeSources = {}) {
  // One registry per app instance: tests build many apps in one process.
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  /** A counter that mirrors a running total kept elsewhere, advanced at scrape time. */
  const mirrored = (name: string, help: string, read: () => number | undefined): Counter => {
    let seen = 0
    return new Counter({
      name,
      help,
      registers: [registry],
      collect () {
        const total = read() ?? 0
        if (total > seen) this.inc(total - seen)
        seen = Math.max(seen, total)
      }
    })
  }
  const m = {
    registry,
    sources,
    wsConnections: new Gauge({
      name: 'switchboard_ws_connections',
      help: 'Open signaling WebSocket connections on this instance',
      registers: [registry],
      collect () { this.set(sources.connections?.() ?? 0) }
    }),
    wsConnectionsTotal: new Counter({ name: 'switchboard_ws_connections_total', help: 'Signaling connections accepted', labelNames: ['resumed'] as const, registers: [registry] }),
    wsClosesTotal: new Counter({ name: 'switchboard_ws_closes_total', help: 'Signaling connections closed, by close code', labelNames: ['code'] as const, registers: [registry] }),
    rooms: new Gauge({
      name: 'switchboard_rooms',
      help: 'Rooms with at least one peer (as the registry sees them)',
      registers: [registry],
      collect () { this.set(sources.rooms?.() ?? 0) }
    }),
    peers: new Gauge({
      name: 'switchboard_peers',
      help: 'Peer sessions, connected or within their resume grace period',
      registers: [registry],
      collect () { this.set(sources.peers?.() ?? 0) }
    }),
    // Once per relayed message: plain numbers, made into samples at scrape time (hot-path.ts).
    messagesTotal: new HotCounter(registry, 'switchboard_messages_total',
      'Server messages for peers by type and outcome: delivered (to a live socket), queued (peer away, kept for resume), dropped (no such peer)',
      ['type', 'outcome']),
    refusedTotal: new Counter({ name: 'switchboard_messages_refused_total', help: 'Client messages refused, by error code', labelNames: ['code'] as const, registers: [registry] }),
    relayLatency: new HotHistogram(registry, 'switchboard_relay_latency_seconds',
      'Time from receiving a client message to handing it to the recipient\'s connection or queue',
      'type', [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]),
    slowConsumerTotal: new Counter({ name: 'switchboard_slow_consumer_disconnects_total', help: 'Connections closed because they did not read fast enough', registers: [registry] }),
    heartbeatTimeoutTotal: new Counter({ name: 'switchboard_heartbeat_timeouts_total', help: 'Connections terminated for missing a heartbeat', registers: [registry] }),
    sessionsEndedTotal: new Counter({ name: 'switchboard_sessions_ended_total', help: 'Peer sessions ended', labelNames: ['reason'] as const, registers: [registry] }),
    turnIssuedTotal: new Counter({ name: 'switchboard_turn_credentials_issued_total', help: 'TURN credentials issued', labelNames: ['provider'] as const, registers: [registry] }),
    turnFailuresTotal: new Counter({ name: 'switchboard_turn_credential_failures_total', help: 'TURN credential requests that failed, by reason code', labelNames: ['provider', 'reason'] as const, registers: [registry] }),
    jwtRejectionsTotal: new Counter({ name: 'switchboard_jwt_rejections_total', help: 'Requests and upgrades refused by JWT verification, by reason code', labelNames: ['reason'] as const, registers: [registry] }),
    rateLimitedTotal: new Counter({ name: 'switchboard_rate_limit_rejections_total', help: 'Requests or messages refused by a rate limit', labelNames: ['scope'] as const, registers: [registry] }),
    callRtt: new Histogram({
      name: 'switchboard_call_rtt_seconds',
      help: 'Round-trip time reported by clients for their selected ICE candidate pair',
      labelNames: ['candidate_type'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2],
      registers: [registry]
    }),
    callJitter: new Histogram({
      name: 'switchboard_call_jitter_seconds',
      help: 'Inbound jitter reported by clients',
      labelNames: ['candidate_type'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2],
      registers: [registry]
    }),
    callPacketLoss: new Histogram({
      name: 'switchboard_call_packet_loss_ratio',
      help: 'Inbound packet loss ratio (0-1) reported by clients',
      labelNames: ['candidate_type'] as const,
      buckets: [0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
      registers: [registry]
    }),
    callBitrate: new Histogram({
      name: 'switchboard_call_bitrate_bps',
      help: 'Outbound bitrate reported by clients',
      labelNames: ['candidate_type'] as const,
      buckets: [16e3, 32e3, 64e3, 128e3, 256e3, 512e3, 1e6, 2e6, 4e6, 8e6],
      registers: [registry]
    }),
    crossInstanceTotal: mirrored('switchboard_cross_instance_deliveries_total', 'Messages handed to another instance (through Redis) for a peer connected there',
      () => sources.registry?.().crossInstanceDeliveries),
    redisErrorsTotal: mirrored('switchboard_redis_command_errors_total', 'Registry commands that failed because Redis was unreachable, slow or refusing',
      () => sources.registry?.().commandErrors),
    redisReconnectionsTotal: mirrored('switchboard_redis_reconnections_total', 'Times the Redis connection came back after being lost',
      () => sources.registry?.().reconnections),
    callReportsTotal: new Counter({ name: 'switchboard_call_quality_reports_total', help: 'Call-quality reports received', labelNames: ['candidate_type'] as const, registers: [registry] }),
    webhookDeliveriesTotal: new Counter({
      name: 'switchboard_webhook_deliveries_total',
      help: 'Webhook delivery outcomes by event type: delivered (2xx), failed (an attempt that failed), dropped (an event given up after its last attempt, or pending at shutdown), overflow (queue full)',
      labelNames: ['type', 'outcome'] as const,
      registers: [registry]
    }),
    webhookQueueDepth: new Gauge({
      name: 'switchboard_webhook_queue_depth',
      help: 'Webhook events pending delivery, summed over the endpoints',
      registers: [registry],
      async collect () { await sampleQueue(this, async (q) => q.depth()) }
    }),
    webhookOldestPending: new Gauge({
      name: 'switchboard_webhook_oldest_pending_seconds',
      help: 'Age of the oldest webhook event pending delivery',
      registers: [registry],
      async collect () { await sampleQueue(this, async (q) => q.oldestAgeSeconds()) }
    })
  }
  /** A scrape must not fail because Redis is slow: the gauge keeps its last good value. */
  async function sampleQueue (gauge: Gauge, read: (q: NonNullable<GaugeSources['webhooks']>) => Promise<number>): Promise<void> {
    const queue = sources.webhooks
    if (queue === undefined) return
    try {
      gauge.set(await read(queue))
    } catch {}
  }
  return m
}

export type Metrics = ReturnType<typeof createMetrics>
