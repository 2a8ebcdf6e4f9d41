import createError from '@fastify/error'
import { ERROR_PREFIX } from '../../src/errors.js'
import type { PeerInfo } from '../signaling/messages.js'

/**
 * A shared registry cannot serve right now (Redis unreachable, timed out, or re-registering after an
 * outage). Thrown fast instead of hanging; HTTP answers 503 problem+json, WebSocket handlers answer
 * an `error` with this code. Retrying shortly is the right client reaction.
 */
export const RegistryUnavailableError = createError<[string]>(`${ERROR_PREFIX}_REGISTRY_UNAVAILABLE`, 'Room registry unavailable: %s', 503)

/** Where a peer's messages go while it has a live connection on this instance. */
export interface Sink {
  /** Writes one serialized server message (already stamped with its seq): text, or its UTF-8 bytes. */
  push (json: Frame, seq: number): void
  /**
   * Writes one message given as its UTF-8 bytes after FRAME_HEADROOM bytes that are the sink's to
   * overwrite: the in-memory registry hands on its buffered frames this way, so that a WebSocket frame
   * header fits in front of the bytes and the frame leaves in one write, with nothing allocated for it.
   */
  pushFrame (bytes: Buffer, seq: number): void
  /**
   * True when every frame pushed so far has left this process's hands (the kernel has it, or it was
   * dropped with the socket): none waits in a queue or a socket buffer here. The in-memory registry
   * writes a chunk over only then, since the frames it pushes are views of its chunks.
   */
  flushed (): boolean
}

/**
 * One serialized server message: a string, or its UTF-8 bytes. The in-memory registry keeps the frames
 * it buffers as bytes off the JS heap (replay-buffer.ts), the Redis one hands on the strings it reads.
 */
export type Frame = string | Buffer

/** Bytes in front of a frame given to Sink.pushFrame: the largest WebSocket header of an unmasked frame under 64 KiB. */
export const FRAME_HEADROOM = 4

/**
 * What an integrator's backend set for one room through the admin API (plugins/admin). Every field is
 * optional: an unset one falls back to the token's room grant (capacity) and then to the configuration.
 */
export interface RoomSettings {
  /** Overrides ROOM_CAPACITY (and a grant's capacity) for this room. */
  capacity?: number
  /** The room ends by itself this long after it started. */
  maxDurationSeconds?: number
  /** Handed to every joining peer in `joined.metadata`. */
  metadata?: Record<string, unknown>
}

/** A room as the registry knows it: when it started (ms since the epoch) and its settings, if any. */
export interface RoomState {
  /** When the room last went from empty to occupied (or its settings were first put, while nobody is in it). */
  createdAt: number
  settings?: RoomSettings
}

/** What a join needs to decide capacity. */
export interface JoinLimits {
  /** ROOM_CAPACITY: used when neither the room's settings nor the grant of its first peer name one. */
  capacity: number
  maxRoomsPerPeer: number
  /** The capacity the joining token's grant carries: it counts only when this join starts the room. */
  grantCapacity?: number
}

export type JoinOutcome =
  | { ok: true, peers: PeerInfo[], alreadyJoined: boolean, room: RoomState }
  | { ok: false, reason: 'full', capacity: number }
  | { ok: false, reason: 'too-many-rooms' | 'unknown-peer' }

/** One member of a room, as the admin API reports it. */
export interface MemberState extends PeerInfo {
  joinedAt: number
  /** false: its socket dropped and it is inside its resume grace period. */
  connected: boolean
}

export interface RoomSummary extends RoomState {
  room: string
  peers: number
}

/** One page of the room list: rooms in name order after the cursor; `next` is the cursor of the following page. */
export interface RoomPage { rooms: RoomSummary[], next?: string }

/**
 * Operations on rooms and sessions held anywhere (the admin API's part of the registry). With Redis,
 * what concerns a peer owned by another instance reaches that instance through its channel.
 */
