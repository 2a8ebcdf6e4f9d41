import { Type, type Static } from '@sinclair/typebox'
import { envSchema } from 'env-schema'
import { turnConfigProblem } from '../plugins/turn/config-check.js'
import { redisConfigProblem } from '../plugins/registry/redis-config.js'

/**
 * Every environment variable the service reads. The README's configuration table mirrors this schema,
 * and the Helm chart test checks its env names against these keys.
 */
export const ConfigSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development', description: 'production refuses to start without real JWT and TURN settings and turns the demo off' }),
  PORT: Type.Integer({ default: 8080, minimum: 0, maximum: 65535, description: 'HTTP/WebSocket port' }),
  HOST: Type.String({ default: '0.0.0.0', minLength: 1, description: 'Listen address (0.0.0.0 so probes can reach the pod)' }),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info', description: 'pino level of the application log' }),
  CORS_ORIGINS: Type.String({ default: '', description: 'Comma-separated allowed origins; * allows any' }),
  TRUST_PROXY: Type.String({ default: 'false', description: 'false, true, a hop count, or comma-separated addresses/CIDRs' }),
  TLS_CERT_FILE: Type.Optional(Type.String({ minLength: 1, description: 'PEM certificate: serve https/wss directly (with TLS_KEY_FILE), for deployments without a TLS proxy' })),
  TLS_KEY_FILE: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key for TLS_CERT_FILE' })),
  SHUTDOWN_DRAIN_SECONDS: Type.Number({ default: 10, minimum: 0, maximum: 3600, description: 'On SIGTERM: how long clients get to reconnect elsewhere before the rest are closed (1001)' }),

  JWT_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'HS256/384/512 shared secret' })),
  JWT_PUBLIC_KEY: Type.Optional(Type.String({ minLength: 1, description: 'PEM (SPKI) or JWK (JSON) public key' })),
  JWT_JWKS_URL: Type.Optional(Type.String({ pattern: '^https?://', description: 'JWKS endpoint of the identity provider (keys cached, refetched on an unknown kid)' })),
  JWT_ISSUER: Type.Optional(Type.String({ minLength: 1, description: 'Required `iss`, when set' })),
  JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1, description: 'Required `aud` (comma-separated: any of them), when set' })),
  JWT_ALGORITHMS: Type.Optional(Type.String({ minLength: 1, description: 'Comma-separated allowlist; defaults by key type' })),
  JWT_CLOCK_TOLERANCE_SECONDS: Type.Integer({ default: 5, minimum: 0, maximum: 300, description: 'Leeway for exp/nbf' }),
  JWT_JWKS_COOLDOWN_SECONDS: Type.Integer({ default: 30, minimum: 0, maximum: 3600, description: 'Least time between two JWKS fetches (an unknown kid does not hammer the IdP)' }),
  JWT_JWKS_CACHE_SECONDS: Type.Integer({ default: 600, minimum: 1, maximum: 86400, description: 'How long fetched keys are trusted before a refresh' }),
  JWT_JWKS_TIMEOUT_MS: Type.Integer({ default: 5000, minimum: 100, maximum: 60000, description: 'JWKS fetch timeout' }),

  TURN_PROVIDER: Type.Union([Type.Literal('hmac'), Type.Literal('cloudflare'), Type.Literal('twilio'), Type.Literal('static')], { default: 'hmac' }),
  TURN_SECRET: Type.Optional(Type.String({ minLength: 1, description: 'Comma-separated; the first signs, all are accepted by TURN' })),
  TURN_TTL_SECONDS: Type.Integer({ default: 3600, minimum: 60, maximum: 86400, description: 'Lifetime of issued TURN credentials, and the most a client may ask for' }),
  STUN_URLS: Type.String({ default: '', description: 'Comma-separated stun: URLs added to every ICE configuration' }),
  TURN_URLS: Type.String({ default: '', description: 'Comma-separated turn:/turns: URLs (e.g. turn:h:3478?transport=udp,turns:h:443?transport=tcp)' }),
  TURN_STATIC_USERNAME: Type.Optional(Type.String({ minLength: 1, description: 'TURN_PROVIDER=static: fixed username' })),
  TURN_STATIC_CREDENTIAL: Type.Optional(Type.String({ minLength: 1, description: 'TURN_PROVIDER=static: fixed credential' })),
  TURN_REST_API_KEYS: Type.Optional(Type.String({ minLength: 1, description: 'Comma-separated API keys for GET /v1/turn/rest' })),
  TURN_UPSTREAM_TIMEOUT_MS: Type.Integer({ default: 3000, minimum: 100, maximum: 60000, description: 'Timeout of one call to Cloudflare/Twilio (one retry on failure)' }),
  CLOUDFLARE_TURN_KEY_ID: Type.Optional(Type.String({ minLength: 1, description: 'TURN_PROVIDER=cloudflare: TURN key id' })),
  CLOUDFLARE_TURN_API_TOKEN: Type.Optional(Type.String({ minLength: 1, description: 'TURN_PROVIDER=cloudflare: API token' })),
  CLOUDFLARE_API_URL: Type.String({ default: 'https://rtc.live.cloudflare.com', pattern: '^https?://', description: 'Cloudflare API base URL' }),
  TWILIO_ACCOUNT_SID: Type.Optional(Type.String({ minLength: 1, description: 'TURN_PROVIDER=twilio: account SID' })),
  TWILIO_AUTH_TOKEN: Type.Optional(Type.String({ minLength: 1, description: 'TURN_PROVIDER=twilio: auth token' })),
  TWILIO_API_URL: Type.String({ default: 'https://api.twilio.com', pattern: '^https?://', description: 'Twilio API base URL' }),
  TURN_RATE_LIMIT_MAX: Type.Integer({ default: 30, minimum: 1, description: 'Credential requests per user per window' }),
  TURN_RATE_LIMIT_WINDOW_SECONDS: Type.Integer({ default: 60, minimum: 1, description: 'Window of TURN_RATE_LIMIT_MAX' }),

  ROOM_CAPACITY: Type.Integer({ default: 2, minimum: 1, maximum: 1000, description: 'Peers per room (2 for a consultation)' }),
  MAX_ROOMS_PER_PEER: Type.Integer({ default: 4, minimum: 1, maximum: 100, description: 'Rooms one connection may be in at once' }),
  MAX_CONNECTIONS_PER_USER: Type.Integer({ default: 5, minimum: 1, maximum: 1000, description: 'Open sockets per user (`sub`), across instances with Redis' }),
  WS_MAX_MESSAGE_BYTES: Type.Integer({ default: 65536, minimum: 4096, maximum: 16777216, description: 'Largest message accepted; twice this closes the socket (1009)' }),
  WS_MESSAGES_PER_SECOND: Type.Number({ default: 50, minimum: 1, maximum: 100000, description: 'Per-connection message rate (token bucket refill)' }),
  WS_MESSAGE_BURST: Type.Integer({ default: 100, minimum: 1, maximum: 100000, description: 'Per-connection burst; more refusals in a row than this closes the socket (4029)' }),
  WS_HEARTBEAT_INTERVAL_MS: Type.Integer({ default: 15000, minimum: 100, maximum: 300000, description: 'Server ping interval; a socket that misses one is terminated' }),
  WS_SEND_BUFFER_LIMIT_BYTES: Type.Integer({ default: 1048576, minimum: 1024, description: 'A slower consumer is disconnected (4008)' }),
  RESUME_GRACE_SECONDS: Type.Number({ default: 30, minimum: 0, maximum: 3600, description: 'How long a dropped peer stays in its rooms, resumable, before others see peer-left' }),
  RESUME_BUFFER_MESSAGES: Type.Integer({ default: 512, minimum: 1, maximum: 100000, description: 'Replay buffer per peer, in messages' }),
  RESUME_BUFFER_BYTES: Type.Integer({ default: 1048576, minimum: 1024, description: 'Replay buffer per peer, in bytes' }),
  RECONNECT_JITTER_MS: Type.Integer({ default: 5000, minimum: 0, maximum: 600000, description: 'Spread of reconnects after a drain' }),
  TOKEN_EXPIRY_WARNING_SECONDS: Type.Integer({ default: 60, minimum: 0, maximum: 3600, description: 'token-expiring is sent this long before the JWT lapses' }),

  DEMO_ENABLED: Type.Optional(Type.Boolean({ description: 'Serve the demo call page at /demo/; unset = on unless NODE_ENV=production' })),
  METRICS_ENABLED: Type.Boolean({ default: true, description: 'Serve Prometheus metrics at GET /metrics' }),
  METRICS_PORT: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'Serve /metrics on this port only (not on PORT)' })),
  AUDIT_LOG_LEVEL: Type.Union(['info', 'silent'].map((l) => Type.Literal(l)), { default: 'info', description: 'silent turns the audit stream off' }),
  AUDIT_LOG_FILE: Type.Optional(Type.String({ minLength: 1, description: 'Append audit events to this file instead of stdout' })),

  // Shared room registry (docs/redis.md). Without REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES it is in memory (one instance).
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'redis:// or rediss:// (TLS) URL of a single Redis server, with user:password if it needs them' })),
  REDIS_SENTINELS: Type.Optional(Type.String({ minLength: 1, description: 'Comma-separated host:port of Redis Sentinels (with REDIS_SENTINEL_NAME)' })),
  REDIS_SENTINEL_NAME: Type.Optional(Type.String({ minLength: 1, description: 'Name of the master the Sentinels monitor' })),
  REDIS_SENTINEL_PASSWORD: Type.Optional(Type.String({ minLength: 1, description: 'Password of the Sentinels themselves, if they need one' })),
  REDIS_CLUSTER_NODES: Type.Optional(Type.String({ minLength: 1, description: 'Comma-separated host:port seed nodes of a Redis Cluster' })),
  REDIS_USERNAME: Type.Optional(Type.String({ minLength: 1, description: 'ACL user for Redis (overrides one in REDIS_URL)' })),
  REDIS_PASSWORD: Type.Optional(Type.String({ minLength: 1, description: 'Password for Redis (overrides one in REDIS_URL)' })),
  REDIS_TLS: Type.Boolean({ default: false, description: 'TLS to Sentinel-managed or Cluster nodes (REDIS_URL uses rediss://)' }),
  REDIS_TLS_CA_FILE: Type.Optional(Type.String({ minLength: 1, description: 'PEM CA bundle that signed the Redis server certificates' })),
  REDIS_KEY_PREFIX: Type.String({ default: 'swb:', pattern: '^[A-Za-z0-9:._-]{0,64}$', description: 'Prefix of every Redis key and channel, so deployments can share one Redis' }),
  INSTANCE_ID: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'Readable instance name (e.g. the pod name); a per-process suffix keeps it unique' })),
  REDIS_INSTANCE_TTL_SECONDS: Type.Number({ default: 5, minimum: 0.5, maximum: 120, description: 'Liveness key TTL: an instance silent this long is dead' }),
  REDIS_REAP_INTERVAL_SECONDS: Type.Number({ default: 2, minimum: 0.1, maximum: 60, description: 'How often each instance looks for dead instances' }),
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ default: 1000, minimum: 50, maximum: 60000, description: 'A Redis command slower than this fails (SWB_REGISTRY_UNAVAILABLE)' }),
  REDIS_CONNECT_TIMEOUT_MS: Type.Integer({ default: 10000, minimum: 100, maximum: 300000, description: 'Startup fails if Redis is not reachable within this time' })
})

