import fc from 'fast-check'
import type { Config } from '../../src/config.js'
import { SignalCode } from '../../plugins/signaling/errors.js'
import { CloseCode, REPLAYED_TYPES } from '../../plugins/signaling/messages.js'
import { signTestToken } from '../helpers/tokens.js'
import { batchArb, frames, type Action, type Ref, type Resolver, type TokenKind, type WorldShape } from './frames.js'
import { startTarget, type FuzzTarget } from './instance.js'
import { FuzzPeer, type PeerHost } from './peer.js'

/**
 * The protocol fuzzer: fast-check generates batches of valid, mutated and hostile frames for every
 * client message type; fuzz peers send them, pipelined, to one real instance (its own process) in
 * which other peers sit in several rooms. After every batch it checks the properties:
 *
 * - no crash, no hang: the process is alive, /health/ready answers 200, every peer gets a pong;
 * - only documented error codes (SignalCode, the one list in the code) and close codes (CloseCode),
 *   and a close only after a frame that may cause it (too big, invalid UTF-8, a flood);
 * - no delivery outside the sender's room: every room message a peer receives is for a room its own
 *   stream says it is in, from a peer whose token grants that room, and (unique markers in the
 *   payload) exactly the room, type and recipient the sender named; seq has no gaps;
 * - bounded memory: heap after a forced GC stays within a budget of the start; no prototype polluted.
 */

export interface FuzzOptions {
  /** Stop once this many frames have been sent. */
  frames: number
  seed: number
  /** Templates per fast-check run (one run = one batch, checked as a whole). */
  batchSize?: number
  /** Probe the heap every this many batches (and at the start and end). */
  probeEvery?: number
  /** Heap + external memory after GC may exceed the first probe by at most this much. */
  heapBudgetBytes?: number
  /** Instance settings on top of the fuzz defaults (the same as the target's, when one is given). */
  config?: Partial<Config>
  /** An instance from startFuzzTarget(), left running afterwards; by default one is started and stopped. */
  target?: FuzzTarget
  /** Progress lines (long runs). */
  progress?: (line: string) => void
}

export interface FuzzSummary {
  seed: number
  frames: number
  skipped: number
  batches: number
  framesByKind: Record<string, number>
  /** `error` codes received, plus pong and delivered relays. */
  outcomes: Record<string, number>
  closes: Record<string, number>
  freshSessions: Record<string, number>
  heap: { first: number, peak: number, last: number, peakRss: number }
  durationMs: number
}

export interface FuzzResult { summary: FuzzSummary, failure?: string }

/**
 * The instance's settings. The rate limit is raised so that batches are not refused wholesale
 * (floods still cross it: they are sized around the burst); messages are smaller than the default
 * so that frames around the size limits stay cheap; capacity 3 so rooms fill up.
 */
export const FUZZ_CONFIG: Partial<Config> = {
  ROOM_CAPACITY: 3,
  MAX_ROOMS_PER_PEER: 4,
  WS_MAX_MESSAGE_BYTES: 16_384,
  WS_MESSAGES_PER_SECOND: 20_000,
  WS_MESSAGE_BURST: 64,
  RESUME_BUFFER_BYTES: 262_144,
  LOG_LEVEL: 'silent'
}

/**
 * 32 MB: what the instance legitimately accumulates is bounded well below that (replay buffers: 12
 * sessions × 256 KB; the last 10,000 ended sessions' tokens; metrics series), so a leak of a few dozen
 * bytes per frame breaks it within a million frames, and one of the frame itself within a few thousand.
 */
const HEAP_BUDGET = 32 * 1024 * 1024

const DOCUMENTED_ERRORS: ReadonlySet<string> = new Set(Object.values(SignalCode))
const DOCUMENTED_CLOSES: ReadonlySet<number> = new Set(Object.values(CloseCode))
const ROOM_TRAFFIC = new Set(['offer', 'answer', 'candidate', 'message'])
const MARKER = /~fz(\d+)~/

