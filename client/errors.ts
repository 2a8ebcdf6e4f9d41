/**
 * Errors the client raises. `code` is either a server code (an `error` message, a welcome
 * `resumeError`, or the `code` of an HTTP problem) or one of the client's own SWB_CLIENT_* codes.
 */
export const ClientErrorCode = {
  /** A message was sent before connect() was called. */
  NOT_CONNECTED: 'SWB_CLIENT_NOT_CONNECTED',
  /** close() was called (or the connection ended for good) while the request was outstanding. */
  CLOSED: 'SWB_CLIENT_CLOSED',
  /** More messages were sent while disconnected than `maxQueuedMessages`. */
  QUEUE_FULL: 'SWB_CLIENT_QUEUE_FULL',
  /** No answer (welcome, joined, left, pong) within the configured time. */
  TIMEOUT: 'SWB_CLIENT_TIMEOUT',
  /** The HTTP request itself failed (offline, DNS, TLS, CORS). */
  NETWORK: 'SWB_CLIENT_NETWORK',
  /** The WebSocket closed before the welcome and no better reason is known. */
  CONNECT_FAILED: 'SWB_CLIENT_CONNECT_FAILED',
  /** The token function threw or returned something other than a non-empty string. */
  TOKEN_UNAVAILABLE: 'SWB_CLIENT_TOKEN_UNAVAILABLE',
  /** The server answered something this client does not understand. */
  BAD_RESPONSE: 'SWB_CLIENT_BAD_RESPONSE',
  /** The server selected no (or another) subprotocol: it does not speak switchboard.v1. */
  PROTOCOL_MISMATCH: 'SWB_CLIENT_PROTOCOL_MISMATCH',
  /** Checked before sending, with the server's own code: the message exceeds limits.maxMessageBytes. */
  MESSAGE_TOO_LARGE: 'SWB_MESSAGE_TOO_LARGE'
} as const

export interface SwitchboardErrorDetails {
  /** HTTP status, for errors that come from an HTTP problem response. */
  status?: number
  /** The `id` of the refused client message, for errors that come from an `error` message. */
  ref?: string
  /** From a Retry-After header, when the server sent one. */
  retryAfterMs?: number
  cause?: unknown
}

export class SwitchboardError extends Error {
  override name = 'SwitchboardError'
  readonly code: string
  readonly status: number | undefined
  readonly ref: string | undefined
  readonly retryAfterMs: number | undefined

  constructor (code: string, message: string, details: SwitchboardErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.code = code
    this.status = details.status
    this.ref = details.ref
    this.retryAfterMs = details.retryAfterMs
  }
}

/** Wraps anything thrown into a SwitchboardError with `fallbackCode`, keeping SwitchboardErrors as they are. */
export function asSwitchboardError (err: unknown, fallbackCode: string): SwitchboardError {
  if (err instanceof SwitchboardError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new SwitchboardError(fallbackCode, message, { cause: err })
}