export interface RoomAdministration {
  listRooms (after: string | undefined, limit: number): Promise<RoomPage>
  /** The room with its members, or undefined when it has neither members nor settings. */
  roomDetail (room: string): Promise<(RoomSummary & { members: MemberState[] }) | undefined>
  /** Replaces the room's settings (creating the room's record when it has none). */
  putRoomSettings (room: string, settings: RoomSettings): Promise<RoomState>
  /**
   * Ends the room at once: every member is out of it and its settings are gone, so the name starts
   * afresh. Only the room that started at `startedAt`, when given, and only while someone is in it (a
   * max-duration timer must not end a later room of the same name, nor one that already ended by
   * emptying). The former members, or undefined when there was no such room.
   */
  endRoom (room: string, startedAt?: number, reason?: RoomEndReason): Promise<PeerInfo[] | undefined>
  /**
   * Records that the user's tokens issued before `at` (ms) are refused, on every instance, and tells
   * every instance (this one included, before this resolves) through `RegistryEvents.revoked`.
   */
  revokeUser (userId: string, at: number): Promise<void>
  /**
   * Shares the deadline of the room that started at `startedAt` (max duration; `endsAt` undefined: it has
   * none any more), so that some instance ends it then, once, even if this one is gone: a shared registry
   * tells one instance through `RegistryEvents.roomDeadline`. A no-op in memory (the local timer is all).
   */
  shareRoomDeadline (room: string, startedAt: number, endsAt: number | undefined): Promise<void>
  /** When the user's sessions were last revoked (ms), as this instance knows it: synchronous, for token checks. */
  revokedAt (userId: string): number | undefined
  /** Peer ids of the user's sessions held by this instance (connected or in their grace period). */
  sessionsOf (userId: string): string[]
}

/**
 * What became of one relayed message. `sender-not-in-room` and `recipient-not-in-room` mean nothing
 * was delivered; `queued` means it is in the recipient's replay buffer while it has no socket.
 */
export type RelayOutcome = 'delivered' | 'queued' | 'sender-not-in-room' | 'recipient-not-in-room'

/** What became of one server message for one peer: `dropped` when the peer has no session. */
export type DeliveryOutcome = 'delivered' | 'queued' | 'dropped'

export type ReplayOutcome =
  | { ok: true, messages: Array<{ seq: number, json: Frame }> }
  | { ok: false, reason: 'overflow' | 'bad-seq' | 'unknown-peer' }

export interface SessionRecord {
  peerId: string
  userId: string
  /** Last sequence number issued to this peer. */
  seq: number
  rooms: string[]
}

/**
 * A successful resume claim. `epoch` grows with every claim of the session: of two sockets that
 * claimed the same peer, the one with the higher epoch is the live one, wherever they are.
 */
export interface Claim { epoch: number }

export interface RegistryCounters {
  /** Messages handed to another instance for its peer. */
  crossInstanceDeliveries: number
  /** Registry commands that failed (Redis unreachable, timed out or refusing). */
  commandErrors: number
  /** Times the connection to the shared store came back after being lost. */
  reconnections: number
}

export interface RegistryLimits {
  /** Replay buffer bounds per peer; bytes are UTF-8 bytes of the stamped messages, in every backend. */
  bufferMessages: number
  bufferBytes: number
  /** How long a revocation is kept (REVOCATION_RETENTION_SECONDS, in ms; default a week): see revocations.ts. */
  revocationRetentionMs?: number
}

/** A room a session left when it ended, and the members still in it at that moment. */
export interface Departure {
  room: string
  remaining: PeerInfo[]
}

/** Why a peer left a room: it said so, it dropped and did not resume, an operator removed it, or its user's sessions were revoked. */
export const LEAVE_REASONS = ['left', 'timeout', 'removed', 'revoked'] as const
export type LeaveReason = typeof LEAVE_REASONS[number]
/** Why a room ended: its last peer left, it was ended through the admin API, or it reached its maximum duration. */
export const ROOM_END_REASONS = ['empty', 'api', 'max-duration'] as const
export type RoomEndReason = typeof ROOM_END_REASONS[number]

/**
 * Membership changes as the registry's atomic steps decide them (webhooks listen). Each is reported
 * once, by the instance whose step made it: the join that added the peer to the room (`roomStarted`:
 * the room was empty before), the removal that found it there (`roomEnded`: it was the last one, and
 * why the room ended), a resume claim. So two instances never report the same change, and every
 * `joined` is followed by exactly one `left` for that peer and room.
 */
export interface MembershipListener {
  joined (room: string, member: PeerInfo, roomStarted: boolean): void
  left (room: string, member: PeerInfo, reason: LeaveReason, roomEnded: RoomEndReason | undefined): void
  resumed (room: string, member: PeerInfo): void
  /**
   * Set by a listener that can queue durably (the webhooks' Redis queue). A shared registry then
   * records each change inside the atomic step that makes it, in the room's outbox, and hands the
   * room's events here in the order of its changes instead of calling the methods above: so the order
   * holds across instances, and an instance dying right after a step loses nothing (redis-outbox.ts).
   */
  readonly recorded?: RecordedEventSink
}

