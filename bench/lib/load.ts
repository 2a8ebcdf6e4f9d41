import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { candidateTag, candidateTemplates, sdpTag, sdpTemplate, type CandidateInit } from './sdp.js'

/**
 * The signaling load generator. Pairs of peers in a room negotiate over and over: A sends an offer,
 * B answers and trickles its candidates, A trickles its own. The generator speaks to any server
 * through a SignalingDriver (Switchboard, the raw relay, Socket.IO), which owns the wire format; the
 * negotiation, the latency matching and the ack policy are the same for every server. Each peer may
 * connect to a different server URL (see Placement), which is what a cross-instance run needs.
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
  /** The other peer's user id (Socket.IO addresses peers by it). */
  partnerUserId: string
}

/** Which of the target's URLs a peer connects to. */
export type Placement = (pair: number, side: Side, urls: readonly string[]) => string

/** Both peers of a pair on the same instance; pairs spread round-robin over the instances. */
export const sameInstance: Placement = (pair, _side, urls) => urls[pair % urls.length] as string

/** The two peers of a pair on different instances (when there are several): every message crosses the registry. */
export const splitPair: Placement = (pair, side, urls) => urls[(pair + (side === 'a' ? 0 : 1)) % urls.length] as string

/** A server message that is not relayed signaling; its shape is the driver's business. */
export type ControlFrame = Record<string, unknown> & { type: string }

export type SignalKind = 'offer' | 'answer' | 'candidate'

/** A signaling message as the peer means it. `sdp` or `candidate.candidate` contains TAG once. */
export interface OutgoingSignal {
  type: SignalKind
  room: string
  /** The partner's address (what setPartner() was given). */
  to: string
  sdp?: string
  candidate?: CandidateInit
}

/** An OutgoingSignal turned into the driver's wire format once, then sent many times with different tags. */
export interface CompiledSignal {
  send (tag: number): void
  /** Size on the wire with a one-digit tag, bytes. */
  bytes: number
}

/** One peer's connection as a driver opened it. */
export interface PeerConnection {
  compile (message: OutgoingSignal): CompiledSignal
  /** A protocol message that is not signaling (join, ack). */
  sendControl (message: Record<string, unknown>): void
  readonly closed: boolean
  /** A clean goodbye (WebSocket 1000, Socket.IO disconnect); resolves once the connection is closed. */
  close (): Promise<void>
  terminate (): void
}

/** A relayed message as received: its kind and the payload carrying the tag. */
export interface ReceivedSignal { type: SignalKind, sdp?: unknown, candidate?: unknown, seq?: unknown }

/**
 * How one kind of server is spoken to. `open` creates the connection and reports to the peer what
 * arrives: peer.onSignal / peer.onControl / peer.onClosed / peer.onFailed.
 */
export interface SignalingDriver {
  readonly name: string
  /** Work before any socket opens (e.g. signing one token per peer); not part of the setup time. */
  prepare? (specs: readonly PeerSpec[]): Promise<void>
  open (spec: PeerSpec, peer: BenchPeer): PeerConnection
  /** Handles a control frame; calls peer.setPartner() once the other peer of the room is known. */
  control (peer: BenchPeer, frame: ControlFrame): void
  /** Optional: tells the server how far the peer has read (Switchboard's `ack`). */
  ack? (peer: BenchPeer): void
}

export interface LoadOptions {
  sdpBytes: number
  candidates: number
  /**
   * The ack policy of drivers that ack: after `ackEvery` received messages or `ackAfterMs` after the
   * first unacknowledged one, whichever comes first (the TypeScript client's default is 64 / 1000 ms).
   * 0 disables that trigger; both 0 never ack.
   */
  ackEvery: number
  ackAfterMs: number
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
  /** Close code (WebSocket) or disconnect reason (Socket.IO) -> count, for closes the bench did not ask for. */
  readonly unexpectedCloses = new Map<string, number>()
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
  readonly connection: PeerConnection
  /** The server's id for this peer, when it has one. */
  selfId = ''
  /** How messages address the other peer (its peerId for Switchboard, its user id for Socket.IO). */
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
  private unacked = 0
  private ackTimer: NodeJS.Timeout | undefined
  private offer: CompiledSignal | undefined
  private answer: CompiledSignal | undefined
  private candidates: CompiledSignal[] = []

