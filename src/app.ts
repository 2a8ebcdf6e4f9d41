import { readFileSync } from 'node:fs'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import helmet from '@fastify/helmet'
import cors from '@fastify/cors'
import swagger from '@fastify/swagger'
import type { DestinationStream } from 'pino'
import { list, type Config } from './config.js'
import { RequestLogController, genReqId, loggerOptions } from './logger.js'
import { frameworkErrors, installErrorHandlers } from './error-handler.js'
import { clientErrorHandler } from './client-errors.js'
import { ProblemSchema } from './problem.js'
import { roomLabel, type RoomLabel } from './room-label.js'
import health from '../plugins/health/index.js'
import metrics from '../plugins/metrics/index.js'
import audit from '../plugins/audit/index.js'
import auth from '../plugins/auth/index.js'
import rateLimit from '../plugins/rate-limit/index.js'
import turn from '../plugins/turn/index.js'
import registry from '../plugins/registry/index.js'
import signaling from '../plugins/signaling/index.js'
import admin, { ADMIN_SECURITY_SCHEME } from '../plugins/admin/index.js'
import { VERSION } from './version.js'
import webhooks from '../plugins/webhooks/index.js'
import { webhooksOpenApi } from '../plugins/webhooks/openapi.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    /** Room names for log lines: as they are, or hashed (LOG_ROOM_NAMES). The loggers apply it to `room` fields. */
    roomLabel: RoomLabel | undefined
  }
}

export interface BuildOptions {
  /** Where log lines go (tests capture them); stdout when omitted. */
  logStream?: DestinationStream
  /** Readable lines instead of JSON (server.ts sets it when stdout is a terminal). */
  prettyLogs?: boolean
}

/** Longest URL-encoded path parameter (Fastify's default, 100, is shorter than a room name may be). */
export const MAX_PARAM_LENGTH = 1536

/** TRUST_PROXY accepts what Fastify's trustProxy does: a boolean, a hop count, or addresses/CIDRs. */
export function parseTrustProxy (value: string): boolean | number | string[] {
  const v = value.trim().toLowerCase()
  if (v === 'true') return true
  if (v === 'false' || v === '') return false
  if (/^\d+$/.test(v)) return Number(v)
  return list(value)
}

/** CORS_ORIGINS: empty = no cross-origin access, `*` = any origin, otherwise an allowlist. */
export function corsOrigin (value: string): boolean | string[] {
  const origins = list(value)
  if (origins.includes('*')) return true
  return origins.length > 0 ? origins : false
}

/**
 * Builds the whole service from a validated config. It never reads process.env and never listens:
 * src/server.ts does both, and tests call this directly.
 */
export async function buildApp (config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const rooms = config.LOG_ROOM_NAMES === 'hash' ? roomLabel('hash', config.LOG_ROOM_NAMES_SECRET) : undefined
  const serverOptions: FastifyServerOptions & { https?: { cert: Buffer, key: Buffer } } = {
    logger: loggerOptions(config, { stream: options.logStream, pretty: options.prettyLogs }, rooms?.label),
    logController: new RequestLogController(),
    genReqId,
    // Fastify passes a hop count through to proxy-addr even though its types only list string/boolean/list.
    trustProxy: parseTrustProxy(config.TRUST_PROXY) as FastifyServerOptions['trustProxy'],
    // In-flight requests finish on close; idle keep-alive sockets are closed so shutdown is not held up.
    forceCloseConnections: 'idle',
    // Closing still answers 503, as problem+json from installErrorHandlers rather than Fastify's own body.
    return503OnClosing: false,
    clientErrorHandler,
    frameworkErrors,
    bodyLimit: 64 * 1024,
    // Path parameters are URL-encoded: a 128-character room name (plugins/signaling/messages.ts) of
    // `/`s is 384 characters, a 128-character user id (auth's SubSchema) of 4-byte UTF-8 up to 1536.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } }
  }
  if (config.TLS_CERT_FILE && config.TLS_KEY_FILE) {
    serverOptions.https = { cert: readFileSync(config.TLS_CERT_FILE), key: readFileSync(config.TLS_KEY_FILE) }
  }
  const app = Fastify(serverOptions).withTypeProvider<TypeBoxTypeProvider>() as unknown as FastifyInstance
  app.decorate('config', config)
  app.decorate('roomLabel', rooms?.label)
  if (rooms !== undefined && !rooms.keyed) {
    app.log.warn('LOG_ROOM_NAMES=hash without LOG_ROOM_NAMES_SECRET: room labels match within this process only')
  }

  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })

  installErrorHandlers(app)
  await app.register(helmet, { global: true })
  await app.register(cors, { origin: corsOrigin(config.CORS_ORIGINS), credentials: false, maxAge: 600 })
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Switchboard',
        description: 'WebRTC signaling and TURN credential service',
        version: VERSION,
        license: { name: 'UNLICENSED', identifier: 'UNLICENSED' }
      },
      servers: [{ url: '/', description: 'This deployment' }],
      tags: [
        { name: 'turn', description: 'TURN credentials (docs/turn.md)' },
        { name: 'signaling', description: 'The signaling WebSocket and its preflight (docs/signaling.md)' },
        { name: 'admin', description: 'Room and session control for the integrator\'s backend (docs/admin.md)' },
        { name: 'health', description: 'Liveness and readiness probes' },
        { name: 'operations', description: 'Metrics and other operator endpoints' },
        { name: 'development', description: 'Development only: token minting' }
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A JWT issued by your backend or identity provider (docs/auth.md)' },
          [ADMIN_SECURITY_SCHEME]: { type: 'http', scheme: 'bearer', description: 'One of ADMIN_API_KEYS, as `Authorization: Bearer <key>` (docs/admin.md)' },
          turnRestApiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'One of TURN_REST_API_KEYS (also accepted as the `key` or `api` parameter), for /v1/turn/rest' }
        },
        schemas: { Problem: ProblemSchema }
      },
      webhooks: webhooksOpenApi()
    }
  })

  await app.register(health)
  await app.register(metrics)
  await app.register(audit)
  // Before the registry: it watches the registry's membership changes, and closes after it.
  await app.register(webhooks)
  await app.register(auth)
  await app.register(rateLimit)
  await app.register(turn, { prefix: '/v1/turn' })
  await app.register(registry)
  await app.register(signaling)
  await app.register(admin, { prefix: '/v1/admin' })
  await app.register(import('../plugins/demo/index.js')) // /demo/ call page; no-op when DEMO_ENABLED is off

  app.get('/docs/json', { schema: { hide: true } }, async () => app.swagger())

  return app
}
