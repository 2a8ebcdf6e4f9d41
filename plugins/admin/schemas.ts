import { Type, type Static } from '@sinclair/typebox'
import { PeerId, PeerMeta, RoomMetadata, RoomName } from '../signaling/messages.js'
import { GrantCapacitySchema, SubSchema } from '../auth/claims.js'

/** Rooms per page of GET /v1/admin/rooms, at most. */
export const MAX_PAGE = 500

export const RoomParamsSchema = Type.Object({
  room: Type.String({ ...RoomName, description: 'Room name, URL-encoded (`clinic-42/a` is `clinic-42%2Fa`)' })
})
export type RoomParams = Static<typeof RoomParamsSchema>

export const PeerParamsSchema = Type.Object({ room: RoomParamsSchema.properties.room, peerId: PeerId })
export type PeerParams = Static<typeof PeerParamsSchema>

export const UserParamsSchema = Type.Object({ userId: Type.String({ ...SubSchema, description: 'User id (the tokens\' `sub`), URL-encoded' }) })
export type UserParams = Static<typeof UserParamsSchema>

export const ListQuerySchema = Type.Object({
  cursor: Type.Optional(Type.String({ ...RoomName, description: 'The `next` of the previous page' })),
  limit: Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 100, description: 'Rooms per page' })
})
export type ListQuery = Static<typeof ListQuerySchema>

export const RoomSettingsSchema = Type.Object({
  capacity: Type.Optional(Type.Integer({ ...GrantCapacitySchema, description: 'Peers allowed in the room; overrides ROOM_CAPACITY and the tokens\' grants. Lowering it below the current count refuses new joins and removes nobody' })),
  maxDurationSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86400, description: 'The room ends by itself (room-ended, reason max-duration) this long after it started' })),
  metadata: Type.Optional(RoomMetadata)
}, { additionalProperties: false, title: 'RoomSettings' })
export type RoomSettingsBody = Static<typeof RoomSettingsSchema>

const Instant = (description: string) => Type.String({ format: 'date-time', description })

export const RoomSummarySchema = Type.Object({
  room: RoomName,
  peers: Type.Integer({ minimum: 0, description: 'Peers in the room (connected or within their resume grace period)' }),
  createdAt: Instant('When the room started (or its settings were put, while nobody is in it)'),
  settings: Type.Optional(RoomSettingsSchema)
}, { title: 'RoomSummary' })

export const RoomListSchema = Type.Object({
  rooms: Type.Array(RoomSummarySchema),
  next: Type.Optional(Type.String({ description: 'Cursor of the next page; absent on the last one' }))
}, { title: 'RoomList' })
export type RoomList = Static<typeof RoomListSchema>

export const MemberSchema = Type.Object({
  peerId: PeerId,
  userId: Type.String(),
  role: Type.Optional(Type.String()),
  meta: Type.Optional(PeerMeta),
  joinedAt: Instant('When it joined the room'),
  connected: Type.Boolean({ description: 'false: its socket dropped and it is inside its resume grace period' })
}, { title: 'RoomPeer' })

export const RoomDetailSchema = Type.Object({
  room: RoomName,
  createdAt: RoomSummarySchema.properties.createdAt,
  settings: Type.Optional(RoomSettingsSchema),
  peers: Type.Array(MemberSchema)
}, { title: 'Room' })
export type RoomDetail = Static<typeof RoomDetailSchema>

export const PutRoomResponseSchema = Type.Object({
  room: RoomName,
  createdAt: RoomSummarySchema.properties.createdAt,
  settings: RoomSettingsSchema
}, { title: 'RoomSettingsApplied' })
export type PutRoomResponse = Static<typeof PutRoomResponseSchema>

export const MessageBodySchema = Type.Object({
  data: Type.Unknown({ description: 'Any JSON value, delivered as the `data` of a `message` with `from: "server"`' }),
  to: Type.Optional(PeerId)
}, { additionalProperties: false, title: 'ServerMessage' })
export type MessageBody = Static<typeof MessageBodySchema>

export const MessageResultSchema = Type.Object({
  delivered: Type.Integer({ minimum: 0, description: 'Peers the message went to (connected ones get it now, the others on resume)' })
}, { title: 'ServerMessageResult' })

export const RevokeResultSchema = Type.Object({
  userId: Type.String(),
  revokedAt: Instant('Tokens of this user issued (iat) before this instant are refused until they expire')
}, { title: 'SessionsRevoked' })

export const StatsSchema = Type.Object({
  instanceId: Type.String({ description: 'This instance (INSTANCE_ID, or the Redis registry\'s instance id)' }),
  version: Type.String(),
  uptimeSeconds: Type.Number(),
  registry: Type.Object({
    kind: Type.String({ description: 'memory or redis' }),
    healthy: Type.Boolean(),
    detail: Type.Optional(Type.String())
  }),
  connections: Type.Integer({ description: 'Open signaling sockets on this instance' }),
  rooms: Type.Integer({ description: 'Rooms with a peer held by this instance (all rooms in memory)' }),
  peers: Type.Integer({ description: 'Peer sessions held by this instance, connected or in their grace period' }),
  memory: Type.Object({ rssBytes: Type.Integer(), heapUsedBytes: Type.Integer() }),
  messages: Type.Object({
    relayed: Type.Integer({ description: 'Messages delivered or queued for replay since start' }),
    refused: Type.Integer({ description: 'Client messages refused since start' })
  })
}, { title: 'InstanceStats' })
export type Stats = Static<typeof StatsSchema>
