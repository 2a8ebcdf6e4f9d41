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
  /** Writes one serialized server message (already stamped with its seq). */
  push (json: string, seq: number): void
}

export type JoinOutcome =
  | { ok: true, peers: PeerInfo[], alreadyJoined: boolean }
  | { ok: false, reason: 'full' | 'too-many-rooms' | 'unknown-peer' }

export type DeliveryOutcome = 'delivered' | 'queued' | 'dropped'

export type ReplayOutcome =
  | { ok: true, messages: Array<{ seq: number, json: string }> }
  | { ok: false, reason: 'overflow' | 'bad-seq' | 'unknown-peer' }

export interface SessionRecord {
  peerId: string
  userId: string
  /** Last sequence number issued to this peer. */
  seq: number
  rooms: string[]
}

export interface RegistryCounters {
  /** Messages handed to another instance for its peer. */
  crossInstanceDeliveries: number
  /** Registry commands that failed (Redis unreachable, timed out or refusing). */
  commandErrors: number
  /** Times the connection to the shared store came back after being lost. */
  reconnections: number
}

export interface RegistryLimits {
  /** Replay buffer bounds per peer. */
  bufferMessages: number
  bufferBytes: number
}

/**
 * Rooms, peer sessions and message delivery. The signaling route talks only to this interface, so
 * the in-memory registry (one instance) and a shared one (many instances) are interchangeable.
 * Every operation that checks and changes membership is atomic.
 */
export interface RoomRegistry {
  readonly kind: string
  /** Counts a user's live connections; false (and no change) when `max` are already open. */
  acquireConnection (userId: string, max: number): Promise<boolean>
  releaseConnection (userId: string): Promise<void>
  connectionCount (userId: string): Promise<number>

  /** A new peer session (one per connection until it is resumed), found later by its resume token hash (its only one). */
  createSession (peerId: string, userId: string, resumeTokenHash: string): Promise<void>
  /**
   * The live session answering to this token hash (its current or its previous one), 'ended' if that
   * session was deleted recently, else undefined (never issued, expired, or superseded).
   */
  findSession (resumeTokenHash: string): Promise<SessionRecord | 'ended' | undefined>
  /**
   * A resume with `presentedHash` succeeded and its welcome will carry a fresh token: the session now
   * answers to `newHash` (current) and `presentedHash` (previous), and to nothing older. The presented
   * token stays valid because the welcome carrying its successor can be lost with the socket; the client
   * demonstrably holds it, and retires it by resuming with the successor.
   */
  rotateResumeToken (peerId: string, newHash: string, presentedHash: string): Promise<void>
  /** Forgets the session: leaves every room (returning them) and drops its buffer; both its token hashes read as 'ended'. */
  deleteSession (peerId: string): Promise<string[]>

  /** Joins atomically: capacity and the peer's room count are checked and updated in one step. */
  join (room: string, member: PeerInfo, limits: { capacity: number, maxRoomsPerPeer: number }): Promise<JoinOutcome>
  /** Returns false when the peer was not in the room. */
  leave (room: string, peerId: string): Promise<boolean>
  members (room: string): Promise<PeerInfo[]>
  isMember (room: string, peerId: string): Promise<boolean>

  /**
   * Stamps the serialized message (`body`, a JSON object without `seq`) with the recipient's next
   * seq, keeps it for replay, and pushes it to the recipient's sink if it is connected (here or, for
   * a shared registry, on another instance).
   */
  deliver (peerId: string, body: string): Promise<DeliveryOutcome>
  /** Messages after `lastSeq`, in order; fails when some of them were already evicted. */
  replay (peerId: string, lastSeq: number): Promise<ReplayOutcome>
  /** The client has processed everything up to `seq`: that part of the buffer can go. */
  ack (peerId: string, seq: number): Promise<void>

  attach (peerId: string, sink: Sink): void
  /** Detaches only if `sink` is still the attached one (a resumed connection may have replaced it). */
  detach (peerId: string, sink: Sink): void

  /**
   * Shared registries only. `handler(peerId)` runs when this instance's peer was taken over elsewhere
   * (it resumed on another instance, or its session ended while this instance was cut off from
   * Redis): close the local socket (4009) and drop local timers; the session itself is not ended here.
   */
  onTakeover? (handler: (peerId: string) => void): void
  /**
   * Shared registries only. `handler(peerId)` runs when a session must end although no local socket
   * closed: its instance died and the peer did not resume within the grace period (this instance
   * adopted it), or ending it failed during a Redis outage. End it like a grace timeout (peer-left).
   */
  onSessionOrphaned? (handler: (peerId: string) => Promise<void>): void

  /** Rooms and peer sessions as this instance sees them (all of them in memory; the ones it owns with Redis). */
  stats (): { rooms: number, peers: number }
  /** Running totals for metrics; they only grow. */
  readonly counters: RegistryCounters

  /** A quick answer whether the registry can serve (for /health/ready). */
  healthy (): Promise<{ ok: boolean, detail?: string }>
  close (): Promise<void>
}

/** `{"type":…}` → `{"seq":N,"type":…}` without serializing the body once per recipient. */
export function stampSeq (body: string, seq: number): string {
  return body.length > 2 ? `{"seq":${seq},${body.slice(1)}` : `{"seq":${seq}}`
}
