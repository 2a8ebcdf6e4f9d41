/**
 * One peer-to-peer call: the RTCPeerConnection, its chat data channel and what the page shows about
 * it. Signaling goes out through `signal` and comes back through `receive`; how it travels (the
 * Switchboard client) is the page's business. Negotiation is the W3C "perfect negotiation" pattern,
 * so either side may (re)negotiate at any time (an ICE restart after a resume, say) without glare.
 */

export type SignalOut =
  | { kind: 'description', description: RTCSessionDescriptionInit }
  | { kind: 'candidate', candidate: RTCIceCandidateInit | null }

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
  iceServers: RTCIceServer[]
  /** iceTransportPolicy 'relay': only TURN-relayed candidates. */
  forceRelay: boolean
  /** The polite side yields when both offer at once (it rolls its own offer back). */
  polite: boolean
  localStream: MediaStream | undefined
  signal (message: SignalOut): void
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
  readonly pc: RTCPeerConnection
  readonly chat: RTCDataChannel
  polite: boolean
  /** Local candidate types gathered so far (host, srflx, prflx, relay). */
  readonly localCandidateTypes: string[] = []
  readonly candidateErrors: CandidateError[] = []
  /** How many times the ICE credentials changed after the first negotiation (ICE restarts). */
  iceRestarts = 0
  private makingOffer = false
  private ignoreOffer = false
  private ufrag: string | undefined
  private readonly sentAt = new Map<string, number>()
  private readonly options: CallOptions

  constructor (options: CallOptions) {
    this.options = options
    this.polite = options.polite
    const pc = new RTCPeerConnection({
      iceServers: options.iceServers,
      iceTransportPolicy: options.forceRelay ? 'relay' : 'all',
      // One transport for audio, video and data: one TURN allocation instead of three.
      bundlePolicy: 'max-bundle'
    })
    this.pc = pc
    // Negotiated with a fixed id on both sides, so it does not matter who makes the first offer.
    this.chat = pc.createDataChannel('chat', { negotiated: true, id: 0 })
    this.chat.onmessage = (event) => this.onChatData(event.data)
    this.chat.onopen = () => options.onChange()
    this.chat.onclose = () => options.onChange()
    const stream = options.localStream
    if (stream !== undefined) for (const track of stream.getTracks()) pc.addTrack(track, stream)

    pc.onnegotiationneeded = async () => {
      // Fired again after a rollback or while an answer is pending: only offer from a stable state.
      if (pc.signalingState !== 'stable') return
      try {
        this.makingOffer = true
        await pc.setLocalDescription()
        if (pc.localDescription !== null) this.send({ kind: 'description', description: pc.localDescription.toJSON() as RTCSessionDescriptionInit })
      } catch (err) {
        console.warn('negotiation failed', err)
      } finally {
        this.makingOffer = false
      }
    }
    pc.onicecandidate = ({ candidate }) => {
      if (candidate !== null && candidate.type !== null) this.localCandidateTypes.push(candidate.type)
      // null = this generation's gathering is complete (end-of-candidates).
      this.send({ kind: 'candidate', candidate: candidate === null ? null : candidate.toJSON() })
      options.onChange()
    }
    pc.onicecandidateerror = (event) => {
      // 401 from TURN: the credentials are wrong or expired. No timeout needed to know the call will not connect.
      const e = event as RTCPeerConnectionIceErrorEvent
      this.candidateErrors.push({ errorCode: e.errorCode, errorText: e.errorText, url: e.url })
      options.onChange()
    }
    pc.ontrack = ({ track, streams }) => {
      options.onRemoteStream(streams[0] ?? new MediaStream([track]))
    }
    pc.onconnectionstatechange = () => options.onChange()
    pc.oniceconnectionstatechange = () => options.onChange()
    pc.onicegatheringstatechange = () => options.onChange()
    pc.onsignalingstatechange = () => {
      this.noteUfrag()
      options.onChange()
    }
  }

  get connected (): boolean {
    return this.pc.connectionState === 'connected'
  }

  /** Gathering finished without a single candidate (e.g. relay only and TURN refused us): it cannot connect. */
  get noCandidates (): boolean {
    return this.pc.iceGatheringState === 'complete' && this.localCandidateTypes.length === 0
  }

  private send (message: SignalOut): void {
    this.options.signal(message)
  }

  /** Counts ICE restarts: a new ice-ufrag in the local description once negotiation is done. */
  private noteUfrag (): void {
    if (this.pc.signalingState !== 'stable') return
    const ufrag = ufragOf(this.pc.localDescription)
    if (ufrag === undefined) return
    if (this.ufrag !== undefined && ufrag !== this.ufrag) this.iceRestarts++
    this.ufrag = ufrag
  }

  /** An offer, answer or candidate from the other side. */
  async receive (message: SignalOut): Promise<void> {
    const pc = this.pc
    if (message.kind === 'description') {
      const { description } = message
      const collision = description.type === 'offer' && (this.makingOffer || pc.signalingState !== 'stable')
      this.ignoreOffer = !this.polite && collision
      if (this.ignoreOffer) return
      // For the polite side, setRemoteDescription(offer) rolls its own pending offer back.
      await pc.setRemoteDescription(description)
      if (description.type === 'offer') {
        await pc.setLocalDescription()
        if (pc.localDescription !== null) this.send({ kind: 'description', description: pc.localDescription.toJSON() as RTCSessionDescriptionInit })
      }
      return
    }
    try {
      await pc.addIceCandidate(message.candidate ?? undefined)
    } catch (err) {
      // Candidates of an offer we ignored cannot be added; anything else is worth a console line.
      if (!this.ignoreOffer) console.warn('could not add ICE candidate', err)
    }
  }

  /**
   * New ICE credentials and fresh candidates, negotiated as a new offer. With `iceServers` the TURN
   * credentials are replaced first (they may have expired during a long call).
   */
  restartIce (iceServers?: RTCIceServer[]): void {
    if (iceServers !== undefined) this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers })
    // What the page reports (candidates gathered, TURN errors) is about the new generation.
    this.localCandidateTypes.length = 0
    this.candidateErrors.length = 0
    this.pc.restartIce()
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
    this.pc.close()
  }
}
