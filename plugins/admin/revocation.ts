import type { Identity } from '../auth/types.js'

/**
 * Whether a token is refused because its user's sessions were revoked at `revokedAt` (ms). `iat` has
 * a resolution of one second: a token issued within the second of the revocation is refused too (a
 * token from just before it must never pass), and so is a token without `iat` (nothing shows it is newer).
 */
export function isRevoked (identity: Pick<Identity, 'iat'>, revokedAt: number | undefined): boolean {
  if (revokedAt === undefined) return false
  return identity.iat === undefined || identity.iat * 1000 <= revokedAt
}
