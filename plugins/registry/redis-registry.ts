import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { FastifyBaseLogger } from 'fastify'
import { Redis } from 'ioredis'
import type { PeerInfo } from '../signaling/messages.js'
import { ENDED_TOKEN, RedisKeys, encodeUserId } from './keys.js'
import { connectRedis, createRedisClient, describeRedis, type RedisClient, type RedisConnectionSettings } from './redis-connection.js'
import { LoopLag } from './loop-lag.js'
import { defineScripts, runScript, type ScriptName, type ScriptReplies } from './redis-scripts.js'
import { SESSION_ENDED_EPOCH, adminPayload, dispatchChannelMessage, takeoverPayload, type AdminNotice, type ChannelHandler } from './redis-channel.js'
import { PeerInbox, type BufferRead, type InboxSource } from './redis-inbox.js'
import { RedisLiveness } from './redis-liveness.js'
import { RedisRecovery } from './redis-recovery.js'
import { RedisOutboxes } from './redis-outbox.js'
import { RedisDeadlines } from './redis-deadlines.js'
import { DEFAULT_REVOCATION_RETENTION_SECONDS, Revocations } from './revocations.js'
import { batchWritesOf, holdWrites } from '../signaling/write-batch.js'
import { endedRoom } from './membership.js'
import {
  NO_MEMBERSHIP_LISTENER, RegistryUnavailableError, relayText, stampSeq, type Claim, type Departure, type DeliveryOutcome, type JoinLimits, type JoinOutcome,
  type LeaveReason, type MemberState, type MembershipListener, type RegistryCounters, type RegistryEvents, type RegistryLimits, type RelayBody, type RelayOutcome,
  type ReplayOutcome, type RoomEndReason, type RoomPage, type RoomRegistry, type RoomSettings, type RoomState, type RoomSummary, type SessionRecord, type Sink
} from './types.js'

export interface RedisRegistryOptions {
  settings: RedisConnectionSettings
  keyPrefix: string
  /** Readable name (INSTANCE_ID); a random suffix is added so a restarted process is a new instance. */
  instanceName?: string
  instanceTtlMs: number
  reapIntervalMs: number
  /** RESUME_GRACE_SECONDS: how long an orphaned session waits for its peer to resume elsewhere. */
  graceMs: number
  limits: RegistryLimits
  log: FastifyBaseLogger
}

/** Resumes in progress (between replay() and attach()) remembered at most. */
const REPLAYS_KEPT = 10_000
/** While Redis does not answer, how often a PING checks whether it is back. */
const STALL_PROBE_MS = 100
/** A room's settings are forgotten this long after they were put or the room was last joined, if nobody ends it. */
const ROOM_INFO_TTL_MS = 24 * 3600 * 1000
/** What ioredis says when a command outlived REDIS_COMMAND_TIMEOUT_MS. */
const COMMAND_TIMED_OUT = 'Command timed out'

/**
 * What this instance knows about a peer it owns (connected here, or in its grace period here). It is
 * the copy written back when Redis comes back empty, the sender-side membership of the relay path,
 * and the in-order delivery to the socket.
 */
export interface OwnedPeer {
  userId: string
  /** The resume token hashes the session answers to: the latest welcome's, and the one its last resume presented ('' = none). */
  tokenHash: string
  previousTokenHash: string
  /** The rooms it is in, with the PeerInfo it joined with. Only this instance changes them while it owns the peer. */
  rooms: Map<string, PeerInfo>
  /** The claim under which this instance owns it (see Claim). */
  epoch: number
  inbox: PeerInbox
  /** Ending it failed during an outage: end it once Redis is back. */
  ending: boolean
}

export type RegistryState = 'ready' | 'down' | 'resyncing' | 'closed'

/** ioredis reply errors that mean "Redis cannot serve now" rather than "this command is wrong". */
const TRANSIENT_REPLY = /^(LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|BUSY|OOM|NOAUTH|NOPERM|WRONGPASS)/

/**
 * The room registry shared by every instance through Redis (single server, Sentinel or Cluster).
 * Membership, capacity, room counts and connection counts change only inside Lua scripts. A relayed
 * message is one script on the recipient's keys: it checks the recipient's membership, stamps the
 * next seq, keeps the message for replay and publishes it to the instance holding the recipient's
 * socket. The sender's membership is known here, since only its own instance changes it. Liveness and
 * dead-instance cleanup are in redis-liveness.ts, outage recovery and adoption in redis-recovery.ts,
 * in-order delivery in redis-inbox.ts, the channel format in redis-channel.ts. See docs/redis.md.
 */
export class RedisRegistry implements RoomRegistry {
  readonly kind = 'redis'
  readonly counters: RegistryCounters = { crossInstanceDeliveries: 0, commandErrors: 0, reconnections: 0 }
  readonly instanceId: string
  readonly keys: RedisKeys
  /** Keys of live sessions expire this long after their last refresh (a backstop: nothing leaks forever). */
  readonly stateTtlMs: number
  /** How long `~ended` resume-token markers are kept (to answer SWB_RESUME_EXPIRED rather than UNKNOWN). */
  readonly endedTtlMs: number
  /** Rooms' records (settings) and the room index outlive a quiet day; live rooms keep them fresh. */
  readonly roomInfoTtlMs: number
  readonly owned = new Map<string, OwnedPeer>()
  /** Connections this instance counts per user (the Redis hash holds one field per instance). */
  readonly connectionCounts = new Map<string, number>()
  /** Redis' clock minus ours (ms), so relay deadlines are stated in Redis time. Refreshed by the heartbeat. */
  clockOffsetMs = 0
  /** Until a hub listens (tests of the registry alone), an orphaned session simply ends. */
  events: RegistryEvents = {
    takenOver: () => {},
    orphaned: async (peerId) => { await this.deleteSession(peerId) },
    revoked: async () => {},
    roomDeadline: async (room, startedAt) => { await this.endRoom(room, startedAt, 'max-duration') },
    missedDeparture: async () => {},
    missedArrival: async () => {}
  }
  /** user id => when its sessions were revoked (ms): loaded at start and when the subscriber reconnects, else kept current by `revoke` notices. */
  private readonly revocations: Revocations
  /** Told of the membership changes this instance's scripts decided (see MembershipListener). */
  membership: MembershipListener = NO_MEMBERSHIP_LISTENER
  /** With a durable listener: the room scripts record their events, and this moves them to it in order. */
  private outboxes: RedisOutboxes | undefined
  /** seq covered by the last replay() of a peer, where its next attach starts delivering. */
  private readonly replayedThrough = new Map<string, number>()
  /** Highest takeover epoch heard for peers whose claim is still on its way here. */
  private readonly claimsInFlight = new Map<string, number>()
  private readonly inflight = new Set<Promise<unknown>>()
  readonly liveness: RedisLiveness
  readonly deadlines: RedisDeadlines
  private readonly recovery: RedisRecovery
  private stateValue: RegistryState = 'down'
  /**
   * A command timed out and nothing has been answered since: Redis is stalled (stopped, swapping, a
   * long script) while its connection stays up. New operations are refused at once instead of each
   * waiting out its own timeout and piling its bytes onto the connection; a PING probe ends it.
   */
  private stalled = false
  private readonly loopLag: LoopLag
  private readonly channelHead: string
  private readonly channelTail: string
  private readonly inboxSource: InboxSource
  private readonly channelHandler: ChannelHandler

