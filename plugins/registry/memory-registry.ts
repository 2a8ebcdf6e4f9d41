import type { PeerInfo } from '../signaling/messages.js'
import { DEFAULT_REVOCATION_RETENTION_SECONDS, Revocations } from './revocations.js'
import { endedRoom } from './membership.js'
import { ChunkPool } from './chunk-pool.js'
import { CHUNK_BYTES, FIRST_CHUNK_BYTES, ReplayBuffer, type ReplayLimits } from './replay-buffer.js'
import {
  NO_MEMBERSHIP_LISTENER, stampSeq, type Claim, type Departure, type DeliveryOutcome, type JoinLimits, type JoinOutcome, type LeaveReason,
  type MemberState, type MembershipListener, type RegistryCounters, type RegistryEvents, type RegistryLimits, type RelayBody, type RelayOutcome, type ReplayOutcome,
  type RoomEndReason, type RoomPage, type RoomRegistry, type RoomSettings, type RoomState, type RoomSummary, type SessionRecord, type Sink
} from './types.js'

/** How many token hashes of ended sessions (up to two each) we remember, to tell "ended" from "never existed". */
const ENDED_TOKENS_KEPT = 10_000

interface PeerState {
  userId: string
  /** The token hash of the latest welcome. */
  resumeTokenHash: string
  /** The token presented by the last resume: still valid until the client resumes with its successor. */
  previousTokenHash?: string
  rooms: Set<string>
  seq: number
  /** Grows with every resume claim (see Claim). */
  epoch: number
  buffer: ReplayBuffer
  /** Highest seq dropped from the buffer because it was full: replay from before it is impossible. */
  evictedThrough: number
  sink?: Sink
  /**
   * A sink of this peer's was replaced or detached before it had written everything: views of the
   * buffer's chunks may still be queued there, so its chunks never go back to the pool.
   */
  unflushedSink?: true
}

/**
 * Most bytes of acknowledged replay chunks kept for reuse (chunk-pool.ts), for the whole process: room
 * for a wave of acks from every busy peer at once (400 peers in the benchmark's closed loop hold about
 * 16 MB of chunks between two acks). What traffic does not take again is let go within two
 * CHUNK_POOL_TRIM_MS, so an idle process keeps nothing.
 */
export const CHUNK_POOL_BYTES = 32 * 1024 * 1024
export const CHUNK_POOL_TRIM_MS = 1000

/** A room's record beside its members: kept while it has members or settings. */
interface RoomRecord {
  createdAt: number
  /** The capacity the grant of the peer that started the room carried. */
  grantCapacity?: number
  settings?: RoomSettings
  /** peerId → when it joined (ms). */
  joinedAt: Map<string, number>
}

/**
 * The embedded default: everything in this process. Each method runs to completion without
 * awaiting, so check-and-update steps (capacity) are atomic on Node's single thread, and `relay`
 * returns synchronously: a relayed message costs no promise at all.
 */
export class MemoryRegistry implements RoomRegistry {
  readonly kind = 'memory'
  /** One process: nothing crosses instances and there is no store to lose. */
  readonly counters: RegistryCounters = { crossInstanceDeliveries: 0, commandErrors: 0, reconnections: 0 }
  private readonly rooms = new Map<string, Map<string, PeerInfo>>()
  private readonly peers = new Map<string, PeerState>()
  private readonly byResumeToken = new Map<string, string>()
  private readonly connections = new Map<string, number>()
  private readonly endedTokens = new Set<string>()
  private readonly records = new Map<string, RoomRecord>()
  private readonly revocations: Revocations
  private events: RegistryEvents | undefined
  private membership: MembershipListener = NO_MEMBERSHIP_LISTENER

  private readonly replayLimits: ReplayLimits
  /** Where the replay buffers' chunks come from and go back to. */
  private readonly chunks = new ChunkPool(FIRST_CHUNK_BYTES, CHUNK_BYTES, CHUNK_POOL_BYTES)
  private readonly chunkTrimmer = setInterval(() => { this.chunks.trim() }, CHUNK_POOL_TRIM_MS).unref()

  constructor (limits: RegistryLimits, private readonly now: () => number = Date.now) {
    this.replayLimits = { messages: limits.bufferMessages, bytes: limits.bufferBytes }
    this.revocations = new Revocations(limits.revocationRetentionMs ?? DEFAULT_REVOCATION_RETENTION_SECONDS * 1000, now)
  }

