import { Type, type Static } from '@sinclair/typebox'

/** The metrics plugin's part of ConfigSchema. src/config.ts composes it. */
export const MetricsConfigSchema = Type.Object({
  METRICS_ENABLED: Type.Boolean({ default: true, description: 'Serve Prometheus metrics at GET /metrics (in production only with METRICS_PORT or METRICS_TOKEN: without either, /metrics on PORT is 404)' }),
  METRICS_PORT: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'Serve /metrics on this port only (not on PORT)' })),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16, description: 'Serve /metrics on PORT to `Authorization: Bearer <token>` only (401 otherwise); the alternative to METRICS_PORT' }))
})
export type MetricsConfig = Static<typeof MetricsConfigSchema>

/** Where GET /metrics is served: its own port, the public port (open or behind the token), or nowhere. */
export type MetricsExposure = { kind: 'port', port: number } | { kind: 'public', token?: string } | { kind: 'off' }

/**
 * Call counts and timings are not for the internet: in production the public port serves them only
 * with a token, and a deployment that made no choice gets a 404 rather than an open endpoint.
 */
export function metricsExposure (config: MetricsConfig & { NODE_ENV: string }): MetricsExposure {
  if (!config.METRICS_ENABLED) return { kind: 'off' }
  if (config.METRICS_PORT !== undefined) return { kind: 'port', port: config.METRICS_PORT }
  if (config.METRICS_TOKEN !== undefined) return { kind: 'public', token: config.METRICS_TOKEN }
  return config.NODE_ENV === 'production' ? { kind: 'off' } : { kind: 'public' }
}

/** Cross-variable rules of the metrics settings; returns a message naming the variables, or undefined. */
export function metricsConfigProblem (config: MetricsConfig & { PORT: number }): string | undefined {
  if (config.METRICS_PORT !== undefined && config.METRICS_TOKEN !== undefined) {
    return 'METRICS_PORT and METRICS_TOKEN are alternatives: set only one (the metrics port is reached by the scraper only)'
  }
  if (config.METRICS_PORT !== undefined && config.METRICS_PORT === config.PORT) return 'METRICS_PORT must differ from PORT'
  if (!config.METRICS_ENABLED && (config.METRICS_PORT !== undefined || config.METRICS_TOKEN !== undefined)) {
    return `${config.METRICS_PORT !== undefined ? 'METRICS_PORT' : 'METRICS_TOKEN'} is set but METRICS_ENABLED=false`
  }
  return undefined
}
