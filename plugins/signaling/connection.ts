import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket } from 'ws'
import type { Identity } from '../auth/types.js'
import { grantFor } from '../auth/claims.js'
import { RegistryUnavailableError, type Sink } from '../registry/types.js'
import { CloseCode, MAX_META_BYTES, type ClientMessage, type ClientMessageOf, type OutgoingMessage } from './messages.js'
import { SignalCode, SignalError } from './errors.js'
import { parseClientMessage } from './parse.js'
import { TokenBucket } from './token-bucket.js'
import type { SignalingHub } from './hub.js'

/** Longest delay a Node timer takes (about 24.8 days); later expiries are re-armed. */
const MAX_TIMER_MS = 2_147_483_647

/**
 * One WebSocket of one peer. It validates and rate-limits what the client sends, applies it through
 * the registry, and writes what the registry delivers. The peer's session (rooms, seq, replay buffer)
 * lives in the registry and outlives this object when the socket drops.
 */
export class Connection {
  /** Last sequence number written to this socket: transient messages carry it without advancing it. */
  seq = 0
  /** Answered the last heartbeat ping. */
  alive = true
  private readonly bucket: TokenBucket
  private refusedInARow = 0
  private inbound: Promise<void> = Promise.resolve()
  private warnTimer: NodeJS.Timeout | undefined
  private expiryTimer: NodeJS.Timeout | undefined
  /** While a resume replays its backlog, live deliveries wait here so order is kept. */
  private pending: Array<{ json: string, seq: number }> | undefined = []
  closed = false

  readonly sink: Sink = {
    push: (json, seq) => {
      if (this.pending) this.pending.push({ json, seq })
      else this.write(json, seq)
    }
  }

  constructor (
    readonly peerId: string,
    private identity: Identity,
    readonly socket: WebSocket,
    private readonly hub: SignalingHub,
    readonly log: FastifyBaseLogger
  ) {
    const c = hub.config
    this.bucket = new TokenBucket(c.WS_MESSAGES_PER_SECOND, c.WS_MESSAGE_BURST)
    socket.on('message', (data, isBinary) => this.onFrame(data as Buffer, isBinary))
    socket.on('pong', () => { this.alive = true })
    this.armTokenTimers()
  }

  get userId (): string { return this.identity.sub }
  get who (): { peerId: string, userId: string } { return { peerId: this.peerId, userId: this.identity.sub } }
  get tokenExpiresAtMs (): number { return this.identity.exp * 1000 }

  /** Writes the replayed backlog, then whatever arrived meanwhile, then goes live. */
  startLive (replayed: Array<{ json: string, seq: number }>): void {
    for (const m of replayed) this.write(m.json, m.seq)
    const waiting = this.pending ?? []
    this.pending = undefined
    for (const m of waiting) if (m.seq > this.seq) this.write(m.json, m.seq)
  }

  /** Sends a message that concerns this connection only: it carries the current seq and is not replayed. */
  sendTransient (message: OutgoingMessage): void {
    this.write(JSON.stringify({ ...message, seq: this.seq }), this.seq)
  }

  private write (json: string, seq: number): void {
    if (this.closed || this.socket.readyState !== this.socket.OPEN) return
    if (seq > this.seq) this.seq = seq
    this.socket.send(json)
    // A consumer that does not read must not grow our memory: cut it off; its messages stay in the
    // replay buffer, so a resume (once it reads again) loses nothing.
    if (this.socket.bufferedAmount > this.hub.config.WS_SEND_BUFFER_LIMIT_BYTES) {
      this.hub.observer.slowConsumer()
      this.close(CloseCode.SLOW_CONSUMER, 'slow consumer', true)
    }
  }

  /** Closes the socket. `force` also tears down the TCP connection, for peers that stopped reading. */
  close (code: number, reason: string, force = false): void {
    if (this.closed) return
    this.log.info({ code, reason }, 'closing connection')
    try {
      this.socket.close(code, reason)
    } catch {
      // Not yet open or already closing: terminate below covers it.
    }
    if (force) setTimeout(() => this.socket.terminate(), 1000).unref()
  }

  private onFrame (data: Buffer, isBinary: boolean): void {
    if (this.closed) return
    const c = this.hub.config
    if (!this.bucket.take()) {
      // A client that keeps sending while refused is abusive, not bursty: disconnect it.
      if (++this.refusedInARow > c.WS_MESSAGE_BURST) {
        this.close(CloseCode.RATE_LIMIT_ABUSE, 'message rate limit exceeded')
        return
      }
      this.refuse(new SignalError(SignalCode.RATE_LIMITED, `More than ${c.WS_MESSAGES_PER_SECOND} messages per second`))
      return
    }
    this.refusedInARow = 0
    if (isBinary) {
      this.refuse(new SignalError(SignalCode.INVALID_MESSAGE, 'Binary frames are not supported: send JSON text'))
      return
    }
    if (data.length > c.WS_MAX_MESSAGE_BYTES) {
      this.refuse(new SignalError(SignalCode.MESSAGE_TOO_LARGE, `Message exceeds ${c.WS_MAX_MESSAGE_BYTES} bytes`))
      return
    }
    const parsed = parseClientMessage(data.toString('utf8'))
    if (!parsed.ok) {
      this.refuse(parsed.error, parsed.ref)
      return
    }
    // Handle one message at a time, in arrival order, even though handlers await the registry.
    const message = parsed.message
    const receivedAt = performance.now()
    this.inbound = this.inbound.then(() => this.handle(message, receivedAt))
  }

