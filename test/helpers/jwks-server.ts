import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { KeyObject, randomUUID } from 'node:crypto'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK } from 'jose'

interface Teardown { teardown (fn: () => unknown): void }

export type TestAlg = 'RS256' | 'PS256' | 'ES256' | 'ES384' | 'EdDSA' | 'Ed25519'

export interface SignOptions {
  /** jose duration ('1h', '-5m') or absolute epoch seconds; default '1h'. Ignored when claims carry `exp`. */
  expiresIn?: string | number
  /** Override the header's kid; null leaves it out. */
  kid?: string | null
  /** Sign with another algorithm the same key supports (RSA: RS256 or PS256; Ed25519: EdDSA or Ed25519). */
  alg?: string
}

/** A signing key pair as an IdP would hold it; the public half can be published or configured. */
export interface TestKey {
  kid: string
  alg: TestAlg
  publicJwk: JWK
  /** SPKI PEM of the public key (what JWT_PUBLIC_KEY accepts). */
  publicPem: string
  /** Signs claims (default { sub: 'alice' }) with the private key. */
  sign (claims?: Record<string, unknown>, opts?: SignOptions): Promise<string>
}

export async function generateTestKey (alg: TestAlg = 'RS256', kid: string = randomUUID()): Promise<TestKey> {
  const { privateKey: cryptoKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  // A KeyObject is not bound to one algorithm, so one RSA key can sign both RS256 and PS256.
  const privateKey = KeyObject.from(cryptoKey)
  const publicJwk = { ...await exportJWK(publicKey), kid, alg, use: 'sig' }
  const publicPem = await exportSPKI(publicKey)
  return {
    kid,
    alg,
    publicJwk,
    publicPem,
    async sign (claims = {}, opts = {}) {
      const payload: Record<string, unknown> = {}
      for (const [k, v] of Object.entries({ sub: 'alice', ...claims })) if (v !== undefined) payload[k] = v
      const header: { alg: string, typ: string, kid?: string } = { alg: opts.alg ?? alg, typ: 'JWT' }
      if (opts.kid !== null) header.kid = opts.kid ?? kid
      const jwt = new SignJWT(payload).setProtectedHeader(header).setIssuedAt()
      if (!('exp' in claims)) jwt.setExpirationTime(opts.expiresIn ?? '1h')
      return jwt.sign(privateKey)
    }
  }
}

/** ok: serve the key set; error: answer 500; hang: accept and never answer (to test timeouts). */
export type JwksMode = 'ok' | 'error' | 'hang'

export interface JwksServer {
  /** Full JWKS URL, for JWT_JWKS_URL. */
  url: string
  /** How many GETs of the key set were received (any mode). */
  readonly fetches: number
  /** Generates a key and publishes it. */
  addKey (alg?: TestAlg, kid?: string): Promise<TestKey>
  /** Publishes an existing key (e.g. one that was removed). */
  publish (key: TestKey): void
  /** Stops publishing a key (rotation: the IdP retired it). */
  removeKey (kid: string): void
  setMode (mode: JwksMode): void
  close (): Promise<void>
}

/**
 * A real IdP-like JWKS endpoint on 127.0.0.1 with an ephemeral port, torn down with the test.
 * Published keys change at runtime, which is what key rotation looks like from the service's side.
 */
export async function startJwksServer (t: Teardown, algs: TestAlg[] = ['RS256']): Promise<JwksServer & { keys: TestKey[] }> {
  const published = new Map<string, TestKey>()
  let fetches = 0
  let mode: JwksMode = 'ok'

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' || req.url !== '/.well-known/jwks.json') {
      res.writeHead(404).end()
      return
    }
    fetches++
    if (mode === 'hang') return
    if (mode === 'error') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('unavailable')
      return
    }
    const body = JSON.stringify({ keys: [...published.values()].map((k) => k.publicJwk) })
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    server.closeAllConnections() // hanging requests would otherwise hold close() open
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  t.teardown(close)

  const jwks: JwksServer & { keys: TestKey[] } = {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get fetches () { return fetches },
    keys: [],
    async addKey (alg = 'RS256', kid) {
      const key = await generateTestKey(alg, kid)
      published.set(key.kid, key)
      return key
    },
    publish (key) { published.set(key.kid, key) },
    removeKey (kid) { published.delete(kid) },
    setMode (next) { mode = next },
    close
  }
  for (const alg of algs) jwks.keys.push(await jwks.addKey(alg))
  return jwks
}