  /** Bytes of acknowledged replay chunks waiting in the pool to be written again (tests, diagnostics). */
  get pooledChunkBytes (): number {
    return this.chunks.bytes
  }

  async acquireConnection (userId: string, max: number): Promise<boolean> {
    const open = this.connections.get(userId) ?? 0
    if (open >= max) return false
    this.connections.set(userId, open + 1)
    return true
  }

  listen (events: RegistryEvents): void {
    // One instance: no socket can be claimed elsewhere and no session is orphaned; only revocations are told.
    this.events = events
  }

  watch (listener: MembershipListener): void {
    this.membership = listener
  }

  releaseConnection (userId: string): void {
    const open = (this.connections.get(userId) ?? 0) - 1
    if (open > 0) this.connections.set(userId, open)
    else this.connections.delete(userId)
  }

  async connectionCount (userId: string): Promise<number> {
    return this.connections.get(userId) ?? 0
  }

  async createSession (peerId: string, userId: string, resumeTokenHash: string): Promise<void> {
    this.peers.set(peerId, { userId, resumeTokenHash, rooms: new Set(), seq: 0, epoch: 0, buffer: new ReplayBuffer(this.chunks), evictedThrough: 0 })
    this.byResumeToken.set(resumeTokenHash, peerId)
  }

  async findSession (resumeTokenHash: string): Promise<SessionRecord | 'ended' | undefined> {
    if (this.endedTokens.has(resumeTokenHash)) return 'ended'
    const peerId = this.byResumeToken.get(resumeTokenHash)
    const peer = peerId === undefined ? undefined : this.peers.get(peerId)
    if (peerId === undefined || peer === undefined) return undefined
    return { peerId, userId: peer.userId, seq: peer.seq, rooms: [...peer.rooms] }
  }

  async claimSession (peerId: string, newHash: string, presentedHash: string): Promise<Claim | undefined> {
    const peer = this.peers.get(peerId)
    if (!peer || this.byResumeToken.get(presentedHash) !== peerId) return undefined
    // Whatever is neither the new token nor the presented one is superseded: it stops resolving at all.
    for (const hash of this.tokenHashes(peer)) if (hash !== newHash && hash !== presentedHash) this.byResumeToken.delete(hash)
    peer.resumeTokenHash = newHash
    peer.previousTokenHash = presentedHash
    this.byResumeToken.set(newHash, peerId)
    this.byResumeToken.set(presentedHash, peerId)
    for (const room of peer.rooms) {
      const info = this.rooms.get(room)?.get(peerId)
      if (info !== undefined) this.membership.resumed(room, info)
    }
    return { epoch: ++peer.epoch }
  }

  private tokenHashes (peer: PeerState): string[] {
    return peer.previousTokenHash === undefined ? [peer.resumeTokenHash] : [peer.resumeTokenHash, peer.previousTokenHash]
  }

  async deleteSession (peerId: string, _wherever = false, reason: LeaveReason = 'timeout'): Promise<Departure[]> {
    const peer = this.peers.get(peerId)
    if (!peer) return []
    const departures: Departure[] = []
    for (const room of peer.rooms) {
      this.removeMember(room, peerId, reason)
      departures.push({ room, remaining: [...(this.rooms.get(room)?.values() ?? [])] })
    }
    this.peers.delete(peerId)
    // Both tokens the client may hold read as ended. A Set iterates in insertion order, so the first entry is the oldest.
    for (const hash of this.tokenHashes(peer)) {
      this.byResumeToken.delete(hash)
      this.endedTokens.add(hash)
    }
    while (this.endedTokens.size > ENDED_TOKENS_KEPT) {
      const oldest = this.endedTokens.values().next().value
      if (oldest === undefined) break
      this.endedTokens.delete(oldest)
    }
    return departures
  }

