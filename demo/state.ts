/**
 * What the page knows, as plain data. The page renders it, and exposes it read-only as
 * `window.switchboardDemo.state` so end-to-end tests (and curious developers in the console) can
 * check exactly what users see. No secrets here: no token, no TURN password, no SDP.
 */
export interface DemoState {
  /** The signaling client's state: idle, connecting, open, reconnecting, closed. */
  signaling: string
  room?: string
  peerId?: string
  userId?: string
  /** The other peer of the call (the room's first other member). */
  partner?: { peerId: string, userId: string, name?: string, page?: string }
  /** RTCPeerConnection.connectionState, or 'none' before the call exists. */
  connection: string
  ice: string
  gathering: string
  forceRelay: boolean
  /** Selected candidate pair: candidate types (host/srflx/prflx/relay), relay leg protocol, STUN RTT. */
  selected?: { local: string, remote: string, relayProtocol?: string, rttMs?: number }
  localCandidateTypes: string[]
  /** icecandidateerror events: a 401 means TURN refused the credentials. */
  candidateErrors: Array<{ errorCode: number, errorText: string, url: string }>
  /** Gathering completed with no candidate at all: the call cannot connect. */
  noCandidates: boolean
  iceRestarts: number
  chatOpen: boolean
  chat: Array<{ id: string, from: 'me' | 'them', text: string, roundTripMs?: number }>
  media: { local: string[], videoFramesDecoded: number, audioPacketsReceived: number }
  /** TURN credentials in use: how many ICE servers and when they expire (never the credentials). */
  iceServers?: { stun: number, turn: number, expiresAt: string }
  /** Signaling and call events, oldest first (`welcome`, `joined`, `peer-left`, `resumed`...). */
  events: string[]
  /** The last error shown to the user, with its code. */
  error?: { code: string, message: string }
}

export function initialState (): DemoState {
  return {
    signaling: 'idle',
    connection: 'none',
    ice: 'none',
    gathering: 'none',
    forceRelay: false,
    localCandidateTypes: [],
    candidateErrors: [],
    noCandidates: false,
    iceRestarts: 0,
    chatOpen: false,
    chat: [],
    media: { local: [], videoFramesDecoded: 0, audioPacketsReceived: 0 },
    events: []
  }
}

declare global {
  interface Window {
    /** Read-only view of the page for tests and the console; `state` is a fresh copy on every read. */
    switchboardDemo?: { readonly state: DemoState }
  }
}