/** Rooms of the world: the fuzz peers' own, a prefix-granted pair, one full room and one open room of observers. */
const FUZZ_ROOMS = ['fz-0', 'fz-1', 'fz-2', 'fz-3', 'fz-shared', 'fz-p/a', 'fz-p/b']
const OBSERVED_FULL = 'obs-full'
const OBSERVED_OPEN = 'obs-open'
const ROOMS = [...FUZZ_ROOMS, OBSERVED_FULL, OBSERVED_OPEN]
const ACTORS = 8
/** The last two fuzz peers have tokens without a `rooms` claim: they may join any room, the observers' open one too. */
const UNRESTRICTED_FROM = 6

interface MarkerInfo { actor: number, type: string, room: string, to: string | undefined, batch: number, receivers: number[] }

function grantsOf (index: number): string[] | undefined {
  if (index >= UNRESTRICTED_FROM) return undefined
  return [`fz-${index % 4}`, `fz-${(index + 1) % 4}`, 'fz-shared', 'fz-p/*']
}

/** The oracle's own reading of a `rooms` claim: exact names and `prefix/*`. */
function grantChecker (rooms: string[] | undefined): (room: string) => boolean {
  if (rooms === undefined) return () => true
  return (room) => rooms.some((g) => g.endsWith('*') ? room.startsWith(g.slice(0, -1)) : g === room)
}

const count = (map: Record<string, number>, key: string | number, n = 1): void => { map[key] = (map[key] ?? 0) + n }

class World implements PeerHost, Resolver {
  readonly actors: FuzzPeer[] = []
  readonly observers: FuzzPeer[] = []
  readonly peers: FuzzPeer[] = []
  private readonly owner = new Map<string, FuzzPeer>()
  private readonly markers = new Map<number, MarkerInfo>()
  private nextMarker = 0
  private oldestMarker = 0
  private violations: string[] = []
  /** The actor whose frames are being rendered, and whether its markers are checked exactly. */
  private current = 0
  private exact = true
  private readonly tokens = new Map<string, string>()
  batch = 0
  readonly summary: FuzzSummary

  /**
   * `relaysMayPrecedeJoined`: a relay may reach a peer in a room just before its `joined` for it, while
   * its join is under way. With the Redis registry the join and the `joined` delivery are two round
   * trips (docs/redis.md, notices about a room).
   */
  constructor (readonly target: FuzzTarget, readonly maxBytes: number, seed: number, private readonly relaysMayPrecedeJoined = false) {
    this.summary = {
      seed,
      frames: 0,
      skipped: 0,
      batches: 0,
      framesByKind: {},
      outcomes: {},
      closes: {},
      freshSessions: {},
      heap: { first: 0, peak: 0, last: 0, peakRss: 0 },
      durationMs: 0
    }
  }

  get base (): string { return this.target.base }

  async setUp (): Promise<void> {
    for (let i = 0; i < ACTORS; i++) {
      const name = `fz-user-${i}`
      const rooms = grantsOf(i)
      const token = await signTestToken({ sub: name, ...(rooms && { rooms }) }, { expiresIn: '12h' })
      this.tokens.set(`${i}:own`, token)
      this.tokens.set(`${i}:other-user`, await signTestToken({ sub: `${name}-other` }, { expiresIn: '12h' }))
      this.tokens.set(`${i}:expired`, await signTestToken({ sub: name }, { expiresIn: '-10m' }))
      this.tokens.set(`${i}:wrong-secret`, await signTestToken({ sub: name }, { secret: 'not-the-secret-of-this-instance-0123456789' }))
      this.actors.push(new FuzzPeer(i, name, token, grantChecker(rooms), this))
    }
    const observerRooms = [OBSERVED_FULL, OBSERVED_FULL, OBSERVED_FULL, OBSERVED_OPEN]
    for (const [i, room] of observerRooms.entries()) {
      const token = await signTestToken({ sub: `observer-${i}`, rooms: [room] }, { expiresIn: '12h' })
      this.observers.push(new FuzzPeer(ACTORS + i, `observer-${i}`, token, grantChecker([room]), this))
    }
    this.peers.push(...this.actors, ...this.observers)
    for (const peer of this.peers) {
      await peer.connect()
      this.owner.set(peer.peerId, peer)
    }
    // Everyone starts in its rooms, so that relays have someone to reach from the first batch on.
    for (const [i, peer] of this.observers.entries()) peer.socket?.send(JSON.stringify({ type: 'join', room: observerRooms[i] }))
    for (const peer of this.actors) {
      for (const room of grantsOf(peer.index)?.slice(0, 2) ?? ['fz-shared']) peer.socket?.send(JSON.stringify({ type: 'join', room }))
    }
    await this.settle()
    const violations = this.takeViolations()
    if (violations.length > 0) throw new Error(`fuzz world: setting up broke a property:\n${violations.join('\n')}`)
    if (this.observers.some((o) => o.rooms.size !== 1)) throw new Error('fuzz world: an observer did not get into its room')
  }

