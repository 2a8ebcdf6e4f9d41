import { createHash, randomBytes } from 'node:crypto'
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { LEAVE_REASONS, ROOM_END_REASONS, type RecordedEvent } from '../registry/types.js'

/**
 * The webhook events and their bodies: `{ type, timestamp, data }`, where data carries ids only
 * (room, peerId, userId, role, reason), never SDP, candidates, tokens or `meta`. These schemas are
 * the OpenAPI `webhooks` entries (openapi.ts) and the types of `app.webhooks.emit`.
 */

const Room = Type.String({ description: 'Room name' })
const PeerId = Type.String({ description: 'Peer id (one signaling session)' })
const UserId = Type.String({ description: 'The `sub` of the peer\'s token' })
const Role = Type.Optional(Type.String({ description: 'Role the peer joined with, if any' }))
export const LeaveReason = Type.Union(LEAVE_REASONS.map((r) => Type.Literal(r)), {
  description: '`left`: it said so; `timeout`: it dropped (or its instance died) and did not resume within the grace period; `removed`: by the admin API; `revoked`: its user\'s sessions were revoked'
})
export const RoomEndReason = Type.Union(ROOM_END_REASONS.map((r) => Type.Literal(r)), {
  description: '`empty`: its last peer left; `api`: ended through the admin API; `max-duration`: it reached its maximum duration'
})

function event<T extends string, D extends TSchema> (type: T, data: D, description: string) {
  return Type.Object({
    type: Type.Literal(type),
    timestamp: Type.String({ format: 'date-time', description: 'When it happened (ISO 8601, UTC)' }),
    data
  }, { additionalProperties: false, title: type, description })
}

export const WEBHOOK_EVENTS = {
  'room.started': event('room.started', Type.Object({ room: Room, peerId: PeerId, userId: UserId, role: Role }, { additionalProperties: false }),
    'A room got its first peer (the one in `data`).'),
  'room.ended': event('room.ended', Type.Object({
    room: Room,
    reason: RoomEndReason,
    peerId: Type.Optional(PeerId),
    userId: Type.Optional(UserId),
    role: Role
  }, { additionalProperties: false, description: 'With `empty`, the ids are those of the last peer to leave' }),
  'A room that started has ended; sent exactly once per room.started.'),
  'peer.joined': event('peer.joined', Type.Object({ room: Room, peerId: PeerId, userId: UserId, role: Role }, { additionalProperties: false }),
    'A peer joined a room. Exactly one peer.left follows for this peer and room.'),
  'peer.left': event('peer.left', Type.Object({ room: Room, peerId: PeerId, userId: UserId, role: Role, reason: LeaveReason }, { additionalProperties: false }),
    'A peer is out of a room; it had a peer.joined.'),
  'peer.resumed': event('peer.resumed', Type.Object({ room: Room, peerId: PeerId, userId: UserId, role: Role }, { additionalProperties: false }),
    'A peer that dropped came back within the grace period (instead of a peer.left/peer.joined pair).')
} as const

export type WebhookEventType = keyof typeof WEBHOOK_EVENTS
export const WEBHOOK_EVENT_TYPES = Object.keys(WEBHOOK_EVENTS) as WebhookEventType[]

/** One event as the service emits it: its type and data; the timestamp is added when it is emitted. */
export type WebhookEvent = {
  [T in WebhookEventType]: { type: T, data: Static<typeof WEBHOOK_EVENTS[T]>['data'] }
}[WebhookEventType]

/**
 * An event ready for delivery: its Standard Webhooks id (the same on every attempt), its room (events
 * of one room are delivered in order), its type (for metrics) and its serialized body (signed as is).
 */
export interface QueuedEvent {
  id: string
  room: string
  type: WebhookEventType
  body: string
  /** When it was queued (ms since the epoch), for the age of the oldest pending event. */
  queuedAt: number
}

/** Serializes an event once, with its time and a fresh id: what every attempt on every endpoint sends. */
export function prepareEvent (event: WebhookEvent, now: number): QueuedEvent {
  const body = JSON.stringify({ type: event.type, timestamp: new Date(now).toISOString(), data: event.data })
  return { id: `msg_${randomBytes(16).toString('base64url')}`, room: event.data.room, type: event.type, body, queuedAt: now }
}

/** The fields of an event's data, in the order bodies list them. */
const DATA_FIELDS = ['room', 'reason', 'peerId', 'userId', 'role'] as const

/**
 * An event a shared registry recorded in its room's outbox, ready for delivery. Its id derives from its
 * room and outbox key, so an event queued twice (a mover died half-way) keeps its webhook-id and the
 * receiver's deduplication sees one event. Undefined for a type this version does not send.
 */
export function fromRecorded (event: RecordedEvent): QueuedEvent | undefined {
  if (!Object.hasOwn(WEBHOOK_EVENTS, event.type)) return undefined
  const recorded = JSON.parse(event.data) as Record<string, unknown>
  const data: Record<string, unknown> = {}
  for (const field of DATA_FIELDS) if (typeof recorded[field] === 'string') data[field] = recorded[field]
  const body = JSON.stringify({ type: event.type, timestamp: new Date(event.at).toISOString(), data })
  const id = `msg_${createHash('sha256').update(`${event.room}\n${event.key}`).digest('base64url').slice(0, 32)}`
  return { id, room: event.room, type: event.type as WebhookEventType, body, queuedAt: event.at }
}
