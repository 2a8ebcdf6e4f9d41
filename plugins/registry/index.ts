import fp from 'fastify-plugin'
import { MemoryRegistry } from './memory-registry.js'
import type { RoomRegistry } from './types.js'

declare module 'fastify' {
  interface FastifyInstance { registry: RoomRegistry }
}

/** The room registry: in-memory by default (one instance, no Redis needed). */
export default fp(async (app) => {
  const registry: RoomRegistry = new MemoryRegistry({
    bufferMessages: app.config.RESUME_BUFFER_MESSAGES,
    bufferBytes: app.config.RESUME_BUFFER_BYTES
  })
  app.decorate('registry', registry)
  app.health.addCheck('registry', () => registry.healthy())
  app.addHook('onClose', async () => registry.close())
}, { fastify: '5.x', name: 'switchboard-registry', dependencies: ['switchboard-health'] })