  constructor (readonly spec: PeerSpec, readonly driver: SignalingDriver, readonly meter: Meter, private readonly options: LoadOptions) {
    this.ready = new Promise((resolve, reject) => { this.markReady = resolve; this.fail = reject })
    this.ready.catch(() => {}) // awaited by connectPairs; do not crash on an early failure
    this.connection = driver.open(spec, this)
  }

  /** The driver found the other peer of the room: build the frames and report ready. */
  setPartner (address: string): void {
    if (this.partnerAddress !== undefined) return
    this.partnerAddress = address
    const base = { room: this.spec.room, to: address }
    const c = this.connection
    this.offer = c.compile({ type: 'offer', ...base, sdp: sdpTemplate({ kind: 'offer', targetBytes: this.options.sdpBytes }) })
    this.answer = c.compile({ type: 'answer', ...base, sdp: sdpTemplate({ kind: 'answer', targetBytes: this.options.sdpBytes }) })
    this.candidates = candidateTemplates(this.options.candidates).map((candidate) => c.compile({ type: 'candidate', ...base, candidate }))
    this.markReady()
  }

  /** Sizes of the frames this peer sends, in bytes. */
  frameSizes (): { offer: number, candidate: number } {
    return { offer: this.offer?.bytes ?? 0, candidate: this.candidates[0]?.bytes ?? 0 }
  }

  sendSignal (kind: SignalKind, index: number): void {
    const compiled = kind === 'candidate' ? this.candidates[index] : kind === 'offer' ? this.offer : this.answer
    if (compiled === undefined) throw new Error(`${this.spec.userId} is not paired yet`)
    const tag = this.nextTag++
    this.pending.set(tag, performance.now())
    this.pair.inFlight++
    this.meter.inFlight++
    this.meter.sent++
    compiled.send(tag)
  }

  private sendCandidates (): void {
    for (let i = 0; i < this.candidates.length; i++) this.sendSignal('candidate', i)
  }

  /** Driver callback: a relayed signal arrived at `at` (performance.now() before parsing), `bytes` long. */
  onSignal (signal: ReceivedSignal, at: number, bytes: number): void {
    this.noteSeq(signal.seq)
    const tag = signal.type === 'candidate' ? candidateTag(signal.candidate) : sdpTag(signal.sdp)
    const meter = this.meter
    const sentAt = this.partner?.pending.get(tag)
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
    if (signal.type === 'offer') {
      this.sendSignal('answer', 0)
      this.sendCandidates()
    } else if (signal.type === 'answer') {
      this.sendCandidates()
    }
    if (this.pair.inFlight === 0) this.pair.onIdle(this.pair)
  }

  /** Driver callback: anything else the server sent. */
  onControl (frame: ControlFrame): void {
    this.noteSeq(frame.seq)
    if (frame.type === 'error') this.meter.countError(String(frame.code))
    else this.driver.control(this, frame)
  }

  /** Driver callback: the connection closed; `code` is the close code or disconnect reason. */
  onClosed (code: string): void {
    this.stopAckTimer()
    if (!this.closing) this.meter.unexpectedCloses.set(code, (this.meter.unexpectedCloses.get(code) ?? 0) + 1)
    this.fail(new Error(`${this.spec.userId}: connection closed (${code}) before the room was ready`))
  }

  /** Driver callback: the connection could not be opened, or broke. */
  onFailed (err: Error): void {
    this.meter.socketErrors++
    this.fail(err)
  }

