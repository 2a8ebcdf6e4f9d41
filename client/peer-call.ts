import type { SwitchboardClient } from './client.js'
import { Emitter } from './emitter.js'
import { asSwitchboardError, ClientErrorCode, SwitchboardError } from './errors.js'
import type { IceServer, IceServersResult, ServerMessageOf } from './messages.js'

/**
 * One RTCPeerConnection to one peer of a room, negotiated over a SwitchboardClient with the W3C
 * "perfect negotiation" pattern: either side may add tracks or data channels at any time, and when
 * both offer at once the polite side (chosen from the two peer ids) yields. TURN credentials come
 * from getIceServers() and are replaced before they expire; a connection that stays `disconnected`
 * or goes `failed` gets a bounded number of ICE restarts with backoff. Signaling drops are the
 * client's business (it resumes its session and replays what was missed): a call whose media kept
 * flowing needs no new negotiation.
 */

/** A WebRTC stack's RTCPeerConnection (the browser's, or a Node polyfill such as node-datachannel's). */
export type PeerConnectionConstructor = new (configuration?: RTCConfiguration) => RTCPeerConnection

export interface IceRestartOptions {
  /** ICE restarts in a row without reaching `connected` before the call gives up (closes with 'failed'). */
  maxAttempts: number
  /** Delay before the first restart after a failure; doubles with each attempt up to maxDelayMs. */
  initialDelayMs: number
  maxDelayMs: number
  /** How long the connection may stay `disconnected` (often a blip that heals) before a restart. */
  disconnectedTimeoutMs: number
}

export const DEFAULT_ICE_RESTART: Readonly<IceRestartOptions> = { maxAttempts: 5, initialDelayMs: 500, maxDelayMs: 8000, disconnectedTimeoutMs: 3000 }

export interface PeerCallOptions {
  room: string
  /** The remote peer (its server-assigned peerId). */
  peerId: string
  /** Base configuration (iceTransportPolicy, bundlePolicy...); its iceServers come before the fetched ones. */
  configuration?: RTCConfiguration
  /** Defaults to globalThis.RTCPeerConnection. In Node: `RTCPeerConnection` from `node-datachannel/polyfill`. */
  RTCPeerConnection?: PeerConnectionConstructor
  /**
   * Adapts the fetched ICE servers to the WebRTC stack (see encodeTurnCredentials for node-datachannel,
   * which puts the credentials into a URL). Identity by default.
   */
  adaptIceServers?: (servers: IceServer[]) => RTCIceServer[]
  /**
   * Fetch TURN credentials with client.getIceServers() and refresh them (default true). Pass a result
   * you already have as `iceServers` to skip the first fetch, or false to use `configuration` alone.
   */
  iceServers?: IceServersResult | boolean
  /** Fetch new credentials this long before `refreshAt` (default 5000 ms; never sooner than 1 s from now). */
  refreshLeadMs?: number
  /** Who yields in an offer collision; default: the side whose peer id sorts higher. Both sides must agree. */
  polite?: boolean | undefined
  iceRestart?: Partial<IceRestartOptions>
}

/**
 * Why a call closed: close() was called; the remote peer left the room; ICE restarts ran out (or
 * the connection was closed under the call, which libdatachannel does when it fails); the
 * client closed for good; the room was ended (admin API, or its maximum duration); this peer was
 * removed from the room (admin API).
 */
export type PeerCallCloseReason = 'closed' | 'peer-left' | 'failed' | 'client-closed' | 'room-ended' | 'removed'

export interface PeerCallEvents {
  track: { track: MediaStreamTrack, streams: readonly MediaStream[] }
  datachannel: { channel: RTCDataChannel }
  connectionstatechange: { state: RTCPeerConnectionState }
  /** New TURN credentials are in use (setConfiguration). */
  iceservers: { expiresAt: string, refreshAt: string }
  /** An ICE restart is scheduled (`attempt` 1 = the first since the last `connected`). */
  icerestart: { attempt: number, delayMs: number, reason: 'disconnected' | 'failed' | 'requested' }
  /** Something went wrong that the call survives (a failed negotiation step, a credential refresh). */
  error: { error: SwitchboardError }
  close: { reason: PeerCallCloseReason }
}

/**
 * For stacks that build TURN URLs as `turn:user:password@host` (node-datachannel's polyfill): the
 * username (`expiry:user`, with a colon) and the base64 password must be percent-encoded there.
 */
