import fp from 'fastify-plugin'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { LiveSchema, ReadySchema, type Ready } from './schemas.js'

/** A readiness check answers whether one dependency can take traffic now. It must not hang. */
export type ReadinessCheck = () => Promise<{ ok: boolean, detail?: string }> | { ok: boolean, detail?: string }

export interface Health {
  /** True once shutdown began: readiness fails at once so the load balancer stops sending traffic. */
  readonly draining: boolean
  startDraining (): void
  addCheck (name: string, check: ReadinessCheck): void
}

declare module 'fastify' {
  interface FastifyInstance { health: Health }
}

const CHECK_TIMEOUT_MS = 1000

async function runCheck (check: ReadinessCheck): Promise<{ ok: boolean, detail?: string }> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<{ ok: boolean, detail: string }>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: 'check timed out' }), CHECK_TIMEOUT_MS)
  })
  try {
    return await Promise.race([Promise.resolve().then(check), timeout])
  } catch (err) {
    return { ok: false, detail: (err as Error).message }
  } finally {
    clearTimeout(timer)
  }
}

const health: FastifyPluginAsyncTypebox = async (app) => {
  const checks = new Map<string, ReadinessCheck>()
  let draining = false

  app.decorate('health', {
    get draining () { return draining },
    startDraining () { draining = true },
    addCheck (name: string, check: ReadinessCheck) { checks.set(name, check) }
  } satisfies Health)

  app.get('/health/live', {
    schema: { tags: ['health'], security: [], operationId: 'getLiveness', summary: 'The process is up', response: { 200: LiveSchema } }
  }, async () => ({ status: 'ok' as const }))

  // `/health` is the path the services Switchboard replaces served: the same answer, for their clients and probes.
  const readyRoutes = [
    { url: '/health/ready', operationId: 'getReadiness', summary: 'Ready to take traffic (dependencies reachable, not draining)' },
    { url: '/health', operationId: 'getHealth', summary: 'Alias of /health/ready' }
  ]
  for (const { url, operationId, summary } of readyRoutes) {
    app.get(url, {
      schema: {
        tags: ['health'],
        security: [],
        operationId,
        summary,
        response: { 200: ReadySchema, 503: { ...ReadySchema, description: 'Not ready (a dependency is unreachable, or draining)' } }
      }
    }, async (_req, reply) => {
      const results: Ready['checks'] = {}
      await Promise.all([...checks].map(async ([name, check]) => { results[name] = await runCheck(check) }))
      const ok = !draining && Object.values(results).every((r) => r.ok)
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not-ready', draining, checks: results })
    })
  }
}

export default fp(health, { fastify: '5.x', name: 'switchboard-health' })
