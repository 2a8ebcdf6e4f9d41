import { randomUUID, type KeyObject } from 'node:crypto'
import { SignJWT } from 'jose'
import type { RoomsClaim } from './claims.js'

export interface MintInput {
  sub?: string
  name?: string
  role?: string
  rooms?: RoomsClaim
  /** Lifetime in seconds. */
  ttl: number
}

export interface MintOptions {
  /** HMAC key: the service's KeyObject, or raw bytes (scripts/mint-token.ts). */
  secret: KeyObject | Uint8Array
  alg?: 'HS256' | 'HS384' | 'HS512'
  issuer?: string
  audience?: string
}

/** A fresh user id for dev tokens minted without `sub`, so two browser tabs are two different users. */
export function randomDevSub (): string {
  return `dev-${randomUUID().slice(0, 8)}`
}

/**
 * Signs a development token with the same claims a real IdP token carries (iss/aud when the service
 * checks them), so code paths are identical whether a token came from here or from the IdP.
 */
export async function mintToken (input: MintInput, opts: MintOptions): Promise<{ token: string, exp: number }> {
  const now = Math.floor(Date.now() / 1000)
  const exp = now + input.ttl
  const claims: Record<string, unknown> = {}
  if (input.name !== undefined) claims.name = input.name
  if (input.role !== undefined) claims.role = input.role
  if (input.rooms !== undefined) claims.rooms = input.rooms
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: opts.alg ?? 'HS256', typ: 'JWT' })
    .setSubject(input.sub ?? randomDevSub())
    .setIssuedAt(now)
    .setExpirationTime(exp)
    .setJti(randomUUID())
  if (opts.issuer !== undefined) jwt.setIssuer(opts.issuer)
  if (opts.audience !== undefined) jwt.setAudience(opts.audience)
  return { token: await jwt.sign(opts.secret), exp }
}
