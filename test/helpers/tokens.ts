import { SignJWT } from 'jose'
import { TEST_JWT_SECRET } from './config.js'

export interface SignTestTokenOptions {
  /** HMAC secret; defaults to TEST_JWT_SECRET (what testConfig() configures as JWT_SECRET). */
  secret?: string
  /** jose duration ('1h', '-5m') or absolute seconds since the epoch; defaults to '1h'. */
  expiresIn?: string | number
  /** HS256 (default), HS384 or HS512. */
  alg?: string
}

/**
 * The grant test tokens carry unless a test passes its own `rooms`: every room. ROOM_GRANTS=required
 * (the default) admits a token to no room without a grant, and most tests are not about grants.
 */
export const ANY_ROOM_GRANT: readonly string[] = ['*']

/**
 * Signs an HMAC token that the app built by testConfig() accepts.
 * Claims default to { sub: 'alice', rooms: ['*'] }; a claim set to undefined is left out (e.g.
 * { rooms: undefined } for a token without a rooms claim).
 * `iat` is added unless given; `exp` comes from opts.expiresIn unless the claims carry their own.
 */
export async function signTestToken (
  claims: Record<string, unknown> = {},
  opts: SignTestTokenOptions = {}
): Promise<string> {
  const payload: Record<string, unknown> = {}
  for (const [k, v] of Object.entries({ sub: 'alice', rooms: ANY_ROOM_GRANT, ...claims })) {
    if (v !== undefined) payload[k] = v
  }
  const jwt = new SignJWT(payload).setProtectedHeader({ alg: opts.alg ?? 'HS256', typ: 'JWT' })
  if (!('iat' in claims)) jwt.setIssuedAt()
  if (!('exp' in claims)) jwt.setExpirationTime(opts.expiresIn ?? '1h')
  return jwt.sign(new TextEncoder().encode(opts.secret ?? TEST_JWT_SECRET))
}
