import { createPublicKey, createSecretKey, randomBytes, type JsonWebKey, type KeyObject } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { ConfigError, list, type Config } from '../../src/config.js'
import { createJwksResolver, type JwksResolver } from './jwks.js'

export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const
const RSA_PKCS1 = ['RS256', 'RS384', 'RS512']
const RSA_PSS = ['PS256', 'PS384', 'PS512']
const EC_BY_CURVE: Record<string, string> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }
/** Every public-key algorithm jose verifies; a JWKS may hold any of them. `EdDSA` and `Ed25519` both mean Ed25519. */
export const ASYMMETRIC_ALGORITHMS = [...RSA_PKCS1, ...RSA_PSS, 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const

/**
 * How tokens are checked, decided once at start from the JWT_* variables. Keys are KeyObjects made here,
 * once: the verifier uses them as they are, and never imports key material per token.
 */
export type KeySetup =
  | { mode: 'secret' | 'development', algorithms: string[], secret: KeyObject }
  | { mode: 'public-key', algorithms: string[], key: KeyObject }
  | { mode: 'jwks', algorithms: string[], jwks: JwksResolver }


/**
 * The algorithms a public key can verify. Tying algorithms to the key type is what blocks algorithm
 * confusion: a public key is never offered to HMAC, so an HS256 token "signed" with it is refused.
 */
export function algorithmsForPublicKey (key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa': return [...RSA_PKCS1, ...RSA_PSS]
    case 'rsa-pss': return [...RSA_PSS]
    case 'ed25519': return ['EdDSA', 'Ed25519']
    case 'ec': {
      const alg = EC_BY_CURVE[key.asymmetricKeyDetails?.namedCurve ?? '']
      if (alg) return [alg]
      throw new ConfigError(`JWT_PUBLIC_KEY: unsupported EC curve ${key.asymmetricKeyDetails?.namedCurve ?? '(unknown)'}; use P-256, P-384 or P-521`)
    }
    default:
      throw new ConfigError(`JWT_PUBLIC_KEY: unsupported key type ${key.asymmetricKeyType ?? '(unknown)'}; use RSA, EC or Ed25519`)
  }
}

/**
 * Parses JWT_PUBLIC_KEY: PEM (SPKI, `-----BEGIN PUBLIC KEY-----`, with real or `\n`-escaped newlines as
 * env files often carry them) or one JWK as JSON. Private keys are refused so they do not sit in config.
 * Returns the key plus the JWK's own `alg` when it pins one.
 */
export function parsePublicKey (value: string): { key: KeyObject, pinnedAlg?: string } {
  const text = value.trim()
  if (text.startsWith('{')) {
    let jwk: JsonWebKey & { alg?: unknown }
    try {
      jwk = JSON.parse(text) as JsonWebKey & { alg?: unknown }
    } catch {
      throw new ConfigError('JWT_PUBLIC_KEY: looks like JSON but does not parse as a JWK')
    }
    if (jwk.kty === 'oct') throw new ConfigError('JWT_PUBLIC_KEY: a symmetric JWK (kty oct) is a secret; use JWT_SECRET')
    if (jwk.d !== undefined) throw new ConfigError('JWT_PUBLIC_KEY: the JWK holds a private key (d); give the public key only')
    let key: KeyObject
    try {
      key = createPublicKey({ key: jwk, format: 'jwk' })
    } catch (err) {
      throw new ConfigError(`JWT_PUBLIC_KEY: not a usable public JWK (${(err as Error).message})`)
    }
    return typeof jwk.alg === 'string' ? { key, pinnedAlg: jwk.alg } : { key }
  }
  const pem = text.replace(/\\n/g, '\n')
  if (/PRIVATE KEY-----/.test(pem)) throw new ConfigError('JWT_PUBLIC_KEY: this is a private key; give the public key (SPKI PEM) only')
  try {
    return { key: createPublicKey({ key: pem, format: 'pem' }) }
  } catch (err) {
    throw new ConfigError(`JWT_PUBLIC_KEY: not a PEM public key or JWK JSON (${(err as Error).message})`)
  }
}

/** Narrows the key type's algorithms to JWT_ALGORITHMS; an entry the key cannot verify is a config error. */
export function effectiveAlgorithms (supported: readonly string[], allowlist: string | undefined, keyVariable: string): string[] {
  const wanted = list(allowlist)
  if (wanted.length === 0) return [...supported]
  const unusable = wanted.filter((alg) => !supported.includes(alg))
  if (unusable.length > 0) {
    throw new ConfigError(`JWT_ALGORITHMS: ${unusable.join(', ')} cannot be used with ${keyVariable} (it supports ${supported.join(', ')})`)
  }
  return [...new Set(wanted)]
}

/**
 * Decides the verification mode. Development mode (no key variable, NODE_ENV not production) signs
 * with a random per-process secret, so dev tokens die with the process.
 */
export function resolveKeySetup (config: Config, log: FastifyBaseLogger): KeySetup {
  if (config.JWT_SECRET) {
    return {
      mode: 'secret',
      algorithms: effectiveAlgorithms(HMAC_ALGORITHMS, config.JWT_ALGORITHMS, 'JWT_SECRET'),
      // The secret is used as its UTF-8 bytes (not base64-decoded), like most JWT libraries.
      secret: createSecretKey(Buffer.from(config.JWT_SECRET, 'utf8'))
    }
  }
  if (config.JWT_PUBLIC_KEY) {
    const { key, pinnedAlg } = parsePublicKey(config.JWT_PUBLIC_KEY)
    let supported = algorithmsForPublicKey(key)
    if (pinnedAlg !== undefined) {
      if (!supported.includes(pinnedAlg)) throw new ConfigError(`JWT_PUBLIC_KEY: the JWK's alg ${pinnedAlg} does not fit its key type`)
      supported = [pinnedAlg]
    }
    if (key.asymmetricKeyType?.startsWith('rsa') && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
      throw new ConfigError('JWT_PUBLIC_KEY: RSA keys must be at least 2048 bits')
    }
    return { mode: 'public-key', algorithms: effectiveAlgorithms(supported, config.JWT_ALGORITHMS, 'JWT_PUBLIC_KEY'), key }
  }
  if (config.JWT_JWKS_URL) {
    return {
      mode: 'jwks',
      algorithms: effectiveAlgorithms(ASYMMETRIC_ALGORITHMS, config.JWT_ALGORITHMS, 'JWT_JWKS_URL'),
      jwks: createJwksResolver({
        url: config.JWT_JWKS_URL,
        cooldownMs: config.JWT_JWKS_COOLDOWN_SECONDS * 1000,
        cacheMaxAgeMs: config.JWT_JWKS_CACHE_SECONDS * 1000,
        timeoutMs: config.JWT_JWKS_TIMEOUT_MS,
        log
      })
    }
  }
  if (config.NODE_ENV === 'production') {
    throw new ConfigError('NODE_ENV=production needs JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL (no development secret in production)')
  }
  return {
    mode: 'development',
    algorithms: effectiveAlgorithms(['HS256'], config.JWT_ALGORITHMS, 'the generated development secret'),
    secret: createSecretKey(randomBytes(32))
  }
}