  shape (burst: number): WorldShape {
    return { actors: this.actors.length, rooms: ROOMS.length, peers: this.peers.length, burst }
  }

  // ---- Resolver: templates name rooms, peers and tokens by index -------------------------------

  room (ref: Ref): string {
    if ('literal' in ref) return ref.literal
    if ('home' in ref) {
      // The rooms the actor is in, else those it may join.
      const actor = this.actors[this.current] as FuzzPeer
      const rooms = actor.rooms.size > 0 ? [...actor.rooms] : grantsOf(actor.index)?.filter((g) => !g.endsWith('*')) ?? FUZZ_ROOMS
      return rooms[ref.home % rooms.length] as string
    }
    return ROOMS[('ref' in ref ? ref.ref : ref.mate) % ROOMS.length] as string
  }

  peer (ref: Ref, room: string | undefined): string {
    if ('literal' in ref) return ref.literal
    if ('mate' in ref) {
      // Someone else in the room named (as that peer's own stream says), else anyone.
      const mates = this.peers.filter((p) => p.index !== this.current && room !== undefined && p.rooms.has(room))
      if (mates.length > 0) return (mates[ref.mate % mates.length] as FuzzPeer).peerId
    }
    return (this.peers[('ref' in ref ? ref.ref : 'mate' in ref ? ref.mate : ref.home) % this.peers.length] as FuzzPeer).peerId
  }

  token (kind: TokenKind): string {
    return kind === 'garbage' ? 'not.a.jwt' : this.tokens.get(`${this.current}:${kind}`) as string
  }

  mark (type: string, room: string, to: string | undefined): string {
    // A mutated frame may lose or change any field, its marker too: it gets none, and what it
    // delivers is checked by membership and grants only.
    if (!this.exact) return ''
    const n = this.nextMarker++
    this.markers.set(n, { actor: this.current, type, room, to, batch: this.batch, receivers: [] })
    return `~fz${n}~`
  }

  // ---- PeerHost: what peers receive -------------------------------------------------------------

  violation (text: string): void {
    if (this.violations.length < 50) this.violations.push(`batch ${this.batch}: ${text}`)
  }

  received (peer: FuzzPeer, text: string): void {
    let msg: Record<string, unknown> & { type: string, seq: number }
    try {
      msg = JSON.parse(text) as typeof msg
    } catch {
      this.violation(`${peer.name} received a frame that is not JSON: ${text.slice(0, 80)}`)
      return
    }
    const { type, seq } = msg
    if (REPLAYED_TYPES.has(type as never)) {
      if (seq !== peer.lastSeq + 1) this.violation(`${peer.name}: ${type} with seq ${seq} after ${peer.lastSeq}`)
      peer.lastSeq = seq
      this.roomMessage(peer, msg)
      return
    }
    // Transient messages carry the current seq without advancing it.
    if (seq !== peer.lastSeq) this.violation(`${peer.name}: ${type} with seq ${seq}, current ${peer.lastSeq}`)
    if (type === 'pong') {
      if (typeof msg.ref !== 'string' || !peer.answered(msg.ref, 'pong')) count(this.summary.outcomes, 'pong')
    } else if (type === 'error') {
      const code = String(msg.code)
      if (!DOCUMENTED_ERRORS.has(code)) this.violation(`${peer.name}: undocumented error code ${code} (${String(msg.message)})`)
      count(this.summary.outcomes, code)
      // Our own sync ping refused (rate limit, backpressure): sync() tries again.
      if (typeof msg.ref === 'string') peer.answered(msg.ref, 'refused')
      else if (code === SignalCode.RATE_LIMITED) peer.refusedUnparsed()
    } else if (type === 'refreshed') {
      count(this.summary.outcomes, 'refreshed')
    } else {
      this.violation(`${peer.name}: unexpected ${type}`)
    }
  }