  private async handle (message: ClientMessage, receivedAt: number): Promise<void> {
    if (this.closed && message.type !== 'leave') return
    try {
      switch (message.type) {
        case 'join': return await this.onJoin(message)
        case 'leave': return await this.onLeave(message)
        case 'offer':
        case 'answer':
          await this.relay(message, { type: message.type, room: message.room, from: this.peerId, sdp: message.sdp })
          return this.hub.observer.relayed(message.type, (performance.now() - receivedAt) / 1000)
        case 'candidate':
          await this.relay(message, { type: 'candidate', room: message.room, from: this.peerId, candidate: message.candidate })
          return this.hub.observer.relayed(message.type, (performance.now() - receivedAt) / 1000)
        case 'message':
          await this.onAppMessage(message)
          return this.hub.observer.relayed(message.type, (performance.now() - receivedAt) / 1000)
        case 'stats': return this.hub.observer.callQuality(message)
        case 'ping': return this.sendTransient(message.id === undefined ? { type: 'pong' } : { type: 'pong', ref: message.id })
        case 'refresh': return await this.onRefresh(message)
        case 'ack': return await this.hub.registry.ack(this.peerId, Math.min(message.seq, this.seq))
      }
    } catch (err) {
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
  }

  private refuse (error: SignalError, ref?: string): void {
    this.hub.observer.refused(this.who, error.code)
    this.log.debug({ code: error.code, ref }, 'message refused')
    // Errors answer this connection only: replaying them would let a burst of refusals evict real messages.
    this.sendTransient(ref === undefined
      ? { type: 'error', code: error.code, message: error.message }
      : { type: 'error', code: error.code, message: error.message, ref })
  }

  private async onJoin (message: ClientMessageOf<'join'>): Promise<void> {
    if (this.hub.draining) throw new SignalError(SignalCode.DRAINING, 'This instance is draining: reconnect and join elsewhere')
    const grant = grantFor(this.identity, message.room)
    if (!grant) throw new SignalError(SignalCode.ROOM_FORBIDDEN, `Your token does not grant room "${message.room}"`)
    if (message.meta !== undefined && Buffer.byteLength(JSON.stringify(message.meta)) > MAX_META_BYTES) {
      throw new SignalError(SignalCode.INVALID_MESSAGE, `meta exceeds ${MAX_META_BYTES} bytes`)
    }
    await this.hub.join(this, message.room, grant.role, message.meta)
  }

  private async onLeave (message: ClientMessageOf<'leave'>): Promise<void> {
    await this.hub.leave(this.who, message.room)
  }

  private async relay (message: ClientMessageOf<'offer' | 'answer' | 'candidate'>, out: OutgoingMessage): Promise<void> {
    await this.hub.relay(this.peerId, message.room, message.to, out)
  }

  private async onAppMessage (message: ClientMessageOf<'message'>): Promise<void> {
    const out: OutgoingMessage = { type: 'message', room: message.room, from: this.peerId, data: message.data }
    if (message.to !== undefined) await this.hub.relay(this.peerId, message.room, message.to, out)
    else await this.hub.broadcast(this.peerId, message.room, out)
  }

  private async onRefresh (message: ClientMessageOf<'refresh'>): Promise<void> {
    let identity: Identity
    try {
      identity = await this.hub.auth.verify(message.token)
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'invalid token'
      throw new SignalError(SignalCode.REFRESH_REJECTED, `Refresh token rejected (${code})`)
    }
    if (identity.sub !== this.identity.sub) throw new SignalError(SignalCode.REFRESH_REJECTED, 'Refresh token is for another user')
    this.identity = identity
    this.armTokenTimers()
    this.log.info('token refreshed')
    this.sendTransient({ type: 'refreshed', tokenExpiresAt: this.tokenExpiresAtMs })
  }

  /** Warns before the token lapses, and closes with 4001 when it does (the session stays resumable). */
  private armTokenTimers (): void {
    clearTimeout(this.warnTimer)
    clearTimeout(this.expiryTimer)
    const untilExpiry = this.tokenExpiresAtMs - Date.now()
    const untilWarning = untilExpiry - this.hub.config.TOKEN_EXPIRY_WARNING_SECONDS * 1000
    this.warnTimer = setTimeout(() => {
      this.sendTransient({ type: 'token-expiring', tokenExpiresAt: this.tokenExpiresAtMs })
    }, Math.min(Math.max(untilWarning, 0), MAX_TIMER_MS))
    this.expiryTimer = setTimeout(() => {
      if (Date.now() < this.tokenExpiresAtMs) this.armTokenTimers()
      else this.close(CloseCode.TOKEN_EXPIRED, 'token expired')
    }, Math.min(Math.max(untilExpiry, 0), MAX_TIMER_MS))
    this.warnTimer.unref()
    this.expiryTimer.unref()
  }

  /** Called once the socket is closed: stop timers; the hub decides what happens to the session. */
  dispose (): void {
    this.closed = true
    clearTimeout(this.warnTimer)
    clearTimeout(this.expiryTimer)
  }
}
