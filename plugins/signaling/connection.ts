import type { Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import type { Logger } from 'pino'
import type { RawData, WebSocket } from 'ws'
import type { Identity, RoomGrant } from '../auth/types.js'
import { grantFor } from '../auth/claims.js'
import { FRAME_HEADROOM, RegistryUnavailableError, type Frame, type RelayBody, type RelayOutcome, type Sink } from '../registry/types.js'
import { CloseCode, MAX_META_BYTES, type ClientMessage, type ClientMessageOf, type OutgoingMessage } from './messages.js'
import { SignalCode, SignalError } from './errors.js'
import { parseClientMessage } from './parse.js'
import { TokenBucket } from './token-bucket.js'
import type { SignalingObserver } from './observer.js'
import type { DeadlineQueue, Scheduled } from './deadlines.js'
import { holdWrites } from './write-batch.js'
import { relayBody, type RelayedMessage } from './relay-frame.js'
import { textFrameIn } from './text-frame.js'
/**
 * Messages of one connection waiting for the registry (in flight, or queued behind a join). A slow or
 * stalled Redis must not grow memory: at either bound the socket is no longer read (backpressure: the
 * rest waits in the client's and the kernel's buffers) until half of them are done. The few frames ws
 * had already read are still taken; past twice the bound they are refused with SWB_REGISTRY_UNAVAILABLE.
 */
export const PENDING_MAX_MESSAGES = 128
export const PENDING_MIN_BYTES = 1024 * 1024

/** The numbers a connection works with, computed once per instance. */
export interface ConnectionSettings {
  maxMessageBytes: number
  messagesPerSecond: number
  messageBurst: number
  sendBufferLimitBytes: number
  tokenExpiryWarningMs: number
  /** Bytes of pending messages allowed (see PENDING_MAX_MESSAGES). */
  pendingMaxBytes: number
}

/** What a connection needs from the hub: the registry operations it applies, and nothing of the hub's state. */
export interface ConnectionHost {
  readonly settings: ConnectionSettings
  readonly observer: SignalingObserver
  readonly draining: boolean
  relay (from: string, room: string, to: string, body: RelayBody): RelayOutcome | Promise<RelayOutcome>
  broadcast (from: string, room: string, body: string): Promise<void>
  join (conn: Connection, room: string, grant: RoomGrant, meta: Record<string, unknown> | undefined): Promise<void>
  leave (conn: Connection, room: string): Promise<void>
  ack (peerId: string, seq: number): void | Promise<void>
  verify (token: string): Promise<Identity>
  /** Token deadlines of every connection, behind one timer (it calls `onTokenDue`). */
  readonly tokenDeadlines: DeadlineQueue<Connection>
  /** The socket closed (the hub decides what happens to the session). */
  closed (conn: Connection, code: number): void
}

/**
 * The connection a socket belongs to, on the socket itself: the socket's listeners are then functions
 * shared by every connection rather than closures made for each (memory per idle connection). Before
 * its Connection exists, the owner is a SocketSetup, where a close during the setup is noted.
 */
const CONNECTION = Symbol('switchboard.connection')
export interface SocketSetup { earlyClose: number | undefined }
type OwnedSocket = WebSocket & { [CONNECTION]: Connection | SocketSetup }

/**
 * Watches a freshly upgraded socket's close from the start, with the listener every socket shares: a
 * close during the setup is noted in the returned record, later ones go to the hub (see watchClose).
 */
export function watchSocket (socket: WebSocket): SocketSetup {
  const setup: SocketSetup = { earlyClose: undefined }
  ;(socket as OwnedSocket)[CONNECTION] = setup
  socket.on('close', onSocketClose)
  return setup
}

function onSocketMessage (this: WebSocket, data: RawData, isBinary: boolean): void {
  ((this as OwnedSocket)[CONNECTION] as Connection).onFrame(data as Buffer, isBinary)
}
function onSocketPong (this: WebSocket): void {
  ((this as OwnedSocket)[CONNECTION] as Connection).alive = true
}
function onSocketClose (this: WebSocket, code: number): void {
  const owner = (this as OwnedSocket)[CONNECTION]
  if (owner instanceof Connection && owner.closeWatched) owner.host.closed(owner, code)
  else owner.earlyClose = code
}

/** Frames go out as text, also those handed over as their UTF-8 bytes (ws would send a Buffer as binary). */
const TEXT_FRAME = { binary: false }

/** A message waiting for the ones before it, with its text, size (for the pending bound) and arrival time. */
interface Queued { message: ClientMessage, text: string, bytes: number, receivedAt: number }

/** Messages that wait for everything before them, and hold everything after them until they are done. */
function isBarrier (message: ClientMessage): boolean {
  switch (message.type) {
    case 'offer':
    case 'answer':
    case 'candidate':
    case 'ack':
    case 'stats':
      return false
    case 'message':
      return message.to === undefined // a broadcast reads the room first
    default:
      return true // join, leave, refresh; ping answers once everything before it is done
  }
}

/**
 * One WebSocket of one peer. It validates and rate-limits what the client sends, applies it through
 * the registry, and writes what the registry delivers. The peer's session (rooms, seq, replay buffer)
 * lives in the registry and outlives this object when the socket drops.
 *
 * Order: messages take effect in arrival order. Relays do not wait for one another (with Redis their
 * scripts are pipelined, and run in the order sent), while a join, leave, refresh, broadcast or ping
 * waits until everything before it is done and holds what comes after. With the in-memory registry a
 * relay completes synchronously: frame to socket write without a promise.
 */
export class Connection implements Sink, Scheduled {
  /** Last sequence number written to this socket: transient messages carry it without advancing it. */
  seq = 0
  /** Answered the last heartbeat ping. */
  alive = true
  /** Set by the heartbeat. */
  heartbeatSlot = 0
  closed = false
  private readonly bucket: TokenBucket
  private refusedInARow = 0
  /** Relays and acks sent to the registry and not settled yet. */
  private inflight = 0
  /** A barrier message is being applied. */
  private blocked = false
  /** Messages waiting for a barrier (or for in-flight relays, when a barrier is next). */
  private readonly waiting: Queued[] = []
  private pendingBytes = 0
  /** Reading is paused because too much is pending. */
  private throttled = false
  /** The token's next moment (the expiry warning, then the expiry), in host.tokenDeadlines. */
  dueAt = 0
  dueIndex = -1
  private tokenWarned = false
  /** The hub handles this socket's close (see watchClose); until then a close is noted in earlyClose. */
  closeWatched = false
  earlyClose: number | undefined = undefined
  /** While a resume replays its backlog, live deliveries wait here so order is kept. */
  private held: Array<{ json: Frame, seq: number }> | undefined = []

  constructor (
    readonly peerId: string,
    private identity: Identity,
    readonly socket: WebSocket,
    /** The TCP socket under `socket`: writes made while a chunk of frames is handled leave together (write-batch.ts). */
    private readonly tcp: Socket,
    /** The claim this socket holds the peer under (0 for a new session); the highest one is live. */
    readonly epoch: number,
    readonly host: ConnectionHost,
    /** The hub's logger: no logger is kept per connection (a pino child costs memory for every idle socket). */
    private readonly parentLog: FastifyBaseLogger,
    /** The upgrade request's id, to correlate this connection's lines with the request log. */
    private readonly reqId: string
  ) {
    const s = host.settings
    this.bucket = new TokenBucket(s.messagesPerSecond, s.messageBurst)
    ;(socket as OwnedSocket)[CONNECTION] = this
    socket.on('message', onSocketMessage)
    socket.on('pong', onSocketPong)
    this.armTokenTimers()
  }

  /** Sink: what the registry delivers to this peer. While a resume replays its backlog, it waits. */
  push (json: Frame, seq: number): void {
    if (this.held !== undefined) this.held.push({ json, seq })
    else this.write(json, seq)
  }

  /** Sink: a buffered message, framed in the room in front of it and written to the TCP socket in one piece. */
  pushFrame (bytes: Buffer, seq: number): void {
    if (this.held !== undefined) this.held.push({ json: bytes.subarray(FRAME_HEADROOM), seq })
    else this.writeFrame(bytes, seq)
  }

  /** Sink: nothing held for a resume, nothing in ws's or the TCP socket's buffers (corked writes included). */
  flushed (): boolean {
    return this.held === undefined && this.socket.bufferedAmount === 0
  }

  /** The hub handles this socket's close from now on; returns the close code if it closed during the setup. */
  watchClose (setup: SocketSetup): number | undefined {
    this.closeWatched = true
    return setup.earlyClose ?? this.earlyClose
  }

  /** A logger carrying this connection's ids, made when a warning or error is written and not kept. */
  get log (): FastifyBaseLogger {
    return this.parentLog.child({ reqId: this.reqId, peerId: this.peerId })
  }

  /** An info line with this connection's ids; nothing at all is built when info is off. */
  info (fields: Record<string, unknown>, message: string): void {
    if (!(this.parentLog as unknown as Logger).isLevelEnabled('info')) return
    this.parentLog.info({ reqId: this.reqId, peerId: this.peerId, ...fields }, message)
  }

  get userId (): string { return this.identity.sub }
  get who (): { peerId: string, userId: string } { return { peerId: this.peerId, userId: this.identity.sub } }
  get tokenExpiresAtMs (): number { return this.identity.exp * 1000 }

  /** Writes the replayed backlog, then whatever arrived meanwhile, then goes live. */
  startLive (replayed: Array<{ json: Frame, seq: number }>): void {
    for (const m of replayed) this.write(m.json, m.seq)
    const held = this.held ?? []
    this.held = undefined
    for (const m of held) if (m.seq > this.seq) this.write(m.json, m.seq)
  }

  /** Sends a message that concerns this connection only: it carries the current seq and is not replayed. */
  sendTransient (message: OutgoingMessage): void {
    this.write(JSON.stringify({ ...message, seq: this.seq }), this.seq)
  }

  private write (json: Frame, seq: number): void {
    if (this.closed || this.socket.readyState !== this.socket.OPEN) return
    if (seq > this.seq) this.seq = seq
    holdWrites(this.tcp)
    this.socket.send(json, TEXT_FRAME)
    this.limitSendBuffer()
  }

  /**
   * write() for a message with room for its frame header in front of it (pushFrame): the frame goes
   * straight to the TCP socket, past ws, which writes every frame there as it is given it (no
   * compression is negotiated, so ws's sender never queues one), so frames keep their order either way.
   */
  private writeFrame (bytes: Buffer, seq: number): void {
    const frame = textFrameIn(bytes)
    if (frame === undefined) return this.write(bytes.subarray(FRAME_HEADROOM), seq)
    if (this.closed || this.socket.readyState !== this.socket.OPEN) return
    if (seq > this.seq) this.seq = seq
    holdWrites(this.tcp)
    this.tcp.write(frame)
    this.limitSendBuffer()
  }

  private limitSendBuffer (): void {
    // A consumer that does not read must not grow our memory: cut it off; its messages stay in the
    // replay buffer, so a resume (once it reads again) loses nothing.
    if (this.socket.bufferedAmount > this.host.settings.sendBufferLimitBytes) {
      this.host.observer.slowConsumer()
      this.close(CloseCode.SLOW_CONSUMER, 'slow consumer', true)
    }
  }

  /** Closes the socket. `force` also tears down the TCP connection, for peers that stopped reading. */
  close (code: number, reason: string, force = false): void {
    if (this.closed) return
    this.info({ code, reason }, 'closing connection')
    try {
      this.socket.close(code, reason)
    } catch {
      // Not yet open or already closing: terminate below covers it.
    }
    if (force) setTimeout(() => this.socket.terminate(), 1000).unref()
  }

  /** Called by the socket's shared 'message' listener. */
  onFrame (data: Buffer, isBinary: boolean): void {
    if (this.closed) return
    const s = this.host.settings
    if (!this.bucket.take()) {
      // A client that keeps sending while refused is abusive, not bursty: disconnect it.
      if (++this.refusedInARow > s.messageBurst) {
        this.close(CloseCode.RATE_LIMIT_ABUSE, 'message rate limit exceeded')
        return
      }
      this.refuse(new SignalError(SignalCode.RATE_LIMITED, `More than ${s.messagesPerSecond} messages per second`))
      return
    }
    this.refusedInARow = 0
    if (isBinary) {
      this.refuse(new SignalError(SignalCode.INVALID_MESSAGE, 'Binary frames are not supported: send JSON text'))
      return
    }
    if (data.length > s.maxMessageBytes) {
      this.refuse(new SignalError(SignalCode.MESSAGE_TOO_LARGE, `Message exceeds ${s.maxMessageBytes} bytes`))
      return
    }
    const text = data.toString('utf8')
    const parsed = parseClientMessage(text)
    if (!parsed.ok) {
      this.refuse(parsed.error, parsed.ref)
      return
    }
    const bytes = data.length
    if (this.inflight + this.waiting.length >= 2 * PENDING_MAX_MESSAGES || this.pendingBytes + bytes > 2 * s.pendingMaxBytes) {
      this.refuse(new SignalError(SignalCode.REGISTRY_UNAVAILABLE, 'Signaling is briefly unavailable (too many messages waiting for the room registry): retry shortly'), parsed.message.id)
      return
    }
    const queued: Queued = { message: parsed.message, text, bytes, receivedAt: performance.now() }
    if (this.blocked || this.waiting.length > 0) this.hold(queued)
    else this.dispatch(queued)
    if (!this.throttled && (this.inflight + this.waiting.length >= PENDING_MAX_MESSAGES || this.pendingBytes >= s.pendingMaxBytes)) {
      this.throttled = true
      this.socket.pause()
    }
  }

  private hold (queued: Queued): void {
    this.waiting.push(queued)
    this.pendingBytes += queued.bytes
  }

  /** Applies one message now (nothing before it is waiting), or holds it if it is a barrier and relays are in flight. */
  private dispatch (queued: Queued): void {
    const { message } = queued
    if (isBarrier(message)) {
      if (this.inflight > 0) {
        this.hold(queued)
        return
      }
      this.blocked = true
      void this.handle(message).finally(() => {
        this.blocked = false
        this.pump()
        // A burst of barriers alone (no relay in flight to settle) also throttles: resume reading here too.
        this.resumeReading()
      })
      return
    }
    const result = this.apply(message, queued.text, queued.receivedAt)
    if (result === undefined) return
    // Waiting for the registry: counted against the pending bounds until settled.
    this.inflight++
    this.pendingBytes += queued.bytes
    result.then(() => this.settled(queued.bytes), (err: unknown) => {
      this.fail(err, message)
      this.settled(queued.bytes)
    })
  }

  private settled (bytes: number): void {
    this.inflight--
    this.pendingBytes -= bytes
    this.pump()
    this.resumeReading()
  }

  /** Reads the socket again once what is pending is down to half the bounds. */
  private resumeReading (): void {
    if (this.throttled && this.inflight + this.waiting.length <= PENDING_MAX_MESSAGES / 2 && this.pendingBytes <= this.host.settings.pendingMaxBytes / 2) {
      this.throttled = false
      if (!this.closed) this.socket.resume()
    }
  }

  /** Applies waiting messages in order until a barrier has to wait. */
  private pump (): void {
    while (!this.blocked && this.waiting.length > 0) {
      const next = this.waiting[0] as Queued
      if (isBarrier(next.message) && this.inflight > 0) return
      this.waiting.shift()
      this.pendingBytes -= next.bytes
      // A closed connection applies nothing more, except leaves (they still free the room).
      if (this.closed && next.message.type !== 'leave') continue
      this.dispatch(next)
    }
  }

  /**
   * The non-barrier messages: undefined when done synchronously, else the registry's promise. A relayed
   * message is serialized once, by the registry, with its seq when the registry knows it (RelayBody),
   * around the payload's text as the sender wrote it (relay-frame.ts).
   */
  private apply (message: ClientMessage, text: string, receivedAt: number): Promise<unknown> | undefined {
    try {
      switch (message.type) {
        case 'offer':
        case 'answer':
        case 'candidate':
        case 'message':
          return this.relay(message, relayBody(message, text, this.peerId), receivedAt)
        case 'stats':
          this.host.observer.callQuality(message)
          return undefined
        case 'ack':
          // In memory the ack is done at once; with Redis it is a round trip like a relay.
          return this.host.ack(this.peerId, Math.min(message.seq, this.seq)) ?? undefined
        default:
          return undefined
      }
    } catch (err) {
      this.fail(err, message)
      return undefined
    }
  }

  private relay (message: RelayedMessage, body: RelayBody, receivedAt: number): Promise<unknown> | undefined {
    const to = (message as { to: string }).to
    const outcome = this.host.relay(this.peerId, message.room, to, body)
    if (typeof outcome === 'string') {
      this.relayed(message, outcome, receivedAt)
      return undefined
    }
    return outcome.then((o) => { this.relayed(message, o, receivedAt) })
  }

  private relayed (message: RelayedMessage, outcome: RelayOutcome, receivedAt: number): void {
    switch (outcome) {
      case 'sender-not-in-room':
        return this.refuse(new SignalError(SignalCode.NOT_IN_ROOM, `You are not in room "${message.room}"`), message.id)
      case 'recipient-not-in-room':
        return this.refuse(new SignalError(SignalCode.PEER_NOT_IN_ROOM, `Peer "${(message as { to: string }).to}" is not in room "${message.room}"`), message.id)
      default:
        this.host.observer.relayed(message.type, outcome, (performance.now() - receivedAt) / 1000)
    }
  }

  /** The barrier messages, one at a time. */
  private async handle (message: ClientMessage): Promise<void> {
    if (this.closed && message.type !== 'leave') return
    try {
      switch (message.type) {
        case 'join': return await this.onJoin(message)
        case 'leave': return await this.host.leave(this, message.room)
        case 'message': return await this.host.broadcast(this.peerId, message.room,
          JSON.stringify({ type: 'message', room: message.room, from: this.peerId, data: message.data }))
        case 'ping': return this.sendTransient(message.id === undefined ? { type: 'pong' } : { type: 'pong', ref: message.id })
        case 'refresh': return await this.onRefresh(message)
      }
    } catch (err) {
      this.fail(err, message)
    }
  }

  /** Turns a failure into the client's `error`: typed refusals as they are, an outage as retryable, the rest as internal. */
  private fail (err: unknown, message: ClientMessage): void {
    if (err instanceof SignalError) {
      this.refuse(err, message.id)
    } else if (err instanceof RegistryUnavailableError) {
      // Redis is away (docs/redis.md): a clear, retryable refusal instead of a hang or an internal error.
      this.refuse(new SignalError(SignalCode.REGISTRY_UNAVAILABLE, 'Signaling is briefly unavailable (room registry unreachable): retry shortly'), message.id)
    } else {
      this.log.error({ err, type: message.type }, 'message handler failed')
      this.refuse(new SignalError(SignalCode.INTERNAL, 'Internal error'), message.id)
    }
  }

  private refuse (error: SignalError, ref?: string): void {
    this.host.observer.refused(this.who, error.code)
    // The parent logger: a refusal must not make a child logger for a connection that never logged.
    this.parentLog.debug({ peerId: this.peerId, code: error.code, ref }, 'message refused')
    // Errors answer this connection only: replaying them would let a burst of refusals evict real messages.
    this.sendTransient(ref === undefined
      ? { type: 'error', code: error.code, message: error.message }
      : { type: 'error', code: error.code, message: error.message, ref })
  }

  private async onJoin (message: ClientMessageOf<'join'>): Promise<void> {
    if (this.host.draining) throw new SignalError(SignalCode.DRAINING, 'This instance is draining: reconnect and join elsewhere')
    const grant = grantFor(this.identity, message.room)
    if (!grant) throw new SignalError(SignalCode.ROOM_FORBIDDEN, `Your token does not grant room "${message.room}"`)
    if (message.meta !== undefined && Buffer.byteLength(JSON.stringify(message.meta)) > MAX_META_BYTES) {
      throw new SignalError(SignalCode.INVALID_MESSAGE, `meta exceeds ${MAX_META_BYTES} bytes`)
    }
    await this.host.join(this, message.room, grant, message.meta)
  }

  private async onRefresh (message: ClientMessageOf<'refresh'>): Promise<void> {
    let identity: Identity
    try {
      identity = await this.host.verify(message.token)
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'invalid token'
      throw new SignalError(SignalCode.REFRESH_REJECTED, `Refresh token rejected (${code})`)
    }
    if (identity.sub !== this.identity.sub) throw new SignalError(SignalCode.REFRESH_REJECTED, 'Refresh token is for another user')
    this.identity = identity
    this.armTokenTimers()
    this.info({}, 'token refreshed')
    this.sendTransient({ type: 'refreshed', tokenExpiresAt: this.tokenExpiresAtMs })
  }

  /**
   * Warns before the token lapses, and closes with 4001 when it does (the session stays resumable). One
   * timer per connection: the warning first (at once if already inside the window, but after the
   * welcome), then the expiry.
   */
  /** First the expiry warning, then the expiry itself (a refresh starts over). */
  private armTokenTimers (): void {
    this.tokenWarned = false
    this.host.tokenDeadlines.schedule(this, this.tokenExpiresAtMs - this.host.settings.tokenExpiryWarningMs)
  }

  /** Called by host.tokenDeadlines when the token's next moment has come. */
  onTokenDue (): void {
    if (this.closed) return
    if (!this.tokenWarned) {
      this.tokenWarned = true
      this.sendTransient({ type: 'token-expiring', tokenExpiresAt: this.tokenExpiresAtMs })
      this.host.tokenDeadlines.schedule(this, this.tokenExpiresAtMs)
      return
    }
    this.close(CloseCode.TOKEN_EXPIRED, 'token expired')
  }

  /** Called once the socket is closed: stop timers; the hub decides what happens to the session. */
  dispose (): void {
    this.closed = true
    this.host.tokenDeadlines.cancel(this)
  }
}
