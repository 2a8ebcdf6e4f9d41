import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'
import { TAG, candidateTag, candidateTemplates, sdpTag, sdpTemplate } from './sdp.js'

/**
 * The signaling load generator. Pairs of peers in a room negotiate over and over: A sends an offer,
 * B answers and trickles its candidates, A trickles its own. The generator speaks to any server
 * through a SignalingDriver (Switchboard, the raw relay baseline), and each peer may connect to a
 * different server URL (see Placement), which is what a cross-instance run needs.
 */

export type Side = 'a' | 'b'

export interface PeerSpec {
  /** 0-based, unique in the run. */
  index: number
  pair: number
  side: Side
  userId: string
  room: string
  /** http(s) base URL of the instance this peer connects to. */
  url: string
}

/** Which of the target's URLs a peer connects to. */
export type Placement = (pair: number, side: Side, urls: readonly string[]) => string

/** Both peers of a pair on the same instance; pairs spread round-robin over the instances. */
export const sameInstance: Placement = (pair, _side, urls) => urls[pair % urls.length] as string

/** The two peers of a pair on different instances (when there are several): every message crosses the registry. */
export const splitPair: Placement = (pair, side, urls) => urls[(pair + (side === 'a' ? 0 : 1)) % urls.length] as string

/** A server message that is not relayed signaling; its shape is the driver's business. */
export type ControlFrame = Record<string, unknown> & { type: string }

/** How one kind of server is spoken to: the connection, getting into the room, the peer's address. */
export interface SignalingDriver {
  readonly name: string
  /** Work before any socket opens (e.g. signing one token per peer). */
  prepare? (specs: readonly PeerSpec[]): Promise<void>
  open (spec: PeerSpec): WebSocket
  /** Handles a control frame; calls peer.setPartner() once the other peer of the room is known. */
  control (peer: BenchPeer, frame: ControlFrame): void
  /** Optional: tells the server how far the peer has read (Switchboard's `ack`). */
  ack? (peer: BenchPeer): void
}

export interface LoadOptions {
  sdpBytes: number
  candidates: number
  /** Send the driver's ack after this many relayed messages received; 0 never. */
  ackEvery: number
}

interface Template { head: string, tail: string }

function template (frame: Record<string, unknown>): Template {
  const [head, tail, extra] = JSON.stringify(frame).split(TAG)
  if (head === undefined || tail === undefined || extra !== undefined) throw new Error('a template needs exactly one tag')
  return { head, tail }
}

/** Counters of one target: per-phase numbers (reset by startPhase) and run-long health counters. */
export class Meter {
  sent = 0
  received = 0
  /** Relayed messages received while the measurement window was open, and their bytes. */
  inWindow = 0
  bytesInWindow = 0
  windowOpen = false
  /** Messages sent and not yet received. */
  inFlight = 0
  /** Received messages whose tag matched nothing sent (duplicates or corruption). */
  unmatched = 0
  latency: RecordableHistogram = createHistogram()
  readonly errors = new Map<string, number>()
  readonly unexpectedCloses = new Map<number, number>()
  socketErrors = 0

  startPhase (): void {
    this.sent = 0
    this.received = 0
    this.inWindow = 0
    this.bytesInWindow = 0
    this.unmatched = 0
    this.latency = createHistogram()
  }

  countError (code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1)
  }
}

export class BenchPair {
  inFlight = 0
  rounds = 0
  onIdle: (pair: BenchPair) => void = () => {}
  constructor (readonly a: BenchPeer, readonly b: BenchPeer) {}

  startRound (): void {
    this.rounds++
    this.a.sendSignal('offer', 0)
  }
}

export class BenchPeer {
  readonly socket: WebSocket
  /** The server's id for this peer, when it has one. */
  selfId = ''
  /** How messages address the other peer (its peerId for Switchboard). */
  partnerAddress: string | undefined
  partner!: BenchPeer
  pair!: BenchPair
  /** Highest `seq` seen, for drivers that ack. */
  lastSeq = 0
  closing = false
  readonly ready: Promise<void>
  private markReady!: () => void
  private fail!: (err: Error) => void
  /** Tag → send time of messages in flight to the partner. */
  private readonly pending = new Map<number, number>()
  private nextTag = 1
  private sinceAck = 0
  private offer: Template | undefined
  private answer: Template | undefined
  private candidates: Template[] = []