export function encodeTurnCredentials (servers: IceServer[]): RTCIceServer[] {
  return servers.map((server) => server.username === undefined || server.credential === undefined
    ? { urls: server.urls }
    : { urls: server.urls, username: encodeURIComponent(server.username), credential: encodeURIComponent(server.credential) })
}

/** Deterministic roles from the two ids alone: exactly one side is polite. */
export function isPolite (localPeerId: string, remotePeerId: string): boolean {
  return localPeerId > remotePeerId
}

type Description = { type: 'offer' | 'answer', sdp: string }

/** A function, not a property read, so TypeScript does not carry a narrowing across an await. */
function signalingStateOf (pc: RTCPeerConnection): RTCSignalingState {
  return pc.signalingState
}
type RemoteCandidate = RTCIceCandidateInit | null

export class PeerCall extends Emitter<PeerCallEvents> {
  readonly room: string
  private _peerId: string
  readonly polite: boolean
  private _pc: RTCPeerConnection | undefined
  /** Resolves with the connection once it exists (after the first credentials fetch). */
  readonly ready: Promise<RTCPeerConnection>
  /** ICE restarts done (each a new negotiation). */
  iceRestarts = 0

  private readonly client: SwitchboardClient
  private readonly options: PeerCallOptions
  private readonly restart: IceRestartOptions
  private readonly PC: PeerConnectionConstructor
  private readonly unsubscribe: Array<() => void> = []
  private makingOffer = false
  private ignoreOffer = false
  private negotiationScheduled = false
  /** The SDP of the last offer sent, so that an offer the stack made by itself is sent once. */
  private sentOffer: string | undefined
  /** Remote candidates that came before the remote description: added once it is set. */
  private readonly pendingCandidates: RemoteCandidate[] = []
  /** Remote signaling handled one message at a time, in arrival order. */
  private inbound: Promise<void> = Promise.resolve()
  private refreshTimer: ReturnType<typeof setTimeout> | undefined
  private restartTimer: ReturnType<typeof setTimeout> | undefined
  private restartAttempt = 0
  private closed = false
  private credentials: IceServersResult | undefined

  constructor (client: SwitchboardClient, options: PeerCallOptions) {
    super()
    const local = client.peerId
    if (local === undefined) throw new SwitchboardError(ClientErrorCode.NOT_CONNECTED, 'PeerCall: connect the client first (the polite side is chosen from the peer ids)')
    const PC = options.RTCPeerConnection ?? (globalThis as { RTCPeerConnection?: PeerConnectionConstructor }).RTCPeerConnection
    if (PC === undefined) throw new TypeError('PeerCall: no RTCPeerConnection here; pass { RTCPeerConnection } (in Node, the one of node-datachannel/polyfill)')
    this.client = client
    this.options = options
    this.room = options.room
    this._peerId = options.peerId
    this.polite = options.polite ?? isPolite(local, options.peerId)
    this.restart = { ...DEFAULT_ICE_RESTART, ...options.iceRestart }
    this.PC = PC
    this.listen()
    const given = options.iceServers
    if (typeof given === 'object' || given === false) {
      // Nothing to fetch first: the connection exists as soon as the call does.
      if (typeof given === 'object') this.credentials = given
      const pc = this.createConnection()
      this._pc = pc
      this.ready = Promise.resolve(pc)
      this.scheduleRefresh()
    } else {
      this.ready = this.fetchCredentials().then(() => {
        if (this.closed) throw new SwitchboardError(ClientErrorCode.CLOSED, 'The call was closed')
        const pc = this.createConnection()
        this._pc = pc
        return pc
      })
      // A call closed before it started has nobody waiting on ready: that rejection is not an error.
      this.ready.catch(() => {})
    }
  }

  get peerId (): string { return this._peerId }

  /** The connection: there at once when no credentials need fetching first, else once `ready` resolves. */
  get pc (): RTCPeerConnection | undefined { return this._pc }

  /** The peer came back on a new session (its peerId changed): signaling goes to the new id from now on. */
  setPeerId (peerId: string): void {
    this._peerId = peerId
  }

  /** The TURN credentials in use, when fetched. */
  get iceServers (): IceServersResult | undefined { return this.credentials }

  // ---- what the app adds: each starts a negotiation itself ------------------------------------

