/**
 * One peer-to-peer call as the page shows it: a PeerCall (the client package's negotiation, TURN
 * refresh and ICE restarts) plus the page's chat data channel and what the page displays about the
 * connection. Signaling travels through the page's SwitchboardClient; PeerCall listens to it itself.
 */
import { PeerCall, type IceServersResult, type SwitchboardClient } from '../client/index.js'

/**
 * Why a relay-only call cannot start, or undefined when it can. With iceTransportPolicy 'relay' and no
 * turn:/turns: server, the browser gathers no candidate at all and the call sits at "new" for ever.
 */
export function relayProblem (forceRelay: boolean, iceServers: RTCIceServer[]): string | undefined {
  if (!forceRelay) return undefined
  const urls = iceServers.flatMap((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]))
  if (urls.some((u) => /^turns?:/i.test(u))) return undefined
  return 'Force relay is ticked, but this server offers no TURN server (TURN_URLS is empty or TURN credentials failed): ' +
    'untick Force relay, or start coturn and set TURN_SECRET and TURN_URLS (see the README)'
}

export interface CallOptions {
  client: SwitchboardClient
  room: string
  /** The other peer's current peerId. */
  peerId: string
  /** TURN credentials already fetched (undefined: none, direct paths only). */
  iceServers: IceServersResult | undefined
  /** iceTransportPolicy 'relay': only TURN-relayed candidates. */
  forceRelay: boolean
  /** The polite side yields when both offer at once (it rolls its own offer back). */
  polite: boolean
  localStream: MediaStream | undefined
  onChange (): void
  onChat (entry: ChatEntry): void
  onRemoteStream (stream: MediaStream): void
}

export interface ChatEntry {
  id: string
  from: 'me' | 'them'
  text: string
  /** For my messages: the data channel round trip, once the other side acknowledged it. */
  roundTripMs?: number
}

export interface CandidateError { errorCode: number, errorText: string, url: string }

export interface SelectedPair {
  local: string
  remote: string
  /** The client-to-TURN leg of a relay candidate (udp/tcp/tls). */
  relayProtocol?: string
  /** STUN round trip on the selected pair, in ms. */
  rttMs?: number
}

export interface CallStats {
  selected?: SelectedPair
  videoFramesDecoded: number
  audioPacketsReceived: number
}

type ChatWire = { type: 'chat', id: string, text: string } | { type: 'ack', id: string }

const MAX_CHAT_TEXT = 2000

/**
 * Random hex. crypto.randomUUID() exists only in secure contexts; getRandomValues() everywhere, and a
 * page opened over plain http from another machine still works (chat only, no camera there).
 */
export function randomId (bytes = 8): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('')
}

function ufragOf (description: RTCSessionDescription | null): string | undefined {
  return /a=ice-ufrag:(\S+)/.exec(description?.sdp ?? '')?.[1]
}

export class Call {
  readonly peer: PeerCall
  readonly pc: RTCPeerConnection
  readonly chat: RTCDataChannel
  /** Local candidate types gathered so far (host, srflx, prflx, relay). */
  readonly localCandidateTypes: string[] = []
  readonly candidateErrors: CandidateError[] = []
  /** How many times the ICE credentials changed after the first negotiation (ICE restarts). */
  iceRestarts = 0
  private ufrag: string | undefined
  private readonly sentAt = new Map<string, number>()
  private readonly options: CallOptions

  constructor (options: CallOptions) {
    this.options = options
    this.peer = new PeerCall(options.client, {
      room: options.room,
      peerId: options.peerId,
      polite: options.polite,
      iceServers: options.iceServers ?? false,
      // One transport for audio, video and data: one TURN allocation instead of three.
      configuration: { iceTransportPolicy: options.forceRelay ? 'relay' : 'all', bundlePolicy: 'max-bundle' }
    })
    const pc = this.peer.pc
    if (pc === undefined) throw new Error('PeerCall created without its connection')
    this.pc = pc
    // Negotiated with a fixed id on both sides, so it does not matter who makes the first offer.
    // Added on the connection itself: Chromium fires negotiationneeded, which PeerCall answers.
    this.chat = pc.createDataChannel('chat', { negotiated: true, id: 0 })
    this.chat.onmessage = (event) => this.onChatData(event.data)
    this.chat.onopen = () => options.onChange()
    this.chat.onclose = () => options.onChange()
    const stream = options.localStream
    if (stream !== undefined) for (const track of stream.getTracks()) pc.addTrack(track, stream)

    this.peer.on('track', ({ track, streams }) => options.onRemoteStream(streams[0] ?? new MediaStream([track])))
    this.peer.on('connectionstatechange', () => options.onChange())
    // What the page shows about candidates; PeerCall itself owns onicecandidate.
    pc.addEventListener('icecandidate', ({ candidate }) => {
      if (candidate !== null && candidate.type !== null) this.localCandidateTypes.push(candidate.type)
      options.onChange()
    })
    pc.addEventListener('icecandidateerror', (event) => {
      // 401 from TURN: the credentials are wrong or expired. No timeout needed to know the call will not connect.
      const e = event as RTCPeerConnectionIceErrorEvent
      this.candidateErrors.push({ errorCode: e.errorCode, errorText: e.errorText, url: e.url })
      options.onChange()
    })
    pc.addEventListener('iceconnectionstatechange', () => options.onChange())
    pc.addEventListener('icegatheringstatechange', () => options.onChange())
    pc.addEventListener('signalingstatechange', () => {
      this.noteUfrag()
      options.onChange()
    })
  }

