/**
 * What a registry remembers of revoked users: user id → when its sessions were revoked (ms). An entry
 * matters only while a token issued before it can still be valid, so it is kept `retentionMs`
 * (REVOCATION_RETENTION_SECONDS: the longest token lifetime the deployment issues) and then forgotten:
 * the map stays bounded by the revocations of that period. Shared by both registries.
 */
export class Revocations {
  private readonly byUser = new Map<string, number>()

  constructor (readonly retentionMs: number, private readonly now: () => number = Date.now) {}

  /** Records a revocation; true when it is news (later than what was known of that user). */
  record (userId: string, at: number): boolean {
    const known = this.byUser.get(userId)
    if (known !== undefined && known >= at) return false
    if (at < this.now() - this.retentionMs) return false
    this.byUser.set(userId, at)
    return true
  }

  /** When the user's sessions were revoked, unless that is older than the retention. */
  at (userId: string): number | undefined {
    const at = this.byUser.get(userId)
    if (at === undefined) return undefined
    if (at >= this.now() - this.retentionMs) return at
    this.byUser.delete(userId)
    return undefined
  }

  /** Forgets the entries past the retention; returns their user ids (for the shared store to drop too). */
  prune (): string[] {
    const oldest = this.now() - this.retentionMs
    const stale: string[] = []
    for (const [user, at] of this.byUser) {
      if (at < oldest) {
        this.byUser.delete(user)
        stale.push(user)
      }
    }
    return stale
  }
}

/** The default of REVOCATION_RETENTION_SECONDS: a week, for tokens living up to that long. */
export const DEFAULT_REVOCATION_RETENTION_SECONDS = 7 * 86_400
