import type { ServerMessageType } from './messages.js'

/**
 * Protocol constants, defined once for both sides: the server imports them from here
 * (plugins/signaling/messages.ts re-exports them), so this file imports nothing and stays small
 * enough for browsers. test/client/protocol-drift.test.ts checks the rest of what both sides name.
 */

/** The subprotocol the server selects. */
export const SUBPROTOCOL = 'switchboard.v1'
/** Browsers cannot set headers on a WebSocket: the token rides as an extra subprotocol `bearer.<jwt>`. */
export const BEARER_SUBPROTOCOL_PREFIX = 'bearer.'
export const SIGNAL_PATH = '/v1/signal'
export const PREFLIGHT_PATH = '/v1/signal/preflight'
export const TURN_CREDENTIALS_PATH = '/v1/turn/credentials'

/** WebSocket close codes the server sends (4000-4999 are application-defined). */
export const ServerCloseCode = {
  GOING_AWAY: 1001,
  INVALID_UTF8: 1007,
  POLICY: 1008,
  TOO_BIG: 1009,
  TOKEN_EXPIRED: 4001,
  HEARTBEAT_TIMEOUT: 4002,
  /** The integrator revoked the user's sessions (admin API): the session is over and the token refused. */
  SESSIONS_REVOKED: 4003,
  SLOW_CONSUMER: 4008,
  SESSION_REPLACED: 4009,
  /**
   * The instance holding this socket was presumed dead (stalled, or cut off from Redis, for longer
   * than its liveness TTL) and another instance adopted the session: no other socket holds it, so
   * resume at once (through the load balancer); the session and its messages are there.
   */
  SESSION_MOVED: 4010,
  RATE_LIMIT_ABUSE: 4029
} as const

/** Close codes the server sends, plus the two the client itself uses. */
export const CloseCode = {
  /** The client ends its session: the server removes it from its rooms at once (peer-left `left`). */
  NORMAL: 1000,
  ...ServerCloseCode,
  /** Sent by this client when it drops a socket to reconnect (drain, unresponsive server): the session stays resumable. */
  CLIENT_RECONNECTING: 4000
} as const

/** Candidate types a `stats` report may name (of the selected pair's local candidate; unknown before one is selected). */
export const CANDIDATE_TYPES = ['host', 'srflx', 'prflx', 'relay', 'unknown'] as const

/** Every `joined` lists each member's meta, so it is kept small (capacity × meta bounds that message). */
export const MAX_META_BYTES = 2048

/**
 * Refusals that say "not now" rather than "no": the registry (Redis) is unreachable, a rate limit
 * was hit, or the identity provider's keys are being fetched again. The client retries these with
 * backoff (as it does any HTTP 503); every other code is final and surfaced as it is.
 */
export const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  'SWB_REGISTRY_UNAVAILABLE',
  'SWB_RATE_LIMITED',
  'SWB_AUTH_JWKS_UNAVAILABLE'
])

/** Messages that advance `seq` and are replayed on resume; the others are transient. */
export const REPLAYED_TYPES: ReadonlySet<ServerMessageType> = new Set<ServerMessageType>([
  'joined', 'left', 'peer-joined', 'peer-left', 'offer', 'answer', 'candidate', 'message', 'room-ended', 'removed'
])

/**
 * Whether a socket that closed with `code` (after its welcome) should be reopened and resumed.
 * 1000 is our own goodbye; 4009 means another connection took the session over (reconnecting would
 * steal it back and forth); 4001 is only recoverable with a token function that can mint a new token;
 * 4003 is a logout by the integrator (the session is over and the token refused).
 */
export function reconnectableClose (code: number, canRenewToken: boolean): boolean {
  switch (code) {
    case CloseCode.NORMAL:
    case CloseCode.POLICY:
    case CloseCode.SESSION_REPLACED:
    case CloseCode.SESSIONS_REVOKED:
      return false
    case CloseCode.TOKEN_EXPIRED:
      return canRenewToken
    default:
      return true
  }
}