/**
 * A membership event as a room's step recorded it. `type` is a webhook event type (room.started,
 * room.ended, peer.joined, peer.left, peer.resumed); `data` is its JSON data, ids only (never `meta`).
 * `room` and `key` (the room's sequence: its outbox entry id, `<ms>-<n>`) name it uniquely and for good;
 * `at` is when it happened (Redis time, ms).
 */
export interface RecordedEvent {
  room: string
  key: string
  at: number
  type: string
  data: string
}

export interface RecordedEventSink {
  /**
   * Queues one room's events, in this order; resolves once they are durably queued. The same events may
   * come again (a mover that failed or died after this and before the outbox was emptied): they carry
   * the same room and key, so they can keep the same id.
   */
  add (events: RecordedEvent[]): Promise<void>
}

/** Until someone watches, membership changes go nowhere. */
export const NO_MEMBERSHIP_LISTENER: MembershipListener = { joined () {}, left () {}, resumed () {} }

/** What a registry tells the signaling hub about peers it holds a socket for. */
export interface RegistryEvents {
  /**
   * The peer was claimed elsewhere: close the local socket. `epoch` is the claim that won; a local
   * socket with a higher epoch is newer and stays. `moved` false: a newer socket holds it (it resumed
   * on another instance), or its session ended (4009, the client must not come back for it). `moved`
   * true: this instance was presumed dead and a reaper adopted the session, which no socket holds
   * (4010, the client resumes at once).
   */
  takenOver (peerId: string, epoch: number, moved: boolean): void
  /**
   * A session must end although no local socket closed: its instance died and the peer did not resume
   * within the grace period (this instance adopted it), or ending it failed during a Redis outage.
   * End it like a grace timeout (peer-left).
   */
  orphaned (peerId: string): Promise<void>
  /** The user's sessions were revoked (on this instance or another): end the ones held here. */
  revoked (userId: string, at: number): Promise<void>
  /**
   * A shared room deadline passed (see shareRoomDeadline) and this instance was picked: end the room
   * that started at `startedAt` with reason `max-duration`, if it still runs. Rejecting retries it later.
   */
  roomDeadline (room: string, startedAt: number): Promise<void>
  /**
   * Redis lost the room while this instance was cut off, and `departed` left it (reason `reason`)
   * before this instance wrote `peerId` back into it: nobody could tell `peerId` then. Tell it now
   * (peer-left), so its view of the room does not keep a peer that is gone.
   */
  missedDeparture (peerId: string, room: string, departed: string, reason: LeaveReason): Promise<void>
  /**
   * The same for an arrival: `arrived` joined the room while `peerId` was missing from it (written
   * back later), so neither was told of the other. Tell both (peer-joined); `self` is `peerId`'s PeerInfo.
   */
  missedArrival (peerId: string, room: string, arrived: PeerInfo, self: PeerInfo): Promise<void>
}

/**
 * Rooms, peer sessions and message delivery: what the signaling hub needs and nothing more, so the
 * in-memory registry (one instance) and the Redis one (many instances) are interchangeable and share
 * one scenario suite. Every operation that checks and changes membership is atomic.
 *
 * `relay` is the hot path: it returns synchronously when the backend can (in memory), and a promise
 * only when it has to wait for a store.
 */
export interface RoomRegistry extends RoomAdministration {
  readonly kind: string
  /** Set once by the hub before any session exists. */
  listen (events: RegistryEvents): void
  /** Set once (by the webhooks plugin) before any session exists; see MembershipListener. */
  watch (listener: MembershipListener): void

  /** Counts a user's live connections; false (and no change) when `max` are already open. */
  acquireConnection (userId: string, max: number): Promise<boolean>
  /** Never throws: called while tearing down; a shared registry repairs a failed write later. */
  releaseConnection (userId: string): void
  connectionCount (userId: string): Promise<number>

