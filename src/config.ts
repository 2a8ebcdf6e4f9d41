import { Type, type Static } from '@sinclair/typebox'
import { envSchema } from 'env-schema'
import { AdminConfigSchema, adminConfigProblem } from '../plugins/admin/config.js'
import { AuditConfigSchema } from '../plugins/audit/config.js'
import { AuthConfigSchema, authConfigProblem } from '../plugins/auth/config.js'
import { DemoConfigSchema } from '../plugins/demo/config.js'
import { MetricsConfigSchema, metricsConfigProblem } from '../plugins/metrics/config.js'
import { RegistryConfigSchema, redisConfigProblem } from '../plugins/registry/config.js'
import { SignalingConfigSchema } from '../plugins/signaling/config.js'
import { TurnConfigSchema, turnConfigProblem, turnProviderProblem } from '../plugins/turn/config.js'
import { WebhooksConfigSchema, webhooksConfigProblem } from '../plugins/webhooks/config.js'

export { list } from './env-list.js'

/** The process-wide settings: the server itself, not any one plugin. */
export const CoreConfigSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development', description: 'production refuses to start without real JWT and TURN settings and turns the demo off' }),
  PORT: Type.Integer({ default: 8080, minimum: 0, maximum: 65535, description: 'HTTP/WebSocket port' }),
  HOST: Type.Optional(Type.String({ minLength: 1, description: 'Listen address; unset = 0.0.0.0 in production (so probes can reach the pod), 127.0.0.1 otherwise (development tokens stay off the LAN)' })),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info', description: 'pino level of the application log' }),
  LOG_ROOM_NAMES: Type.Union([Type.Literal('plain'), Type.Literal('hash')], { default: 'plain', description: 'How room names appear in the application log and the audit stream: as they are, or as a keyed HMAC label (h:…) that still correlates one room\'s lines' }),
  LOG_ROOM_NAMES_SECRET: Type.Optional(Type.String({ minLength: 32, description: 'HMAC key for LOG_ROOM_NAMES=hash, at least 32 characters; the same on every instance so labels match. Unset = a random key per process' })),
  CORS_ORIGINS: Type.String({ default: '', description: 'Comma-separated allowed origins; * allows any' }),
  TRUST_PROXY: Type.String({ default: 'false', description: 'false, true, a hop count, or comma-separated addresses/CIDRs' }),
  TLS_CERT_FILE: Type.Optional(Type.String({ minLength: 1, description: 'PEM certificate: serve https/wss directly (with TLS_KEY_FILE), for deployments without a TLS proxy' })),
  TLS_KEY_FILE: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key for TLS_CERT_FILE' })),
  SHUTDOWN_DRAIN_SECONDS: Type.Number({ default: 10, minimum: 0, maximum: 3600, description: 'On SIGTERM: how long clients get to reconnect elsewhere before the rest are closed (1001)' })
})

/**
 * Every environment variable the service reads: the core settings plus each plugin's own piece, in
 * this order (the README's configuration table and the Helm chart's values follow it).
 */
export const ConfigSchema = Type.Object({
  ...CoreConfigSchema.properties,
  ...AuthConfigSchema.properties,
  ...TurnConfigSchema.properties,
  ...SignalingConfigSchema.properties,
  ...DemoConfigSchema.properties,
  ...MetricsConfigSchema.properties,
  ...AuditConfigSchema.properties,
  ...RegistryConfigSchema.properties,
  ...AdminConfigSchema.properties,
  ...WebhooksConfigSchema.properties
})

export type Config = Static<typeof ConfigSchema>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

function coreConfigProblem (config: Config): string | undefined {
  if ((config.TLS_CERT_FILE === undefined) !== (config.TLS_KEY_FILE === undefined)) return 'TLS_CERT_FILE and TLS_KEY_FILE must be set together'
  return undefined
}

/**
 * The cross-variable rules, one per piece, in the order their errors are reported. Each returns a
 * message naming the variables (the pieces stay free of ConfigError, and of this module).
 */
const RULES: ReadonlyArray<(config: Config) => string | undefined> = [
  authConfigProblem,
  coreConfigProblem,
  redisConfigProblem,
  turnConfigProblem,
  turnProviderProblem,
  metricsConfigProblem,
  adminConfigProblem,
  webhooksConfigProblem
]

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

/** Applies every piece's cross-variable rule once; throws the first problem as a ConfigError. */
export function checkConfig (config: Config): void {
  for (const rule of RULES) {
    const problem = rule(config)
    if (problem !== undefined) throw new ConfigError(problem)
  }
}