  private roomMessage (peer: FuzzPeer, msg: Record<string, unknown> & { type: string }): void {
    const room = String(msg.room)
    const { type } = msg
    if (type === 'joined') {
      if (!peer.grants(room)) this.violation(`${peer.name} joined ${room}, which its token does not grant`)
      peer.rooms.add(room)
      const inFlight = (peer.joining.get(room) ?? 0) - 1
      if (inFlight > 0) peer.joining.set(room, inFlight)
      else peer.joining.delete(room)
      count(this.summary.outcomes, 'joined')
      return
    }
    const joiningHere = this.relaysMayPrecedeJoined && ROOM_TRAFFIC.has(type) && peer.joining.has(room)
    if (!peer.rooms.has(room) && !joiningHere) {
      this.violation(`${peer.name} received ${type} for ${room}, a room it is not in (its rooms: ${[...peer.rooms].join(',')})`)
      return
    }
    if (type === 'left') {
      peer.rooms.delete(room)
      count(this.summary.outcomes, 'left')
      return
    }
    if (!ROOM_TRAFFIC.has(type)) return // peer-joined, peer-left: checked for the room above
    count(this.summary.outcomes, 'delivered')
    const from = this.owner.get(String(msg.from))
    if (from === undefined) return this.violation(`${peer.name} received ${type} from unknown peer ${String(msg.from)}`)
    if (from === peer) return this.violation(`${peer.name} received its own ${type} back`)
    if (!from.grants(room)) return this.violation(`${peer.name} received ${type} in ${room} from ${from.name}, whose token does not grant it`)
    const marked = MARKER.exec(JSON.stringify(msg.type === 'offer' || msg.type === 'answer' ? msg.sdp : msg.type === 'candidate' ? msg.candidate : msg.data))
    if (marked === null) return
    const info = this.markers.get(Number(marked[1]))
    if (info === undefined) return // older than the markers kept (a replay after a resume): checked above
    const sender = this.actors[info.actor] as FuzzPeer
    if (sender !== from) this.violation(`${peer.name}: marker of ${sender.name} arrived from ${from.name}`)
    if (info.room !== room) this.violation(`${peer.name}: ${sender.name} sent to room ${info.room}, delivered in ${room}`)
    if (info.type !== type) this.violation(`${peer.name}: ${sender.name} sent ${info.type}, delivered as ${type}`)
    if (info.to !== undefined && info.to !== peer.peerId) this.violation(`${peer.name}: ${sender.name} addressed ${info.to}, delivered to ${peer.peerId}`)
    if (info.receivers.includes(peer.index)) this.violation(`${peer.name}: marker ${marked[1]} delivered twice`)
    info.receivers.push(peer.index)
  }

  closed (peer: FuzzPeer, code: number): void {
    count(this.summary.closes, code)
    const after = `${peer.lastError === '' ? '' : `client error "${peer.lastError}", `}may close with [${[...peer.mayClose].join(",")}], after:\n  ${peer.recent.join('\n  ')}`
    if (!DOCUMENTED_CLOSES.has(code)) this.violation(`${peer.name}: closed with undocumented code ${code}, ${after}`)
    else if (!peer.mayClose.has(code)) this.violation(`${peer.name}: closed with ${code}, but no frame it sent may cause that, ${after}`)
  }

