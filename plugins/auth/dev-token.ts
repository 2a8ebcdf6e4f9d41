import type { KeyObject } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { problemResponses } from '../../src/problem.js'
import { mintToken } from './mint.js'
import { DevTokenBodySchema, DevTokenResponseSchema } from './schemas.js'

export interface DevTokenOptions {
  /** HMAC key: the service's KeyObject, or raw bytes (scripts/mint-token.ts). */
  secret: KeyObject | Uint8Array
  issuer?: string
  audience?: string
}

/**
 * POST /v1/dev/token: mints a token for local development. Registered only in development mode
 * (no JWT key configured, NODE_ENV not production), so in any real deployment the route does not exist.
 */
export const devTokenRoutes: FastifyPluginAsyncTypebox<DevTokenOptions> = async (app, opts) => {
  app.post('/token', {
    schema: {
      tags: ['development'],
      operationId: 'mintDevToken',
      security: [],
      summary: 'Mint a development token (development mode only)',
      body: DevTokenBodySchema,
      response: { 200: DevTokenResponseSchema, ...problemResponses(400, 415) }
    }
  }, async (request) => {
    const { sub, name, role, rooms, ttl } = request.body
    const { token, exp } = await mintToken({ sub, name, role, rooms, ttl }, opts)
    request.log.info({ event: 'dev_token_minted', ttl }, 'development token minted')
    return { token, expiresAt: new Date(exp * 1000).toISOString() }
  })
}
