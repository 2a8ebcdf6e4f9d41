import type { ServerMessageType } from '../plugins/signaling/messages.js'

/**
 * Protocol constants the client needs at run time. The server's copies live in
 * plugins/signaling/messages.ts, but importing values from there would bundle TypeBox and server
 * code into browsers, so they are repeated here; test/client/protocol.test.ts keeps them equal.
 */

/** The subprotocol the server selects. */
export const SUBPROTOCOL = 'switchboard.v1'
/** Browsers cannot set headers on a WebSocket: the token rides as an extra subprotocol `bearer.<jwt>`. */
export const BEARER_SUBPROTOCOL_PREFIX = 'bearer.'
export const SIGNAL_PATH = '/v1/signal'
export const PREFLIGHT_PATH = '/v1/signal/preflight'
export const TURN_CREDENTIALS_PATH = '/v1/turn/credentials'

/** Close codes the server sends, plus the two the client itself uses. */
export const CloseCode = {
  /** The client ends its session: the server removes it from its rooms at once (peer-left `left`). */
  NORMAL: 1000,
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
  RATE_LIMIT_ABUSE: 4029,
  /** Sent by this client when it drops a socket to reconnect (drain, unresponsive server): the session stays resumable. */
  CLIENT_RECONNECTING: 4000
} as const

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