  // ---- batches ----------------------------------------------------------------------------------

  /** Sends a batch, pipelined: no frame waits for an answer to the one before. */
  send (actions: Action[]): void {
    this.batch++
    this.summary.batches++
    for (const peer of this.peers) peer.mayClose.clear()
    for (const { actor, template } of actions) {
      const peer = this.actors[actor] as FuzzPeer
      this.current = actor
      this.exact = template.k !== 'mutated'
      for (const frame of frames(template, this)) {
        if (peer.send(frame)) {
          this.summary.frames++
          count(this.summary.framesByKind, frame.kind)
        } else {
          this.summary.skipped++
        }
      }
    }
  }

  /**
   * Waits until the batch has fully played out, reconnects (resumes) the peers it closed, and checks
   * the instance. First every fuzz peer's ping round trip (its frames are handled), then every peer's
   * (what they delivered has arrived).
   */
  async settle (): Promise<void> {
    await Promise.all(this.actors.map(async (peer) => this.syncOrResume(peer)))
    await Promise.all(this.peers.map(async (peer) => {
      peer.ack()
      await this.syncOrResume(peer)
    }))
    // Every answer of the batch has arrived: no join is under way any more.
    for (const peer of this.actors) peer.joining.clear()
    if (this.target.exit !== undefined) {
      this.violation(`the instance exited (${this.target.exit.code ?? this.target.exit.signal}):\n${this.target.output()}`)
    } else {
      try {
        const res = await fetch(`${this.base}/health/ready`)
        if (res.status !== 200) this.violation(`/health/ready answered ${res.status}`)
      } catch (err) {
        this.violation(`/health/ready failed: ${String(err)}`)
      }
    }
    // Markers live for two more batches: a resume can replay a few late.
    for (; this.oldestMarker < this.nextMarker; this.oldestMarker++) {
      const info = this.markers.get(this.oldestMarker)
      if (info !== undefined && info.batch > this.batch - 2) break
      this.markers.delete(this.oldestMarker)
    }
  }

  /** The violations found since the last call. */
  takeViolations (): string[] {
    const found = this.violations
    this.violations = []
    return found
  }

  private async syncOrResume (peer: FuzzPeer): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        if (peer.open && await peer.sync() === 'pong') return
      } catch (err) {
        const state = this.target.exit === undefined ? await this.target.inspect(peer.peerId) : null
        this.violation(`${(err as Error).message}\nits connection on the server: ${JSON.stringify(state)}`)
        return
      }
      try {
        const welcome = await peer.connect()
        this.owner.set(peer.peerId, peer)
        const error = welcome.resumeError as { code: string } | undefined
        if (error !== undefined) {
          count(this.summary.freshSessions, error.code)
          if (!DOCUMENTED_ERRORS.has(error.code)) this.violation(`${peer.name}: undocumented resume error ${error.code}`)
        }
      } catch (err) {
        this.violation(`${peer.name} could not reconnect: ${String(err)}`)
        return
      }
    }
    this.violation(`${peer.name}: no pong after 5 reconnections`)
  }

  async probe (budget: number): Promise<void> {
    if (this.target.exit !== undefined) return
    const { heapUsed, external, rss, polluted } = await this.target.probe()
    // Buffers (frames, replay buffers) live outside the JS heap: both count.
    const used = heapUsed + external
    const heap = this.summary.heap
    if (heap.first === 0) heap.first = used
    heap.last = used
    heap.peak = Math.max(heap.peak, used)
    heap.peakRss = Math.max(heap.peakRss, rss)
    if (used > heap.first + budget) {
      this.violation(`heap + external memory after GC is ${mb(used)}, more than ${mb(budget)} above the first probe (${mb(heap.first)})`)
    }
    if (polluted.length > 0) this.violation(`prototype polluted in the instance: ${polluted.join(', ')}`)
  }

  /** Every peer says goodbye (1000), so that the instance can host another world with empty rooms. */
  async close (): Promise<void> {
    await Promise.all(this.peers.map(async (peer) => peer.leave()))
  }
}

