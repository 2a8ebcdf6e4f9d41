import { ERROR_PREFIX } from '../../src/errors.js'

/**
 * Codes of WebSocket `error` messages and welcome `resumeError`s. Stable: clients branch on them.
 * HTTP refusals of the upgrade itself use problem+json with the same kind of codes.
 */
export const SignalCode = {
  MALFORMED_JSON: `${ERROR_PREFIX}_MALFORMED_JSON`,
  UNKNOWN_TYPE: `${ERROR_PREFIX}_UNKNOWN_TYPE`,
  INVALID_MESSAGE: `${ERROR_PREFIX}_INVALID_MESSAGE`,
  MESSAGE_TOO_LARGE: `${ERROR_PREFIX}_MESSAGE_TOO_LARGE`,
  RATE_LIMITED: `${ERROR_PREFIX}_RATE_LIMITED`,
  ROOM_FULL: `${ERROR_PREFIX}_ROOM_FULL`,
  ROOM_FORBIDDEN: `${ERROR_PREFIX}_ROOM_FORBIDDEN`,
  TOO_MANY_ROOMS: `${ERROR_PREFIX}_TOO_MANY_ROOMS`,
  NOT_IN_ROOM: `${ERROR_PREFIX}_NOT_IN_ROOM`,
  PEER_NOT_IN_ROOM: `${ERROR_PREFIX}_PEER_NOT_IN_ROOM`,
  DRAINING: `${ERROR_PREFIX}_DRAINING`,
  TOO_MANY_CONNECTIONS: `${ERROR_PREFIX}_TOO_MANY_CONNECTIONS`,
  REFRESH_REJECTED: `${ERROR_PREFIX}_REFRESH_REJECTED`,
  REGISTRY_UNAVAILABLE: `${ERROR_PREFIX}_REGISTRY_UNAVAILABLE`,
  INTERNAL: `${ERROR_PREFIX}_INTERNAL`,
  RESUME_UNKNOWN: `${ERROR_PREFIX}_RESUME_UNKNOWN`,
  RESUME_EXPIRED: `${ERROR_PREFIX}_RESUME_EXPIRED`,
  RESUME_OVERFLOW: `${ERROR_PREFIX}_RESUME_OVERFLOW`,
  RESUME_BAD_SEQ: `${ERROR_PREFIX}_RESUME_BAD_SEQ`,
  RESUME_FORBIDDEN: `${ERROR_PREFIX}_RESUME_FORBIDDEN`
} as const
export type SignalCode = typeof SignalCode[keyof typeof SignalCode]

/** A refusal raised inside a message handler, sent to the client as an `error` message. */
export class SignalError extends Error {
  constructor (readonly code: SignalCode, message: string) {
    super(message)
    this.name = 'SignalError'
  }
}
