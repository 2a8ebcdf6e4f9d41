/**
 * The page side of test/client/peer-call-browser.test.ts: a SwitchboardClient and one PeerCall in a
 * Chromium page, driven through `window.harness` (bundled with the client by esbuild, see
 * servePeerCallPage in peer-call-browser.ts). Data channels echo `ping <id>` as `pong <id>`.
 * What it records has no SDP, candidates or credentials in it: only counts, states and types.
 */
import { PeerCall, SwitchboardClient, type IceRestartOptions } from '../../client/index.js'

export interface StartOptions {
  url: string
  token: string
  room: string
  relay?: boolean
  /** PeerCall refreshLeadMs: large values make the credential refresh come at once (1 s floor). */
  refreshLeadMs?: number
  iceRestart?: Partial<IceRestartOptions>
}

export interface HarnessInfo {
  peerId?: string
  polite?: boolean
  connection: string
  signaling: string
  openChannels: string[]
  offersReceived: number
  answersReceived: number
  /** Offers that arrived while this side had its own offer out (glare). */
  collisions: number
  iceRestarts: number
  credentialRefreshes: number
  /** The TURN username the connection uses now (expiry:user; not a secret, unlike the credential). */
  turnUsername?: string
  selectedLocal?: string
  connectionStates: string[]
  resumed: number
  errors: string[]
  /** PeerCall's `icerestart` events. */
  restarts: Array<{ attempt: number, delayMs: number, reason: string }>
  closeReason?: string
}

class Harness {
  client: SwitchboardClient | undefined
  call: PeerCall | undefined
  readonly channels: RTCDataChannel[] = []
  private readonly waiting = new Map<string, () => void>()
  private held: Array<() => void> | undefined
  readonly info: HarnessInfo = {
    connection: 'none', signaling: 'none', openChannels: [], offersReceived: 0, answersReceived: 0, collisions: 0,
    iceRestarts: 0, credentialRefreshes: 0, connectionStates: [], resumed: 0, errors: [], restarts: []
  }

  async start (o: StartOptions): Promise<void> {
    const client = new SwitchboardClient({ url: o.url, token: o.token, reconnect: { initialDelayMs: 50, maxDelayMs: 500, jitter: 0 } })
    this.client = client
    // Offers can be held back (holdOffers) to make two offers cross for sure, as network latency would.
    const sendOffer = client.sendOffer.bind(client)
    client.sendOffer = (...args) => {
      if (this.held === undefined) return sendOffer(...args)
      this.held.push(() => sendOffer(...args))
      return 'held'
    }
    await client.connect()
    client.on('resumed', () => { this.info.resumed++ })
    // Registered before PeerCall's own listener: sees the state the offer finds.
    client.on('offer', (m) => {
      if (m.room !== o.room) return
      this.info.offersReceived++
      if (this.call?.pc?.signalingState === 'have-local-offer') this.info.collisions++
    })
    client.on('answer', (m) => { if (m.room === o.room) this.info.answersReceived++ })
    const joined = await client.join(o.room)
    const peer = joined.peers[0] ?? (await client.waitFor('peer-joined', { filter: (m) => m.room === o.room, timeoutMs: 10_000 })).peer
    const call = new PeerCall(client, {
      room: o.room,
      peerId: peer.peerId,
      configuration: { iceTransportPolicy: o.relay === true ? 'relay' : 'all', bundlePolicy: 'max-bundle' },
      ...(o.refreshLeadMs !== undefined && { refreshLeadMs: o.refreshLeadMs }),
      ...(o.iceRestart !== undefined && { iceRestart: o.iceRestart })
    })
    this.call = call
    call.on('datachannel', ({ channel }) => this.adopt(channel))
    call.on('connectionstatechange', ({ state }) => this.info.connectionStates.push(state))
    call.on('iceservers', () => { this.info.credentialRefreshes++ })
    call.on('error', ({ error }) => this.info.errors.push(error.code))
    call.on('icerestart', (r) => this.info.restarts.push(r))
    call.on('close', ({ reason }) => { this.info.closeReason = reason })
    await call.ready
  }

  private adopt (channel: RTCDataChannel): void {
    this.channels.push(channel)
    channel.onmessage = ({ data }) => {
      const text = String(data)
      if (text.startsWith('ping ')) channel.send(`pong ${text.slice(5)}`)
      else if (text.startsWith('pong ')) this.waiting.get(text.slice(5))?.()
    }
  }

  async openChannel (label: string): Promise<void> {
    if (this.call === undefined) throw new Error('start() first')
    this.adopt(await this.call.createDataChannel(label))
  }

  /** A ping/pong over the first open channel; resolves with the round trip in ms. */
  async roundTrip (timeoutMs = 5000): Promise<number> {
    const channel = this.channels.find((c) => c.readyState === 'open')
    if (channel === undefined) throw new Error('no open data channel')
    const id = Math.random().toString(36).slice(2)
    const started = performance.now()
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no pong within ${timeoutMs} ms`)), timeoutMs)
      this.waiting.set(id, () => { clearTimeout(timer); this.waiting.delete(id); resolve() })
      channel.send(`ping ${id}`)
    })
    return performance.now() - started
  }

  holdOffers (): void {
    this.held = []
  }

  releaseOffers (): void {
    const held = this.held ?? []
    this.held = undefined
    for (const send of held) send()
  }

  async restartIce (): Promise<void> {
    await this.call?.restartIce()
  }

  async snapshot (): Promise<HarnessInfo> {
    const pc = this.call?.pc
    const info = this.info
    info.peerId = this.client?.peerId
    info.polite = this.call?.polite
    info.connection = pc?.connectionState ?? 'none'
    info.signaling = pc?.signalingState ?? 'none'
    info.openChannels = this.channels.filter((c) => c.readyState === 'open').map((c) => c.label).sort()
    info.iceRestarts = this.call?.iceRestarts ?? 0
    const turn = pc?.getConfiguration().iceServers?.find((s) => [s.urls].flat().some((u) => u.startsWith('turn:')))
    info.turnUsername = turn?.username
    if (pc !== undefined) {
      const stats = new Map<string, Record<string, unknown>>()
      ;(await pc.getStats()).forEach((entry: Record<string, unknown>) => { stats.set(String(entry.id), entry) })
      for (const entry of stats.values()) {
        if (entry.type !== 'transport' || typeof entry.selectedCandidatePairId !== 'string') continue
        const pair = stats.get(entry.selectedCandidatePairId)
        const local = stats.get(String(pair?.localCandidateId))
        if (typeof local?.candidateType === 'string') info.selectedLocal = local.candidateType
      }
    }
    return structuredClone(info)
  }
}

declare global {
  interface Window { harness: Harness }
}
window.harness = new Harness()