  /**
   * Adds a track and negotiates. Negotiation starts here, not on `negotiationneeded`: some stacks
   * (node-datachannel 0.33's polyfill) never fire that event.
   */
  async addTrack (track: MediaStreamTrack, ...streams: MediaStream[]): Promise<RTCRtpSender> {
    const pc = await this.ready
    const sender = pc.addTrack(track, ...streams)
    this.scheduleNegotiation()
    return sender
  }

  /** Creates a data channel and negotiates (a `negotiated` channel must be created on both sides). */
  async createDataChannel (label: string, init?: RTCDataChannelInit): Promise<RTCDataChannel> {
    const pc = await this.ready
    const channel = pc.createDataChannel(label, init)
    this.scheduleNegotiation()
    return channel
  }

  /** New ICE credentials and candidates now (fresh TURN credentials first when they are past refreshAt). */
  async restartIce (): Promise<void> {
    await this.ready
    this.emit('icerestart', { attempt: 0, delayMs: 0, reason: 'requested' })
    await this.doRestart()
  }

  /** Ends the call: timers, listeners, the connection. The other side sees it through ICE (or the app tells it). */
  close (): void {
    this.shutdown('closed')
  }

  // ---- signaling ------------------------------------------------------------------------------

  /**
   * Hands over an offer, answer or candidate that arrived before this call existed (an app that
   * creates its call when the first offer comes in). Later ones reach the call by themselves.
   */
  receive (message: ServerMessageOf<'offer' | 'answer' | 'candidate'>): void {
    if (message.room !== this.room || message.from !== this._peerId) return
    if (message.type === 'candidate') this.enqueue(() => this.onCandidate(message.candidate))
    else this.enqueue(() => this.onDescription({ type: message.type, sdp: message.sdp }))
  }

  private listen (): void {
    const handle = (m: ServerMessageOf<'offer' | 'answer' | 'candidate'>): void => this.receive(m)
    this.unsubscribe.push(
      this.client.on('offer', handle),
      this.client.on('answer', handle),
      this.client.on('candidate', handle),
      this.client.on('peer-left', (m: ServerMessageOf<'peer-left'>) => { if (m.room === this.room && m.peerId === this._peerId) this.shutdown('peer-left') }),
      // Out of the room: its signaling is gone, so a call in it could never negotiate again.
      this.client.on('room-ended', (m: ServerMessageOf<'room-ended'>) => { if (m.room === this.room) this.shutdown('room-ended') }),
      this.client.on('removed', (m: ServerMessageOf<'removed'>) => { if (m.room === this.room) this.shutdown('removed') }),
      this.client.on('close', ({ willReconnect }) => { if (!willReconnect) this.shutdown('client-closed') })
    )
  }

  private enqueue (task: () => Promise<void>): void {
    this.inbound = this.inbound.then(async () => {
      if (this.closed) return
      await this.ready
      await task()
    }).catch((err: unknown) => this.report(err))
  }

  private report (err: unknown): void {
    if (this.closed) return
    this.emit('error', { error: asSwitchboardError(err, 'SWB_CLIENT_WEBRTC') })
  }

  private signal (send: () => unknown): void {
    try {
      send()
    } catch (err) {
      // Not connected or queue full: the peer misses this message; ICE restarts recover a stuck call.
      this.report(err)
    }
  }

  /** The local description as applied, or (stacks that report none yet) the one just created. */
  private sendDescription (applied: RTCSessionDescriptionInit | null, created: RTCSessionDescriptionInit): void {
    const description = applied !== null && applied.sdp !== undefined && applied.sdp !== '' ? applied : created
    const sdp = description.sdp
    if (sdp === undefined || sdp === '') return
    if (description.type === 'offer') {
      this.sentOffer = sdp
      this.signal(() => this.client.sendOffer(this.room, this._peerId, sdp))
    }
    else if (description.type === 'answer') this.signal(() => this.client.sendAnswer(this.room, this._peerId, sdp))
  }

  private async onDescription (description: Description): Promise<void> {
    const pc = this.pc
    if (pc === undefined) return
    const collision = description.type === 'offer' && (this.makingOffer || pc.signalingState !== 'stable')
    this.ignoreOffer = !this.polite && collision
    if (this.ignoreOffer) return
    // The polite side's setRemoteDescription(offer) rolls its own pending offer back (implicit rollback).
    await pc.setRemoteDescription(description)
    await this.flushCandidates(pc)
    if (description.type === 'offer') {
      await pc.setLocalDescription()
      const local = pc.localDescription
      if (local !== null && local.type === 'answer' && local.sdp !== '') {
        this.sendDescription(local, local)
        return
      }
      // Stacks without the argument-less setLocalDescription() (node-datachannel answers by itself).
      const answer = await pc.createAnswer()
      await pc.setLocalDescription(answer)
      this.sendDescription(pc.localDescription, answer)
    }
  }

