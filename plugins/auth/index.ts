import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { list } from '../../src/config.js'
import { devTokenRoutes } from './dev-token.js'
import { authError, isAuthError } from './errors.js'
import { extractToken, isWebSocketUpgrade } from './extract.js'
import { createGrantReader } from './grants.js'
import { resolveKeySetup } from './keys.js'
import { createVerifier } from './verifier.js'
import type { Auth, Identity, RevocationCheck } from './types.js'

export type { Auth, AuthMode, Identity, RevocationCheck, RoomGrant } from './types.js'
export { grantFor } from './claims.js'
export { extractToken, SIGNALING_SUBPROTOCOL, BEARER_SUBPROTOCOL_PREFIX, ACCESS_TOKEN_QUERY } from './extract.js'
export { authError, isAuthError, type AuthError, type AuthReason } from './errors.js'

declare module 'fastify' {
  interface FastifyInstance { auth: Auth }
  interface FastifyRequest {
    /** Set by app.auth.authenticate; null on routes that do not authenticate. */
    identity: Identity | null
  }
}

async function auth (app: FastifyInstance): Promise<void> {
  const config = app.config
  const log = app.log.child({ component: 'auth' })
  const keys = resolveKeySetup(config, log)
  const audience = list(config.JWT_AUDIENCE)
  const verifyToken = createVerifier({
    keys,
    issuer: config.JWT_ISSUER,
    audience,
    clockToleranceSeconds: config.JWT_CLOCK_TOLERANCE_SECONDS,
    grants: createGrantReader({ roomsClaim: config.JWT_ROOMS_CLAIM, mode: config.ROOM_GRANTS }),
    log
  })
  // After the (possibly cached) verification, so a revocation applies to tokens already seen too.
  let revoked: RevocationCheck | undefined
  async function verify (token: string): Promise<Identity> {
    const identity = await verifyToken(token)
    if (revoked?.(identity) === true) {
      const err = authError('TOKEN_REVOKED')
      err.sub = identity.sub
      throw err
    }
    return identity
  }

  async function authenticate (request: FastifyRequest): Promise<void> {
    try {
      // Query and subprotocol tokens only count on WebSocket upgrades, where browsers have no header.
      const token = extractToken(request, isWebSocketUpgrade(request))
      if (token === undefined) throw authError('TOKEN_MISSING')
      request.identity = await verify(token)
    } catch (err) {
      // An event, not a dump: the reason code (request id comes with request.log) and a verified sub at most.
      if (isAuthError(err)) {
        request.log.info({ event: 'auth_failed', code: err.code, ...(err.sub !== undefined && { sub: err.sub }) }, 'authentication failed')
      }
      throw err
    }
  }

  const setRevocationCheck = (check: RevocationCheck): void => { revoked = check }
  app.decorate('auth', { verify, extractToken, authenticate, setRevocationCheck, mode: keys.mode, algorithms: keys.algorithms } satisfies Auth)
  app.decorateRequest('identity', null)
  log.info({ mode: keys.mode, algorithms: keys.algorithms, roomsClaim: config.JWT_ROOMS_CLAIM, roomGrants: config.ROOM_GRANTS }, 'token verification configured')

  if (keys.mode === 'jwks') {
    const { jwks } = keys
    // Not awaited: a slow IdP must not delay start; the first request shares the in-flight fetch.
    app.addHook('onReady', async () => { void jwks.prefetch() })
  }

  if (keys.mode === 'development') {
    log.warn('no JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL set: using a random development secret and enabling POST /v1/dev/token; anyone who can reach this server can mint tokens')
    await app.register(devTokenRoutes, {
      prefix: '/v1/dev',
      secret: keys.secret,
      issuer: config.JWT_ISSUER,
      audience: audience[0]
    })
  }
}

export default fp(auth, { fastify: '5.x', name: 'switchboard-auth' })
