import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Type } from '@sinclair/typebox'
import { ERROR_PREFIX } from '../../src/errors.js'
import { problemResponses } from '../../src/problem.js'
import { bearerChecker } from './bearer.js'
import { metricsExposure } from './config.js'
import { createMetrics, type Metrics } from './definitions.js'
import { MetricsUnauthorizedError } from './errors.js'

declare module 'fastify' {
  interface FastifyInstance { metrics: Metrics }
}

const AUTH_PREFIX = `${ERROR_PREFIX}_AUTH_`
const TURN_PREFIX = `${ERROR_PREFIX}_TURN_`
const TURN_ROUTES = new Set(['/v1/turn/credentials', '/v1/turn/rest'])

/** Serves the registry in Prometheus text format, for the main app or a METRICS_PORT listener. */
export function metricsRequestHandler (metrics: Metrics) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end()
      return
    }
    metrics.registry.metrics().then((body) => {
      res.writeHead(200, { 'content-type': metrics.registry.contentType })
      res.end(body)
    }, () => {
      res.writeHead(500).end()
    })
  }
}

/**
 * Prometheus metrics. Capability plugin registered first, so other plugins can count into `app.metrics`;
 * HTTP outcomes (JWT rejections, TURN issuance and failures, rate limiting) are observed here from hooks,
 * so the plugins that produce them need no metrics code.
 */
export default fp(async (app) => {
  const metrics = createMetrics()
  app.decorate('metrics', metrics)
  const provider = app.config.TURN_PROVIDER

  app.addHook('onError', async (request, _reply, error) => {
    const code = (error as { code?: string }).code ?? ''
    if (code.startsWith(AUTH_PREFIX)) metrics.jwtRejectionsTotal.inc({ reason: code })
    if (TURN_ROUTES.has(request.routeOptions.url ?? '') && !code.startsWith(AUTH_PREFIX) && code !== `${ERROR_PREFIX}_RATE_LIMITED`) {
      metrics.turnFailuresTotal.inc({ provider, reason: code.startsWith(TURN_PREFIX) || code.startsWith(ERROR_PREFIX) ? code : `${ERROR_PREFIX}_INTERNAL` })
    }
  })

  app.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode === 429) metrics.rateLimitedTotal.inc({ scope: 'http' })
    if (reply.statusCode === 200 && TURN_ROUTES.has(request.routeOptions.url ?? '')) metrics.turnIssuedTotal.inc({ provider })
  })

  // With METRICS_PORT, server.ts serves them on that port and they stay off the public one; production
  // without METRICS_PORT or METRICS_TOKEN serves them nowhere (GET /metrics is a 404 like any unknown path).
  const exposure = metricsExposure(app.config)
  if (exposure.kind !== 'public') return
  const authorized = exposure.token === undefined ? undefined : bearerChecker(exposure.token)
  app.get('/metrics', {
    ...(authorized && {
      onRequest: async (request: FastifyRequest) => {
        if (!authorized(request.headers.authorization)) {
          throw Object.assign(new MetricsUnauthorizedError(), { headers: { 'www-authenticate': 'Bearer realm="metrics"' } })
        }
      }
    }),
    schema: {
      tags: ['operations'],
      operationId: 'getMetrics',
      summary: 'Prometheus metrics (text exposition format)',
      security: authorized ? [{ bearerAuth: [] }] : [],
      produces: ['text/plain'],
      response: { 200: Type.String(), ...(authorized && problemResponses(401)) }
    }
  }, async (_request, reply) => {
    void reply.type(metrics.registry.contentType)
    return metrics.registry.metrics()
  })
}, { fastify: '5.x', name: 'switchboard-metrics' })
