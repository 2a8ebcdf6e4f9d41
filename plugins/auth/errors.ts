import createError from '@fastify/error'
import { ERROR_PREFIX } from '../../src/errors.js'

/**
 * Auth failures. Every 401 carries an RFC 6750 challenge in `headers` (src/error-handler.ts applies it);
 * messages are fixed strings, so no token content or claim value can reach a response or a log line.
 */
export const TokenMissingError = createError(`${ERROR_PREFIX}_AUTH_TOKEN_MISSING`, 'No bearer token was presented', 401)
export const TokenExpiredError = createError(`${ERROR_PREFIX}_AUTH_TOKEN_EXPIRED`, 'The token has expired', 401)
export const TokenNotYetValidError = createError(`${ERROR_PREFIX}_AUTH_TOKEN_NOT_YET_VALID`, 'The token is not valid yet (nbf)', 401)
export const BadSignatureError = createError(`${ERROR_PREFIX}_AUTH_BAD_SIGNATURE`, 'The token signature cannot be verified', 401)
export const WrongAudienceError = createError(`${ERROR_PREFIX}_AUTH_WRONG_AUDIENCE`, 'The token is not meant for this service (aud)', 401)
export const WrongIssuerError = createError(`${ERROR_PREFIX}_AUTH_WRONG_ISSUER`, 'The token comes from an untrusted issuer (iss)', 401)
export const AlgorithmNotAllowedError = createError(`${ERROR_PREFIX}_AUTH_ALGORITHM_NOT_ALLOWED`, 'The token signing algorithm is not allowed', 401)
export const MalformedTokenError = createError(`${ERROR_PREFIX}_AUTH_MALFORMED_TOKEN`, 'The token is not a well-formed JWT', 401)
export const ClaimsInvalidError = createError(`${ERROR_PREFIX}_AUTH_CLAIMS_INVALID`, 'The token claims are missing or invalid', 401)
export const TokenRevokedError = createError(`${ERROR_PREFIX}_AUTH_TOKEN_REVOKED`, 'The user\'s sessions were revoked after this token was issued', 401)
export const JwksUnavailableError = createError(`${ERROR_PREFIX}_AUTH_JWKS_UNAVAILABLE`, 'The identity provider signing keys cannot be fetched', 503)

export const AUTH_ERRORS = {
  TOKEN_MISSING: TokenMissingError,
  TOKEN_EXPIRED: TokenExpiredError,
  TOKEN_NOT_YET_VALID: TokenNotYetValidError,
  BAD_SIGNATURE: BadSignatureError,
  WRONG_AUDIENCE: WrongAudienceError,
  WRONG_ISSUER: WrongIssuerError,
  ALGORITHM_NOT_ALLOWED: AlgorithmNotAllowedError,
  MALFORMED_TOKEN: MalformedTokenError,
  CLAIMS_INVALID: ClaimsInvalidError,
  TOKEN_REVOKED: TokenRevokedError,
  JWKS_UNAVAILABLE: JwksUnavailableError
} as const

export type AuthReason = keyof typeof AUTH_ERRORS

/** What verify() and authenticate() reject with; `code` is SWB_AUTH_<reason>. */
export interface AuthError extends Error {
  code: string
  statusCode: number
  reason: AuthReason
  headers: Record<string, string>
  /** The token's `sub`, set only once its signature was verified (for logs; never sent to the client). */
  sub?: string
}

export const REALM = 'switchboard'

/** Seconds a client should wait before retrying while the JWKS endpoint is unreachable. */
export const JWKS_RETRY_AFTER_SECONDS = 5

/**
 * Builds the error for a reason with its response headers:
 * no token → `Bearer realm=...` without an error (RFC 6750 §3.1), a bad token → `error="invalid_token"`,
 * no key for the token yet → 503 with Retry-After (a server problem, not the client's token): after
 * `retryAfterSeconds` (an IdP outage: JWKS_RETRY_AFTER_SECONDS; the JWKS cooldown: when it ends).
 */
export function authError (reason: AuthReason, retryAfterSeconds = JWKS_RETRY_AFTER_SECONDS): AuthError {
  const err = new AUTH_ERRORS[reason]() as unknown as AuthError
  err.reason = reason
  if (reason === 'TOKEN_MISSING') {
    err.headers = { 'www-authenticate': `Bearer realm="${REALM}"` }
  } else if (reason === 'JWKS_UNAVAILABLE') {
    err.headers = { 'retry-after': String(retryAfterSeconds) }
  } else {
    err.headers = { 'www-authenticate': `Bearer realm="${REALM}", error="invalid_token", error_description="${err.message}"` }
  }
  return err
}

export function isAuthError (err: unknown): err is AuthError {
  return err instanceof Error && typeof (err as Partial<AuthError>).reason === 'string' &&
    (err as Partial<AuthError>).reason! in AUTH_ERRORS
}
