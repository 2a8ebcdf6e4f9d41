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
 * proper TOKEN_EXPIRED). Failures are never cached. Tokens stay in memory only, as in any request,
 * and not much longer than their entry is good for: each set() first lets go of the entries whose
 * time is up, oldest first, so a server that verified 10,000 tokens once does not hold them (and the
 * request headers they were cut from) until 10,000 newer ones push them out. Used with a shared
 * secret only (see verifier.ts).
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
    const now = this.now()
    this.dropExpired(now)
    const expiresAt = (identity.exp + this.clockToleranceSeconds) * 1000
    const until = Math.min(now + TOKEN_CACHE_TTL_MS, expiresAt)
    if (until <= now) return
    this.entries.delete(token)
    this.entries.set(token, { identity, until })
    if (this.entries.size > MAX_ENTRIES) {
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) this.entries.delete(oldest)
    }
  }

  /** How many tokens are remembered. */
  get size (): number {
    return this.entries.size
  }

  /**
   * Drops entries from the oldest on while their time is up. Entries go in in the order they were
   * set, and most are good for the TTL from then: the loop stops at the first one still good, so a
   * set() costs O(1) amortized. An entry cut short by its token's own expiry that sits behind a later
   * one goes when it reaches the front, or when get() finds it.
   */
  private dropExpired (now: number): void {
    for (const [token, entry] of this.entries) {
      if (entry.until > now) return
      this.entries.delete(token)
    }
  }
}
