/**
 * @switchboard/client: the Switchboard signaling client and PeerCall (browsers and Node 20+, ESM,
 * no dependencies).
 *
 *   import { SwitchboardClient } from '@switchboard/client'
 *   const client = new SwitchboardClient({ url: 'https://signal.example.com', token: () => fetchMyJwt() })
 *   const welcome = await client.connect()
 *   client.on('offer', (msg) => { ... msg.from, msg.sdp ... })
 *   await client.join('consult-42')
 *   const stopReporting = client.monitorCall(pc)   // call-quality `stats` every 5 s while in the call
 *
 * Protocol types and constants are the package's own (messages.ts, protocol.ts); the server imports
 * the constants from here and a test keeps the types equal to its schemas. See docs/client.md.
 */
export {
  SwitchboardClient,
  retryable,
  type AckTimer,
  type ClientState,
  type CloseEvent,
  type DroppedEvent,
  type IceCandidate,
  type JoinedMessage,
  type LeftMessage,
  type LifecycleEvents,
  type OpenEvent,
  type PeerMeta,
  type ReconnectingEvent,
  type ServerEvents,
  type SessionLostEvent,
  type StateEvent,
  type SwitchboardClientOptions,
  type SwitchboardEvents,
  type TokenSource,
  type WelcomeMessage
} from './client.js'
export {
  PeerCall,
  DEFAULT_ICE_RESTART,
  encodeTurnCredentials,
  isPolite,
  type IceRestartOptions,
  type PeerCallCloseReason,
  type PeerCallEvents,
  type PeerCallOptions,
  type PeerConnectionConstructor
} from './peer-call.js'
export { SwitchboardError, ClientErrorCode, type SwitchboardErrorDetails } from './errors.js'
export {
  callQualityReport,
  DEFAULT_STATS_INTERVAL_MS,
  MIN_STATS_INTERVAL_MS,
  STATS_LIMITS,
  type CallQualityReport,
  type CandidateType,
  type StatsReportLike,
  type StatsSnapshot,
  type StatsSource
} from './stats.js'
export { DEFAULT_RECONNECT, DEFAULT_RETRY, backoffDelay, type ReconnectOptions, type RetryOptions } from './backoff.js'
export {
  BEARER_SUBPROTOCOL_PREFIX, CANDIDATE_TYPES, CloseCode, MAX_META_BYTES, REPLAYED_TYPES, RETRYABLE_CODES, ServerCloseCode, SUBPROTOCOL, reconnectableClose
} from './protocol.js'
export { endpoints, type Endpoints } from './urls.js'
export type { IceServersResult, PreflightResult } from './http.js'
export type { SocketConstructor, SocketLike } from './transport.js'
export type {
  ClientMessage, ClientMessageOf, ClientMessageType, ServerMessage, ServerMessageOf, ServerMessageType, PeerInfo, ConnectionLimits,
  IceCandidateInit, IceServer
} from './messages.js'
