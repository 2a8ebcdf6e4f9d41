import type { RedisRegistry } from './redis-registry.js'

/** Deadlines handled per sweep at most. */
const SWEEP_BATCH = 100
/** The longest max duration (7 days) and a day to spare: the zset outlives every deadline it holds. */
const DEADLINES_TTL_MS = 8 * 86_400_000

/**
 * Room deadlines (max duration) shared by every instance: a zset swept by each instance's reaper loop,
 * so a room ends at its deadline (within a reap interval) even when the instance that armed it died.
 * The arming instance's own timer usually ends it on time; the sweep then finds it ended already. A
 * deadline is claimed with a lease (one instance at a time) and removed once its end is done, so it
 * fires on one instance, and again elsewhere only if that one died or failed before it was done. The
 * registry's end of a room is itself once-only (only the room that started then, only while occupied).
 */
export class RedisDeadlines {
  constructor (private readonly registry: RedisRegistry, private readonly leaseMs: number) {}

  async share (room: string, startedAt: number, endsAt: number | undefined): Promise<void> {
    const { client, keys } = this.registry
    const member = `${startedAt} ${room}`
    if (endsAt === undefined) {
      await client.zrem(keys.roomDeadlines(), member)
      return
    }
    await Promise.all([client.zadd(keys.roomDeadlines(), endsAt, member), client.pexpire(keys.roomDeadlines(), DEADLINES_TTL_MS)])
  }

  /** Ends the rooms whose deadline passed (called every reap interval). */
  async sweep (): Promise<void> {
    const r = this.registry
    const due = await r.script('swbDeadlinesDue', [r.keys.roomDeadlines()], [this.leaseMs, SWEEP_BATCH])
    for (const member of due) {
      const space = member.indexOf(' ')
      const startedAt = Number(member.slice(0, space))
      const room = member.slice(space + 1)
      r.track((async () => {
        await r.events.roomDeadline(room, startedAt)
        await r.client.zrem(r.keys.roomDeadlines(), member)
      })(), 'end a room at its deadline')
    }
  }
}