/** An instance with the fuzz settings, for several runs in a row. */
export async function startFuzzTarget (config: Partial<Config> = {}): Promise<FuzzTarget> {
  return startTarget({ ...FUZZ_CONFIG, ...config })
}

/** Thrown by the property once the run has sent its frames: fast-check has no stop condition of its own. */
class Done extends Error {}

export const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`

/** Runs the fuzzer against a fresh instance until `frames` frames are sent or a property fails. */
export async function runFuzz (options: FuzzOptions): Promise<FuzzResult> {
  const config = { ...FUZZ_CONFIG, ...options.config }
  const batchSize = options.batchSize ?? 64
  const probeEvery = options.probeEvery ?? 200
  const budget = options.heapBudgetBytes ?? HEAP_BUDGET
  const started = performance.now()
  const target = options.target ?? await startTarget(config)
  const world = new World(target, config.WS_MAX_MESSAGE_BYTES as number, options.seed, config.REDIS_URL !== undefined)
  try {
    await world.setUp()
    await world.probe(budget)
    let lastProgress = performance.now()
    const property = fc.asyncProperty(batchArb(world.shape(config.WS_MESSAGE_BURST as number), batchSize), async (actions) => {
      world.send(actions)
      await world.settle()
      if (world.batch % probeEvery === 0) await world.probe(budget)
      const violations = world.takeViolations()
      if (violations.length > 0) throw new Error(violations.join('\n'))
      if (options.progress !== undefined && performance.now() - lastProgress > 10_000) {
        lastProgress = performance.now()
        options.progress(`${world.summary.frames} frames, ${world.summary.batches} batches, heap ${mb(world.summary.heap.last)}, ${((performance.now() - started) / 1000).toFixed(0)} s`)
      }
      if (world.summary.frames >= options.frames) throw new Done()
    })
    // The instance keeps its state from one run to the next, so shrinking would replay batches against a
    // different state: stop at the first failure and report the batch as it was.
    // fast-check counts runs, the fuzzer frames: no run limit, and a run ends the check once enough frames
    // were sent (by failing with Done, which is not a failure).
    const details = await fc.check(property, { seed: options.seed, numRuns: Number.MAX_SAFE_INTEGER, endOnFailure: true })
    let failure: string | undefined
    if (details.failed && !(details.errorInstance instanceof Done)) {
      const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)
      failure = `seed ${options.seed}, batch ${world.batch} (path ${details.counterexamplePath ?? '?'}):\n${error}`
    } else {
      await world.settle()
      await world.probe(budget)
      const last = world.takeViolations()
      if (last.length > 0) failure = `seed ${options.seed}, at the end:\n${last.join('\n')}`
    }
    world.summary.durationMs = Math.round(performance.now() - started)
    return { summary: world.summary, ...(failure !== undefined && { failure }) }
  } finally {
    await world.close()
    if (options.target === undefined) await target.stop()
  }
}

/** The summary as a few readable lines. */
export function formatSummary (s: FuzzSummary): string {
  const list = (m: Record<string, number>): string => Object.entries(m).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'
  return [
    `seed ${s.seed}: ${s.frames} frames in ${s.batches} batches, ${(s.durationMs / 1000).toFixed(1)} s (${Math.round(s.frames / (s.durationMs / 1000))} frames/s); ${s.skipped} not sent (they followed a frame that closes the socket)`,
    `frames by kind: ${list(s.framesByKind)}`,
    `outcomes: ${list(s.outcomes)}`,
    `closes: ${list(s.closes)}; fresh sessions after a failed resume: ${list(s.freshSessions)}`,
    `heap + external after GC: first ${mb(s.heap.first)}, peak ${mb(s.heap.peak)}, last ${mb(s.heap.last)}; peak RSS ${mb(s.heap.peakRss)}`
  ].join('\n')
}
