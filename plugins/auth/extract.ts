import type { FastifyRequest } from 'fastify'
import { BEARER_SUBPROTOCOL_PREFIX, SUBPROTOCOL } from '../../client/protocol.js'

/** Subprotocol a Switchboard WebSocket client offers; the server must select this one, never the bearer entry. */
export const SIGNALING_SUBPROTOCOL = SUBPROTOCOL
/** Browsers cannot set headers on a WebSocket, so the token rides as a subprotocol `bearer.<jwt>` (defined with the client's constants). */
export { BEARER_SUBPROTOCOL_PREFIX }
/** Query parameter name for the token on WebSocket upgrades (RFC 6750 §2.3). */
export const ACCESS_TOKEN_QUERY = 'access_token'

const BEARER_HEADER = /^Bearer[ ]+([^\s]+)[ ]*$/i

function single (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

/** The `bearer.<jwt>` entry of a Sec-WebSocket-Protocol header, if any. */
export function tokenFromSubprotocols (header: string | undefined): string | undefined {
  if (!header) return undefined
  for (const offered of header.split(',')) {
    const protocol = offered.trim()
    if (protocol.startsWith(BEARER_SUBPROTOCOL_PREFIX) && protocol.length > BEARER_SUBPROTOCOL_PREFIX.length) {
      return protocol.slice(BEARER_SUBPROTOCOL_PREFIX.length)
    }
  }
  return undefined
}

/**
 * Finds the raw token: `Authorization: Bearer` first; on WebSocket upgrades (`allowQueryAndProtocol`)
 * then the `bearer.` subprotocol, then `?access_token=`. Query tokens are refused on plain HTTP because
 * URLs end up in proxy and browser logs; the socket case has no alternative in browsers.
 */
export function extractToken (request: FastifyRequest, allowQueryAndProtocol = false): string | undefined {
  const authorization = single(request.headers.authorization)
  const match = authorization ? BEARER_HEADER.exec(authorization) : null
  if (match?.[1]) return match[1]
  if (!allowQueryAndProtocol) return undefined

  const fromProtocol = tokenFromSubprotocols(single(request.headers['sec-websocket-protocol']))
  if (fromProtocol) return fromProtocol

  const query = request.query as Record<string, unknown> | undefined
  const fromQuery = query?.[ACCESS_TOKEN_QUERY]
  return typeof fromQuery === 'string' && fromQuery.length > 0 ? fromQuery : undefined
}

/** True for an HTTP request asking to become a WebSocket (the only place query/subprotocol tokens count). */
export function isWebSocketUpgrade (request: FastifyRequest): boolean {
  return single(request.headers.upgrade)?.toLowerCase() === 'websocket'
}
