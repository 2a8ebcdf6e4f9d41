/** How automatic reconnection waits between attempts. */
export interface ReconnectOptions {
  /** Delay before the first attempt after a drop (ms). */
  initialDelayMs: number
  /** Upper bound of the delay (ms). */
  maxDelayMs: number
  /** Each failed attempt multiplies the delay by this (>= 1). */
  factor: number
  /** 0..1: the delay is reduced by up to this fraction at random, so clients dropped together do not return together. */
  jitter: number
  /** Give up (and close for good) after this many failed attempts in a row. */
  maxAttempts: number
}

export const DEFAULT_RECONNECT: Readonly<ReconnectOptions> = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.5,
  maxAttempts: Number.POSITIVE_INFINITY
}

export function reconnectOptions (given: Partial<ReconnectOptions> = {}): ReconnectOptions {
  const options = { ...DEFAULT_RECONNECT, ...given }
  const { initialDelayMs, maxDelayMs, factor, jitter, maxAttempts } = options
  if (!(initialDelayMs >= 0) || !(maxDelayMs >= initialDelayMs)) throw new TypeError('reconnect: need 0 <= initialDelayMs <= maxDelayMs')
  if (!(factor >= 1)) throw new TypeError('reconnect: factor must be >= 1')
  if (!(jitter >= 0 && jitter <= 1)) throw new TypeError('reconnect: jitter must be between 0 and 1')
  if (!(maxAttempts >= 1)) throw new TypeError('reconnect: maxAttempts must be >= 1')
  return options
}

/** Delay before attempt number `attempt` (1-based): exponential, capped, minus random jitter. */
export function backoffDelay (attempt: number, options: ReconnectOptions, random: () => number = Math.random): number {
  const base = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** Math.max(0, attempt - 1))
  return Math.round(base * (1 - options.jitter * random()))
}

/**
 * Retries of refusals that say "not now" (HTTP 503, SWB_REGISTRY_UNAVAILABLE, SWB_RATE_LIMITED,
 * SWB_AUTH_JWKS_UNAVAILABLE) for connect(), join()/leave(), getIceServers() and preflight().
 */
export interface RetryOptions {
  /** Attempts in all, the first included (1 = no retry). */
  maxAttempts: number
  initialDelayMs: number
  maxDelayMs: number
}

export const DEFAULT_RETRY: Readonly<RetryOptions> = { maxAttempts: 4, initialDelayMs: 250, maxDelayMs: 4000 }