  constructor (readonly spec: PeerSpec, readonly driver: SignalingDriver, readonly meter: Meter, private readonly options: LoadOptions) {
    this.ready = new Promise((resolve, reject) => { this.markReady = resolve; this.fail = reject })
    this.ready.catch(() => {}) // awaited by connectPeers; do not crash on an early failure
    this.socket = driver.open(spec)
    this.socket.on('message', (data: Buffer) => this.onMessage(data))
    this.socket.on('unexpected-response', (_req, res) => {
      this.fail(new Error(`${spec.userId}: upgrade refused with HTTP ${res.statusCode}`))
      this.socket.terminate()
    })
    this.socket.on('error', (err) => {
      this.meter.socketErrors++
      this.fail(err)
    })
    this.socket.on('close', (code) => {
      if (!this.closing) this.meter.unexpectedCloses.set(code, (this.meter.unexpectedCloses.get(code) ?? 0) + 1)
      this.fail(new Error(`${spec.userId}: socket closed (${code}) before the room was ready`))
    })
  }

  sendJson (message: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message))
  }

  /** The driver found the other peer of the room: build the frames and report ready. */
  setPartner (address: string): void {
    if (this.partnerAddress !== undefined) return
    this.partnerAddress = address
    const { room } = this.spec
    const base = { room, to: address }
    this.offer = template({ type: 'offer', ...base, sdp: sdpTemplate({ kind: 'offer', targetBytes: this.options.sdpBytes }) })
    this.answer = template({ type: 'answer', ...base, sdp: sdpTemplate({ kind: 'answer', targetBytes: this.options.sdpBytes }) })
    this.candidates = candidateTemplates(this.options.candidates).map((candidate) => template({ type: 'candidate', ...base, candidate }))
    this.markReady()
  }

  /** Sizes of the frames this peer sends, in bytes. */
  frameSizes (): { offer: number, candidate: number } {
    const size = (t: Template | undefined): number => t === undefined ? 0 : Buffer.byteLength(t.head + '1' + t.tail)
    return { offer: size(this.offer), candidate: size(this.candidates[0]) }
  }

  sendSignal (kind: 'offer' | 'answer' | 'candidate', index: number): void {
    const t = kind === 'candidate' ? this.candidates[index] : kind === 'offer' ? this.offer : this.answer
    if (t === undefined) throw new Error(`${this.spec.userId} is not paired yet`)
    const tag = this.nextTag++
    this.pending.set(tag, performance.now())
    this.pair.inFlight++
    this.meter.inFlight++
    this.meter.sent++
    this.socket.send(t.head + tag + t.tail)
  }

  private sendCandidates (): void {
    for (let i = 0; i < this.candidates.length; i++) this.sendSignal('candidate', i)
  }

  private onMessage (data: Buffer): void {
    const at = performance.now()
    let frame: ControlFrame
    try {
      frame = JSON.parse(data.toString('utf8')) as ControlFrame
    } catch {
      this.meter.countError('bench: unparsable frame')
      return
    }
    if (typeof frame.seq === 'number' && frame.seq > this.lastSeq) this.lastSeq = frame.seq
    switch (frame.type) {
      case 'offer':
      case 'answer':
        this.onSignal(frame.type, sdpTag(frame.sdp), at, data.length)
        return
      case 'candidate':
        this.onSignal('candidate', candidateTag(frame.candidate), at, data.length)
        return
      case 'error':
        this.meter.countError(String(frame.code))
        return
      default:
        this.driver.control(this, frame)
    }
  }

  private onSignal (kind: 'offer' | 'answer' | 'candidate', tag: number, at: number, bytes: number): void {
    const meter = this.meter
    const sentAt = this.partner.pending.get(tag)
    if (sentAt === undefined) {
      meter.unmatched++
      return
    }
    this.partner.pending.delete(tag)
    meter.latency.record(Math.max(1, Math.round((at - sentAt) * 1000))) // µs
    meter.received++
    meter.inFlight--
    this.pair.inFlight--
    if (meter.windowOpen) {
      meter.inWindow++
      meter.bytesInWindow += bytes
    }
    // The negotiation: answer and trickle on an offer, trickle on an answer.
    if (kind === 'offer') {
      this.sendSignal('answer', 0)
      this.sendCandidates()
    } else if (kind === 'answer') {
      this.sendCandidates()
    }
    if (this.driver.ack && this.options.ackEvery > 0 && ++this.sinceAck >= this.options.ackEvery) {
      this.sinceAck = 0
      this.driver.ack(this)
    }
    if (this.pair.inFlight === 0) this.pair.onIdle(this.pair)
  }

  /** Messages sent to the partner and never received. */
  get lost (): number {
    return this.pending.size
  }
}