  /** The ack policy: count every sequenced message, ack on the count or on the timer, whichever is first. */
  private noteSeq (seq: unknown): void {
    if (typeof seq !== 'number' || seq <= this.lastSeq) return
    this.lastSeq = seq
    if (this.driver.ack === undefined || this.closing) return
    this.unacked++
    if (this.options.ackEvery > 0 && this.unacked >= this.options.ackEvery) this.sendAck()
    else if (this.options.ackAfterMs > 0 && this.ackTimer === undefined) this.ackTimer = setTimeout(() => this.sendAck(), this.options.ackAfterMs)
  }

  private sendAck (): void {
    this.stopAckTimer()
    this.unacked = 0
    if (!this.connection.closed) this.driver.ack?.(this)
  }

  private stopAckTimer (): void {
    clearTimeout(this.ackTimer)
    this.ackTimer = undefined
  }

  /** Closes cleanly; the bench asked for it, so it is not an unexpected close. */
  async close (): Promise<void> {
    this.closing = true
    this.stopAckTimer()
    if (!this.connection.closed) await this.connection.close()
  }

  /** Messages sent to the partner and never received. */
  get lost (): number {
    return this.pending.size
  }
}

/** Peer specs for `pairs` rooms of two (numbered from `firstPair`), placed on the target's URLs. */
export function peerSpecs (pairs: number, urls: readonly string[], placement: Placement, prefix: string, firstPair = 0): PeerSpec[] {
  const specs: PeerSpec[] = []
  for (let pair = firstPair; pair < firstPair + pairs; pair++) {
    for (const side of ['a', 'b'] as const) {
      specs.push({
        index: specs.length,
        pair,
        side,
        userId: `${prefix}-${pair}-${side}`,
        room: `${prefix}-${pair}`,
        url: placement(pair, side, urls),
        partnerUserId: `${prefix}-${pair}-${side === 'a' ? 'b' : 'a'}`
      })
    }
  }
  return specs
}

/**
 * Connects every peer, at most `concurrency` handshakes in flight (a sliding window: one slow
 * handshake does not hold up the others), waits until each knows its partner, and links the pairs.
 * Call driver.prepare(specs) first. Fails, closing what opened, if anything is not ready within
 * `timeoutMs`.
 */
export async function connectPairs (driver: SignalingDriver, specs: readonly PeerSpec[], meter: Meter, options: LoadOptions,
  { concurrency = 50, timeoutMs = 60_000 } = {}): Promise<BenchPair[]> {
  const peers: BenchPeer[] = []
  try {
    await withTimeout(new Promise<void>((resolve, reject) => {
      let next = 0
      let done = 0
      let failed = false
      const startOne = (): void => {
        const spec = specs[next++]
        if (spec === undefined) return
        const peer = new BenchPeer(spec, driver, meter, options)
        peers.push(peer)
        peer.ready.then(() => {
          if (++done === specs.length) resolve()
          else if (!failed) startOne()
        }, (err: Error) => { failed = true; reject(err) })
      }
      if (specs.length === 0) resolve()
      for (let i = 0; i < Math.min(concurrency, specs.length); i++) startOne()
    }), timeoutMs, `${specs.length} peers to join their rooms`)
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

/** Closes every connection cleanly, and terminates those that do not close in time. */
export async function closePeers (peers: readonly BenchPeer[], timeoutMs = 5000): Promise<void> {
  const open = peers.filter((p) => !p.connection.closed)
  const timer = new AbortController() // so the timeout does not keep the process alive once all closed
  await Promise.race([Promise.all(open.map(async (p) => p.close())), sleep(timeoutMs, undefined, { signal: timer.signal }).catch(() => {})])
  timer.abort()
  for (const p of open) if (!p.connection.closed) p.connection.terminate()
}

export function peersOf (pairs: readonly BenchPair[]): BenchPeer[] {
  return pairs.flatMap((p) => [p.a, p.b])
}