  private async onCandidate (candidate: RemoteCandidate): Promise<void> {
    const pc = this.pc
    if (pc === undefined) return
    if (pc.remoteDescription === null || pc.remoteDescription.sdp === '') {
      this.pendingCandidates.push(candidate)
      return
    }
    await this.addCandidate(pc, candidate)
  }

  private async flushCandidates (pc: RTCPeerConnection): Promise<void> {
    for (const candidate of this.pendingCandidates.splice(0)) await this.addCandidate(pc, candidate)
  }

  private async addCandidate (pc: RTCPeerConnection, candidate: RemoteCandidate): Promise<void> {
    try {
      // null = end-of-candidates for the current generation.
      await pc.addIceCandidate(candidate ?? undefined)
    } catch (err) {
      // Candidates of an offer we ignored (glare, impolite side) cannot be added: expected.
      if (!this.ignoreOffer) this.report(err)
    }
  }

  // ---- negotiation ----------------------------------------------------------------------------

  /** Coalesces the adds of one tick (audio, video, a channel) into one offer. */
  private scheduleNegotiation (): void {
    if (this.negotiationScheduled) return
    this.negotiationScheduled = true
    setTimeout(() => {
      this.negotiationScheduled = false
      void this.negotiate()
    }, 0)
  }

  private async negotiate (): Promise<void> {
    const pc = this.pc
    if (pc === undefined || this.closed || this.makingOffer) return
    if (pc.signalingState === 'have-local-offer') {
      // Stacks that negotiate by themselves (libdatachannel) already applied an offer: send it, once.
      const local = pc.localDescription
      if (local !== null && local.type === 'offer' && local.sdp !== this.sentOffer) this.sendDescription(local, local)
      return
    }
    // Offers only from a stable state; one already under way covers what was added since.
    if (pc.signalingState !== 'stable') return
    try {
      this.makingOffer = true
      // Browsers create and apply the offer in one step, so no remote offer can slip in between.
      await pc.setLocalDescription()
      let local: RTCSessionDescriptionInit | null = pc.localDescription
      if (signalingStateOf(pc) === 'stable' || local === null || local.sdp === '') {
        // Stacks whose setLocalDescription() does nothing without a description (node-datachannel).
        const offer = await pc.createOffer()
        const now = signalingStateOf(pc)
        // A remote offer was applied meanwhile (glare, polite side): this offer is stale.
        if (now === 'have-remote-offer') return
        // libdatachannel applies its own offer as it creates it (auto-negotiation): already have-local-offer.
        if (now === 'stable') await pc.setLocalDescription(offer)
        local = pc.localDescription !== null && pc.localDescription.sdp !== '' ? pc.localDescription : offer
      }
      if (local.type === 'offer') this.sendDescription(local, local)
    } catch (err) {
      this.report(err)
    } finally {
      this.makingOffer = false
    }
  }

  private createConnection (): RTCPeerConnection {
    const pc = new this.PC(this.configuration())
    pc.onnegotiationneeded = () => { void this.negotiate() }
    pc.onicecandidate = ({ candidate }) => {
      // Only the four init fields travel; null is end-of-candidates.
      const init = candidate === null ? null : (typeof candidate.toJSON === 'function' ? candidate.toJSON() : candidate)
      this.signal(() => this.client.sendCandidate(this.room, this._peerId, init))
    }
    pc.ontrack = ({ track, streams }) => this.emit('track', { track, streams })
    pc.ondatachannel = ({ channel }) => this.emit('datachannel', { channel })
    pc.onconnectionstatechange = () => this.onConnectionState(pc.connectionState)
    return pc
  }

  private configuration (): RTCConfiguration {
    const base = this.options.configuration ?? {}
    const fetched = this.credentials?.iceServers ?? []
    const adapt = this.options.adaptIceServers ?? ((servers: IceServer[]) => servers as RTCIceServer[])
    return { ...base, iceServers: [...(base.iceServers ?? []), ...adapt(fetched)] }
  }

  // ---- TURN credentials -----------------------------------------------------------------------

