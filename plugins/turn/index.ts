import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ConfigError, list } from '../../src/config.js'
import { problemResponses } from '../../src/problem.js'
import type { ErrorWithHeaders } from '../../src/error-handler.js'
import { RATE_LIMIT_PLUGIN_NAME, clientIpKey, routeRateLimit } from '../rate-limit/index.js'
import { effectiveTtl, isoFromSeconds, refreshAtSeconds } from './credentials.js'
import { turnConfigProblem } from './config.js'
import { RestApiDisabledError, RestApiKeyInvalidError, RestServiceInvalidError, TurnNotConfiguredError } from './errors.js'
import { createProvider } from './providers/index.js'
import {
  CredentialsBodySchema, CredentialsResponseSchema, RestBodySchema, RestHeadersSchema, RestQuerySchema, RestResponseSchema,
  type CredentialsResponse, type IceServer, type RestParams, type RestResponse
} from './schemas.js'
import { strictBodyCompiler } from './strict-body.js'
import { isTurnUrl, parseIceUrlList } from './urls.js'

function sha256 (value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest()
}

/**
 * TURN credential routes (registered under /v1/turn). A route plugin, not wrapped in fastify-plugin,
 * so its content-type parser and hooks stay here.
 */
const turn: FastifyPluginAsyncTypebox = async (app) => {
  const config = app.config
  // Without the limiter, `config.rateLimit` below would be silently ignored: refuse to start instead.
  if (!app.hasPlugin(RATE_LIMIT_PLUGIN_NAME)) throw new Error(`plugins/turn needs ${RATE_LIMIT_PLUGIN_NAME} registered before it`)
  if (!app.hasDecorator('auth')) throw new Error('plugins/turn needs the auth plugin registered before it')

  // checkConfig() already ran these checks; repeat them for configs built without it (fail at start, not per request).
  const problem = turnConfigProblem(config)
  if (problem !== undefined) throw new ConfigError(problem)
  const stunServers: IceServer[] = list(config.STUN_URLS).length > 0 ? [{ urls: parseIceUrlList('STUN_URLS', config.STUN_URLS, 'stun') }] : []
  const turnUrls = parseIceUrlList('TURN_URLS', config.TURN_URLS, 'turn')
  const log = app.log.child({ component: 'turn' })
  const provider = createProvider(config, turnUrls, log)
  log.info({ provider: provider.name, stunUrls: stunServers[0]?.urls.length ?? 0, turnUrls: turnUrls.length }, 'TURN credentials enabled')

  const limit = { max: config.TURN_RATE_LIMIT_MAX, windowSeconds: config.TURN_RATE_LIMIT_WINDOW_SECONDS }

  app.post('/credentials', {
    onRequest: app.auth.authenticate,
    // No body at all means "defaults"; an explicit JSON body is validated by the schema.
    preValidation: async (request) => {
      if (request.body === undefined) request.body = {}
    },
    config: { rateLimit: routeRateLimit(limit) },
    // `{"ttl":"600"}` is a 400 (docs/turn.md): no type coercion on this JSON body.
    validatorCompiler: strictBodyCompiler,
    schema: {
      tags: ['turn'],
      operationId: 'issueTurnCredentials',
      summary: 'Issue short-lived TURN credentials as an RTCConfiguration',
      description: 'The answer can be passed as-is to `new RTCPeerConnection()`. Fetch again at `refreshAt` ' +
        '(80% of ttl) and apply it with `pc.setConfiguration()` before any ICE restart. The optional JSON body ' +
        '`{ "ttl": <seconds> }` asks for a shorter lifetime (60-86400, clamped to TURN_TTL_SECONDS).',
      security: [{ bearerAuth: [] }],
      body: CredentialsBodySchema,
      response: { 200: CredentialsResponseSchema, ...problemResponses(400, 401, 413, 415, 429, 502, 503) }
    }
  }, async (request, reply): Promise<CredentialsResponse> => {
    const identity = request.identity
    // authenticate() either sets the identity or throws its 401; this only guards a broken auth plugin.
    if (identity === null || identity === undefined) throw new Error('authenticate() left no identity')
    const issued = await provider.issue({ user: identity.sub, ttl: effectiveTtl(request.body.ttl, config.TURN_TTL_SECONDS) })
    void reply.header('cache-control', 'no-store')
    return {
      iceServers: [...stunServers, ...issued.iceServers],
      ttl: issued.ttl,
      expiresAt: isoFromSeconds(issued.expiresAtSeconds),
      refreshAt: isoFromSeconds(refreshAtSeconds(issued.issuedAtSeconds, issued.ttl))
    }
  })

  // Compatibility endpoint for TURN REST API clients (draft-uberti-behave-turn-rest-00, Janus turn_rest_api).
  // Janus sends service/api/key/username in the query string for GET, and also as a form body for POST.
  const restKeyDigests = list(config.TURN_REST_API_KEYS).map(sha256)

  /** Constant-time check against every configured key (digests make lengths equal and hide which key matched). */
  function restKeyMatches (candidate: string): boolean {
    const digest = sha256(candidate)
    let match = false
    for (const known of restKeyDigests) match = timingSafeEqual(digest, known) || match
    return match
  }

  function restParams (request: FastifyRequest): RestParams {
    return { ...(request.query as RestParams), ...(request.body as RestParams | null | undefined ?? {}) }
  }

  async function verifyRestKey (request: FastifyRequest): Promise<void> {
    if (restKeyDigests.length === 0) throw new RestApiDisabledError()
    const params = restParams(request)
    const header = request.headers['x-api-key']
    const key = (typeof header === 'string' ? header : undefined) ?? params.key ?? params.api
    if (key === undefined || !restKeyMatches(key)) {
      const err: ErrorWithHeaders = new RestApiKeyInvalidError()
      err.headers = { 'www-authenticate': 'ApiKey realm="switchboard-turn-rest"' }
      throw err
    }
  }

  async function issueRest (request: FastifyRequest): Promise<RestResponse> {
    const params = restParams(request)
    if (params.service !== 'turn') throw new RestServiceInvalidError()
    const issued = await provider.issue({ user: params.username, ttl: config.TURN_TTL_SECONDS })
    // The draft's answer has one credential: take the first TURN server that has one.
    const server = issued.iceServers.find((s) => s.username !== undefined && s.credential !== undefined && s.urls.some(isTurnUrl))
    if (server?.username === undefined || server.credential === undefined) throw new TurnNotConfiguredError()
    return { username: server.username, password: server.credential, ttl: issued.ttl, uris: server.urls.filter(isTurnUrl) }
  }

  await app.register(async (rest) => {
    // Form bodies are parsed only for the compat routes.
    rest.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)))
    })
    // One limiter hook for GET and POST, so both methods share a budget. It runs after the key check
    // and counts per requested username (a Janus server asks on behalf of many users).
    const restRoute = {
      preHandler: [verifyRestKey, app.rateLimit(routeRateLimit({
        ...limit,
        keyGenerator: (request) => {
          const username = restParams(request).username
          return username === undefined ? `rest-${clientIpKey(request)}` : `rest-user:${username}`
        }
      }))],
      // HEAD would issue a credential and throw it away.
      exposeHeadRoute: false
    }
    const restSchema = {
      tags: ['turn'],
      security: [{ turnRestApiKey: [] }],
      description: 'TURN REST API (draft-uberti-behave-turn-rest-00) for existing clients such as Janus `turn_rest_api`. ' +
        'The API key (one of TURN_REST_API_KEYS) goes in `key`, `api` or the `X-API-Key` header. ' +
        '403 SWB_TURN_REST_DISABLED when no key is configured.',
      headers: RestHeadersSchema,
      querystring: RestQuerySchema,
      response: { 200: RestResponseSchema, ...problemResponses(400, 401, 403, 413, 415, 429, 502, 503) }
    }
    rest.get('/rest', { ...restRoute, schema: { ...restSchema, operationId: 'getTurnRestCredentials', summary: 'TURN REST API credentials (GET, query parameters)' } },
      async (request, reply) => {
        void reply.header('cache-control', 'no-store')
        return issueRest(request)
      })
    rest.post('/rest', {
      ...restRoute,
      preValidation: async (request) => {
        if (request.body === undefined) request.body = null
      },
      schema: { ...restSchema, operationId: 'postTurnRestCredentials', summary: 'TURN REST API credentials (POST, form or JSON body and/or query)', body: RestBodySchema }
    }, async (request, reply) => {
      void reply.header('cache-control', 'no-store')
      return issueRest(request)
    })
  })
}

export default turn
