import { ENDED_TOKEN, encodeUserId } from './keys.js'
import { adoptionPayload } from './redis-channel.js'
import type { OwnedPeer, RedisRegistry } from './redis-registry.js'
import type { LeaveReason } from './types.js'
import type { PeerInfo } from '../signaling/messages.js'

/** Sessions written back to Redis (or refreshed) at a time: a bounded burst of commands. */
const RESTORE_BATCH = 500
/** TTL refreshes are sent this many at a time, with a pause between: spread out, not one spike. */
const TOUCH_BATCH = 200
const TOUCH_PAUSE_MS = 10
/** Retry of a failed re-registration while Redis is reachable again but not yet cooperating. */
const RESYNC_RETRY_MS = 500
/**
 * Room changes this long before the connection was lost count as missed too: their notices may have
 * been on the way (published to a subscriber that was already gone) when Redis went away.
 */
const MISSED_CHANGE_MARGIN_MS = 1000

/** A change of a room (a departure or an arrival) that a member written back after an outage was not told about. */
interface MissedChange {
  peerId: string
  room: string
  tell: () => Promise<void>
}

/**
 * Ownership after trouble: writing this instance's sessions back when Redis returns (it may have
 * restarted empty) or when we were presumed dead, adopting the sessions of an instance that died
 * (each ends after its grace unless its peer resumes), and keeping the TTLs of our keys fresh.
 */
export class RedisRecovery {
  private readonly orphanTimers = new Map<string, NodeJS.Timeout>()
  private resyncRunning = false
  private resyncAgain = false
  private resyncRetry: NodeJS.Timeout | undefined
  /** When (Redis time, ms) this instance lost Redis; undefined while it has not since the last write-back. */
  private outageSince: number | undefined
  /**
   * Found by write-backs (a member is written back only once, so a retried or repeated write-back finds
   * nothing new): kept until one succeeds, then told.
   */
  private missed: MissedChange[] = []

  constructor (private readonly registry: RedisRegistry) {}

  stop (): void {
    clearTimeout(this.resyncRetry)
    for (const timer of this.orphanTimers.values()) clearTimeout(timer)
    this.orphanTimers.clear()
  }

  // ---- adoption -------------------------------------------------------------------------------

  /**
   * Takes a dead instance's session over until its grace runs out; it ends then unless the peer resumed
   * somewhere meanwhile. False when it is gone or already owned by someone else.
   */
  async adopt (deadInstance: string, peerId: string): Promise<boolean> {
    const r = this.registry
    if (!r.ready) return false
    const adopted = await r.script('swbAdopt', [r.keys.peer(peerId), r.keys.peerRooms(peerId), r.keys.peerJoining(peerId)],
      [deadInstance, r.instanceId, r.options.graceMs, r.stateTtlMs])
    if (!adopted) return false
    const [remainingMs, userId, tokenHash, previousTokenHash, seq, rooms, epoch] = adopted
    const [infos] = await Promise.all([
      r.memberInfos(peerId, userId, rooms),
      r.addToInstanceSet(r.keys.instancePeers(r.instanceId), peerId),
      // In case the "dead" instance was only stalled: it must let go of the socket, whose client then
      // resumes (here or anywhere) rather than give the session up as replaced.
      r.publish(deadInstance, adoptionPayload(peerId, epoch))
    ])
    // The state may have changed while we awaited.
    if (r.state === 'closed') return true
    r.own(peerId, { userId, tokenHash, previousTokenHash, rooms: infos, epoch, seq: Number(seq) })
    this.scheduleOrphanExpiry(peerId, Number(remainingMs))
    return true
  }

  cancelOrphanExpiry (peerId: string): void {
    clearTimeout(this.orphanTimers.get(peerId))
    this.orphanTimers.delete(peerId)
  }

  private scheduleOrphanExpiry (peerId: string, delayMs: number): void {
    this.cancelOrphanExpiry(peerId)
    const timer = setTimeout(() => {
      this.orphanTimers.delete(peerId)
      this.registry.track(this.endOrphan(peerId), 'end orphaned session')
    }, delayMs)
    timer.unref()
    this.orphanTimers.set(peerId, timer)
  }

  private async endOrphan (peerId: string): Promise<void> {
    const local = this.registry.owned.get(peerId)
    if (local === undefined || local.inbox.attached) return
    await this.registry.events.orphaned(peerId)
  }

