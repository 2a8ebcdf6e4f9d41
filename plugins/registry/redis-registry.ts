import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { FastifyBaseLogger } from 'fastify'
import type { PeerInfo } from '../signaling/messages.js'
import { ENDED_TOKEN, RedisKeys, encodeUserId } from './keys.js'
import { connectRedis, createRedisClient, describeRedis, type RedisClient, type RedisConnectionSettings } from './redis-connection.js'
import { defineScripts, runScript, type ScriptName } from './redis-scripts.js'
import { RedisLiveness } from './redis-liveness.js'
import {
  RegistryUnavailableError, stampSeq, type DeliveryOutcome, type JoinOutcome, type RegistryCounters, type RegistryLimits,
  type ReplayOutcome, type RoomRegistry, type SessionRecord, type Sink
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

/** How long an out-of-order message waits for the ones before it before we read them from the buffer. */
const GAP_WAIT_MS = 20
/** Sessions written back to Redis at a time after an outage. */
const RESTORE_BATCH = 500
/** Resumes in progress (between replay() and attach()) remembered at most. */
const REPLAYS_KEPT = 10_000
/** Retry of a failed re-registration while Redis is reachable again but not yet cooperating. */
const RESYNC_RETRY_MS = 500

/**
 * What this instance knows about a peer it owns (connected here, or in its grace period here). It is
 * the copy written back when Redis comes back empty, and the state of in-order delivery to the socket.
 */
interface OwnedPeer {
  userId: string
  /** The resume token hashes the session answers to: the latest welcome's, and the one its last resume presented ('' = none). */
  tokenHash: string
  previousTokenHash: string
  rooms: Map<string, PeerInfo>
  /** Highest seq pushed to the sink while attached; highest seq seen while not. */
  seq: number
  attached: boolean
  /** Out-of-order messages waiting for the ones before them. */
  pending: Map<number, string>
  gapTimer?: NodeJS.Timeout
  /** Reading the buffer (after attach, or to close a gap): live messages wait in `pending`. */
  filling: boolean
  /** Ending it failed during an outage: end it once Redis is back. */
  ending: boolean
}

type State = 'ready' | 'down' | 'resyncing' | 'closed'

/** ioredis reply errors that mean "Redis cannot serve now" rather than "this command is wrong". */
const TRANSIENT_REPLY = /^(LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|BUSY|OOM|NOAUTH|NOPERM|WRONGPASS)/

/**
 * The room registry shared by every instance through Redis (single server, Sentinel or Cluster).
 * Membership, capacity, room counts and connection counts change only inside Lua scripts; messages
 * get their seq and a place in the replay buffer in Redis, then travel to the instance holding the
 * recipient's socket over that instance's own (sharded) pub/sub channel, where they are delivered in
 * seq order. Liveness and dead-instance cleanup are in redis-liveness.ts. See docs/redis.md.
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
  private readonly owned = new Map<string, OwnedPeer>()
  private readonly sinks = new Map<string, Sink>()
  /** Connections this instance counts per user (the Redis hash holds one field per instance). */
  private readonly connectionCounts = new Map<string, number>()
  /** seq covered by the last replay() of a peer, where its next attach starts delivering. */
  private readonly replayedThrough = new Map<string, number>()
  private readonly orphanTimers = new Map<string, NodeJS.Timeout>()
  private readonly inflight = new Set<Promise<unknown>>()
  private readonly liveness: RedisLiveness
  private state: State = 'down'
  private resyncRunning = false
  private resyncAgain = false
  private resyncRetry: NodeJS.Timeout | undefined
  private sharded = false
  private takeoverHandler: ((peerId: string) => void) | undefined
  private orphanHandler: ((peerId: string) => Promise<void>) | undefined

  private constructor (
    readonly client: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly options: RedisRegistryOptions
  ) {
    const base = (options.instanceName ?? hostname()).replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 48) || 'switchboard'
    this.instanceId = `${base}-${randomBytes(4).toString('hex')}`
    this.keys = new RedisKeys(options.keyPrefix)
    this.stateTtlMs = Math.max(120_000, 3 * (options.graceMs + options.instanceTtlMs + options.reapIntervalMs))
    this.endedTtlMs = Math.max(this.stateTtlMs, 600_000)
    this.liveness = new RedisLiveness(this, {
      instanceTtlMs: options.instanceTtlMs,
      reapIntervalMs: options.reapIntervalMs,
      graceMs: options.graceMs,
      log: options.log
    })
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
      client.disconnect()
      subscriber.disconnect()
      throw err
    }
    return registry
  }

  private get log (): FastifyBaseLogger { return this.options.log }

  private async start (): Promise<void> {
    defineScripts(this.client)
    const info = await this.client.info('server')
    const version = /redis_version:(\d+)/.exec(info)?.[1]
    // Sharded pub/sub keeps a channel's traffic on the shard that owns it (Redis 7+); plain pub/sub in
    // a cluster is broadcast to every node.
    this.sharded = this.options.settings.mode.kind === 'cluster' && Number(version) >= 7
    const channel = this.keys.instanceChannel(this.instanceId)
    const onMessage = (_channel: string, payload: string): void => { this.onChannelMessage(payload) }
    if (this.sharded) {
      this.subscriber.on('smessage', onMessage)
      await this.subscriber.ssubscribe(channel)
    } else {
      this.subscriber.on('message', onMessage)
      await this.subscriber.subscribe(channel)
    }

    this.client.on('error', (err: Error) => this.log.debug({ err: { message: err.message } }, 'redis client error'))
    this.subscriber.on('error', (err: Error) => this.log.debug({ err: { message: err.message } }, 'redis subscriber error'))
    this.client.on('close', () => this.onConnectionLost())
    this.client.on('ready', () => {
      this.counters.reconnections++
      void this.resync('redis connection is back')
    })
    // Publications sent while the subscriber was away are lost: read what they carried from the buffers.
    this.subscriber.on('ready', () => { if (this.state === 'ready') this.fillAttached() })

    await this.liveness.register()
    this.state = 'ready'
    this.liveness.start()
    this.log.info({ instanceId: this.instanceId, redis: describeRedis(this.options.settings.mode), shardedPubSub: this.sharded }, 'using the Redis room registry')
  }

  // ---- plumbing -------------------------------------------------------------------------------

  get ready (): boolean { return this.state === 'ready' }

  /** Runs a registry operation: fails fast when Redis is away, and turns connection failures into RegistryUnavailableError. */
  private async op<T> (fn: () => Promise<T>): Promise<T> {
    if (this.state !== 'ready') {
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

  private unavailable (): InstanceType<typeof RegistryUnavailableError> {
    switch (this.state) {
      case 'closed': return new RegistryUnavailableError('this instance is shutting down')
      case 'resyncing': return new RegistryUnavailableError('re-registering after a Redis outage')
      default: return new RegistryUnavailableError('Redis is unreachable')
    }
  }

  private translate (err: unknown): unknown {
    if (err instanceof RegistryUnavailableError) return err
    const e = err as { name?: string, message?: string }
    // A script bug is a bug (SWB_INTERNAL), not an outage. A fresh error: ioredis attaches the command
    // and its arguments (message bodies, SDP) to its errors, and handlers log what they catch.
    if (e.name === 'ReplyError' && !TRANSIENT_REPLY.test(e.message ?? '')) return new Error(`Redis refused a registry command: ${e.message ?? ''}`)
    return new RegistryUnavailableError(`Redis command failed (${e.message ?? 'unknown error'})`)
  }

  /** Runs a script (the registry's only way to change shared state atomically). */
  async script (name: ScriptName, keys: string[], args: Array<string | number>): Promise<unknown> {
    return runScript(this.client, name, keys, args)
  }

  private peerKeys (peerId: string): [string, string, string] {
    return [this.keys.peer(peerId), this.keys.peerRooms(peerId), this.keys.peerBuffer(peerId)]
  }

  /** Fire-and-forget work whose failure only needs a log line (the copy is written back on resync); close() waits for it. */
  private track (work: Promise<unknown>, what: string): void {
    const p = work.catch((err: unknown) => this.log.warn({ err: { message: (err as Error).message }, what }, 'registry background write failed'))
    this.inflight.add(p)
    void p.finally(() => this.inflight.delete(p))
  }

  /** This instance's peer and user sets: added to, with a TTL from the start (the heartbeat renews it). */
  private async addToInstanceSet (key: string, member: string): Promise<void> {
    await Promise.all([this.client.sadd(key, member), this.client.pexpire(key, this.stateTtlMs)])
  }

  async publish (instanceId: string, payload: string): Promise<void> {
    const channel = this.keys.instanceChannel(instanceId)
    if (this.sharded) await this.client.spublish(channel, payload)
    else await this.client.publish(channel, payload)
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

  /** Never throws: the hub calls it while tearing down; a failed write is corrected when Redis is back. */
  async releaseConnection (userId: string): Promise<void> {
    const count = (this.connectionCounts.get(userId) ?? 0) - 1
    if (count > 0) this.connectionCounts.set(userId, count)
    else this.connectionCounts.delete(userId)
    if (this.state !== 'ready') return
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
    this.owned.set(peerId, newOwnedPeer(userId, [resumeTokenHash, ''], 0))
  }

  async findSession (resumeTokenHash: string): Promise<SessionRecord | 'ended' | undefined> {
    return this.op(async () => {
      const peerId = await this.client.get(this.keys.resumeToken(resumeTokenHash))
      if (peerId === ENDED_TOKEN) return 'ended'
      if (peerId === null) return undefined
      const found = await this.script('swbFindSession', [this.keys.peer(peerId), this.keys.peerRooms(peerId)], [resumeTokenHash]) as [string, string, string[]] | null
      if (!found) return undefined
      return { peerId, userId: found[0], seq: Number(found[1]), rooms: found[2] }
    })
  }

  /**
   * Called when a peer resumes on this instance: besides the tokens, the session moves here. The
   * previous owner, if another instance, is told to retire its (stale) socket.
   */
  async rotateResumeToken (peerId: string, newHash: string, presentedHash: string): Promise<void> {
    await this.op(async () => {
      await this.client.set(this.keys.resumeToken(newHash), peerId, 'PX', this.stateTtlMs)
      const claimed = await this.script('swbClaim', [this.keys.peer(peerId), this.keys.peerRooms(peerId)],
        [newHash, presentedHash, this.instanceId, this.stateTtlMs]) as [string, string, string, string[], string[]] | null
      if (!claimed) return
      const [userId, previousOwner, seq, rooms, superseded] = claimed
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
          writes.push(this.publish(previousOwner, `t ${peerId}`))
        }
      }
      const [infos] = await Promise.all([this.memberInfos(peerId, userId, rooms), ...writes])
      clearTimeout(this.orphanTimers.get(peerId))
      this.orphanTimers.delete(peerId)
      const local = this.owned.get(peerId)
      if (local) {
        local.tokenHash = newHash
        local.previousTokenHash = presentedHash
        local.rooms = infos
      } else {
        this.owned.set(peerId, newOwnedPeer(userId, [newHash, presentedHash], this.replayedThrough.get(peerId) ?? Number(seq), infos))
      }
    })
  }

  /** PeerInfo of `peerId` in each room (what it joined with, role and meta included), for the copy kept here. */
  private async memberInfos (peerId: string, userId: string, rooms: string[]): Promise<Map<string, PeerInfo>> {
    const infos = new Map<string, PeerInfo>()
    const values = await Promise.all(rooms.map((room) => this.client.hget(this.keys.room(room), peerId)))
    rooms.forEach((room, i) => {
      const json = values[i]
      infos.set(room, json ? JSON.parse(json) as PeerInfo : { peerId, userId })
    })
    return infos
  }

  async deleteSession (peerId: string): Promise<string[]> {
    const local = this.owned.get(peerId)
    try {
      return await this.op(async () => {
        // Our own session is ended only while it is still ours: if it resumed elsewhere meanwhile, it lives on.
        const ended = await this.script('swbEndSession', this.peerKeys(peerId), [local ? this.instanceId : '']) as
          [1, string, string, string, string[]] | [0] | null
        this.forget(peerId)
        if (!ended || ended[0] === 0) return []
        const [, owner, tokenHash, previousTokenHash, rooms] = ended
        await Promise.all([
          // Both tokens the client may hold read as ended (SWB_RESUME_EXPIRED).
          ...[tokenHash, previousTokenHash].filter((hash) => hash !== '')
            .map((hash) => this.client.set(this.keys.resumeToken(hash), ENDED_TOKEN, 'PX', this.endedTtlMs)),
          ...rooms.map((room) => this.client.hdel(this.keys.room(room), peerId)),
          this.client.srem(this.keys.instancePeers(owner), peerId),
          // Ended from here while another instance may still hold its socket: that one must close it.
          owner !== this.instanceId && this.publish(owner, `t ${peerId}`)
        ])
        return rooms
      })
    } catch (err) {
      // Ours and Redis is away: end it (with peer-left for its rooms) once Redis is back.
      if (local && err instanceof RegistryUnavailableError && this.owned.get(peerId) === local) local.ending = true
      throw err
    }
  }

  /** Drops everything this instance holds for a peer (its session ended or moved elsewhere). */
  private forget (peerId: string): OwnedPeer | undefined {
    const local = this.owned.get(peerId)
    if (local) clearTimeout(local.gapTimer)
    this.owned.delete(peerId)
    this.sinks.delete(peerId)
    this.replayedThrough.delete(peerId)
    clearTimeout(this.orphanTimers.get(peerId))
    this.orphanTimers.delete(peerId)
    return local
  }

  // ---- rooms ----------------------------------------------------------------------------------

  async join (room: string, member: PeerInfo, limits: { capacity: number, maxRoomsPerPeer: number }): Promise<JoinOutcome> {
    return this.op(async () => {
      const { peerId } = member
      const roomKey = this.keys.room(room)
      // The peer's room count and the room's capacity live on different slots: the peer side first, so a
      // full room only ever costs this peer a moment of an extra count, never another peer its place.
      const added = await this.script('swbPeerAddRoom', [this.keys.peer(peerId), this.keys.peerRooms(peerId)],
        [room, limits.maxRoomsPerPeer, this.stateTtlMs]) as number
      if (added === -1) return { ok: false, reason: 'unknown-peer' }
      if (added === 2) {
        // Same precedence as the memory registry: a full room is reported before the peer's own limit.
        const [size, already] = await Promise.all([this.client.hlen(roomKey), this.client.hexists(roomKey, peerId)])
        return { ok: false, reason: size >= limits.capacity && already === 0 ? 'full' : 'too-many-rooms' }
      }
      const joined = await this.script('swbRoomJoin', [roomKey], [peerId, JSON.stringify(member), limits.capacity, this.stateTtlMs]) as
        [0] | [1 | 2, string[]]
      if (joined[0] === 0) {
        if (added === 1) await this.client.srem(this.keys.peerRooms(peerId), room)
        return { ok: false, reason: 'full' }
      }
      const members = joined[1].map((json) => JSON.parse(json) as PeerInfo)
      const self = members.find((m) => m.peerId === peerId) ?? member
      this.owned.get(peerId)?.rooms.set(room, self)
      return { ok: true, peers: members.filter((m) => m.peerId !== peerId), alreadyJoined: joined[0] === 1 }
    })
  }

  async leave (room: string, peerId: string): Promise<boolean> {
    return this.op(async () => {
      const [removed] = await Promise.all([
        this.client.hdel(this.keys.room(room), peerId),
        this.client.srem(this.keys.peerRooms(peerId), room)
      ])
      this.owned.get(peerId)?.rooms.delete(room)
      return removed === 1
    })
  }

  async members (room: string): Promise<PeerInfo[]> {
    return this.op(async () => (await this.client.hvals(this.keys.room(room))).map((json) => JSON.parse(json) as PeerInfo))
  }

  async isMember (room: string, peerId: string): Promise<boolean> {
    return this.op(async () => await this.client.hexists(this.keys.room(room), peerId) === 1)
  }

  // ---- messages -------------------------------------------------------------------------------

  async deliver (peerId: string, body: string): Promise<DeliveryOutcome> {
    return this.op(async () => {
      const { limits } = this.options
      const result = await this.script('swbDeliver', [this.keys.peer(peerId), this.keys.peerBuffer(peerId)],
        [body, limits.bufferMessages, limits.bufferBytes, this.stateTtlMs]) as [number, string, string] | null
      if (!result) return 'dropped'
      const [seq, owner, attached] = result
      const json = stampSeq(body, seq)
      // Our own peer: straight to its socket. Another instance's: to that instance's channel, where
      // it is delivered in seq order (the buffer above already holds it for a resume).
      if (owner === this.instanceId) this.receive(peerId, seq, json)
      else {
        await this.publish(owner, `m ${peerId} ${seq} ${json}`)
        this.counters.crossInstanceDeliveries++
      }
      return attached === '1' ? 'delivered' : 'queued'
    })
  }

  async replay (peerId: string, lastSeq: number): Promise<ReplayOutcome> {
    return this.op(async () => {
      const range = await this.script('swbRange', [this.keys.peer(peerId), this.keys.peerBuffer(peerId)], [lastSeq, '1']) as
        [number, number?, number?, string[]?]
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
      const local = this.owned.get(peerId)
      if (local && this.sinks.has(peerId) && seq > local.seq) {
        local.seq = seq
        for (const s of local.pending.keys()) if (s <= seq) local.pending.delete(s)
      }
      return { ok: true, messages }
    })
  }

  async ack (peerId: string, seq: number): Promise<void> {
    await this.op(() => this.script('swbAck', [this.keys.peer(peerId), this.keys.peerBuffer(peerId)], [seq]))
  }

  attach (peerId: string, sink: Sink): void {
    this.sinks.set(peerId, sink)
    const local = this.owned.get(peerId)
    if (!local) return
    const replayed = this.replayedThrough.get(peerId)
    this.replayedThrough.delete(peerId)
    if (replayed !== undefined) local.seq = replayed
    for (const s of local.pending.keys()) if (s <= local.seq) local.pending.delete(s)
    local.attached = true
    // Hold live messages until the buffer was read: whatever reached it between the replay and now
    // (sent to the previous owner, say) goes out first, in order.
    local.filling = true
    this.track((async () => {
      try {
        if (this.state === 'ready') await this.script('swbAttach', [this.keys.peer(peerId)], [this.instanceId, this.stateTtlMs])
      } finally {
        local.filling = false
      }
      await this.fill(peerId)
    })(), 'attach')
  }

  detach (peerId: string, sink: Sink): void {
    if (this.sinks.get(peerId) !== sink) return
    this.sinks.delete(peerId)
    const local = this.owned.get(peerId)
    if (local) {
      local.attached = false
      local.pending.clear()
      clearTimeout(local.gapTimer)
    }
    if (this.state === 'ready') this.track(this.script('swbDetach', [this.keys.peer(peerId)], [this.instanceId]), 'detach')
  }

  /** A message for a peer owned here: in seq order to its socket (or just counted while it has none). */
  private receive (peerId: string, seq: number, json: string): void {
    const local = this.owned.get(peerId)
    if (!local) return
    if (!this.sinks.has(peerId)) {
      if (seq > local.seq) local.seq = seq
      return
    }
    if (seq <= local.seq) return
    local.pending.set(seq, json)
    this.drain(peerId, local)
  }

  private drain (peerId: string, local: OwnedPeer): void {
    if (local.filling) return
    const sink = this.sinks.get(peerId)
    if (!sink) return
    for (let next = local.pending.get(local.seq + 1); next !== undefined; next = local.pending.get(local.seq + 1)) {
      local.pending.delete(local.seq + 1)
      local.seq++
      sink.push(next, local.seq)
    }
    if (local.pending.size === 0) {
      clearTimeout(local.gapTimer)
      local.gapTimer = undefined
    } else if (!local.gapTimer) {
      // Two senders on two instances can publish out of seq order; a gap that persists is read from the buffer.
      local.gapTimer = setTimeout(() => {
        local.gapTimer = undefined
        this.track(this.fill(peerId), 'gap fill')
      }, GAP_WAIT_MS)
    }
  }

  /** Reads what the buffer holds after what was pushed, and pushes it in order. */
  private async fill (peerId: string): Promise<void> {
    const local = this.owned.get(peerId)
    if (!local || local.filling || !this.sinks.has(peerId) || this.state !== 'ready') return
    local.filling = true
    let range: [number, number?, number?, string[]?]
    try {
      range = await this.script('swbRange', [this.keys.peer(peerId), this.keys.peerBuffer(peerId)], [local.seq, '0']) as typeof range
    } finally {
      local.filling = false
    }
    if (this.owned.get(peerId) !== local || range[0] !== 0) return
    const sessionSeq = range[1] ?? 0
    const first = range[2] ?? 0
    ;(range[3] ?? []).forEach((json, i) => { if (first + i > local.seq) local.pending.set(first + i, json) })
    // Seqs the session had issued when we read but the buffer no longer holds were evicted or
    // acknowledged: skip past them. Later ones may still be on their way: the gap timer waits for those.
    const lowest = Math.min(...local.pending.keys())
    if (local.pending.size > 0 && lowest > local.seq + 1 && local.seq < sessionSeq) local.seq = Math.min(lowest, sessionSeq + 1) - 1
    this.drain(peerId, local)
  }

  private fillAttached (): void {
    for (const peerId of this.sinks.keys()) this.track(this.fill(peerId), 'fill after reconnect')
  }

  private onChannelMessage (payload: string): void {
    if (payload.startsWith('m ')) {
      const a = payload.indexOf(' ', 2)
      const b = payload.indexOf(' ', a + 1)
      if (a < 0 || b < 0) return
      this.receive(payload.slice(2, a), Number(payload.slice(a + 1, b)), payload.slice(b + 1))
    } else if (payload.startsWith('t ')) {
      const peerId = payload.slice(2)
      // A late notice could follow the peer coming back here: trust only what the session says now.
      this.track((async () => {
        const owner = await this.client.hget(this.keys.peer(peerId), 'owner')
        if (owner !== this.instanceId) this.lose(peerId)
      })(), 'takeover')
    }
  }

  /** The peer is not ours any more: drop it here and let the hub close its socket. */
  lose (peerId: string): void {
    if (!this.owned.has(peerId) && !this.sinks.has(peerId)) return
    this.forget(peerId)
    this.log.info({ peerId }, 'peer taken over by another instance')
    this.takeoverHandler?.(peerId)
  }

  onTakeover (handler: (peerId: string) => void): void {
    this.takeoverHandler = handler
  }

  onSessionOrphaned (handler: (peerId: string) => Promise<void>): void {
    this.orphanHandler = handler
  }

  // ---- dead instances (called by the liveness module) ----------------------------------------

  /**
   * Takes a dead instance's session over until its grace runs out; it ends then unless the peer resumed
   * somewhere meanwhile. False when it is gone or already owned by someone else.
   */
  async adopt (deadInstance: string, peerId: string): Promise<boolean> {
    if (this.state !== 'ready') return false
    const adopted = await this.script('swbAdopt', [this.keys.peer(peerId), this.keys.peerRooms(peerId)],
      [deadInstance, this.instanceId, this.options.graceMs, this.stateTtlMs]) as [number, string, string, string, string, string[]] | null
    if (!adopted) return false
    const [remainingMs, userId, tokenHash, previousTokenHash, seq, rooms] = adopted
    const [infos] = await Promise.all([
      this.memberInfos(peerId, userId, rooms),
      this.addToInstanceSet(this.keys.instancePeers(this.instanceId), peerId),
      // In case the "dead" instance was only stalled: it must let go of the socket.
      this.publish(deadInstance, `t ${peerId}`)
    ])
    // The state may have changed while we awaited.
    if ((this.state as State) === 'closed') return true
    this.owned.set(peerId, newOwnedPeer(userId, [tokenHash, previousTokenHash], Number(seq), infos))
    this.scheduleOrphanExpiry(peerId, Number(remainingMs))
    return true
  }

  private scheduleOrphanExpiry (peerId: string, delayMs: number): void {
    clearTimeout(this.orphanTimers.get(peerId))
    const timer = setTimeout(() => {
      this.orphanTimers.delete(peerId)
      this.track(this.endOrphan(peerId), 'end orphaned session')
    }, delayMs)
    timer.unref()
    this.orphanTimers.set(peerId, timer)
  }

  private async endOrphan (peerId: string): Promise<void> {
    if (!this.owned.has(peerId) || this.sinks.has(peerId)) return
    if (this.orphanHandler) await this.orphanHandler(peerId)
    else await this.deleteSession(peerId)
  }

  // ---- outages --------------------------------------------------------------------------------

  private onConnectionLost (): void {
    if (this.state === 'closed' || this.state === 'down') return
    this.state = 'down'
    this.log.warn({ redis: describeRedis(this.options.settings.mode) }, 'lost the Redis connection: registry unavailable until it is back')
  }

  /**
   * Writes this instance's part of the shared state back to Redis: after a reconnect (Redis may have
   * restarted empty) or when our liveness key vanished (we were presumed dead). Idempotent; what
   * Redis still holds wins, and sessions another instance took meanwhile are let go.
   */
  async resync (reason: string): Promise<void> {
    if (this.state === 'closed') return
    if (this.resyncRunning) {
      this.resyncAgain = true
      return
    }
    this.resyncRunning = true
    this.state = 'resyncing'
    clearTimeout(this.resyncRetry)
    try {
      do {
        this.resyncAgain = false
        await this.restoreAll(reason)
      } while (this.resyncAgain)
      if (this.state === 'resyncing') this.state = 'ready'
      this.log.info({ peers: this.owned.size, reason }, 'registry state re-registered in Redis')
      this.fillAttached()
      // Sessions whose end failed during the outage end now (their rooms get peer-left).
      for (const [peerId, local] of this.owned) if (local.ending && !this.sinks.has(peerId)) this.track(this.endOrphan(peerId), 'end after outage')
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message } }, 're-registration failed; retrying')
      if (this.state === 'resyncing') this.state = 'down'
      this.resyncRetry = setTimeout(() => { if (this.client.status === 'ready') void this.resync(reason) }, RESYNC_RETRY_MS)
      this.resyncRetry.unref()
    } finally {
      this.resyncRunning = false
    }
  }

  private async restoreAll (reason: string): Promise<void> {
    this.log.info({ peers: this.owned.size, reason }, 're-registering registry state in Redis')
    await this.liveness.register()
    // In batches: tens of thousands of peers must not mean tens of thousands of commands in flight at once.
    const peers = [...this.owned]
    for (let i = 0; i < peers.length; i += RESTORE_BATCH) {
      await Promise.all(peers.slice(i, i + RESTORE_BATCH).map(([peerId, local]) => this.restorePeer(peerId, local)))
    }
    await Promise.all([...this.connectionCounts].map(async ([userId, count]) => {
      const user = encodeUserId(userId)
      await this.script('swbConnSet', [this.keys.connections(user)], [this.instanceId, count, this.stateTtlMs])
      await this.addToInstanceSet(this.keys.instanceUsers(this.instanceId), user)
    }))
  }

  private async restorePeer (peerId: string, local: OwnedPeer): Promise<void> {
    const hashes = tokenHashesOf(local)
    // One GET per key: in a Cluster the token keys are on different slots.
    const tokens = await Promise.all(hashes.map((hash) => this.client.get(this.keys.resumeToken(hash))))
    if (tokens.includes(ENDED_TOKEN)) {
      this.lose(peerId)
      return
    }
    const restored = await this.script('swbRestore', this.peerKeys(peerId),
      [this.instanceId, local.userId, local.tokenHash, local.previousTokenHash, local.seq, local.attached ? '1' : '0', this.stateTtlMs, ...local.rooms.keys()]) as [string, string?]
    if (restored[0] === 'lost') {
      this.lose(peerId)
      return
    }
    await Promise.all([
      // Both tokens the client may hold resolve again (a welcome lost with the outage left it the previous one).
      ...hashes.map((hash) => this.client.set(this.keys.resumeToken(hash), peerId, 'PX', this.stateTtlMs)),
      this.addToInstanceSet(this.keys.instancePeers(this.instanceId), peerId),
      ...[...local.rooms].map(([room, info]) => this.script('swbRoomRestore', [this.keys.room(room)], [peerId, JSON.stringify(info), this.stateTtlMs]))
    ])
  }

  /** Refreshes the TTL of every key this instance keeps alive (a crashed instance's keys then expire on their own). */
  async touchAll (): Promise<void> {
    const rooms = new Set<string>()
    const work: Array<() => Promise<unknown>> = []
    for (const [peerId, local] of this.owned) {
      work.push(() => this.script('swbTouch', this.peerKeys(peerId), [this.stateTtlMs]))
      for (const hash of tokenHashesOf(local)) work.push(() => this.client.pexpire(this.keys.resumeToken(hash), this.stateTtlMs))
      for (const room of local.rooms.keys()) rooms.add(room)
    }
    for (const room of rooms) work.push(() => this.client.pexpire(this.keys.room(room), this.stateTtlMs))
    for (const userId of this.connectionCounts.keys()) work.push(() => this.client.pexpire(this.keys.connections(encodeUserId(userId)), this.stateTtlMs))
    for (let i = 0; i < work.length; i += RESTORE_BATCH) await Promise.all(work.slice(i, i + RESTORE_BATCH).map((w) => w()))
  }

  /** Peers owned here (for the liveness module's bookkeeping and for tests). */
  ownedPeers (): string[] {
    return [...this.owned.keys()]
  }

  // ---- health and shutdown --------------------------------------------------------------------

  /** The peers this instance owns, and the rooms they are in: each instance reports its own share. */
  stats (): { rooms: number, peers: number } {
    const rooms = new Set<string>()
    for (const peer of this.owned.values()) for (const room of peer.rooms.keys()) rooms.add(room)
    return { rooms: rooms.size, peers: this.owned.size }
  }

  async healthy (): Promise<{ ok: boolean, detail?: string }> {
    if (this.state !== 'ready') return { ok: false, detail: this.unavailable().message }
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
    if (this.state === 'closed') return
    const wasReady = this.state === 'ready'
    this.state = 'closed'
    this.liveness.stop()
    clearTimeout(this.resyncRetry)
    for (const timer of this.orphanTimers.values()) clearTimeout(timer)
    for (const local of this.owned.values()) clearTimeout(local.gapTimer)
    await Promise.allSettled([...this.inflight])
    if (wasReady) await this.liveness.unregister().catch(() => {})
    this.client.disconnect()
    this.subscriber.disconnect()
  }

}

function newOwnedPeer (userId: string, [tokenHash, previousTokenHash]: [string, string], seq: number, rooms = new Map<string, PeerInfo>()): OwnedPeer {
  return { userId, tokenHash, previousTokenHash, rooms, seq, attached: false, pending: new Map(), filling: false, ending: false }
}

/** The token hashes a session answers to: the current one, and the previous one if any. */
function tokenHashesOf (local: OwnedPeer): string[] {
  return local.previousTokenHash === '' ? [local.tokenHash] : [local.tokenHash, local.previousTokenHash]
}