  async join (room: string, member: PeerInfo, limits: JoinLimits): Promise<JoinOutcome> {
    const peer = this.peers.get(member.peerId)
    if (!peer) return { ok: false, reason: 'unknown-peer' }
    const members = this.rooms.get(room) ?? new Map<string, PeerInfo>()
    const others = [...members.values()].filter((m) => m.peerId !== member.peerId)
    const record = this.records.get(room)
    if (members.has(member.peerId) && record) return { ok: true, peers: others, alreadyJoined: true, room: roomState(record) }
    // A join into an empty room starts it: the grant of this peer sets its capacity (unless settings do).
    const starts = members.size === 0
    const capacity = record?.settings?.capacity ?? (starts ? limits.grantCapacity : record?.grantCapacity) ?? limits.capacity
    if (members.size >= capacity) return { ok: false, reason: 'full', capacity }
    if (peer.rooms.size >= limits.maxRoomsPerPeer) return { ok: false, reason: 'too-many-rooms' }
    const now = this.now()
    const current: RoomRecord = record ?? { createdAt: now, joinedAt: new Map() }
    if (starts) {
      current.createdAt = now
      if (limits.grantCapacity === undefined) delete current.grantCapacity
      else current.grantCapacity = limits.grantCapacity
    }
    current.joinedAt.set(member.peerId, now)
    this.records.set(room, current)
    members.set(member.peerId, member)
    this.rooms.set(room, members)
    peer.rooms.add(room)
    this.membership.joined(room, member, members.size === 1)
    return { ok: true, peers: others, alreadyJoined: false, room: roomState(current) }
  }

  async leave (room: string, peerId: string, reason: LeaveReason = 'left', endReason: RoomEndReason = 'empty'): Promise<PeerInfo[] | undefined> {
    // In memory the peer's own record is right here: there is no other instance to tell.
    const removed = this.removeMember(room, peerId, reason, endReason)
    this.peers.get(peerId)?.rooms.delete(room)
    return removed ? [...(this.rooms.get(room)?.values() ?? [])] : undefined
  }

  private removeMember (room: string, peerId: string, reason: LeaveReason, endReason: RoomEndReason = 'empty'): boolean {
    const members = this.rooms.get(room)
    const info = members?.get(peerId)
    if (members === undefined || info === undefined) return false
    members.delete(peerId)
    const record = this.records.get(room)
    record?.joinedAt.delete(peerId)
    if (members.size === 0) {
      this.rooms.delete(room)
      // Settings outlive an empty room (a backend may set them before anyone joins); the rest does not.
      if (record?.settings === undefined) this.records.delete(room)
    }
    this.membership.left(room, info, reason, members.size === 0 ? endReason : undefined)
    return true
  }

  async members (room: string): Promise<PeerInfo[]> {
    return [...(this.rooms.get(room)?.values() ?? [])]
  }

  relay (room: string, from: string, to: string, body: RelayBody): RelayOutcome {
    const members = this.rooms.get(room)
    if (members === undefined || !members.has(from)) return 'sender-not-in-room'
    const peer = to === from || !members.has(to) ? undefined : this.peers.get(to)
    if (peer === undefined) return 'recipient-not-in-room'
    const seq = ++peer.seq
    return this.push(peer, seq, body.head(seq), body.payload, body.tail)
  }

  async deliver (peerId: string, body: string, room?: string): Promise<DeliveryOutcome> {
    const peer = this.peers.get(peerId)
    if (peer === undefined || (room !== undefined && this.rooms.get(room)?.has(peerId) !== true)) return 'dropped'
    const seq = ++peer.seq
    return this.push(peer, seq, stampSeq(body, seq), '', '')
  }

  /**
   * Buffers and hands to the sink a message stamped with `seq`, given as the pieces `head` + `payload` +
   * `tail` (RelayBody): the one delivery step of relay and deliver.
   */
  private push (peer: PeerState, seq: number, head: string, payload: string, tail: string): 'delivered' | 'queued' {
    // Bounded in count and bytes: the oldest go first, and resume from before them becomes impossible.
    const evicted = peer.buffer.push(seq, head, payload, tail, this.replayLimits)
    if (evicted > 0) peer.evictedThrough = evicted
    if (!peer.sink) return 'queued'
    // The buffered bytes go out as they are; a message over the limits alone (not kept) as its text.
    if (evicted === seq) peer.sink.push(head + payload + tail, seq)
    else peer.sink.pushFrame(peer.buffer.newestFrame(), seq)
    return 'delivered'
  }

  async replay (peerId: string, lastSeq: number): Promise<ReplayOutcome> {
    const peer = this.peers.get(peerId)
    if (!peer) return { ok: false, reason: 'unknown-peer' }
    if (lastSeq > peer.seq) return { ok: false, reason: 'bad-seq' }
    if (lastSeq < peer.evictedThrough) return { ok: false, reason: 'overflow' }
    return { ok: true, messages: peer.buffer.since(lastSeq) }
  }