  private constructor (
    readonly client: RedisClient,
    private readonly subscriber: RedisClient,
    readonly options: RedisRegistryOptions
  ) {
    const base = (options.instanceName ?? hostname()).replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 48) || 'switchboard'
    this.instanceId = `${base}-${randomBytes(4).toString('hex')}`
    this.keys = new RedisKeys(options.keyPrefix)
    this.stateTtlMs = Math.max(120_000, 3 * (options.graceMs + options.instanceTtlMs + options.reapIntervalMs))
    this.endedTtlMs = Math.max(this.stateTtlMs, 600_000)
    this.roomInfoTtlMs = Math.max(this.stateTtlMs, ROOM_INFO_TTL_MS)
    // The relay script builds the owner's channel name as head .. owner .. tail.
    const marker = '\u0000'
    ;[this.channelHead, this.channelTail] = this.keys.instanceChannel(marker).split(marker) as [string, string]
    this.liveness = new RedisLiveness(this, {
      instanceTtlMs: options.instanceTtlMs,
      reapIntervalMs: options.reapIntervalMs,
      graceMs: options.graceMs,
      log: options.log
    })
    this.recovery = new RedisRecovery(this)
    this.loopLag = new LoopLag(Math.max(10, Math.min(100, Math.floor(options.settings.commandTimeoutMs / 4))))
    this.revocations = new Revocations(options.limits.revocationRetentionMs ?? DEFAULT_REVOCATION_RETENTION_SECONDS * 1000)
    // A claimed deadline whose claimer died comes due again after this.
    this.deadlines = new RedisDeadlines(this, Math.max(5000, 10 * options.reapIntervalMs))
    this.inboxSource = {
      read: async (peerId, afterSeq) => this.readBuffer(peerId, afterSeq),
      track: (work, what) => this.track(work, what)
    }
    this.channelHandler = {
      message: (peerId, seq, json) => this.owned.get(peerId)?.inbox.receive(seq, json),
      takeover: (peerId, epoch, adopted) => this.takenOver(peerId, epoch, adopted),
      admin: (notice) => this.onAdminNotice(notice)
    }
  }

  /** Connects both clients, subscribes to this instance's channel and registers it; throws if Redis is unreachable. */
  static async connect (options: RedisRegistryOptions): Promise<RedisRegistry> {
    const { settings } = options
    const client = createRedisClient(settings, 'switchboard:registry')
    const subscriber = createRedisClient(settings, 'switchboard:registry-sub', 'subscriber')
    const registry = new RedisRegistry(client, subscriber, options)
    try {
      await connectRedis(client, settings)
      await connectRedis(subscriber, settings)
      await registry.start()
    } catch (err) {
      registry.loopLag.stop()
      client.disconnect()
      subscriber.disconnect()
      throw err
    }
    return registry
  }

  get log (): FastifyBaseLogger { return this.options.log }
  get state (): RegistryState { return this.stateValue }
  set state (state: RegistryState) { this.stateValue = state }
  get ready (): boolean { return this.stateValue === 'ready' }

  private async start (): Promise<void> {
    defineScripts(this.client)
    // Plain pub/sub in every mode: the relay script publishes from inside Redis, and a script may only
    // reach shard channels of its own slot. In a Cluster, plain publications cross the cluster bus.
    this.subscriber.on('message', (_channel: string, payload: string) => dispatchChannelMessage(payload, this.channelHandler))
    await this.subscriber.subscribe(this.keys.instanceChannel(this.instanceId))

    this.client.on('error', (err: Error) => this.log.debug({ err: { message: err.message } }, 'redis client error'))
    this.subscriber.on('error', (err: Error) => this.log.debug({ err: { message: err.message } }, 'redis subscriber error'))
    this.client.on('close', () => this.onConnectionLost())
    this.client.on('ready', () => {
      this.counters.reconnections++
      void this.recovery.resync('redis connection is back')
    })
    // Publications sent while the subscriber was away are lost: read what they carried from the buffers,
    // check that no peer was claimed elsewhere meanwhile, and catch up on revocations.
    this.subscriber.on('ready', () => {
      if (!this.ready) return
      this.recovery.verifyOwned()
      this.track(this.catchUpRevocations(), 'reload revocations')
    })
    batchDeliveryWrites(this.subscriber)
    this.subscriber.on('ready', () => batchDeliveryWrites(this.subscriber))

    await this.liveness.register()
    await this.loadRevocations()
    this.stateValue = 'ready'
    this.liveness.start()
    this.log.info({ instanceId: this.instanceId, redis: describeRedis(this.options.settings.mode) }, 'using the Redis room registry')
  }

  listen (events: RegistryEvents): void {
    this.events = events
  }

  watch (listener: MembershipListener): void {
    this.membership = listener
    this.outboxes?.stop()
    this.outboxes = undefined
    if (listener.recorded === undefined) return
    // A mover key outlives a slow round of queueing, and lapses about when its dead holder is reaped.
    const { instanceTtlMs, reapIntervalMs, settings } = this.options
    this.outboxes = new RedisOutboxes(this, listener.recorded, Math.max(instanceTtlMs, 5 * settings.commandTimeoutMs))
    this.outboxes.start(reapIntervalMs)
  }

  /**
   * Runs a room step that records its events in these rooms' outboxes when a durable listener watches
   * (`record` is then the room name the scripts write into the events; '' = they record nothing).
   */
  private recording<T> (rooms: string[], step: (recordAs: (room: string) => string) => Promise<T>): Promise<T> {
    const outboxes = this.outboxes
    if (outboxes === undefined) return step(() => '')
    return outboxes.recording(rooms, async () => step((room) => room))
  }

  /** Takes over the outboxes a dead instance had yet to move (called by its reaper). */
  async adoptOutboxes (deadInstance: string): Promise<void> {
    await this.outboxes?.adopt(deadInstance)
  }

  // ---- plumbing -------------------------------------------------------------------------------

  /** Runs a registry operation: fails fast when Redis is away, and turns connection failures into RegistryUnavailableError. */
  private async op<T> (fn: () => Promise<T>): Promise<T> {
    if (!this.ready || this.stalled) {
      this.counters.commandErrors++
      throw this.unavailable()
    }
    try {
      return await fn()
    } catch (err) {
      this.counters.commandErrors++
      throw this.translate(err)
    }
  }

  unavailable (): InstanceType<typeof RegistryUnavailableError> {
    if (this.stalled && this.ready) return new RegistryUnavailableError('Redis is not answering')
    switch (this.stateValue) {
      case 'closed': return new RegistryUnavailableError('this instance is shutting down')
      case 'resyncing': return new RegistryUnavailableError('re-registering after a Redis outage')
      default: return new RegistryUnavailableError('Redis is unreachable')
    }
  }

  private translate (err: unknown): unknown {
    if (err instanceof RegistryUnavailableError) return err
    const e = err as { name?: string, message?: string }
    // A timeout right after our own event loop was blocked for most of it says nothing about Redis (loop-lag.ts).
    if (e.message === COMMAND_TIMED_OUT && !this.loopLag.justBlockedFor(this.options.settings.commandTimeoutMs / 2)) this.stall()
    // A script bug is a bug (SWB_INTERNAL), not an outage. A fresh error: ioredis attaches the command
    // and its arguments (message bodies, SDP) to its errors, and handlers log what they catch.
    if (e.name === 'ReplyError' && !TRANSIENT_REPLY.test(e.message ?? '')) return new Error(`Redis refused a registry command: ${e.message ?? ''}`)
    return new RegistryUnavailableError(`Redis command failed (${e.message ?? 'unknown error'})`)
  }

  /** Enters the stalled state (see `stalled`) and probes until Redis answers again. */
  private stall (): void {
    if (this.stalled) return
    this.stalled = true
    this.log.warn('Redis is not answering within REDIS_COMMAND_TIMEOUT_MS: refusing registry operations until it does')
    const probe = (): void => {
      if (this.stateValue === 'closed') return
      // The PING queues behind everything already sent: its answer means Redis has caught up.
      this.client.ping().then(() => {
        this.stalled = false
        this.log.info('Redis answers again')
      }, () => { setTimeout(probe, STALL_PROBE_MS).unref() })
    }
    probe()
  }

  /** Runs a script (the registry's only way to change shared state atomically). */
  script<N extends ScriptName> (name: N, keys: string[], args: Array<string | number>): Promise<ScriptReplies[N]> {
    return runScript(this.client, name, keys, args)
  }

  peerKeys (peerId: string): [string, string, string] {
    return [this.keys.peer(peerId), this.keys.peerRooms(peerId), this.keys.peerBuffer(peerId)]
  }

  /** peerKeys and the rooms its joins are under way for (the relay and session-end scripts). */
  private peerKeysWithJoining (peerId: string): [string, string, string, string] {
    return [this.keys.peer(peerId), this.keys.peerRooms(peerId), this.keys.peerBuffer(peerId), this.keys.peerJoining(peerId)]
  }

  /** Fire-and-forget work whose failure only needs a log line (the copy is written back on resync); close() waits for it. */
  track (work: Promise<unknown>, what: string): void {
    const p = work.catch((err: unknown) => this.log.warn({ err: { message: (err as Error).message }, what }, 'registry background write failed'))
    this.inflight.add(p)
    void p.finally(() => this.inflight.delete(p))
  }

  /** This instance's peer and user sets: added to, with a TTL from the start (the heartbeat renews it). */
  async addToInstanceSet (key: string, ...members: string[]): Promise<void> {
    await Promise.all([this.client.sadd(key, ...members), this.client.pexpire(key, this.stateTtlMs)])
  }

  async publish (instanceId: string, payload: string): Promise<void> {
    await this.client.publish(this.keys.instanceChannel(instanceId), payload)
  }

  // ---- connections ----------------------------------------------------------------------------

  async acquireConnection (userId: string, max: number): Promise<boolean> {
    return this.op(async () => {
      const user = encodeUserId(userId)
      const ok = await this.script('swbConnAcquire', [this.keys.connections(user)], [this.instanceId, max, this.stateTtlMs])
      if (ok !== 1) return false
      const count = (this.connectionCounts.get(userId) ?? 0) + 1
      this.connectionCounts.set(userId, count)
      if (count === 1) await this.addToInstanceSet(this.keys.instanceUsers(this.instanceId), user)
      return true
    })
  }

  releaseConnection (userId: string): void {
    const count = (this.connectionCounts.get(userId) ?? 0) - 1
    if (count > 0) this.connectionCounts.set(userId, count)
    else this.connectionCounts.delete(userId)
    if (!this.ready) return
    const user = encodeUserId(userId)
    this.track((async () => {
      await this.script('swbConnRelease', [this.keys.connections(user)], [this.instanceId])
      if (count <= 0) await this.client.srem(this.keys.instanceUsers(this.instanceId), user)
    })(), 'release connection')
  }

  async connectionCount (userId: string): Promise<number> {
    return this.op(async () => {
      const counts = await this.client.hvals(this.keys.connections(encodeUserId(userId)))
      return counts.reduce((sum, n) => sum + Number(n), 0)
    })
  }

  // ---- sessions -------------------------------------------------------------------------------

  async createSession (peerId: string, userId: string, resumeTokenHash: string): Promise<void> {
    await this.op(async () => {
      await Promise.all([
        this.script('swbCreateSession', this.peerKeys(peerId), [userId, this.instanceId, resumeTokenHash, this.stateTtlMs]),
        this.client.set(this.keys.resumeToken(resumeTokenHash), peerId, 'PX', this.stateTtlMs),
        this.addToInstanceSet(this.keys.instancePeers(this.instanceId), peerId)
      ])
    })
    this.own(peerId, { userId, tokenHash: resumeTokenHash, previousTokenHash: '', rooms: new Map(), epoch: 0, seq: 0 })
  }

  /** Starts (or refreshes) this instance's copy of a peer it owns. */
  own (peerId: string, peer: Omit<OwnedPeer, 'inbox' | 'ending'> & { seq: number }): OwnedPeer {
    const previous = this.owned.get(peerId)
    previous?.inbox.close()
    const { seq, ...rest } = peer
    const local: OwnedPeer = { ...rest, inbox: new PeerInbox(peerId, seq, this.inboxSource), ending: false }
    this.owned.set(peerId, local)
    return local
  }

  async findSession (resumeTokenHash: string): Promise<SessionRecord | 'ended' | undefined> {
    return this.op(async () => {
      const peerId = await this.client.get(this.keys.resumeToken(resumeTokenHash))
      if (peerId === ENDED_TOKEN) return 'ended'
      if (peerId === null) return undefined
      const found = await this.script('swbFindSession', [this.keys.peer(peerId), this.keys.peerRooms(peerId)], [resumeTokenHash])
      if (!found) return undefined
      return { peerId, userId: found[0], seq: Number(found[1]), rooms: found[2] }
    })
  }

  /**
   * A peer resumes on this instance: besides the tokens, the session moves here, under a new epoch. The
   * previous owner, if another instance, is told to retire its (stale) socket.
   */
  async claimSession (peerId: string, newHash: string, presentedHash: string): Promise<Claim | undefined> {
    return this.op(async () => {
      this.claimsInFlight.set(peerId, this.claimsInFlight.get(peerId) ?? 0)
      try {
        await this.client.set(this.keys.resumeToken(newHash), peerId, 'PX', this.stateTtlMs)
        const claimed = await this.script('swbClaim', [this.keys.peer(peerId), this.keys.peerRooms(peerId)],
          [newHash, presentedHash, this.instanceId, this.stateTtlMs])
        if (!claimed) {
          await this.client.del(this.keys.resumeToken(newHash))
          return undefined
        }
        const [userId, previousOwner, seq, rooms, superseded, epoch] = claimed
        // Token keys live on their own slots, so they follow the session hash (the source of truth, which
        // findSession checks) outside the script. The presented token's key is set again, in case a
        // concurrent claim deleted it as superseded.
        const writes: Array<Promise<unknown>> = [
          this.client.set(this.keys.resumeToken(presentedHash), peerId, 'PX', this.stateTtlMs),
          ...superseded.map((hash) => this.client.del(this.keys.resumeToken(hash)))
        ]
        if (previousOwner !== this.instanceId) {
          writes.push(this.addToInstanceSet(this.keys.instancePeers(this.instanceId), peerId))
          if (previousOwner !== '') {
            writes.push(this.client.srem(this.keys.instancePeers(previousOwner), peerId))
            writes.push(this.publish(previousOwner, takeoverPayload(peerId, epoch)))
          }
        }
        const [infos] = await Promise.all([this.memberInfos(peerId, userId, rooms), ...writes])
        // A newer claim (another socket resuming the same session) was heard while this one was on its way.
        if ((this.claimsInFlight.get(peerId) ?? 0) > epoch) return undefined
        this.recovery.cancelOrphanExpiry(peerId)
        const local = this.owned.get(peerId)
        if (local !== undefined && local.epoch > epoch) return undefined
        if (local !== undefined) {
          local.tokenHash = newHash
          local.previousTokenHash = presentedHash
          local.rooms = infos
          local.epoch = epoch
        } else {
          this.own(peerId, { userId, tokenHash: newHash, previousTokenHash: presentedHash, rooms: infos, epoch, seq: this.replayedThrough.get(peerId) ?? Number(seq) })
        }
        if (this.outboxes === undefined) for (const [room, info] of infos) this.membership.resumed(room, info)
        // Once the claim won (as far as we know), recorded by the step that finds the peer still a member
        // of each room: a peer.resumed never follows its peer.left. Before the welcome, so the peer cannot
        // leave first; a failure costs the event (logged), not the resume.
        else {
          await this.recording(rooms, async (recordAs) => this.memberInfos(peerId, userId, rooms, recordAs))
            .catch((err: unknown) => this.log.warn({ err: { message: (err as Error).message }, peerId }, 'could not record peer.resumed'))
        }
        return { epoch }
      } finally {
        this.claimsInFlight.delete(peerId)
      }
    })
  }

  /**
   * PeerInfo of `peerId` in each room (what it joined with, role and meta included), for the copy kept
   * here; `recordAs` (a resume) records peer.resumed in the rooms it is still a member of.
   */
  async memberInfos (peerId: string, userId: string, rooms: string[], recordAs: (room: string) => string = () => ''): Promise<Map<string, PeerInfo>> {
    const infos = new Map<string, PeerInfo>()
    const values = await Promise.all(rooms.map((room) =>
      this.script('swbRoomMember', [this.keys.room(room), this.keys.roomEvents(room)], [peerId, recordAs(room), this.roomInfoTtlMs])))
    rooms.forEach((room, i) => {
      const json = values[i]
      infos.set(room, json ? JSON.parse(json) as PeerInfo : { peerId, userId })
    })
    return infos
  }

  async deleteSession (peerId: string, wherever = false, reason: LeaveReason = 'timeout'): Promise<Departure[]> {
    const local = this.owned.get(peerId)
    try {
      return await this.op(async () => {
        // Ended only while it is still ours, unless asked for wherever it is: if it resumed elsewhere
        // meanwhile (a grace timer here fired before the takeover notice was handled), it lives on.
        const ended = await this.script('swbEndSession', this.peerKeysWithJoining(peerId), [wherever ? '' : this.instanceId])
        this.forget(peerId)
        if (!ended || ended[0] === 0) return []
        const [, owner, tokenHash, previousTokenHash, rooms] = ended
        const [departures] = await Promise.all([
          Promise.all(rooms.map(async (room): Promise<Departure> => ({ room, remaining: await this.depart(room, peerId, reason, true) ?? [] }))),
          // Both tokens the client may hold read as ended (SWB_RESUME_EXPIRED).
          ...[tokenHash, previousTokenHash].filter((hash) => hash !== '')
            .map((hash) => this.client.set(this.keys.resumeToken(hash), ENDED_TOKEN, 'PX', this.endedTtlMs)),
          this.client.srem(this.keys.instancePeers(owner), peerId),
          // Ended from here while another instance may still hold its socket: that one must close it.
          owner !== this.instanceId && this.publish(owner, takeoverPayload(peerId, SESSION_ENDED_EPOCH))
        ])
        return departures
      })
    } catch (err) {
      // Ours and Redis is away: end it (with peer-left for its rooms) once Redis is back.
      if (local && err instanceof RegistryUnavailableError && this.owned.get(peerId) === local) local.ending = true
      throw err
    }
  }

  /** Drops everything this instance holds for a peer (its session ended or moved elsewhere). */
  forget (peerId: string): void {
    this.owned.get(peerId)?.inbox.close()
    this.owned.delete(peerId)
    this.replayedThrough.delete(peerId)
    this.recovery.cancelOrphanExpiry(peerId)
  }

  // ---- rooms ----------------------------------------------------------------------------------

  async join (room: string, member: PeerInfo, limits: JoinLimits): Promise<JoinOutcome> {
    return this.op(async () => {
      const { peerId } = member
      const roomKey = this.keys.room(room)
      // The peer's room count and the room's capacity live on different slots: the peer side first, so a
      // full room only ever costs this peer a moment of an extra count, never another peer its place.
      const peerSide = [this.keys.peer(peerId), this.keys.peerRooms(peerId), this.keys.peerJoining(peerId)]
      const added = await this.script('swbPeerAddRoom', peerSide, [room, limits.maxRoomsPerPeer, this.stateTtlMs])
      if (added === -1) return { ok: false, reason: 'unknown-peer' }
      if (added === 2) {
        // Same precedence as the memory registry: a full room is reported before the peer's own limit.
        const [size, already, capacity] = await Promise.all([this.client.hlen(roomKey), this.client.hexists(roomKey, peerId),
          this.client.hget(this.keys.roomInfo(room), 'capacity')])
        const cap = Number(capacity ?? limits.capacity)
        return size >= cap && already === 0 ? { ok: false, reason: 'full', capacity: cap } : { ok: false, reason: 'too-many-rooms' }
      }
      // If this fails, whether the room took the peer is unknown (a timeout may follow a success): the
      // reservation stays, and the session's end departs from that room too (swbEndSession), no ghost.
      const joined = await this.recording([room], async (recordAs) =>
        this.script('swbRoomJoin', [roomKey, this.keys.roomInfo(room), this.keys.roomJoined(room), this.keys.roomEvents(room)],
          [peerId, JSON.stringify(member), limits.capacity, this.stateTtlMs, limits.grantCapacity ?? '', this.roomInfoTtlMs, recordAs(room)]))
      // The reservation becomes a membership (relays to the peer in the room now get through), or goes.
      if (added === 1) await this.script('swbPeerConfirmRoom', peerSide, [room, joined[0] === 0 ? '0' : '1', this.stateTtlMs])
      if (joined[0] === 0) return { ok: false, reason: 'full', capacity: joined[1] }
      if (joined[0] === 2 && joined[4] === 1) await this.index(room)
      const members = joined[1].map((json) => JSON.parse(json) as PeerInfo)
      const self = members.find((m) => m.peerId === peerId) ?? member
      this.owned.get(peerId)?.rooms.set(room, self)
      // Added by this script run: the room started with it when the script says so.
      if (joined[0] === 2 && this.outboxes === undefined) this.membership.joined(room, self, joined[4] === 1)
      return { ok: true, peers: members.filter((m) => m.peerId !== peerId), alreadyJoined: joined[0] === 1, room: roomState(joined[2], joined[3]) }
    })
  }

  async leave (room: string, peerId: string, reason: LeaveReason = 'left', endReason: RoomEndReason = 'empty'): Promise<PeerInfo[] | undefined> {
    return this.op(async () => {
      // The local copy first: from this moment the relay path refuses this peer's messages to the room.
      const local = this.owned.get(peerId)
      local?.rooms.delete(room)
      const [left] = await Promise.all([
        this.depart(room, peerId, reason, true, endReason),
        this.client.srem(this.keys.peerRooms(peerId), room)
      ])
      // Taken out from here (the admin API) while another instance holds it: that one forgets the room too.
      if (local === undefined && left !== undefined) await this.tellOwner(peerId, { kind: 'left', peerId, room })
      return left
    })
  }

  /**
   * Takes the peer out of the room's member hash; the removal that found it there reports it (and,
   * if it was the last one, the room's end). The members left, if asked for; undefined if it was not there.
   */
  private async depart (room: string, peerId: string, reason: LeaveReason, withMembers: boolean, endReason: RoomEndReason = 'empty'): Promise<PeerInfo[] | undefined> {
    const departed = await this.recording([room], async (recordAs) =>
      this.script('swbRoomDepart', [this.keys.room(room), this.keys.roomJoined(room), this.keys.roomEvents(room), this.keys.roomDeparted(room)],
        [peerId, withMembers ? '1' : '0', recordAs(room), reason, endReason, this.roomInfoTtlMs, this.stateTtlMs]))
    if (departed === null) return undefined
    const [info, left, members] = departed
    if (this.outboxes === undefined) this.membership.left(room, JSON.parse(info) as PeerInfo, reason, left === 0 ? endReason : undefined)
    if (left === 0) await this.unindexIfEmpty(room)
    return members.map((json) => JSON.parse(json) as PeerInfo)
  }

  async members (room: string): Promise<PeerInfo[]> {
    return this.op(async () => (await this.client.hvals(this.keys.room(room))).map((json) => JSON.parse(json) as PeerInfo))
  }

  // ---- messages -------------------------------------------------------------------------------

  relay (room: string, from: string, to: string, body: RelayBody): RelayOutcome | Promise<RelayOutcome> {
    // The sender's side of the membership is ours to know: only this instance changes it while it owns the peer.
    if (this.owned.get(from)?.rooms.has(room) !== true) return 'sender-not-in-room'
    if (to === from) return 'recipient-not-in-room'
    // The seq is the relay script's to give: it gets the message without one and stamps it.
    return this.send(to, room, relayText(body)).then(relayOutcome)
  }

  deliver (peerId: string, body: string, room?: string): Promise<DeliveryOutcome> {
    // The relay script checks the membership (room '' = none) in the same step as the delivery.
    return this.send(peerId, room ?? '', body, true).then(deliveryOutcome)
  }

  /**
   * The relay script, one round trip: the recipient's membership (unless `room` is ''), seq, buffer and
   * the publication to its owner. Commands of concurrent calls are pipelined on one connection, so a
   * sender's messages to one recipient run, and arrive, in the order they were sent.
   */
  private send (peerId: string, room: string, body: string, notice = false): Promise<ScriptReplies['swbRelay']> {
    if (!this.ready || this.stalled) {
      this.counters.commandErrors++
      return Promise.reject(this.unavailable())
    }
    const { limits, settings } = this.options
    // Past this (in Redis time) the sender has been refused already: the script then does nothing,
    // so a refusal means "not delivered" even when a stalled Redis runs it much later. Only an answer
    // that is itself late (held up on the way back, or our event loop blocked) can make a delivered
    // message look refused: docs/redis.md, failure behaviour.
    const deadline = Date.now() + this.clockOffsetMs + settings.commandTimeoutMs
    // The relays of one client chunk (a burst of candidates) go to Redis in one write (write-batch.ts).
    if (this.client instanceof Redis) holdWrites(this.client.stream)
    return this.script('swbRelay', this.peerKeysWithJoining(peerId),
      [room, body, limits.bufferMessages, limits.bufferBytes, this.stateTtlMs, this.instanceId, this.channelHead, this.channelTail, deadline, peerId, notice ? '1' : '0'])
      .then((reply) => {
        const [status, seq] = reply
        if (status === 1) this.owned.get(peerId)?.inbox.receive(seq, stampSeq(body, seq))
        else if (status === 2) this.counters.crossInstanceDeliveries++
        else if (status === -3) throw new RegistryUnavailableError('Redis answered after the command timeout')
        return reply
      }, (err: unknown) => {
        this.counters.commandErrors++
        throw this.translate(err)
      })
  }

  async replay (peerId: string, lastSeq: number): Promise<ReplayOutcome> {
    return this.op(async () => {
      const range = await this.script('swbRange', [this.keys.peer(peerId), this.keys.peerBuffer(peerId)], [lastSeq, '1'])
      switch (range[0]) {
        case -1: return { ok: false, reason: 'unknown-peer' }
        case -2: return { ok: false, reason: 'bad-seq' }
        case -3: return { ok: false, reason: 'overflow' }
      }
      const seq = range[1] ?? 0
      const first = range[2] ?? 0
      const messages = (range[3] ?? []).map((json, i) => ({ seq: first + i, json }))
      // The caller writes these itself: live delivery to this peer continues after them.
      this.replayedThrough.set(peerId, seq)
      // Bounded: an entry whose resume never got as far as attach() must not stay forever.
      if (this.replayedThrough.size > REPLAYS_KEPT) {
        const oldest = this.replayedThrough.keys().next().value
        if (oldest !== undefined) this.replayedThrough.delete(oldest)
      }
      this.owned.get(peerId)?.inbox.skipThrough(seq)
      return { ok: true, messages }
    })
  }

  /** Reads the buffer after `afterSeq` for in-order delivery (not strict: whatever is still there). */
  private async readBuffer (peerId: string, afterSeq: number): Promise<BufferRead | undefined> {
    if (!this.ready) return undefined
    const range = await this.script('swbRange', [this.keys.peer(peerId), this.keys.peerBuffer(peerId)], [afterSeq, '0'])
    if (range[0] !== 0) return undefined
    return { sessionSeq: range[1] ?? 0, firstSeq: range[2] ?? 0, messages: range[3] ?? [] }
  }

  ack (peerId: string, seq: number): Promise<void> {
    return this.op(async () => { await this.script('swbAck', [this.keys.peer(peerId), this.keys.peerBuffer(peerId)], [seq]) })
  }

  attach (peerId: string, sink: Sink): void {
    const local = this.owned.get(peerId)
    if (!local) return
    const replayed = this.replayedThrough.get(peerId)
    this.replayedThrough.delete(peerId)
    local.inbox.attach(sink, replayed)
    if (!this.ready) return
    // Redis says whether this socket is still the session's live one (a newer claim may have won while
    // the takeover notice was lost); then whatever reached the buffer since the replay goes out, in order.
    this.track((async () => {
      const seq = await this.script('swbAttach', [this.keys.peer(peerId)], [this.instanceId, this.stateTtlMs, local.epoch])
      if (this.owned.get(peerId) !== local) return
      if (seq === null) {
        this.lose(peerId, SESSION_ENDED_EPOCH)
        return
      }
      await local.inbox.fill()
    })(), 'attach')
  }

  detach (peerId: string, sink: Sink): void {
    const local = this.owned.get(peerId)
    if (local === undefined || !local.inbox.isAttachedTo(sink)) return
    local.inbox.detach()
    if (this.ready) this.track(this.script('swbDetach', [this.keys.peer(peerId)], [this.instanceId]), 'detach')
  }

  /** A takeover notice: a claim with `epoch` won elsewhere (`adopted`: a reaper's, see RegistryEvents.takenOver). */
  private takenOver (peerId: string, epoch: number, adopted: boolean): void {
    if (this.claimsInFlight.has(peerId)) this.claimsInFlight.set(peerId, Math.max(epoch, this.claimsInFlight.get(peerId) ?? 0))
    const local = this.owned.get(peerId)
    if (local !== undefined && local.epoch < epoch) this.lose(peerId, epoch, adopted)
  }

  /**
   * The peer is not ours any more: drop it here and let the hub close its socket. `moved`: no socket
   * holds the session where it went (a reaper adopted it), so the client is to resume.
   */
  lose (peerId: string, epoch: number, moved = false): void {
    if (!this.owned.has(peerId)) return
    this.forget(peerId)
    this.log.info({ peerId, moved }, 'peer taken over by another instance')
    this.events.takenOver(peerId, epoch, moved)
  }

  /**
   * Whether a peer we lost while out of touch with Redis went to a reaper (no socket attached where it
   * is now) rather than to a socket that resumed it: the notice that said which may have been missed.
   */
  async movedWithoutSocket (peerId: string): Promise<boolean> {
    return await this.client.hget(this.keys.peer(peerId), 'attached') !== '1'
  }

  // ---- administration (plugins/admin) ---------------------------------------------------------

  async listRooms (after: string | undefined, limit: number): Promise<RoomPage> {
    return this.op(async () => {
      const names = await this.client.zrangebylex(this.keys.roomIndex(), after === undefined ? '-' : `(${after}`, '+', 'LIMIT', 0, limit + 1)
      const page = names.slice(0, limit)
      const found = await Promise.all(page.map(async (room) => this.summary(room)))
      const stale = page.filter((_room, i) => found[i] === undefined)
      if (stale.length > 0) await this.client.zrem(this.keys.roomIndex(), ...stale)
      const rooms = found.filter((r): r is RoomSummary => r !== undefined)
      const last = page.at(-1)
      return names.length > limit && last !== undefined ? { rooms, next: last } : { rooms }
    })
  }

  /** The room's summary, or undefined when it has neither members nor settings (a stale index entry). */
  private async summary (room: string): Promise<RoomSummary | undefined> {
    const [peers, [createdAt, settings]] = await Promise.all([
      this.client.hlen(this.keys.room(room)),
      this.client.hmget(this.keys.roomInfo(room), 'createdAt', 'settings')
    ])
    if (peers === 0 && !settings) return undefined
    return { room, peers, ...roomState(createdAt ?? '0', settings ?? '') }
  }

  async roomDetail (room: string): Promise<(RoomSummary & { members: MemberState[] }) | undefined> {
    return this.op(async () => {
      const [summary, values, joinedAt] = await Promise.all([
        this.summary(room),
        this.client.hvals(this.keys.room(room)),
        this.client.hgetall(this.keys.roomJoined(room))
      ])
      if (summary === undefined) return undefined
      const infos = values.map((json) => JSON.parse(json) as PeerInfo)
      const attached = await Promise.all(infos.map(async (m) => this.client.hget(this.keys.peer(m.peerId), 'attached')))
      const members = infos.map((info, i) => ({
        ...info,
        joinedAt: Number(joinedAt[info.peerId] ?? summary.createdAt),
        connected: attached[i] === '1'
      }))
      return { ...summary, members }
    })
  }

  async putRoomSettings (room: string, settings: RoomSettings): Promise<RoomState> {
    return this.op(async () => {
      const json = JSON.stringify(settings)
      // The settings first, then the index: unindexIfEmpty() relies on that order.
      const createdAt = await this.script('swbRoomSettings', [this.keys.roomInfo(room)], [json, settings.capacity ?? '', this.roomInfoTtlMs])
      await this.index(room)
      return roomState(createdAt, json)
    })
  }

  async endRoom (room: string, startedAt?: number, reason: RoomEndReason = 'api'): Promise<PeerInfo[] | undefined> {
    return this.op(async () => {
      const ended = await this.recording([room], async (recordAs) =>
        this.script('swbRoomEnd', [this.keys.room(room), this.keys.roomInfo(room), this.keys.roomJoined(room), this.keys.roomEvents(room)],
          [startedAt === undefined ? '' : String(startedAt), recordAs(room), reason, this.roomInfoTtlMs]))
      if (ended === null) return undefined
      const members = ended.map((json) => JSON.parse(json) as PeerInfo)
      // The script removed them all at once: only this call tells the membership listener.
      if (this.outboxes === undefined) endedRoom(this.membership, room, members, reason)
      // The members' side of the membership lives on their own slots, and their instances keep a copy.
      await Promise.all([
        this.client.zrem(this.keys.roomIndex(), room),
        ...members.map(async ({ peerId }) => {
          await this.client.srem(this.keys.peerRooms(peerId), room)
          const local = this.owned.get(peerId)
          if (local !== undefined) local.rooms.delete(room)
          else await this.tellOwner(peerId, { kind: 'left', peerId, room })
        })
      ])
      return members
    })
  }

  /**
   * Takes a room that emptied out of the index, unless it has settings. A join or a PUT adds to the
   * index after writing the room, so checking again after the removal catches one that raced it.
   */
  private async unindexIfEmpty (room: string): Promise<void> {
    const inUse = async (): Promise<boolean> => {
      const [size, settings] = await Promise.all([this.client.hlen(this.keys.room(room)), this.client.hexists(this.keys.roomInfo(room), 'settings')])
      return size > 0 || settings === 1
    }
    if (await inUse()) return
    await this.client.zrem(this.keys.roomIndex(), room)
    if (await inUse()) await this.index(room)
  }

  /** Adds a room to the index, whose TTL each addition renews (as does touchAll while rooms live). */
  private async index (room: string): Promise<void> {
    await Promise.all([this.client.zadd(this.keys.roomIndex(), 0, room), this.client.pexpire(this.keys.roomIndex(), this.roomInfoTtlMs)])
  }

  /** Sends an admin notice to the instance that owns the peer (none: the session is gone). */
  private async tellOwner (peerId: string, notice: AdminNotice): Promise<void> {
    const owner = await this.client.hget(this.keys.peer(peerId), 'owner')
    if (owner !== null && owner !== this.instanceId) await this.publish(owner, adminPayload(notice))
  }

  async shareRoomDeadline (room: string, startedAt: number, endsAt: number | undefined): Promise<void> {
    await this.op(async () => this.deadlines.share(room, startedAt, endsAt))
  }

  async revokeUser (userId: string, at: number): Promise<void> {
    await this.op(async () => {
      // The hash lives as long as its newest entry matters; older entries are pruned here (those known
      // to this instance) and whenever an instance (re)loads them.
      const stale = this.revocations.prune().map(encodeUserId)
      await Promise.all([
        this.client.hset(this.keys.revocations(), encodeUserId(userId), at),
        this.client.pexpire(this.keys.revocations(), this.revocations.retentionMs),
        stale.length > 0 && this.client.hdel(this.keys.revocations(), ...stale)
      ])
      // Every registered instance, dead ones included (a publication nobody hears costs nothing).
      const instances = await this.client.zrange(this.keys.instances(), 0, -1)
      const payload = adminPayload({ kind: 'revoke', userId, at })
      await Promise.all(instances.filter((id) => id !== this.instanceId).map(async (id) => this.publish(id, payload)))
    })
    this.revocations.record(userId, at)
    await this.events.revoked(userId, at)
  }

  revokedAt (userId: string): number | undefined {
    return this.revocations.at(userId)
  }

  sessionsOf (userId: string): string[] {
    return [...this.owned].filter(([, peer]) => peer.userId === userId).map(([peerId]) => peerId)
  }

  /**
   * Reads the revocations hash (made before this instance started, or while its subscriber was away)
   * and drops the entries past the retention. Returns the revocations that are news here.
   */
  private async loadRevocations (): Promise<Array<[userId: string, at: number]>> {
    const all = await this.client.hgetall(this.keys.revocations())
    const oldest = Date.now() - this.revocations.retentionMs
    const stale: string[] = []
    const news: Array<[string, number]> = []
    for (const [user, at] of Object.entries(all)) {
      const userId = decodeURIComponent(user)
      if (Number(at) < oldest) stale.push(user)
      else if (this.revocations.record(userId, Number(at))) news.push([userId, Number(at)])
    }
    this.revocations.prune()
    if (stale.length > 0) await this.client.hdel(this.keys.revocations(), ...stale)
    return news
  }

  /**
   * The subscriber reconnected: a `revoke` notice published while it was away was lost. Once the
   * subscription is confirmed again (a revocation published from then on arrives as a notice), the hash
   * holds every earlier one: the sessions it newly revokes end as if the notice had come.
   */
  private async catchUpRevocations (): Promise<void> {
    // Redis answers in order on the subscriber's connection: this confirmation follows the resubscription.
    await this.subscriber.subscribe(this.keys.instanceChannel(this.instanceId))
    for (const [userId, at] of await this.loadRevocations()) {
      this.log.info({ userId }, 'a revocation missed while the subscriber was away: ending its sessions')
      this.track(this.events.revoked(userId, at), 'end revoked sessions')
    }
  }

  private onAdminNotice (notice: AdminNotice): void {
    switch (notice.kind) {
      case 'left':
        this.owned.get(notice.peerId)?.rooms.delete(notice.room)
        return
      case 'revoke':
        this.revocations.record(notice.userId, notice.at)
        this.track(this.events.revoked(notice.userId, notice.at), 'end revoked sessions')
    }
  }

  // ---- dead instances (called by the liveness module) ----------------------------------------

  async adopt (deadInstance: string, peerId: string): Promise<boolean> {
    return this.recovery.adopt(deadInstance, peerId)
  }

  async touchAll (): Promise<void> {
    return this.recovery.touchAll()
  }

  async resync (reason: string): Promise<void> {
    return this.recovery.resync(reason)
  }

  /** Peers owned here (for the liveness module's bookkeeping and for tests). */
  ownedPeers (): string[] {
    return [...this.owned.keys()]
  }

  // ---- outages --------------------------------------------------------------------------------

  private onConnectionLost (): void {
    if (this.stateValue === 'closed' || this.stateValue === 'down') return
    this.stateValue = 'down'
    this.recovery.lostContact(Date.now() + this.clockOffsetMs)
    this.log.warn({ redis: describeRedis(this.options.settings.mode) }, 'lost the Redis connection: registry unavailable until it is back')
  }

  // ---- health and shutdown --------------------------------------------------------------------

  /** The peers this instance owns, and the rooms they are in: each instance reports its own share. */
  stats (): { rooms: number, peers: number } {
    const rooms = new Set<string>()
    for (const peer of this.owned.values()) for (const room of peer.rooms.keys()) rooms.add(room)
    return { rooms: rooms.size, peers: this.owned.size }
  }

  async healthy (): Promise<{ ok: boolean, detail?: string }> {
    if (!this.ready || this.stalled) return { ok: false, detail: this.unavailable().message }
    if (this.subscriber.status !== 'ready') return { ok: false, detail: `Redis subscriber ${this.subscriber.status}` }
    try {
      await this.client.ping()
      return { ok: true }
    } catch (err) {
      return { ok: false, detail: `Redis ping failed: ${(err as Error).message}` }
    }
  }

  /**
   * Shutdown: sessions stay in Redis (clients resume on another instance). Deleting our liveness key
   * lets another instance adopt the peers that do not come back right away, instead of after the TTL.
   */
  async close (): Promise<void> {
    if (this.stateValue === 'closed') return
    const wasReady = this.ready
    this.stateValue = 'closed'
    this.liveness.stop()
    this.recovery.stop()
    this.loopLag.stop()
    this.outboxes?.stop()
    for (const local of this.owned.values()) local.inbox.close()
    await Promise.allSettled([...this.inflight])
    if (wasReady) await this.liveness.unregister().catch(() => {})
    this.client.disconnect()
    this.subscriber.disconnect()
  }
}

