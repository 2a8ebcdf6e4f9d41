import fp from 'fastify-plugin'
import type { FastifyRequest } from 'fastify'
import rateLimit, { normalizeIP, type RateLimitOptions } from '@fastify/rate-limit'
import type { ErrorWithHeaders } from '../../src/error-handler.js'
import { RateLimitedError } from './errors.js'
import { RedisKeys } from '../registry/keys.js'
import { connectRedis, createRedisClient, redisConnectionSettings, type RedisClient } from '../registry/redis-connection.js'
// For the `request.identity` declaration (set by the auth plugin's authenticate hook).
import type {} from '../auth/index.js'

export const RATE_LIMIT_PLUGIN_NAME = 'switchboard-rate-limit'

export interface RateLimitPluginOptions {
  /** Prefix of every limiter key (becomes the Redis key prefix once a shared store is configured). */
  nameSpace?: string
  // The shared store is not an option: it is built from app.config when Redis is configured (see below).
}

/**
 * Limiter key: the authenticated user when the auth hook ran before the limiter (so one user is limited
 * across IPs and devices), else the client IP (IPv6 folded to its /64, like @fastify/rate-limit does).
 */
export function identityOrIpKey (request: FastifyRequest): string {
  const sub = request.identity?.sub
  return sub === undefined ? clientIpKey(request) : `sub:${sub}`
}

export function clientIpKey (request: FastifyRequest): string {
  return `ip:${normalizeIP(request.ip)}`
}

export interface RouteLimit {
  max: number
  windowSeconds: number
  keyGenerator?: (request: FastifyRequest) => string
}

/** In-memory counters kept per limiter (LRU): a key evicted early would get a fresh budget. */
const COUNTERS_PER_LIMITER = 50_000

/**
 * Limiter options for a route that opts in, either as `{ config: { rateLimit: routeRateLimit({...}) } }`
 * (one budget per route) or as a hook shared by several routes: `app.rateLimit(routeRateLimit({...}))`.
 */
export function routeRateLimit (limit: RouteLimit): RateLimitOptions {
  return {
    max: limit.max,
    timeWindow: limit.windowSeconds * 1000,
    keyGenerator: limit.keyGenerator ?? identityOrIpKey,
    cache: COUNTERS_PER_LIMITER
  }
}

/**
 * Capability plugin: @fastify/rate-limit with `global: false`, so only routes that set `config.rateLimit`
 * are limited. Over the limit: a 429 problem with code SWB_RATE_LIMITED and Retry-After (seconds).
 */
export default fp<RateLimitPluginOptions>(async (app, opts) => {
  // With Redis configured (docs/redis.md) the counters live there, so a limit holds across all instances.
  // If Redis is away, requests pass unlimited (skipOnError) rather than fail: the limit protects, it must not block.
  const settings = app.hasDecorator('config') ? redisConnectionSettings(app.config) : undefined
  let redis: RedisClient | undefined
  if (settings) {
    const client = createRedisClient(settings, 'switchboard:rate-limit')
    // Connected once every plugin has loaded: if another one fails to start, nothing was opened here.
    app.addHook('onReady', async () => connectRedis(client, settings))
    app.addHook('onClose', async () => { client.disconnect() })
    redis = client
  }
  await app.register(rateLimit, {
    global: false,
    nameSpace: opts.nameSpace ?? (settings ? new RedisKeys(app.config.REDIS_KEY_PREFIX).rateLimitNamespace() : 'swb-ratelimit-'),
    ...(redis && { redis, skipOnError: true }),
    keyGenerator: identityOrIpKey,
    errorResponseBuilder (_request, context) {
      const err: ErrorWithHeaders = new RateLimitedError(context.after)
      // @fastify/rate-limit sets the header on the reply too; carrying it on the error keeps it if a handler resets headers.
      err.headers = { 'retry-after': String(Math.max(1, Math.ceil(context.ttl / 1000))) }
      return err
    }
  })
}, { fastify: '5.x', name: RATE_LIMIT_PLUGIN_NAME })
