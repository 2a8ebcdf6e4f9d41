import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { CANDIDATE_TYPES, MAX_META_BYTES } from '../../client/protocol.js'

/**
 * The signaling protocol, message by message. These schemas are the single source of truth: the
 * server validates incoming messages with compiled validators built from them, the TypeScript client
 * imports their static types, and scripts/export-protocol.ts turns them into docs/protocol.schema.json
 * and docs/asyncapi.json for clients in other languages.
 */

/** Room names: short, URL-safe, and may use `/` so grants can name a prefix such as `clinic-42/*`. */
export const RoomName = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._~:/-]+$', description: 'Room name' })
export const PeerId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$', description: 'Server-assigned peer (connection) id' })
/** Optional client correlation id, echoed as `ref` in an `error` that refuses the message. */
const MessageId = Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Client correlation id, echoed as `ref` in errors' }))
/** Small, free-form peer metadata (display name, device kind...); its JSON size is checked on join. */
export const PeerMeta = Type.Record(Type.String({ pattern: '^[\\s\\S]{1,64}$' }), Type.Unknown(), {
  description: `Free-form peer metadata shown to the room: at most 32 keys of 1-64 characters, ${MAX_META_BYTES} bytes as JSON`,
  maxProperties: 32,
  additionalProperties: false
})

/** Room metadata rides in every `joined`, so it is kept small too (checked by the admin API). */
export const MAX_ROOM_METADATA_BYTES = 4096
/** Set through the admin API (PUT /v1/admin/rooms/{room}) and handed to joining peers in `joined`. */
export const RoomMetadata = Type.Record(Type.String({ pattern: '^[\\s\\S]{1,64}$' }), Type.Unknown(), {
  description: `Free-form room metadata set by the integrator's backend: at most 32 keys of 1-64 characters, ${MAX_ROOM_METADATA_BYTES} bytes as JSON`,
  maxProperties: 32,
  additionalProperties: false
})
/** `from` of a message the integrator's backend sent through the admin API; no peer id is ever this (they are 16 characters). */
export const SERVER_SENDER = 'server'

export const IceCandidateInit = Type.Object({
  candidate: Type.Optional(Type.String({ maxLength: 2048 })),
  sdpMid: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
  sdpMLineIndex: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 1024 }), Type.Null()])),
  usernameFragment: Type.Optional(Type.Union([Type.String({ maxLength: 256 }), Type.Null()]))
}, { description: 'RTCIceCandidateInit', additionalProperties: false })

function clientMessage<T extends string, P extends Record<string, TSchema>> (type: T, props: P, description: string) {
  return Type.Object({ type: Type.Literal(type), id: MessageId, ...props }, { $id: `client.${type}`, description, additionalProperties: false })
}

// ---- client → server ------------------------------------------------------------------------

export const JoinMessage = clientMessage('join', { room: RoomName, meta: Type.Optional(PeerMeta) },
  'Join a room. Answered by `joined`; the others get `peer-joined`.')
export const LeaveMessage = clientMessage('leave', { room: RoomName },
  'Leave a room. Answered by `left`; the others get `peer-left`.')
export const OfferMessage = clientMessage('offer', { room: RoomName, to: PeerId, sdp: Type.String({ minLength: 1 }) },
  'SDP offer for one peer of the room.')
export const AnswerMessage = clientMessage('answer', { room: RoomName, to: PeerId, sdp: Type.String({ minLength: 1 }) },
  'SDP answer for one peer of the room.')
export const CandidateMessage = clientMessage('candidate', { room: RoomName, to: PeerId, candidate: Type.Union([IceCandidateInit, Type.Null()]) },
  'Trickled ICE candidate for one peer; null signals end-of-candidates.')
export const AppMessage = clientMessage('message', { room: RoomName, to: Type.Optional(PeerId), data: Type.Unknown() },
  'Application message (mute, hang-up, chat...) for one peer, or everyone else in the room when `to` is omitted.')
export const PingMessage = clientMessage('ping', {}, 'Application-level ping; answered by `pong`.')
export const RefreshMessage = clientMessage('refresh', { token: Type.String({ minLength: 1, maxLength: 8192 }) },
  'A fresh JWT for the same user before the current one expires. Answered by `refreshed`.')
export const AckMessage = clientMessage('ack', { seq: Type.Integer({ minimum: 0 }) },
  'Optional: the client has processed every message up to `seq`; the server may free its replay buffer up to there.')