function relayOutcome ([status, , attached]: ScriptReplies['swbRelay']): RelayOutcome {
  if (status < 0) return 'recipient-not-in-room'
  return attached === '1' ? 'delivered' : 'queued'
}

function deliveryOutcome ([status, , attached]: ScriptReplies['swbRelay']): DeliveryOutcome {
  if (status < 0) return 'dropped'
  return attached === '1' ? 'delivered' : 'queued'
}

/** A room's state from the strings Redis keeps (createdAt in ms, settings as JSON or ''). */
function roomState (createdAt: string, settings: string): RoomState {
  return settings === '' ? { createdAt: Number(createdAt) } : { createdAt: Number(createdAt), settings: JSON.parse(settings) as RoomSettings }
}

/**
 * Publications from other instances arrive many to a chunk of the subscriber's connection: bracket its
 * reads (write-batch.ts) so that what one chunk delivers leaves each recipient's socket in one writev.
 * Each reconnect brings a new stream, seen at 'ready' (after ioredis attached its parser). A Cluster
 * subscribes through a connection per node and is left as is: its deliveries are written one by one.
 */
const batchedStreams = new WeakSet<object>()
function batchDeliveryWrites (subscriber: RedisClient): void {
  if (!(subscriber instanceof Redis)) return
  const stream = subscriber.stream
  if (stream === undefined || batchedStreams.has(stream)) return
  batchedStreams.add(stream)
  batchWritesOf(stream)
}