  private async fetchCredentials (): Promise<void> {
    try {
      this.credentials = await this.client.getIceServers()
      this.scheduleRefresh()
    } catch (err) {
      // No TURN (not configured, or refused for good): direct paths may still connect.
      this.report(err)
    }
  }

  private scheduleRefresh (): void {
    clearTimeout(this.refreshTimer)
    const credentials = this.credentials
    if (credentials === undefined || this.options.iceServers === false || this.closed) return
    const left = Date.parse(credentials.refreshAt) - Date.now()
    const lead = Math.min(this.options.refreshLeadMs ?? 5000, Math.max(0, left))
    // Never a tight loop, even with credentials that are already due.
    const delay = Math.max(1000, left - lead)
    this.refreshTimer = setTimeout(() => { void this.refreshCredentials() }, delay)
  }

  /** Fetches new TURN credentials and hands them to the connection (used by later allocations and restarts). */
  async refreshCredentials (): Promise<void> {
    if (this.closed) return
    try {
      const credentials = await this.client.getIceServers()
      if (this.closed) return
      this.credentials = credentials
      const pc = this.pc
      if (pc !== undefined) pc.setConfiguration({ ...pc.getConfiguration(), iceServers: this.configuration().iceServers ?? [] })
      this.emit('iceservers', { expiresAt: credentials.expiresAt, refreshAt: credentials.refreshAt })
    } catch (err) {
      this.report(err)
    } finally {
      this.scheduleRefresh()
    }
  }

  // ---- ICE restarts ---------------------------------------------------------------------------

  private onConnectionState (state: RTCPeerConnectionState): void {
    if (this.closed) return
    this.emit('connectionstatechange', { state })
    if (state === 'connected') {
      this.restartAttempt = 0
      clearTimeout(this.restartTimer)
      this.restartTimer = undefined
    } else if (state === 'failed') {
      this.scheduleRestart('failed', 0)
    } else if (state === 'disconnected') {
      this.scheduleRestart('disconnected', this.restart.disconnectedTimeoutMs)
    } else if (state === 'closed') {
      // Closed under the call: close() removes this handler first. libdatachannel closes a
      // connection by itself once it failed or the other side closed it, and a closed connection
      // cannot restart: the app learns the call is over and can start a new one.
      this.shutdown('failed')
    }
  }

  private scheduleRestart (reason: 'disconnected' | 'failed', minDelayMs: number): void {
    if (this.restartTimer !== undefined && reason === 'disconnected') return
    clearTimeout(this.restartTimer)
    const attempt = this.restartAttempt + 1
    if (attempt > this.restart.maxAttempts) {
      this.shutdown('failed')
      return
    }
    const backoff = attempt === 1 ? 0 : Math.min(this.restart.maxDelayMs, this.restart.initialDelayMs * 2 ** (attempt - 2))
    const delayMs = Math.max(minDelayMs, backoff)
    this.emit('icerestart', { attempt, delayMs, reason })
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined
      const state = this.pc?.connectionState
      if (this.closed || state === 'connected') return
      this.restartAttempt = attempt
      void this.doRestart().then(() => {
        // Still not connected after this attempt's window: the next one, with more backoff.
        this.restartTimer = setTimeout(() => {
          this.restartTimer = undefined
          const now = this.pc?.connectionState
          if (!this.closed && now !== 'connected') this.scheduleRestart(now === 'failed' ? 'failed' : 'disconnected', 0)
        }, Math.max(this.restart.disconnectedTimeoutMs, backoff))
      })
    }, delayMs)
  }

  private async doRestart (): Promise<void> {
    const pc = this.pc
    if (pc === undefined || this.closed) return
    // A restart allocates anew on TURN: credentials past their refresh time would be refused.
    const credentials = this.credentials
    if (credentials !== undefined && Date.parse(credentials.refreshAt) <= Date.now()) await this.refreshCredentials()
    try {
      pc.restartIce()
      this.iceRestarts++
    } catch (err) {
      this.report(err)
      return
    }
    this.scheduleNegotiation()
  }

  private shutdown (reason: PeerCallCloseReason): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.refreshTimer)
    clearTimeout(this.restartTimer)
    for (const off of this.unsubscribe.splice(0)) off()
    this.pendingCandidates.length = 0
    const pc = this.pc
    if (pc !== undefined) {
      pc.onnegotiationneeded = null
      pc.onicecandidate = null
      pc.ontrack = null
      pc.ondatachannel = null
      pc.onconnectionstatechange = null
      pc.close()
    }
    this.emit('close', { reason })
  }
}