export const CandidateType = Type.Union(CANDIDATE_TYPES.map((t) => Type.Literal(t)), {
  description: 'Type of the local candidate of the selected ICE candidate pair (unknown before one is selected)'
})
export const StatsMessage = clientMessage('stats', {
  candidateType: CandidateType,
  rttMs: Type.Optional(Type.Number({ minimum: 0, maximum: 60000, description: 'currentRoundTripTime of the selected pair, in ms' })),
  jitterMs: Type.Optional(Type.Number({ minimum: 0, maximum: 60000, description: 'Inbound RTP jitter, in ms' })),
  packetLoss: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Inbound packets lost / expected since the last report (0-1)' })),
  bitrateBps: Type.Optional(Type.Number({ minimum: 0, maximum: 1e10, description: 'Outbound bitrate since the last report, bits per second' }))
}, 'Call-quality report from RTCPeerConnection.getStats(), every few seconds during a call. Not answered; aggregated into metrics by candidate type only (never by room or user).')

export const ClientMessageSchemas = [JoinMessage, LeaveMessage, OfferMessage, AnswerMessage, CandidateMessage, AppMessage, PingMessage, RefreshMessage, AckMessage, StatsMessage] as const
export const ClientMessage = Type.Union([...ClientMessageSchemas], { $id: 'ClientMessage' })
export type ClientMessage = Static<typeof ClientMessage>
export type ClientMessageType = ClientMessage['type']
export type ClientMessageOf<T extends ClientMessageType> = Extract<ClientMessage, { type: T }>

// ---- server → client ------------------------------------------------------------------------

/** Every server message carries `seq`: see docs/signaling.md, "Sequence numbers and resume". */
const Seq = Type.Integer({ minimum: 0, description: 'Per-peer sequence number' })

function serverMessage<T extends string, P extends Record<string, TSchema>> (type: T, props: P, description: string) {
  return Type.Object({ type: Type.Literal(type), seq: Seq, ...props }, { $id: `server.${type}`, description, additionalProperties: false })
}

export const PeerInfo = Type.Object({
  peerId: PeerId,
  userId: Type.String(),
  role: Type.Optional(Type.String()),
  meta: Type.Optional(PeerMeta)
}, { additionalProperties: false })
export type PeerInfo = Static<typeof PeerInfo>

export const ConnectionLimits = Type.Object({
  maxMessageBytes: Type.Integer(),
  messagesPerSecond: Type.Number(),
  messageBurst: Type.Integer(),
  maxRoomsPerPeer: Type.Integer(),
  maxConnectionsPerUser: Type.Integer(),
  roomCapacity: Type.Integer(),
  resumeGraceMs: Type.Integer(),
  resumeBufferMessages: Type.Integer(),
  resumeBufferBytes: Type.Integer()
}, { additionalProperties: false })
export type ConnectionLimits = Static<typeof ConnectionLimits>