  ack (peerId: string, seq: number): void {
    const peer = this.peers.get(peerId)
    if (!peer) return
    // Gone like an eviction: a replay from before it must fail, not silently skip it. The chunks emptied
    // are written over with other peers' messages: only when no view of them can still be on its way to
    // this peer (the ack may claim more than the client read; a resume may still hold some).
    const recycle = peer.unflushedSink === undefined && peer.sink !== undefined && peer.sink.flushed()
    const acked = peer.buffer.ackThrough(seq, recycle)
    if (acked > 0) peer.evictedThrough = acked
  }

  attach (peerId: string, sink: Sink): void {
    const peer = this.peers.get(peerId)
    if (!peer) return
    if (peer.sink !== undefined && peer.sink !== sink && !peer.sink.flushed()) peer.unflushedSink = true
    peer.sink = sink
  }

  detach (peerId: string, sink: Sink): void {
    const peer = this.peers.get(peerId)
    if (peer?.sink !== sink) return
    if (!sink.flushed()) peer.unflushedSink = true
    delete peer.sink
  }

  // ---- administration (plugins/admin) ------------------------------------------------------------

  async listRooms (after: string | undefined, limit: number): Promise<RoomPage> {
    const names = [...this.records.keys()].filter((name) => after === undefined || name > after).sort()
    const page = names.slice(0, limit)
    const rooms = page.map((name) => this.summary(name)).filter((r): r is RoomSummary => r !== undefined)
    const last = page.at(-1)
    return names.length > limit && last !== undefined ? { rooms, next: last } : { rooms }
  }

  private summary (room: string): RoomSummary | undefined {
    const record = this.records.get(room)
    if (record === undefined) return undefined
    return { room, peers: this.rooms.get(room)?.size ?? 0, ...roomState(record) }
  }

  async roomDetail (room: string): Promise<(RoomSummary & { members: MemberState[] }) | undefined> {
    const summary = this.summary(room)
    const record = this.records.get(room)
    if (summary === undefined || record === undefined) return undefined
    const members = [...(this.rooms.get(room)?.values() ?? [])].map((info) => ({
      ...info,
      joinedAt: record.joinedAt.get(info.peerId) ?? record.createdAt,
      connected: this.peers.get(info.peerId)?.sink !== undefined
    }))
    return { ...summary, members }
  }

  async putRoomSettings (room: string, settings: RoomSettings): Promise<RoomState> {
    const record: RoomRecord = this.records.get(room) ?? { createdAt: this.now(), joinedAt: new Map() }
    record.settings = settings
    this.records.set(room, record)
    return roomState(record)
  }

  async endRoom (room: string, startedAt?: number, reason: RoomEndReason = 'api'): Promise<PeerInfo[] | undefined> {
    const record = this.records.get(room)
    const members = [...(this.rooms.get(room)?.values() ?? [])]
    if (record === undefined || (startedAt !== undefined && (record.createdAt !== startedAt || members.length === 0))) return undefined
    for (const m of members) this.peers.get(m.peerId)?.rooms.delete(room)
    this.rooms.delete(room)
    this.records.delete(room)
    endedRoom(this.membership, room, members, reason)
    return members
  }

  async shareRoomDeadline (): Promise<void> {
    // One process: RoomControl's local timer is the deadline.
  }

  async revokeUser (userId: string, at: number): Promise<void> {
    this.revocations.record(userId, at)
    // Bounded by age: past the retention an entry no longer matters.
    this.revocations.prune()
    await this.events?.revoked(userId, at)
  }

  revokedAt (userId: string): number | undefined {
    return this.revocations.at(userId)
  }

  sessionsOf (userId: string): string[] {
    return [...this.peers].filter(([, peer]) => peer.userId === userId).map(([peerId]) => peerId)
  }

  async healthy (): Promise<{ ok: boolean }> {
    return { ok: true }
  }

  async close (): Promise<void> {
    clearInterval(this.chunkTrimmer)
    // The sessions end with this process (no other instance can resume them): their rooms are told so.
    for (const [room, members] of this.rooms) {
      for (const peerId of [...members.keys()]) this.removeMember(room, peerId, 'timeout')
    }
    this.rooms.clear()
    this.peers.clear()
    this.byResumeToken.clear()
    this.connections.clear()
    this.endedTokens.clear()
    this.records.clear()
  }

  stats (): { rooms: number, peers: number } {
    return { rooms: this.rooms.size, peers: this.peers.size }
  }
}

function roomState (record: RoomRecord): RoomState {
  return record.settings === undefined ? { createdAt: record.createdAt } : { createdAt: record.createdAt, settings: record.settings }
}
