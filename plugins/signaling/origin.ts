import type { FastifyRequest } from 'fastify'
import { list } from '../../src/config.js'

/**
 * Browsers always send Origin on a WebSocket upgrade and CORS does not protect sockets, so we check it:
 * allowed when absent (native/Node clients), same-origin (the demo page), or listed in CORS_ORIGINS.
 */
export function originAllowed (request: FastifyRequest, corsOrigins: string): boolean {
  const origin = request.headers.origin
  if (origin === undefined) return true
  const allowed = list(corsOrigins)
  if (allowed.includes('*') || allowed.includes(origin)) return true
  try {
    return new URL(origin).host === request.host
  } catch {
    return false
  }
}
