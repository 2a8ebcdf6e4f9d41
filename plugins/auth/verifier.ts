import type { KeyObject } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { UnsecuredJWT, decodeProtectedHeader, errors, jwtVerify, type JWTVerifyOptions } from 'jose'
import { authError, isAuthError, type AuthError, type AuthReason } from './errors.js'
import { identityFromClaims, validClaims } from './claims.js'
import type { GrantsResult } from './grants.js'
import { createHmacSignatureCheck } from './hmac-jws.js'
import type { KeySetup } from './keys.js'
import { TokenCache } from './token-cache.js'
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
  /** Reads the room grants of a verified payload (grants.ts: JWT_ROOMS_CLAIM, scopes, ROOM_GRANTS). */
  grants: (payload: Record<string, unknown>) => GrantsResult
  log: FastifyBaseLogger
  /** The clock of the verification cache (tests inject one). */
  now?: () => number
}

/**
 * `{"alg":"none"}` as a JWS header segment. After our own HMAC check the payload is handed to jose's
 * UnsecuredJWT.decode under this header, so exp/nbf/iss/aud/required claims are still judged by jose's
 * claims validator with the same options (and errors) as jwtVerify, without jose redoing the crypto.
 */
const NONE_HEADER = Buffer.from('{"alg":"none"}').toString('base64url')

/**
 * A CryptoKey per HMAC algorithm (WebCrypto ties the hash to the key), imported on first use and then
 * reused: only tokens with a `crit` header take jose's full path, which needs a CryptoKey.
 */
function cryptoKeysFor (secret: KeyObject): (alg: string) => Promise<CryptoKey> {
  const imported = new Map<string, Promise<CryptoKey>>()
  return async (alg) => {
    let key = imported.get(alg)
    if (key === undefined) {
      key = crypto.subtle.importKey('raw', secret.export(), { name: 'HMAC', hash: `SHA-${alg.slice(2)}` }, false, ['verify'])
      imported.set(alg, key)
    }
    return key
  }
}

/** Checks signature then claims and returns the payload; jose errors pass through to reasonFor(). */
type TokenChecker = (token: string, alg: string, header: { crit?: unknown }) => unknown

/** The checking strategy, chosen once from the key mode; everything it needs per token is prepared here. */
function tokenChecker (keys: KeySetup, options: JWTVerifyOptions): TokenChecker {
  switch (keys.mode) {
    case 'secret':
    case 'development': {
      const hmacValid = createHmacSignatureCheck(keys.secret)
      const cryptoKey = cryptoKeysFor(keys.secret)
      return (token, alg, header) => {
        // `crit` extensions (e.g. b64) are rare and subtle: leave them to jose's complete implementation.
        if (header.crit !== undefined) return cryptoKey(alg).then(async (key) => (await jwtVerify(token, key, options)).payload)
        const firstDot = token.indexOf('.')
        const lastDot = token.lastIndexOf('.')
        const valid = hmacValid(alg, token.slice(0, lastDot), token.slice(lastDot + 1))
        if (valid === 'malformed') throw new errors.JWSInvalid('Failed to base64url decode the signature')
        if (!valid) throw new errors.JWSSignatureVerificationFailed()
        return UnsecuredJWT.decode(`${NONE_HEADER}.${token.slice(firstDot + 1, lastDot)}.`, options).payload
      }
    }
    case 'public-key':
      // jose turns this KeyObject into a CryptoKey once per algorithm and caches it (WeakMap keyed by the KeyObject).
      return async (token) => (await jwtVerify(token, keys.key, options)).payload
    case 'jwks':
      return async (token) => {
        try {
          return (await jwtVerify(token, keys.jwks.resolve, options)).payload
        } catch (err) {
          // Several keys fit a token without `kid` (common mid-rotation): try each, as jose documents.
          if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err
          for await (const candidate of err) {
            try {
              return (await jwtVerify(token, candidate, options)).payload
            } catch (inner) {
              if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner
            }
          }
          throw new errors.JWSSignatureVerificationFailed()
        }
      }
  }
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

  const check = tokenChecker(keys, options)
  // Only where the key can never change while running (a shared secret): with JWKS, whether a key still
  // counts is the key set's decision (rotation, withdrawal, outages), made per verification.
  const cache = keys.mode === 'secret' || keys.mode === 'development' ? new TokenCache(opts.clockToleranceSeconds, opts.now) : undefined

  return async function verify (token: string): Promise<Identity> {
    if (typeof token !== 'string' || token.length === 0) throw authError('TOKEN_MISSING')
    const cached = cache?.get(token)
    if (cached !== undefined) return cached
    if (token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) throw authError('MALFORMED_TOKEN')

    // Decide on the algorithm before touching any key: `none`, HS256-with-a-public-key and anything
    // outside the allowlist stop here, and never trigger a JWKS fetch.
    let header: ReturnType<typeof decodeProtectedHeader>
    try {
      header = decodeProtectedHeader(token)
    } catch {
      throw authError('MALFORMED_TOKEN')
    }
    const alg = header.alg
    if (typeof alg !== 'string') throw authError('MALFORMED_TOKEN')
    if (!allowed.has(alg)) throw authError('ALGORITHM_NOT_ALLOWED')

    let payload: unknown
    try {
      payload = await check(token, alg, header)
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
    const grants = opts.grants(payload)
    if (!grants.ok) throw withVerifiedSub(authError('CLAIMS_INVALID'), payload)
    const identity = identityFromClaims(payload, grants.rooms)
    cache?.set(token, identity)
    return identity
  }
}