/** Peer specs for `pairs` rooms of two, placed on the target's URLs. */
export function peerSpecs (pairs: number, urls: readonly string[], placement: Placement, prefix: string): PeerSpec[] {
  const specs: PeerSpec[] = []
  for (let pair = 0; pair < pairs; pair++) {
    for (const side of ['a', 'b'] as const) {
      specs.push({
        index: specs.length,
        pair,
        side,
        userId: `${prefix}-${pair}-${side}`,
        room: `${prefix}-${pair}`,
        url: placement(pair, side, urls)
      })
    }
  }
  return specs
}

/**
 * Connects every peer (at most `concurrency` handshakes at once), waits until each knows its partner,
 * and links the pairs. Fails, closing what opened, if anything is not ready within `timeoutMs`.
 */
export async function connectPairs (driver: SignalingDriver, specs: readonly PeerSpec[], meter: Meter, options: LoadOptions,
  { concurrency = 50, timeoutMs = 20_000 } = {}): Promise<BenchPair[]> {
  await driver.prepare?.(specs)
  const peers: BenchPeer[] = []
  const deadline = Date.now() + timeoutMs
  try {
    for (let i = 0; i < specs.length; i += concurrency) {
      const batch = specs.slice(i, i + concurrency).map((spec) => new BenchPeer(spec, driver, meter, options))
      peers.push(...batch)
      await withTimeout(Promise.all(batch.map((p) => p.ready)), deadline - Date.now(), 'peers to join their rooms')
    }
  } catch (err) {
    await closePeers(peers)
    throw err
  }
  const pairs: BenchPair[] = []
  for (let i = 0; i + 1 < peers.length; i += 2) {
    const a = peers[i] as BenchPeer
    const b = peers[i + 1] as BenchPeer
    if (a.spec.pair !== b.spec.pair || a.spec.side !== 'a') throw new Error('peer specs must come in a/b order')
    a.partner = b
    b.partner = a
    const pair = new BenchPair(a, b)
    a.pair = pair
    b.pair = pair
    pairs.push(pair)
  }
  return pairs
}

async function withTimeout<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after waiting for ${what}`)), Math.max(0, ms))
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Closes every socket with 1000 (a clean goodbye), and terminates those that do not close in time. */
export async function closePeers (peers: readonly BenchPeer[], timeoutMs = 3000): Promise<void> {
  const open = peers.filter((p) => p.socket.readyState !== WebSocket.CLOSED)
  const closed = open.map((p) => new Promise<void>((resolve) => {
    p.closing = true
    p.socket.once('close', () => resolve())
    if (p.socket.readyState === WebSocket.CONNECTING) p.socket.terminate()
    else p.socket.close(1000)
  }))
  await Promise.race([Promise.all(closed), sleep(timeoutMs)])
  for (const p of open) if (p.socket.readyState !== WebSocket.CLOSED) p.socket.terminate()
}

export function peersOf (pairs: readonly BenchPair[]): BenchPeer[] {
  return pairs.flatMap((p) => [p.a, p.b])
}