export const WelcomeMessage = serverMessage('welcome', {
  peerId: PeerId,
  userId: Type.String(),
  resumeToken: Type.String({ description: 'Secret: present it with `lastSeq` to resume this session after a drop' }),
  resumed: Type.Boolean(),
  resumeError: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() }, { description: 'Why a requested resume was impossible; this is a fresh session' })),
  rooms: Type.Array(RoomName, { description: 'Rooms the peer is in (non-empty after a resume)' }),
  heartbeatIntervalMs: Type.Integer(),
  tokenExpiresAt: Type.Integer({ description: 'When the JWT lapses (ms since the epoch); send `refresh` before then' }),
  limits: ConnectionLimits
}, 'First message on every connection. `seq` is where the client stands: 0 for a new session, the `lastSeq` it sent when resuming; replayed messages follow.')
export const JoinedMessage = serverMessage('joined', {
  room: RoomName,
  role: Type.Optional(Type.String()),
  peers: Type.Array(PeerInfo),
  metadata: Type.Optional(RoomMetadata)
}, 'You joined `room`; `peers` are the others already there; `metadata` is what the integrator set for the room, if anything.')
export const LeftMessage = serverMessage('left', { room: RoomName }, 'You left `room`.')
export const PeerJoinedMessage = serverMessage('peer-joined', { room: RoomName, peer: PeerInfo }, 'Another peer joined a room you are in.')
export const PeerLeftMessage = serverMessage('peer-left', {
  room: RoomName,
  peerId: PeerId,
  reason: Type.Union([Type.Literal('left'), Type.Literal('timeout'), Type.Literal('removed'), Type.Literal('revoked')], {
    description: '`left`: it said so; `timeout`: it dropped and did not resume within the grace period; `removed`: the integrator removed it ' +
      '(admin API); `revoked`: its access was withdrawn (the integrator revoked its user\'s sessions, or it resumed with a token that no longer grants the room)'
  })
}, 'A peer left a room you are in.')
export const RoomEndedMessage = serverMessage('room-ended', {
  room: RoomName,
  reason: Type.Union([Type.Literal('api'), Type.Literal('max-duration')], {
    description: '`api`: the integrator ended it (admin API); `max-duration`: its `maxDurationSeconds` ran out'
  })
}, 'The room ended: you are no longer in it (nor is anyone). Joining the same name again starts a new room.')
export const RemovedMessage = serverMessage('removed', {
  room: RoomName,
  reason: Type.Literal('api', { description: '`api`: the integrator removed you (admin API)' })
}, 'You were removed from `room`: you are no longer in it; the others got `peer-left` with reason `removed`.')
export const RelayedOfferMessage = serverMessage('offer', { room: RoomName, from: PeerId, sdp: Type.String() }, 'SDP offer from peer `from`.')
export const RelayedAnswerMessage = serverMessage('answer', { room: RoomName, from: PeerId, sdp: Type.String() }, 'SDP answer from peer `from`.')
export const RelayedCandidateMessage = serverMessage('candidate', { room: RoomName, from: PeerId, candidate: Type.Union([IceCandidateInit, Type.Null()]) }, 'ICE candidate from peer `from`.')
export const RelayedAppMessage = serverMessage('message', {
  room: RoomName,
  from: Type.Union([PeerId, Type.Literal(SERVER_SENDER, { description: 'Sent by the integrator\'s backend (admin API)' })]),
  data: Type.Unknown()
}, 'Application message from peer `from`, or from the integrator\'s backend when `from` is "server".')
export const PongMessage = serverMessage('pong', { ref: Type.Optional(Type.String()) }, 'Answer to `ping`; `ref` echoes its id.')
export const RefreshedMessage = serverMessage('refreshed', { tokenExpiresAt: Type.Integer() }, 'The refreshed token was accepted.')
export const TokenExpiringMessage = serverMessage('token-expiring', { tokenExpiresAt: Type.Integer() },
  'The JWT lapses soon: send `refresh` with a new token or the connection closes with 4001 at `tokenExpiresAt`.')
export const ReconnectMessage = serverMessage('reconnect', {
  reason: Type.Literal('draining'),
  afterMs: Type.Integer({ minimum: 0, description: 'Wait this long (jittered) before reconnecting with your resume token' })
}, 'This instance is shutting down: reconnect (through the load balancer) and resume.')
export const ErrorMessage = serverMessage('error', {
  code: Type.String({ description: 'Stable error code, see docs/signaling.md#error-codes' }),
  message: Type.String(),
  ref: Type.Optional(Type.String({ description: 'The `id` of the refused message, when it had one' }))
}, 'A message was refused, or something went wrong on this connection.')

export const ServerMessageSchemas = [
  WelcomeMessage, JoinedMessage, LeftMessage, PeerJoinedMessage, PeerLeftMessage, RelayedOfferMessage, RelayedAnswerMessage,
  RelayedCandidateMessage, RelayedAppMessage, PongMessage, RefreshedMessage, TokenExpiringMessage, ReconnectMessage, ErrorMessage,
  RoomEndedMessage, RemovedMessage
] as const
export const ServerMessage = Type.Union([...ServerMessageSchemas], { $id: 'ServerMessage' })
export type ServerMessage = Static<typeof ServerMessage>
export type ServerMessageType = ServerMessage['type']
export type ServerMessageOf<T extends ServerMessageType> = Extract<ServerMessage, { type: T }>
/** A server message before the registry stamps its sequence number. */
export type OutgoingMessage = ServerMessage extends infer M ? M extends { seq: number } ? Omit<M, 'seq'> : never : never

/**
 * Constants both sides use are defined once, in the client package (it cannot import server code):
 * REPLAYED_TYPES (messages that advance `seq` and are replayed on resume; `welcome`, `pong`, `error`,
 * `reconnect`, `token-expiring` and `refreshed` answer one connection only), the close codes, the
 * subprotocol and MAX_META_BYTES.
 */
export { MAX_META_BYTES, REPLAYED_TYPES, ServerCloseCode as CloseCode, SUBPROTOCOL } from '../../client/protocol.js'
