import type { FastifyBaseLogger } from 'fastify'
import { createLocalJWKSet, createRemoteJWKSet, customFetch, type FetchImplementation, type FlattenedJWSInput, type JWSHeaderParameters } from 'jose'
import { errors } from 'jose'
import { authError } from './errors.js'

/** The longest we stop trying the IdP after a failed fetch; shorter when the cooldown is shorter. */
const MAX_FAILURE_BACKOFF_MS = 5000
/** Added to the cooldown's end in Retry-After: jose dates its fetch a little after the response we time. */
const RETRY_AFTER_MARGIN_MS = 250

export interface JwksResolverOptions {
  url: string
  /** Floor between refetches caused by unknown `kid`s (jose cooldownDuration). */
  cooldownMs: number
  /** Age after which the cached set is refetched before use (jose cacheMaxAge). */
  cacheMaxAgeMs: number
  /** Bound on one fetch, so a hanging IdP cannot hang requests. */
  timeoutMs: number
  log: FastifyBaseLogger
}

type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>

export interface JwksResolver {
  /** jose key-resolver function for jwtVerify. Rejects with SWB_AUTH_JWKS_UNAVAILABLE when no key can be had. */
  resolve: KeyResolver
  /** Warms the cache at start so the first request does not pay for the fetch; never throws. */
  prefetch (): Promise<void>
}

/** Errors that mean "the set was fetched but holds no usable key for this token" rather than "cannot fetch". */
function isKeySelectionError (err: unknown): boolean {
  return err instanceof errors.JWKSNoMatchingKey ||
    err instanceof errors.JWKSMultipleMatchingKeys ||
    err instanceof errors.JOSENotSupported ||
    err instanceof errors.JOSEAlgNotAllowed ||
    err instanceof errors.JWKInvalid
}

/** What is safe to log about a fetch failure: no response body, just the kind of failure. */
function describeFetchFailure (err: unknown): Record<string, unknown> {
  const e = err as { name?: string, message?: string, code?: string, cause?: { code?: string } }
  return { name: e.name, message: e.message, code: e.code ?? e.cause?.code }
}

/**
 * jose's remote JWKS set (cache, cooldown on unknown kid, timeout) plus three things it lacks:
 * - stale-on-error: when a refetch fails, keys fetched earlier keep verifying, so an IdP outage does not
 *   log everybody out; only a key we never saw gets SWB_AUTH_JWKS_UNAVAILABLE;
 * - failure backoff: after a failed fetch no request triggers another for a while, so a flood of tokens
 *   during an outage does not become a flood of fetches (or of requests each waiting for the timeout);
 * - rotation without a final 401: a key missing from a set fetched before the token arrived, while the
 *   cooldown forbids a refetch, may well have been published since. That token gets a retryable 503 with
 *   Retry-After set to the end of the cooldown, when its retry refetches; only a key missing from a set
 *   fetched after the token arrived is a bad signature.
 */
export function createJwksResolver (opts: JwksResolverOptions): JwksResolver {
  const url = new URL(opts.url)
  const logUrl = `${url.origin}${url.pathname}` // no query string: it might carry an API key
  // When the last successful fetch started and answered (jose keeps its own timestamp private).
  let lastFetch = { startedAt: Number.NEGATIVE_INFINITY, answeredAt: Number.NEGATIVE_INFINITY }
  const timedFetch: FetchImplementation = async (input, init) => {
    const startedAt = Date.now()
    const response = await fetch(input, init)
    if (response.status === 200) lastFetch = { startedAt, answeredAt: Date.now() }
    return response
  }
  const remote = createRemoteJWKSet(url, {
    cooldownDuration: opts.cooldownMs,
    cacheMaxAge: opts.cacheMaxAgeMs,
    timeoutDuration: opts.timeoutMs,
    [customFetch]: timedFetch
  })
  const failureBackoffMs = Math.min(opts.cooldownMs, MAX_FAILURE_BACKOFF_MS)
  let failedAt = Number.NEGATIVE_INFINITY
  let lastKnown: KeyResolver | undefined

  function fetchFailed (err: unknown): void {
    failedAt = Date.now()
    const cached = remote.jwks()
    lastKnown = cached ? createLocalJWKSet(cached) : undefined
    opts.log.warn({ jwksUrl: logUrl, failure: describeFetchFailure(err), usingCachedKeys: cached !== undefined }, 'JWKS fetch failed')
  }

  async function fromLastKnown (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> {
    if (!lastKnown) throw authError('JWKS_UNAVAILABLE')
    try {
      return await lastKnown(header, token)
    } catch (err) {
      // The key may well exist at the IdP: we just cannot see it now. That is a 503, not a bad token.
      if (err instanceof errors.JWKSNoMatchingKey) throw authError('JWKS_UNAVAILABLE')
      throw err
    }
  }

  /** The 503 for a key that may have been published since the last fetch: retry when the cooldown ends. */
  function unknownKeyDuringCooldown (): Error {
    const untilRefetch = lastFetch.answeredAt + opts.cooldownMs - Date.now() + RETRY_AFTER_MARGIN_MS
    return authError('JWKS_UNAVAILABLE', Math.max(1, Math.ceil(untilRefetch / 1000)))
  }

  return {
    async resolve (header, token) {
      const arrivedAt = Date.now()
      if (arrivedAt - failedAt < failureBackoffMs) return fromLastKnown(header, token)
      try {
        return await remote(header, token)
      } catch (err) {
        if (err instanceof errors.JWKSNoMatchingKey && lastFetch.startedAt < arrivedAt && remote.coolingDown) throw unknownKeyDuringCooldown()
        if (isKeySelectionError(err)) throw err
        fetchFailed(err)
        return fromLastKnown(header, token)
      }
    },
    async prefetch () {
      try {
        await remote.reload()
      } catch (err) {
        fetchFailed(err)
      }
    }
  }
}
