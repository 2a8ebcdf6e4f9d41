import type { Identity } from './types.js'

/** Verified tokens remembered at most (the oldest go first). */
const MAX_ENTRIES = 10_000
/** How long a verification is trusted without being redone (a rotated JWT_SECRET takes effect on restart anyway). */
export const TOKEN_CACHE_TTL_MS = 60_000

interface Entry { identity: Identity, until: number }

/**
 * Successful verifications, by token. Clients present the same token again and again (every TURN
 * refresh, every reconnect or resume); checking its signature and claims once a minute is enough. A
 * hit is still refused once the token itself expires (the caller then verifies it again and gets the
 * proper TOKEN_EXPIRED). Failures are never cached. Tokens stay in memory only, as in any request.
 * Used with a shared secret only (see verifier.ts).
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>()

  constructor (private readonly clockToleranceSeconds: number, private readonly now: () => number = Date.now) {}

  get (token: string): Identity | undefined {
    const entry = this.entries.get(token)
    if (entry === undefined) return undefined
    if (this.now() >= entry.until) {
      this.entries.delete(token)
      return undefined
    }
    return entry.identity
  }

  set (token: string, identity: Identity): void {
    const expiresAt = (identity.exp + this.clockToleranceSeconds) * 1000
    const until = Math.min(this.now() + TOKEN_CACHE_TTL_MS, expiresAt)
    if (until <= this.now()) return
    this.entries.delete(token)
    this.entries.set(token, { identity, until })
    if (this.entries.size > MAX_ENTRIES) {
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) this.entries.delete(oldest)
    }
  }
}
