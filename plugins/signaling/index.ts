import fp from 'fastify-plugin'
import { createObserver } from './observer.js'
import { SignalingHub } from './hub.js'
import type { RoomEvents } from './events.js'
import signalingRoutes from './routes.js'

declare module 'fastify' {
  interface FastifyInstance {
    signaling: {
      hub: SignalingHub
      /** Room lifecycle moments (room ended, peer removed, sessions revoked) for integrations such as webhooks. */
      events: RoomEvents
      /** Turns readiness off, refuses joins, tells clients to reconnect, closes the rest after `deadlineMs`. */
      drain (deadlineMs?: number): Promise<void>
    }
  }
}

/**
 * Signaling: the hub (live connections, grace timers, heartbeat, drain) as `app.signaling`, and the
 * WebSocket route in its own encapsulated plugin (routes.ts).
 */
export default fp(async (app) => {
  const config = app.config
  const hub = new SignalingHub(config, app.registry, app.auth, createObserver(app.metrics, app.audit), app.log.child({ component: 'signaling' }))
  Object.assign(app.metrics.sources, {
    connections: () => hub.connections.size,
    rooms: () => app.registry.stats().rooms,
    peers: () => app.registry.stats().peers,
    registry: () => app.registry.counters
  })

  app.decorate('signaling', {
    hub,
    events: hub.events,
    async drain (deadlineMs = config.SHUTDOWN_DRAIN_SECONDS * 1000) {
      app.health.startDraining()
      await hub.drain(deadlineMs)
    }
  })

  // The routes and the WebSocket server live in their own (encapsulated) context.
  await app.register(signalingRoutes, { hub })
}, { fastify: '5.x', name: 'switchboard-signaling', dependencies: ['switchboard-auth', 'switchboard-registry', 'switchboard-health', 'switchboard-metrics', 'switchboard-audit'] })
