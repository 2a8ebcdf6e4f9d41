import type { FastifyBaseLogger } from 'fastify'
import { decodeProtectedHeader, errors, jwtVerify, type JWTVerifyOptions, type JWTVerifyResult } from 'jose'
import { authError, isAuthError, type AuthError, type AuthReason } from './errors.js'
import { identityFromClaims, validClaims } from './claims.js'
import type { KeySetup } from './keys.js'
import type { Identity } from './types.js'

/** Longer than any sane JWT (IdP tokens are 1–2 KiB); bounds the work an attacker can make us do. */
export const MAX_TOKEN_LENGTH = 8192
// The signature segment may be empty so that `alg: none` tokens reach the algorithm check and are named as such.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

export interface VerifierOptions {
  keys: KeySetup
  issuer?: string
  /** Accepted audiences; the token must name at least one. */
  audience?: string[]
  clockToleranceSeconds: number
  log: FastifyBaseLogger
}

const LOGGABLE_SUB = /^[^\u0000-\u001f\u007f]{1,128}$/

/** Failures after the signature was checked may name the (now trusted) `sub` in logs; nothing else. */
function withVerifiedSub (err: AuthError, payload: unknown): AuthError {
  const sub = (payload as { sub?: unknown } | undefined)?.sub
  if (typeof sub === 'string' && LOGGABLE_SUB.test(sub)) err.sub = sub
  return err
}

/** Maps a jose failure to our stable reason. jose checks the signature before any claim. */
function reasonFor (err: unknown): AuthReason | undefined {
  if (err instanceof errors.JWTExpired) return 'TOKEN_EXPIRED'
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf' && err.reason === 'check_failed') return 'TOKEN_NOT_YET_VALID'
    if (err.claim === 'aud') return 'WRONG_AUDIENCE'
    if (err.claim === 'iss') return 'WRONG_ISSUER'
    return 'CLAIMS_INVALID'
  }
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey) return 'BAD_SIGNATURE'
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return 'ALGORITHM_NOT_ALLOWED'
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'MALFORMED_TOKEN'
  return undefined
}

/** Creates verify(token): signature, algorithm allowlist, exp/nbf/iss/aud, then our claims schema. */
export function createVerifier (opts: VerifierOptions): (token: string) => Promise<Identity> {
  const { keys } = opts
  const allowed = new Set(keys.algorithms)
  const options: JWTVerifyOptions = {
    algorithms: keys.algorithms,
    clockTolerance: opts.clockToleranceSeconds,
    requiredClaims: ['exp', 'sub']
  }
  if (opts.issuer !== undefined) options.issuer = opts.issuer
  if (opts.audience !== undefined && opts.audience.length > 0) options.audience = opts.audience

  async function check (token: string): Promise<JWTVerifyResult> {
    switch (keys.mode) {
      case 'secret':
      case 'development':
        return jwtVerify(token, keys.secret, options)
      case 'public-key':
        return jwtVerify(token, keys.key, options)
      case 'jwks':
        try {
          return await jwtVerify(token, keys.jwks.resolve, options)
        } catch (err) {
          // Several keys fit a token without `kid` (common mid-rotation): try each, as jose documents.
          if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err
          for await (const candidate of err) {
            try {
              return await jwtVerify(token, candidate, options)
            } catch (inner) {
              if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner
            }
          }
          throw new errors.JWSSignatureVerificationFailed()
        }
    }
  }

  return async function verify (token: string): Promise<Identity> {
    if (typeof token !== 'string' || token.length === 0) throw authError('TOKEN_MISSING')
    if (token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) throw authError('MALFORMED_TOKEN')

    // Decide on the algorithm before touching any key: `none`, HS256-with-a-public-key and anything
    // outside the allowlist stop here, and never trigger a JWKS fetch.
    let alg: unknown
    try {
      alg = decodeProtectedHeader(token).alg
    } catch {
      throw authError('MALFORMED_TOKEN')
    }
    if (typeof alg !== 'string') throw authError('MALFORMED_TOKEN')
    if (!allowed.has(alg)) throw authError('ALGORITHM_NOT_ALLOWED')

    let payload: unknown
    try {
      payload = (await check(token)).payload
    } catch (err) {
      if (isAuthError(err)) throw err
      const reason = reasonFor(err)
      if (reason === undefined) {
        // Not expected from jose for a token that passed the checks above; refuse it and say what happened.
        opts.log.warn({ failure: (err as Error).name, message: (err as Error).message }, 'unexpected token verification failure')
        throw authError('BAD_SIGNATURE')
      }
      const claimsFailure = err instanceof errors.JWTExpired || err instanceof errors.JWTClaimValidationFailed
      throw claimsFailure ? withVerifiedSub(authError(reason), err.payload) : authError(reason)
    }

    if (!validClaims(payload)) throw withVerifiedSub(authError('CLAIMS_INVALID'), payload)
    return identityFromClaims(payload)
  }
}
