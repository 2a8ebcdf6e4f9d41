/**
 * The signaling protocol's messages as TypeScript types, for the client package. The server's TypeBox
 * schemas (plugins/signaling/messages.ts, plugins/turn/schemas.ts) stay the validators; the package
 * cannot import them (it would ship TypeBox and server code). test/client/protocol-drift.test.ts
 * fails when these types and the schemas' static types differ in any way.
 */
import type { CANDIDATE_TYPES } from './protocol.js'

/** RTCIceCandidateInit as the server accepts it (the four standard fields only). */
export interface IceCandidateInit {
  candidate?: string
  sdpMid?: string | null
  sdpMLineIndex?: number | null
  usernameFragment?: string | null
}

/** Free-form peer metadata shown to the room (at most 32 keys, MAX_META_BYTES as JSON). */
export type PeerMetaRecord = Record<string, unknown>

export type CandidateType = typeof CANDIDATE_TYPES[number]

// ---- client → server ------------------------------------------------------------------------

export type ClientMessage =
  | { type: 'join', id?: string, room: string, meta?: PeerMetaRecord }
  | { type: 'leave', id?: string, room: string }
  | { type: 'offer', id?: string, room: string, to: string, sdp: string }
  | { type: 'answer', id?: string, room: string, to: string, sdp: string }
  | { type: 'candidate', id?: string, room: string, to: string, candidate: IceCandidateInit | null }
  | { type: 'message', id?: string, room: string, to?: string, data: unknown }
  | { type: 'ping', id?: string }
  | { type: 'refresh', id?: string, token: string }
  | { type: 'ack', id?: string, seq: number }
  | { type: 'stats', id?: string, candidateType: CandidateType, rttMs?: number, jitterMs?: number, packetLoss?: number, bitrateBps?: number }
export type ClientMessageType = ClientMessage['type']
export type ClientMessageOf<T extends ClientMessageType> = Extract<ClientMessage, { type: T }>

// ---- server → client ------------------------------------------------------------------------

export interface PeerInfo {
  peerId: string
  userId: string
  role?: string
  meta?: PeerMetaRecord
}

/** The limits of a connection, sent in its welcome. */
export interface ConnectionLimits {
  maxMessageBytes: number
  messagesPerSecond: number
  messageBurst: number
  maxRoomsPerPeer: number
  maxConnectionsPerUser: number
  roomCapacity: number
  resumeGraceMs: number
  resumeBufferMessages: number
  resumeBufferBytes: number
}

export type ServerMessage =
  | {
    type: 'welcome'
    seq: number
    peerId: string
    userId: string
    /** Secret: presented with `lastSeq` to resume this session after a drop. */
    resumeToken: string
    resumed: boolean
    /** Why a requested resume was impossible; this is a fresh session. */
    resumeError?: { code: string, message: string }
    rooms: string[]
    heartbeatIntervalMs: number
    /** When the JWT lapses (ms since the epoch). */
    tokenExpiresAt: number
    limits: ConnectionLimits
  }
  | { type: 'joined', seq: number, room: string, role?: string, peers: PeerInfo[], metadata?: Record<string, unknown> }
  | { type: 'left', seq: number, room: string }
  | { type: 'peer-joined', seq: number, room: string, peer: PeerInfo }
  | { type: 'peer-left', seq: number, room: string, peerId: string, reason: 'left' | 'timeout' | 'removed' | 'revoked' }
  /** The integrator ended the room (admin API) or its maxDurationSeconds ran out: you are out of it. */
  | { type: 'room-ended', seq: number, room: string, reason: 'api' | 'max-duration' }
  /** The integrator removed you from `room` (admin API). */
  | { type: 'removed', seq: number, room: string, reason: 'api' }
  | { type: 'offer', seq: number, room: string, from: string, sdp: string }
  | { type: 'answer', seq: number, room: string, from: string, sdp: string }
  | { type: 'candidate', seq: number, room: string, from: string, candidate: IceCandidateInit | null }
  /** `from` is a peer id, or "server" for a message from the integrator's backend (admin API). */
  | { type: 'message', seq: number, room: string, from: string, data: unknown }
  | { type: 'pong', seq: number, ref?: string }
  | { type: 'refreshed', seq: number, tokenExpiresAt: number }
  | { type: 'token-expiring', seq: number, tokenExpiresAt: number }
  | { type: 'reconnect', seq: number, reason: 'draining', afterMs: number }
  | { type: 'error', seq: number, code: string, message: string, ref?: string }
export type ServerMessageType = ServerMessage['type']
export type ServerMessageOf<T extends ServerMessageType> = Extract<ServerMessage, { type: T }>

// ---- HTTP -----------------------------------------------------------------------------------

/** One RTCIceServer as POST /v1/turn/credentials returns it. */
export interface IceServer {
  urls: string[]
  /** TURN username; for the hmac provider "<expiry-unix-seconds>:<user id>". */
  username?: string
  /** TURN password (a secret: keep it out of logs and URLs). */
  credential?: string
}

/** POST /v1/turn/credentials: an RTCConfiguration (`iceServers`) plus its lifetime. */
export interface IceServersResult {
  iceServers: IceServer[]
  /** Lifetime granted, in seconds. */
  ttl: number
  /** ISO-8601 instant after which TURN refuses new allocations. */
  expiresAt: string
  /** ISO-8601 instant (80% of ttl) when a long call should fetch fresh credentials. */
  refreshAt: string
}
