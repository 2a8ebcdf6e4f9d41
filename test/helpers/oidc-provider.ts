import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { exportJWK, generateKeyPair, type JWK } from 'jose'
import Provider, { type Configuration } from 'oidc-provider'

interface Teardown { teardown (fn: () => unknown): void }

/** The resource indicator and audience of the JWT access tokens the provider issues for Switchboard. */
export const SWITCHBOARD_RESOURCE = 'urn:switchboard'
export const SWITCHBOARD_AUDIENCE = 'switchboard'
/** oidc-provider's default JWKS route (also its discovery document's jwks_uri). */
const JWKS_PATH = '/jwks'

export interface OidcProviderOptions {
  /** Scopes the resource server offers (space-separated), e.g. `room:clinic-42/*:host room:waiting-room`. */
  scopes: string
  /** client_credentials clients: one per user of the test (their `sub` is the client id). */
  clients: string[]
}

export interface TestOidcProvider {
  /** The issuer (http://127.0.0.1:<port>), for JWT_ISSUER. */
  issuer: string
  /** From the provider's discovery document, for JWT_JWKS_URL. */
  jwksUrl: string
  /** GETs of the JWKS so far, and when the last one came (ms since the epoch). */
  readonly jwksFetches: number
  readonly lastJwksFetchAt: number
  /** The kid the provider signs new tokens with. */
  readonly signingKid: string
  /** A JWT access token for `clientId` (client_credentials grant, resource urn:switchboard) with `scope`. */
  token (clientId: string, scope: string): Promise<string>
  /**
   * Rotates the signing key as an IdP does: a new key is published and signs from now on; the previous
   * one stays published (tokens signed with it are still valid) unless `retirePrevious`.
   */
  rotate (opts?: { retirePrevious?: boolean }): Promise<string>
}

async function signingKey (): Promise<JWK> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true })
  return { ...await exportJWK(privateKey), kid: randomUUID(), alg: 'ES256', use: 'sig' }
}

/**
 * A real OpenID Connect provider (the `oidc-provider` package, what many Node IdPs are built on) on a
 * free loopback port, issuing RFC 9068 JWT access tokens through the client_credentials grant with
 * resource indicators. A rotation builds a new Provider with the new key set behind the same server
 * and issuer: that is what a redeployed IdP with a rotated key looks like from outside.
 */
export async function startOidcProvider (t: Teardown, opts: OidcProviderOptions): Promise<TestOidcProvider> {
  let jwksFetches = 0
  let lastJwksFetchAt = Number.NEGATIVE_INFINITY
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === JWKS_PATH) {
      jwksFetches++
      lastJwksFetchAt = Date.now()
    }
    handler?.(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const secrets = new Map(opts.clients.map((id) => [id, `secret-${randomUUID()}`]))

  let keys: JWK[] = [await signingKey()]
  const configure = (): void => {
    const configuration: Configuration = {
      clients: opts.clients.map((id) => ({
        client_id: id,
        client_secret: secrets.get(id),
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        // The only key type published: ES256 (the default RS256 would need an RSA key).
        id_token_signed_response_alg: 'ES256',
        scope: opts.scopes
      })),
      // Scopes the server knows at all; each client may ask only for its own (client `scope`).
      scopes: ['openid', ...opts.scopes.split(' ')],
      jwks: { keys },
      cookies: { keys: [randomUUID()] },
      ttl: { ClientCredentials: 600 },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => SWITCHBOARD_RESOURCE,
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({
            scope: opts.scopes,
            audience: SWITCHBOARD_AUDIENCE,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 600,
            jwt: { sign: { alg: 'ES256' } }
          })
        }
      }
    }
    const provider = new Provider(issuer, configuration)
    handler = provider.callback()
  }
  configure()
  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json() as { jwks_uri: string }
  if (new URL(discovery.jwks_uri).pathname !== JWKS_PATH) throw new Error(`unexpected jwks_uri ${discovery.jwks_uri}`)

  return {
    issuer,
    jwksUrl: discovery.jwks_uri,
    get jwksFetches () { return jwksFetches },
    get lastJwksFetchAt () { return lastJwksFetchAt },
    get signingKid () { return keys[0]!.kid! },
    async token (clientId, scope) {
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${clientId}:${secrets.get(clientId) ?? ''}`).toString('base64')}`
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource: SWITCHBOARD_RESOURCE })
      })
      const body = await res.json() as { access_token?: string, error?: string, error_description?: string }
      if (!res.ok || body.access_token === undefined) throw new Error(`token request refused: ${res.status} ${body.error ?? ''} ${body.error_description ?? ''}`)
      return body.access_token
    },
    async rotate ({ retirePrevious = false } = {}) {
      const next = await signingKey()
      keys = retirePrevious ? [next] : [next, ...keys]
      configure()
      return next.kid!
    }
  }
}