  get connected (): boolean {
    return this.pc.connectionState === 'connected'
  }

  /** Gathering finished without a single candidate (e.g. relay only and TURN refused us): it cannot connect. */
  get noCandidates (): boolean {
    return this.pc.iceGatheringState === 'complete' && this.localCandidateTypes.length === 0
  }

  /** Counts ICE restarts: a new ice-ufrag in the local description once negotiation is done. */
  private noteUfrag (): void {
    if (this.pc.signalingState !== 'stable') return
    const ufrag = ufragOf(this.pc.localDescription)
    if (ufrag === undefined) return
    if (this.ufrag !== undefined && ufrag !== this.ufrag) this.iceRestarts++
    this.ufrag = ufrag
  }

  /** New ICE credentials and fresh candidates, negotiated by PeerCall (TURN credentials fetched anew first). */
  async restartIce (): Promise<void> {
    // What the page reports (candidates gathered, TURN errors) is about the new generation.
    this.localCandidateTypes.length = 0
    this.candidateErrors.length = 0
    await this.peer.refreshCredentials()
    await this.peer.restartIce()
  }

  sendChat (text: string): ChatEntry | undefined {
    const trimmed = text.trim().slice(0, MAX_CHAT_TEXT)
    if (trimmed === '' || this.chat.readyState !== 'open') return undefined
    const id = randomId()
    this.sentAt.set(id, performance.now())
    this.chat.send(JSON.stringify({ type: 'chat', id, text: trimmed } satisfies ChatWire))
    return { id, from: 'me', text: trimmed }
  }

  private onChatData (data: unknown): void {
    let wire: ChatWire
    try {
      wire = JSON.parse(String(data)) as ChatWire
    } catch {
      return
    }
    if (wire.type === 'chat' && typeof wire.text === 'string' && typeof wire.id === 'string') {
      this.chat.send(JSON.stringify({ type: 'ack', id: wire.id } satisfies ChatWire))
      this.options.onChat({ id: wire.id, from: 'them', text: wire.text.slice(0, MAX_CHAT_TEXT) })
    } else if (wire.type === 'ack' && typeof wire.id === 'string') {
      const sent = this.sentAt.get(wire.id)
      if (sent === undefined) return
      this.sentAt.delete(wire.id)
      this.options.onChat({ id: wire.id, from: 'me', text: '', roundTripMs: Math.round((performance.now() - sent) * 10) / 10 })
    }
  }

  async stats (): Promise<CallStats> {
    const entries = new Map<string, Record<string, unknown>>()
    ;(await this.pc.getStats()).forEach((entry: Record<string, unknown>) => { entries.set(String(entry.id), entry) })
    const out: CallStats = { videoFramesDecoded: 0, audioPacketsReceived: 0 }
    let pair: Record<string, unknown> | undefined
    for (const entry of entries.values()) {
      if (entry.type === 'transport' && typeof entry.selectedCandidatePairId === 'string') pair = entries.get(entry.selectedCandidatePairId)
      if (entry.type === 'inbound-rtp' && entry.kind === 'video') out.videoFramesDecoded += Number(entry.framesDecoded ?? 0)
      if (entry.type === 'inbound-rtp' && entry.kind === 'audio') out.audioPacketsReceived += Number(entry.packetsReceived ?? 0)
    }
    if (pair !== undefined) {
      const local = entries.get(String(pair.localCandidateId))
      const remote = entries.get(String(pair.remoteCandidateId))
      out.selected = { local: String(local?.candidateType ?? '?'), remote: String(remote?.candidateType ?? '?') }
      if (typeof local?.relayProtocol === 'string') out.selected.relayProtocol = local.relayProtocol
      if (typeof pair.currentRoundTripTime === 'number') out.selected.rttMs = Math.round(pair.currentRoundTripTime * 10000) / 10
    }
    return out
  }

  close (): void {
    this.chat.close()
    this.peer.close()
  }
}