  // ---- outages --------------------------------------------------------------------------------

  /** The connection to Redis was lost at `at` (Redis time): the start of what the next write-back may have missed. */
  lostContact (at: number): void {
    this.outageSince ??= at
  }

  /**
   * Writes this instance's part of the shared state back to Redis: after a reconnect (Redis may have
   * restarted empty) or when our liveness key vanished (we were presumed dead). Idempotent; what
   * Redis still holds wins, and sessions another instance took meanwhile are let go.
   */
  async resync (reason: string): Promise<void> {
    const r = this.registry
    if (r.state === 'closed') return
    if (this.resyncRunning) {
      this.resyncAgain = true
      return
    }
    this.resyncRunning = true
    r.state = 'resyncing'
    clearTimeout(this.resyncRetry)
    try {
      do {
        this.resyncAgain = false
        await this.restoreAll(reason)
      } while (this.resyncAgain)
      if (r.state === 'resyncing') r.state = 'ready'
      this.outageSince = undefined
      r.log.info({ peers: r.owned.size, missedChanges: this.missed.length, reason }, 'registry state re-registered in Redis')
      this.verifyOwned()
      // Sessions whose end failed during the outage end now (their rooms get peer-left).
      for (const [peerId, local] of r.owned) if (local.ending && !local.inbox.attached) r.track(this.endOrphan(peerId), 'end after outage')
      // Peers that left or joined a room before our members were back in it: nobody could tell ours (nor
      // the newcomers about ours) then.
      const missed = this.missed
      this.missed = []
      for (const { peerId, room, tell } of missed) {
        if (r.owned.get(peerId)?.rooms.has(room) === true) r.track(tell(), 'tell a missed membership change')
      }
    } catch (err) {
      r.log.warn({ err: { message: (err as Error).message } }, 're-registration failed; retrying')
      if (r.state === 'resyncing') r.state = 'down'
      this.resyncRetry = setTimeout(() => { if (r.client.status === 'ready') void this.resync(reason) }, RESYNC_RETRY_MS)
      this.resyncRetry.unref()
    } finally {
      this.resyncRunning = false
    }
  }

  /**
   * After pub/sub may have missed publications: every attached peer reads what its buffer holds (and
   * one whose session was claimed elsewhere meanwhile gives way, through the attach check).
   */
  verifyOwned (): void {
    const r = this.registry
    for (const [peerId, local] of r.owned) {
      if (!local.inbox.attached) continue
      r.track((async () => {
        const seq = await r.script('swbAttach', [r.keys.peer(peerId)], [r.instanceId, r.stateTtlMs, local.epoch])
        if (r.owned.get(peerId) !== local) return
        if (seq === null) {
          // Claimed elsewhere while we were out of touch, its notice maybe lost: by a socket, or by a reaper.
          const moved = await r.movedWithoutSocket(peerId)
          if (r.owned.get(peerId) === local) r.lose(peerId, local.epoch + 1, moved)
        } else {
          await local.inbox.fill()
        }
      })(), 'verify after reconnect')
    }
  }

  private async restoreAll (reason: string): Promise<void> {
    const r = this.registry
    r.log.info({ peers: r.owned.size, reason }, 're-registering registry state in Redis')
    await r.liveness.register()
    // In batches: tens of thousands of peers must not mean tens of thousands of commands in flight at once.
    const peers = [...r.owned]
    for (let i = 0; i < peers.length; i += RESTORE_BATCH) {
      await Promise.all(peers.slice(i, i + RESTORE_BATCH).map(([peerId, local]) => this.restorePeer(peerId, local)))
    }
    await Promise.all([...r.connectionCounts].map(async ([userId, count]) => {
      const user = encodeUserId(userId)
      await r.script('swbConnSet', [r.keys.connections(user)], [r.instanceId, count, r.stateTtlMs])
      await r.addToInstanceSet(r.keys.instanceUsers(r.instanceId), user)
    }))
  }