  /** A new peer session, found later by its resume token hash (its only one). */
  createSession (peerId: string, userId: string, resumeTokenHash: string): Promise<void>
  /**
   * The live session answering to this token hash (its current or its previous one), 'ended' if that
   * session was deleted recently, else undefined (never issued, expired, or superseded).
   */
  findSession (resumeTokenHash: string): Promise<SessionRecord | 'ended' | undefined>
  /**
   * Resumes the session on this instance, atomically: only if it still answers to `presentedHash`.
   * From then on it answers to `newHash` (current) and `presentedHash` (previous), and to nothing
   * older: the presented token stays valid because the welcome carrying its successor can be lost with
   * the socket. Undefined when the presented token no longer resolves (a concurrent resume won with
   * its successor, or the session ended). Whoever held the peer before is told through `takenOver`.
   */
  claimSession (peerId: string, newHash: string, presentedHash: string): Promise<Claim | undefined>
  /**
   * Forgets the session: leaves every room and drops its buffer; both its token hashes read as
   * 'ended'. Returns each room it left with the members still in it, read in the same step as the
   * departure (they are the ones to tell). Only a session this instance holds, unless `wherever` (a
   * failed resume ends it wherever it lives): a late timer here must not end a session that has
   * resumed elsewhere. `reason` is what the membership listener hears for each room (default `timeout`).
   */
  deleteSession (peerId: string, wherever?: boolean, reason?: LeaveReason): Promise<Departure[]>

  /**
   * Joins atomically: capacity and the peer's room count are checked and updated in one step. The
   * capacity is the room's setting, else the one its first peer's grant carried, else `limits.capacity`.
   */
  join (room: string, member: PeerInfo, limits: JoinLimits): Promise<JoinOutcome>
  /**
   * The members left in the room after `peerId` left it, or undefined when it was not in the room.
   * Works from any instance: the instance holding the peer is told (with Redis, through its channel).
   * The membership listener hears `reason` (default `left`), and `endReason` (default `empty`) if it
   * was the last one: an operation ending a whole room passes its own.
   */
  leave (room: string, peerId: string, reason?: LeaveReason, endReason?: RoomEndReason): Promise<PeerInfo[] | undefined>
  members (room: string): Promise<PeerInfo[]>

  /**
   * Delivers `body` from `from` to `to` if both are in `room`, checked and delivered in one step:
   * stamped with the recipient's next seq, kept for replay, and pushed to its sink wherever it is
   * connected. Messages of one sender to one recipient keep their order.
   */
  relay (room: string, from: string, to: string, body: RelayBody): RelayOutcome | Promise<RelayOutcome>
  /**
   * Delivers a server message (`body` without `seq`) to one peer, like relay. With `room`, only if the
   * peer is a member of it (or, with Redis, its join of it is under way), checked in the same step
   * ('dropped' otherwise): a notice about a room for its members (peer-joined, peer-left, a broadcast)
   * must not reach a peer that left it meanwhile.
   */
  deliver (peerId: string, body: string, room?: string): Promise<DeliveryOutcome>
  /** Messages after `lastSeq`, in order; fails when some of them were already evicted. */
  replay (peerId: string, lastSeq: number): Promise<ReplayOutcome>
  /** The client has processed everything up to `seq`: that part of the buffer can go. */
  ack (peerId: string, seq: number): void | Promise<void>

  attach (peerId: string, sink: Sink): void
  /** Detaches only if `sink` is still the attached one (a resumed connection may have replaced it). */
  detach (peerId: string, sink: Sink): void

  /** Rooms and peer sessions as this instance sees them (all of them in memory; the ones it owns with Redis). */
  stats (): { rooms: number, peers: number }
  /** Running totals for metrics; they only grow. */
  readonly counters: RegistryCounters

  /** A quick answer whether the registry can serve (for /health/ready). */
  healthy (): Promise<{ ok: boolean, detail?: string }>
  close (): Promise<void>
}

/**
 * A relayed message, serialized once, in three pieces: `head(seq)` + `payload` + `tail` is the message
 * stamped with `seq`, `head(undefined)` + … the message without it (for a store that stamps it itself,
 * like the Redis relay script). The payload is the SDP, candidate or data as the sender wrote it (a
 * slice of its frame, see plugins/signaling/relay-frame.ts); `head` and `tail` are short. A backend that
 * knows the seq before serializing (in memory) writes the pieces as they are: no second copy of a 3 KB
 * SDP to prepend `seq` (stampSeq), nor a joined copy of the three (the largest allocations of the relay
 * path at 2,000 offers a second).
 */
export interface RelayBody {
  head (seq: number | undefined): string
  readonly payload: string
  readonly tail: string
}

/** The whole message of `body` as one string, stamped with `seq` if given. */
export function relayText (body: RelayBody, seq?: number): string {
  return body.head(seq) + body.payload + body.tail
}

/** `{"type":…}` → `{"seq":N,"type":…}`: a concatenation, so the body is never serialized again. */
export function stampSeq (body: string, seq: number): string {
  return body.length > 2 ? '{"seq":' + seq + ',' + body.slice(1) : '{"seq":' + seq + '}'
}
