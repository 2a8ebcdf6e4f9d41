import type { FastifyBaseLogger } from 'fastify'
import type { DeliveryOutcome, RoomRegistry, RoomState } from '../registry/types.js'
import { SERVER_SENDER, type OutgoingMessage, type PeerInfo } from './messages.js'
import type { RoomEvents } from './events.js'

/** Whom a message for several peers reaches: not `except`; with `inRoom`, only peers still in that room. */
export interface DeliveryScope { except?: string, inRoom?: string }

/** What room control needs from the hub: delivery to peers wherever they are, and ending a local session. */
export interface RoomControlHost {
  deliver (peerId: string, message: OutgoingMessage): Promise<DeliveryOutcome>
  /** To each of `members` (but `except`); with `inRoom`, to those still in that room when it arrives (RoomRegistry.deliver). */
  deliverAll (members: PeerInfo[], type: string, body: string, scope?: DeliveryScope): Promise<void>
  /** Closes the peer's socket here with 4003 (if any) and ends its session. */
  endRevoked (peerId: string, userId: string): Promise<void>
}

/** Longest delay a Node timer takes; a longer max duration is re-armed. */
const MAX_TIMER_MS = 2_147_483_647

/**
 * What the integrator's backend does to rooms and sessions (plugins/admin calls it), and the rooms'
 * max-duration timers. Membership changes go through the registry, so they reach peers held by any
 * instance; the messages about them are delivered like any server message (replayed on resume).
 */
export class RoomControl {
  /** Rooms with a max duration that were joined or configured here: room → when it started and its timer. */
  private readonly timers = new Map<string, { startedAt: number, endsAt: number, timer: NodeJS.Timeout }>()

  constructor (
    private readonly registry: RoomRegistry,
    private readonly host: RoomControlHost,
    readonly events: RoomEvents,
    private readonly log: FastifyBaseLogger,
    private readonly now: () => number = Date.now
  ) {}

  /**
   * Ends the room: everyone is out and gets `room-ended`. False when there is no such room (or, with
   * `startedAt`, when the room of that name is a later one).
   */
  async endRoom (room: string, reason: 'api' | 'max-duration', startedAt?: number): Promise<boolean> {
    const members = await this.registry.endRoom(room, startedAt, reason)
    if (members === undefined) return false
    this.disarm(room)
    this.log.info({ room, reason, peers: members.length }, 'room ended')
    await this.host.deliverAll(members, 'room-ended', JSON.stringify({ type: 'room-ended', room, reason } satisfies OutgoingMessage))
    this.events.emit('roomEnded', { room, reason, peers: members })
    return true
  }

  /** Takes one peer out of the room; undefined when it is not in it. */
  async removePeer (room: string, peerId: string): Promise<PeerInfo | undefined> {
    const peer = (await this.registry.members(room)).find((m) => m.peerId === peerId)
    if (peer === undefined) return undefined
    const remaining = await this.registry.leave(room, peerId, 'removed')
    // Gone meanwhile (it left, or another call removed it): that call told everyone.
    if (remaining === undefined) return undefined
    this.log.info({ room, peerId }, 'peer removed')
    await this.host.deliver(peerId, { type: 'removed', room, reason: 'api' })
    await this.host.deliverAll(remaining, 'peer-left', JSON.stringify({ type: 'peer-left', room, peerId, reason: 'removed' } satisfies OutgoingMessage), { inRoom: room })
    this.events.emit('peerRemoved', { room, peer, reason: 'removed' })
    return peer
  }

  /**
   * A `message` from "server" to one member (`to`) or all of them: the number of recipients, or
   * 'no-room' / 'not-in-room' when there is nobody to deliver to.
   */
  async sendMessage (room: string, data: unknown, to?: string): Promise<number | 'no-room' | 'not-in-room'> {
    const members = await this.registry.members(room)
    if (members.length === 0) return 'no-room'
    const targets = to === undefined ? members : members.filter((m) => m.peerId === to)
    if (targets.length === 0) return 'not-in-room'
    await this.host.deliverAll(targets, 'message', JSON.stringify({ type: 'message', room, from: SERVER_SENDER, data } satisfies OutgoingMessage), { inRoom: room })
    return targets.length
  }

  /** Revokes the user's sessions on every instance; returns the cutoff (tokens issued before it are refused). */
  async revokeUser (userId: string): Promise<number> {
    const at = this.now()
    await this.registry.revokeUser(userId, at)
    this.log.info({ userId }, 'user sessions revoked')
    this.events.emit('sessionsRevoked', { userId, at })
    return at
  }

  /** The registry says a user's sessions were revoked (here or elsewhere): end the ones this instance holds. */
  async revoked (userId: string): Promise<void> {
    await Promise.all(this.registry.sessionsOf(userId).map(async (peerId) => this.host.endRevoked(peerId, userId)))
  }

  /**
   * Arms the room's max-duration timer on this instance (after a join, or new settings), and shares the
   * deadline through the registry, so that another instance ends the room if this one is gone by then.
   * Several instances may arm one for the same room: the registry ends it once, only if it is still the
   * room that started at `createdAt`. `settingsChanged` (a PUT): the shared deadline follows the new
   * settings, also when they have no max duration any more. Resolves once the deadline is shared
   * (never rejects: a failure is logged, and this instance's timer still runs).
   */
  async arm (room: string, state: RoomState, settingsChanged = false): Promise<void> {
    const seconds = state.settings?.maxDurationSeconds
    const endsAt = seconds === undefined ? undefined : state.createdAt + seconds * 1000
    const current = this.timers.get(room)
    const unchanged = current !== undefined && current.startedAt === state.createdAt && current.endsAt === endsAt
    // Joins of a room without a max duration (nearly all of them) cost no round trip.
    const shared = settingsChanged || (endsAt !== undefined && !unchanged)
      ? this.registry.shareRoomDeadline(room, state.createdAt, endsAt).catch((err: unknown) => this.log.warn({ err, room }, 'sharing a room deadline failed'))
      : undefined
    this.armTimer(room, state.createdAt, endsAt, unchanged)
    await shared
  }

  /** This instance's timer: on time while this instance lives (the shared deadline is the backstop). */
  private armTimer (room: string, createdAt: number, endsAt: number | undefined, unchanged: boolean): void {
    if (endsAt === undefined) {
      this.disarm(room)
      return
    }
    if (unchanged) return
    this.disarm(room)
    const fire = (): void => {
      const left = endsAt - this.now()
      if (left > 0) {
        entry.timer = setTimeout(fire, Math.min(left, MAX_TIMER_MS)).unref()
        return
      }
      this.timers.delete(room)
      this.endRoom(room, 'max-duration', createdAt)
        .catch((err: unknown) => this.log.warn({ err, room }, 'ending a room at its max duration failed'))
    }
    const entry = { startedAt: createdAt, endsAt, timer: setTimeout(fire, Math.min(Math.max(endsAt - this.now(), 0), MAX_TIMER_MS)).unref() }
    this.timers.set(room, entry)
  }

  private disarm (room: string): void {
    clearTimeout(this.timers.get(room)?.timer)
    this.timers.delete(room)
  }

  close (): void {
    for (const { timer } of this.timers.values()) clearTimeout(timer)
    this.timers.clear()
  }
}