  private async restorePeer (peerId: string, local: OwnedPeer): Promise<void> {
    const r = this.registry
    const hashes = tokenHashesOf(local)
    // One GET per key: in a Cluster the token keys are on different slots.
    const tokens = await Promise.all(hashes.map((hash) => r.client.get(r.keys.resumeToken(hash))))
    if (tokens.includes(ENDED_TOKEN)) {
      r.lose(peerId, local.epoch + 1)
      return
    }
    const restored = await r.script('swbRestore', r.peerKeys(peerId),
      [r.instanceId, local.userId, local.tokenHash, local.previousTokenHash, local.inbox.seq, local.inbox.attached ? '1' : '0', r.stateTtlMs, local.epoch, ...local.rooms.keys()])
    if (restored[0] === 'lost') {
      // Another instance has it: a reaper that adopted it while we were presumed dead, or a socket that resumed it.
      const moved = await r.movedWithoutSocket(peerId)
      if (r.owned.get(peerId) === local) r.lose(peerId, local.epoch + 1, moved)
      return
    }
    // Without a lost connection, the write-back is because our liveness key expired: we were out of
    // touch for at least the instance TTL.
    const since = (this.outageSince ?? Date.now() + r.clockOffsetMs - r.options.instanceTtlMs) - MISSED_CHANGE_MARGIN_MS
    await Promise.all([
      // Both tokens the client may hold resolve again (a welcome lost with the outage left it the previous one).
      ...hashes.map((hash) => r.client.set(r.keys.resumeToken(hash), peerId, 'PX', r.stateTtlMs)),
      r.addToInstanceSet(r.keys.instancePeers(r.instanceId), peerId),
      ...[...local.rooms].map(async ([room, info]) => {
        const [departures, arrivals] = await r.script('swbRoomRestore', [r.keys.room(room), r.keys.roomDeparted(room), r.keys.roomJoined(room)],
          [peerId, JSON.stringify(info), r.stateTtlMs, since])
        for (let i = 0; i + 1 < departures.length; i += 2) {
          const departed = departures[i] as string
          const reason = departures[i + 1] as LeaveReason
          this.missed.push({ peerId, room, tell: async () => r.events.missedDeparture(peerId, room, departed, reason) })
        }
        for (const json of arrivals) {
          const arrived = JSON.parse(json) as PeerInfo
          this.missed.push({ peerId, room, tell: async () => r.events.missedArrival(peerId, room, arrived, info) })
        }
      })
    ])
  }

  /** Refreshes the TTL of every key this instance keeps alive (a crashed instance's keys then expire on their own). */
  async touchAll (): Promise<void> {
    const r = this.registry
    const rooms = new Set<string>()
    const work: Array<() => Promise<unknown>> = []
    for (const [peerId, local] of r.owned) {
      work.push(async () => r.script('swbTouch', r.peerKeys(peerId), [r.stateTtlMs]))
      for (const hash of tokenHashesOf(local)) work.push(async () => r.client.pexpire(r.keys.resumeToken(hash), r.stateTtlMs))
      for (const room of local.rooms.keys()) rooms.add(room)
    }
    for (const room of rooms) {
      work.push(async () => r.client.pexpire(r.keys.room(room), r.stateTtlMs))
      work.push(async () => r.client.pexpire(r.keys.roomJoined(room), r.stateTtlMs))
      work.push(async () => r.client.pexpire(r.keys.roomInfo(room), r.roomInfoTtlMs))
    }
    if (rooms.size > 0) work.push(async () => r.client.pexpire(r.keys.roomIndex(), r.roomInfoTtlMs))
    for (const userId of r.connectionCounts.keys()) work.push(async () => r.client.pexpire(r.keys.connections(encodeUserId(userId)), r.stateTtlMs))
    // With 10,000 peers this is some 40,000 commands: sent all at once they would queue every relay
    // behind them for a while (a latency spike every refresh). Small batches with pauses in between
    // take a few seconds of the refresh interval (a quarter of the TTL) instead.
    for (let i = 0; i < work.length; i += TOUCH_BATCH) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, TOUCH_PAUSE_MS).unref())
      if (!r.ready) return
      await Promise.all(work.slice(i, i + TOUCH_BATCH).map(async (w) => w()))
    }
  }
}

/** The token hashes a session answers to: the current one, and the previous one if any. */
function tokenHashesOf (local: OwnedPeer): string[] {
  return local.previousTokenHash === '' ? [local.tokenHash] : [local.tokenHash, local.previousTokenHash]
}