export type Config = Static<typeof ConfigSchema>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Splits a comma-separated variable into trimmed, non-empty entries. */
export function list (value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean)
}

/**
 * Reads and validates the environment once. Errors name the variable, e.g.
 * `env/PORT must be <= 65535` or `JWT_SECRET: ...`.
 */
export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  let config: Config
  try {
    config = envSchema<Config>({ schema: ConfigSchema, data: { ...env }, env: false, dotenv: false })
  } catch (err) {
    throw new ConfigError((err as Error).message)
  }
  checkConfig(config)
  return config
}

/** Rules that span several variables; each message names the variables involved. */
export function checkConfig (config: Config): void {
  const keyModes = [config.JWT_SECRET, config.JWT_PUBLIC_KEY, config.JWT_JWKS_URL].filter(Boolean).length
  if (keyModes > 1) {
    throw new ConfigError('JWT_SECRET, JWT_PUBLIC_KEY and JWT_JWKS_URL are exclusive: set only one')
  }
  if ((config.TLS_CERT_FILE === undefined) !== (config.TLS_KEY_FILE === undefined)) {
    throw new ConfigError('TLS_CERT_FILE and TLS_KEY_FILE must be set together')
  }
  const production = config.NODE_ENV === 'production'
  if (production && keyModes === 0) {
    throw new ConfigError('NODE_ENV=production needs JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL (no development secret in production)')
  }
  const redisProblem = redisConfigProblem(config)
  if (redisProblem !== undefined) throw new ConfigError(redisProblem)
  const turnProblem = turnConfigProblem(config)
  if (turnProblem !== undefined) throw new ConfigError(turnProblem)
  switch (config.TURN_PROVIDER) {
    case 'hmac':
      if (production && !config.TURN_SECRET) throw new ConfigError('TURN_PROVIDER=hmac in production needs TURN_SECRET')
      if (production && list(config.TURN_URLS).length === 0) throw new ConfigError('TURN_PROVIDER=hmac in production needs TURN_URLS')
      break
    case 'static':
      if (!config.TURN_STATIC_USERNAME || !config.TURN_STATIC_CREDENTIAL) {
        throw new ConfigError('TURN_PROVIDER=static needs TURN_STATIC_USERNAME and TURN_STATIC_CREDENTIAL')
      }
      if (list(config.TURN_URLS).length === 0) throw new ConfigError('TURN_PROVIDER=static needs TURN_URLS')
      break
    case 'cloudflare':
      if (!config.CLOUDFLARE_TURN_KEY_ID || !config.CLOUDFLARE_TURN_API_TOKEN) {
        throw new ConfigError('TURN_PROVIDER=cloudflare needs CLOUDFLARE_TURN_KEY_ID and CLOUDFLARE_TURN_API_TOKEN')
      }
      break
    case 'twilio':
      if (!config.TWILIO_ACCOUNT_SID || !config.TWILIO_AUTH_TOKEN) {
        throw new ConfigError('TURN_PROVIDER=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN')
      }
      break
  }
}
