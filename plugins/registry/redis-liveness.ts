import type { FastifyBaseLogger } from 'fastify'
import type { RedisRegistry } from './redis-registry.js'
import { ClockOffset } from './redis-clock.js'

export interface LivenessOptions {
  instanceTtlMs: number
  reapIntervalMs: number
  graceMs: number
  log: FastifyBaseLogger
}

/** Dead instances are cleaned up in batches of this many sessions (a bounded burst of scripts). */
const ADOPT_BATCH = 100

/**
 * Instance liveness and the reaper. Each instance refreshes a key with a short TTL (every third of
 * it); every instance looks for registered instances whose key is gone, and one of them (a lock
 * decides) adopts their sessions: each then ends at the end of its grace period unless its peer
 * resumed elsewhere. So the peers of an instance killed without a goodbye get `peer-left` within
 * REDIS_INSTANCE_TTL_SECONDS + REDIS_REAP_INTERVAL_SECONDS + RESUME_GRACE_SECONDS.
 */
export class RedisLiveness {
  private heartbeatTimer: NodeJS.Timeout | undefined
  private reapTimer: NodeJS.Timeout | undefined
  private touchTimer: NodeJS.Timeout | undefined
  private reaping = false

  private readonly clock = new ClockOffset()

  constructor (private readonly registry: RedisRegistry, private readonly options: LivenessOptions) {}

  /** Announces this instance (at start and after an outage). */
  async register (): Promise<void> {
    const { client, keys, instanceId } = this.registry
    await Promise.all([
      client.set(keys.instanceAlive(instanceId), '1', 'PX', this.options.instanceTtlMs),
      client.zadd(keys.instances(), Date.now(), instanceId),
      client.pexpire(keys.instances(), this.registry.stateTtlMs),
      this.measureClock()
    ])
  }

  /**
   * Redis' clock against ours, from TIME round trips: relay deadlines are checked by Redis in its own
   * time, so they must not depend on the two clocks agreeing.
   */
  private async measureClock (): Promise<void> {
    const sent = Date.now()
    const [seconds, micros] = await this.registry.client.time()
    const received = Date.now()
    // The best of the recent samples, not the latest (redis-clock.ts).
    this.registry.clockOffsetMs = this.clock.add(sent, Number(seconds) * 1000 + Number(micros) / 1000, received)
  }

  start (): void {
    this.heartbeatTimer = setInterval(() => { void this.beat() }, Math.max(100, Math.floor(this.options.instanceTtlMs / 3)))
    this.reapTimer = setInterval(() => { void this.reap() }, this.options.reapIntervalMs)
    this.touchTimer = setInterval(() => {
      if (this.registry.ready) this.registry.touchAll().catch((err: unknown) => this.debug(err, 'refreshing key TTLs failed'))
    }, Math.floor(this.registry.stateTtlMs / 4))
    for (const timer of [this.heartbeatTimer, this.reapTimer, this.touchTimer]) timer.unref()
    void this.reap()
  }

  stop (): void {
    clearInterval(this.heartbeatTimer)
    clearInterval(this.reapTimer)
    clearInterval(this.touchTimer)
  }

  /**
   * Graceful exit: the liveness key goes at once, so reapers adopt whatever sessions are left now
   * rather than after the TTL. An instance that owns nothing removes every trace of itself.
   */
  async unregister (): Promise<void> {
    const { client, keys, instanceId } = this.registry
    await client.del(keys.instanceAlive(instanceId))
    const [peers, users] = await Promise.all([client.scard(keys.instancePeers(instanceId)), client.scard(keys.instanceUsers(instanceId))])
    if (peers === 0 && users === 0) await client.zrem(keys.instances(), instanceId)
  }

  private async beat (): Promise<void> {
    const registry = this.registry
    if (!registry.ready) return
    const { client, keys, instanceId } = registry
    try {
      const previous = await client.set(keys.instanceAlive(instanceId), '1', 'PX', this.options.instanceTtlMs, 'GET')
      await Promise.all([
        client.zadd(keys.instances(), Date.now(), instanceId),
        client.pexpire(keys.instances(), registry.stateTtlMs),
        client.pexpire(keys.instancePeers(instanceId), registry.stateTtlMs),
        client.pexpire(keys.instanceUsers(instanceId), registry.stateTtlMs),
        client.pexpire(keys.instanceOutboxes(instanceId), registry.stateTtlMs),
        this.measureClock()
      ])
      // Our key had expired: we were stalled or cut off long enough to be presumed dead (and maybe
      // reaped). Write our state back; sessions another instance adopted meanwhile are let go.
      if (previous === null) await registry.resync('the liveness key had expired')
    } catch (err) {
      this.debug(err, 'heartbeat failed')
    }
  }

  private async reap (): Promise<void> {
    const registry = this.registry
    if (this.reaping || !registry.ready) return
    this.reaping = true
    try {
      const { client, keys, instanceId } = registry
      const others = (await client.zrange(keys.instances(), 0, -1)).filter((id) => id !== instanceId)
      const alive = await Promise.all(others.map((id) => client.exists(keys.instanceAlive(id))))
      for (const [i, id] of others.entries()) {
        if (alive[i] === 0 && registry.ready) await this.reapInstance(id)
      }
      // Rooms at their max duration, whichever instance armed them (it may be one just reaped).
      if (registry.ready) await registry.deadlines.sweep()
    } catch (err) {
      this.debug(err, 'reaper pass failed')
    } finally {
      this.reaping = false
    }
  }

  private async reapInstance (dead: string): Promise<void> {
    const { client, keys, instanceId } = this.registry
    // One reaper per dead instance; if it dies half-way the lock lapses and another one finishes.
    const lockMs = Math.max(5000, 10 * this.options.reapIntervalMs)
    if (await client.set(keys.instanceReaper(dead), instanceId, 'PX', lockMs, 'NX') !== 'OK') return
    const peers = await client.smembers(keys.instancePeers(dead))
    let adopted = 0
    for (let i = 0; i < peers.length; i += ADOPT_BATCH) {
      const results = await Promise.all(peers.slice(i, i + ADOPT_BATCH).map((peerId) => this.registry.adopt(dead, peerId)))
      adopted += results.filter(Boolean).length
    }
    // Events its room steps recorded and it had yet to move to the webhook queue: ours to move now.
    await this.registry.adoptOutboxes(dead)
    const users = await client.smembers(keys.instanceUsers(dead))
    await Promise.all(users.map((user) => client.hdel(keys.connections(user), dead)))
    await Promise.all([
      client.del(keys.instancePeers(dead)),
      client.del(keys.instanceUsers(dead)),
      client.zrem(keys.instances(), dead)
    ])
    await client.del(keys.instanceReaper(dead))
    this.options.log.info({ deadInstance: dead, sessions: peers.length, adopted, users: users.length }, 'reaped a dead instance')
  }

  private debug (err: unknown, message: string): void {
    this.options.log.debug({ err: { message: (err as Error).message } }, message)
  }
}
