/**
 * Compile-time proof that the client package's protocol types (client/messages.ts) are exactly the
 * static types of the server's schemas. Checked by `npm run typecheck` and, on its own, by
 * protocol-drift.test.ts (which compiles this file and fails on any diagnostic).
 */
import type * as client from '../../client/messages.js'
import type * as server from '../../plugins/signaling/messages.js'
import type { CredentialsResponse, IceServer } from '../../plugins/turn/schemas.js'

/** True only when A and B are the same type (not merely assignable one way). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
type Assert<T extends true> = T

// One line per message type, so a failure names the message.
export type ClientMessageTypes = Assert<Equal<client.ClientMessageType, server.ClientMessageType>>
export type Join = Assert<Equal<client.ClientMessageOf<'join'>, server.ClientMessageOf<'join'>>>
export type Leave = Assert<Equal<client.ClientMessageOf<'leave'>, server.ClientMessageOf<'leave'>>>
export type Offer = Assert<Equal<client.ClientMessageOf<'offer'>, server.ClientMessageOf<'offer'>>>
export type Answer = Assert<Equal<client.ClientMessageOf<'answer'>, server.ClientMessageOf<'answer'>>>
export type Candidate = Assert<Equal<client.ClientMessageOf<'candidate'>, server.ClientMessageOf<'candidate'>>>
export type Message = Assert<Equal<client.ClientMessageOf<'message'>, server.ClientMessageOf<'message'>>>
export type Ping = Assert<Equal<client.ClientMessageOf<'ping'>, server.ClientMessageOf<'ping'>>>
export type Refresh = Assert<Equal<client.ClientMessageOf<'refresh'>, server.ClientMessageOf<'refresh'>>>
export type Ack = Assert<Equal<client.ClientMessageOf<'ack'>, server.ClientMessageOf<'ack'>>>
// The server's candidateType is a union built from CANDIDATE_TYPES at run time (its static type is
// string); the client names the literals. protocol-drift.test.ts compares the values.
export type Stats = Assert<Equal<Omit<client.ClientMessageOf<'stats'>, 'candidateType'>, Omit<server.ClientMessageOf<'stats'>, 'candidateType'>>>
export type StatsCandidate = Assert<client.CandidateType extends server.ClientMessageOf<'stats'>['candidateType'] ? true : false>

export type ServerMessageTypes = Assert<Equal<client.ServerMessageType, server.ServerMessageType>>
export type Welcome = Assert<Equal<client.ServerMessageOf<'welcome'>, server.ServerMessageOf<'welcome'>>>
export type Joined = Assert<Equal<client.ServerMessageOf<'joined'>, server.ServerMessageOf<'joined'>>>
export type Left = Assert<Equal<client.ServerMessageOf<'left'>, server.ServerMessageOf<'left'>>>
export type PeerJoined = Assert<Equal<client.ServerMessageOf<'peer-joined'>, server.ServerMessageOf<'peer-joined'>>>
export type PeerLeft = Assert<Equal<client.ServerMessageOf<'peer-left'>, server.ServerMessageOf<'peer-left'>>>
export type RelayedOffer = Assert<Equal<client.ServerMessageOf<'offer'>, server.ServerMessageOf<'offer'>>>
export type RelayedAnswer = Assert<Equal<client.ServerMessageOf<'answer'>, server.ServerMessageOf<'answer'>>>
export type RelayedCandidate = Assert<Equal<client.ServerMessageOf<'candidate'>, server.ServerMessageOf<'candidate'>>>
export type RelayedMessage = Assert<Equal<client.ServerMessageOf<'message'>, server.ServerMessageOf<'message'>>>
export type Pong = Assert<Equal<client.ServerMessageOf<'pong'>, server.ServerMessageOf<'pong'>>>
export type Refreshed = Assert<Equal<client.ServerMessageOf<'refreshed'>, server.ServerMessageOf<'refreshed'>>>
export type TokenExpiring = Assert<Equal<client.ServerMessageOf<'token-expiring'>, server.ServerMessageOf<'token-expiring'>>>
export type Reconnect = Assert<Equal<client.ServerMessageOf<'reconnect'>, server.ServerMessageOf<'reconnect'>>>
export type ErrorMessage = Assert<Equal<client.ServerMessageOf<'error'>, server.ServerMessageOf<'error'>>>
export type PeerInfoMatches = Assert<Equal<client.PeerInfo, server.PeerInfo>>
export type LimitsMatch = Assert<Equal<client.ConnectionLimits, server.ConnectionLimits>>
export type IceServerMatches = Assert<Equal<client.IceServer, IceServer>>
export type CredentialsMatch = Assert<Equal<client.IceServersResult, CredentialsResponse>>
export type RoomEnded = Assert<Equal<client.ServerMessageOf<'room-ended'>, server.ServerMessageOf<'room-ended'>>>
export type Removed = Assert<Equal<client.ServerMessageOf<'removed'>, server.ServerMessageOf<'removed'>>>
