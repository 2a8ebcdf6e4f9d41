import type { ClientMessage, ClientMessageOf, ServerMessage, ServerMessageOf, ServerMessageType } from './messages.js'
import { backoffDelay, DEFAULT_RETRY, reconnectOptions, type ReconnectOptions, type RetryOptions } from './backoff.js'
import { Emitter } from './emitter.js'
import { asSwitchboardError, ClientErrorCode, SwitchboardError } from './errors.js'
import { requestJson, type FetchLike, type IceServersResult, type PreflightResult } from './http.js'
import { callQualityReport, DEFAULT_STATS_INTERVAL_MS, MIN_STATS_INTERVAL_MS, type CallQualityReport, type StatsSnapshot, type StatsSource } from './stats.js'
import { BEARER_SUBPROTOCOL_PREFIX, CloseCode, PREFLIGHT_PATH, reconnectableClose, REPLAYED_TYPES, RETRYABLE_CODES, SUBPROTOCOL, TURN_CREDENTIALS_PATH } from './protocol.js'
import { retireSocket, SOCKET_OPEN, SOCKET_OPTIONS, type SocketConstructor, type SocketLike } from './transport.js'
import { endpoints, type Endpoints } from './urls.js'

export type WelcomeMessage = ServerMessageOf<'welcome'>
export type JoinedMessage = ServerMessageOf<'joined'>
export type LeftMessage = ServerMessageOf<'left'>
export type PeerMeta = NonNullable<ClientMessageOf<'join'>['meta']>
/** RTCIceCandidateInit (an RTCIceCandidate fits too); null signals end-of-candidates. */
export type IceCandidate = ClientMessageOf<'candidate'>['candidate']

export type TokenSource = string | (() => string | Promise<string>)

export interface SwitchboardClientOptions {
  /** `https://host[/prefix]` or `wss://host[/prefix]/v1/signal`. */
  url: string
  /** A JWT, or a function returning a fresh one: called for every connection attempt and on `token-expiring`. */
  token: TokenSource
  /** WebSocket implementation; defaults to globalThis.WebSocket (Node 20: pass `WebSocket` from the `ws` package). */
  WebSocket?: SocketConstructor
  /** fetch implementation for getIceServers()/preflight(); defaults to globalThis.fetch. */
  fetch?: FetchLike
  /** Automatic reconnection with resume; `false` turns it off. */
  reconnect?: Partial<ReconnectOptions> | false
  /**
   * Retries of refusals that say "not now" (see retryable()): connect(), join(), leave(),
   * getIceServers() and preflight() try again with backoff, honouring Retry-After up to maxDelayMs.
   * Any other refusal, or the last attempt's, rejects with the server's code. `false` turns it off.
   */
  retry?: Partial<RetryOptions> | false
  /** Messages kept while disconnected, sent after a successful resume (default 100). */
  maxQueuedMessages?: number
  /** How long join/leave/ping wait for their answer (default 15000 ms). */
  requestTimeoutMs?: number
  /** How long a connection attempt may take until its welcome (default 10000 ms). */
  connectTimeoutMs?: number
  /**
   * Liveness check: after this long without any message the client sends `ping`, and after as long
   * again it drops the socket and resumes on a new one. Default: the welcome's heartbeatIntervalMs; 0 = off.
   */
  pingIntervalMs?: number
  /**
   * Acknowledgements free the server's replay buffer (it holds every message until acked, and a full
   * buffer makes a later resume fail). The client sends `ack` with the last processed `seq` once
   * `ackIntervalMs` have passed since the first message not yet acknowledged (default 1000 ms; 0 = no timer),
   * or as soon as `ackEveryMessages` have been processed since the last ack, whichever comes first.
   * Nothing is sent while nothing new arrived.
   */
  ackIntervalMs?: number
  /** See `ackIntervalMs`: ack after this many processed messages that carry a replayable `seq` (default 64; 0 = not by count). */
  ackEveryMessages?: number
  /**
   * Schedules the ack timer (default: setTimeout/clearTimeout). For a fake clock in tests, or a host
   * with its own timer loop; the other timers of the client are not affected.
   */
  ackTimer?: AckTimer
}

/** How the client schedules its ack timer: `set` returns a handle that `clear` cancels. */
export interface AckTimer {
  set (callback: () => void, ms: number): unknown
  clear (handle: unknown): void
}

const globalAckTimer: AckTimer = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => { clearTimeout(handle as ReturnType<typeof setTimeout>) }
}

export type ClientState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed'

export interface OpenEvent { welcome: WelcomeMessage, resumed: boolean }
export interface CloseEvent {
  code: number
  reason: string
  /** True when the client will reconnect (and try to resume) by itself. */
  willReconnect: boolean
  /** Why the client gave up, when it did not close because of a WebSocket close frame. */
  error?: SwitchboardError
}
export interface ReconnectingEvent {
  /** 1 for the first attempt after a drop. */
  attempt: number
  delayMs: number
  reason: 'dropped' | 'draining' | 'unresponsive' | 'retry'
  /** Why the previous attempt failed (reason 'retry'). */
  error?: SwitchboardError
}
export interface SessionLostEvent {
  /** The welcome's resumeError.code, e.g. SWB_RESUME_EXPIRED. */
  code: string
  message: string
  welcome: WelcomeMessage
}
export interface StateEvent { state: ClientState, previous: ClientState }
/** A queued message that was never sent (fresh session, close, or a failed first connect). */
export interface DroppedEvent { message: ClientMessage, error: SwitchboardError }

export type ServerEvents = { [K in ServerMessageType]: ServerMessageOf<K> }
export interface LifecycleEvents {
  open: OpenEvent
  close: CloseEvent
  reconnecting: ReconnectingEvent
  resumed: WelcomeMessage
  'session-lost': SessionLostEvent
  state: StateEvent
  dropped: DroppedEvent
}
/** Every server message type (payload narrowed by type) plus the lifecycle events. */
export type SwitchboardEvents = ServerEvents & LifecycleEvents

interface Pending {
  message: ClientMessageOf<'join' | 'leave' | 'ping'>
  /** Written to a socket (not just queued): after a resume it may have to be sent again. */
  sent: boolean
  /** Times sent again after a rate-limit refusal that named no message. */
  resends: number
  resolve (message: ServerMessage): void
  reject (error: SwitchboardError): void
  timer: ReturnType<typeof setTimeout>
}

const DEFAULTS = { maxQueuedMessages: 100, requestTimeoutMs: 15_000, connectTimeoutMs: 10_000, ackIntervalMs: 1000, ackEveryMessages: 64 }

/** Auth codes a new token can cure (a token function is asked again); any other 4xx stops reconnecting. */
const RENEWABLE_AUTH_CODES = new Set(['SWB_AUTH_TOKEN_EXPIRED', 'SWB_AUTH_TOKEN_NOT_YET_VALID'])

function nonNegative (name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name}: a number >= 0`)
  return value
}

function parseServerMessage (data: unknown): ServerMessage | undefined {
  if (typeof data !== 'string') return undefined
  try {
    const value = JSON.parse(data) as unknown
    if (typeof value !== 'object' || value === null) return undefined
    const { type, seq } = value as { type?: unknown, seq?: unknown }
    return typeof type === 'string' && typeof seq === 'number' ? value as ServerMessage : undefined
  } catch {
    return undefined
  }
}

const utf8 = new TextEncoder()

/** A refusal that says "not now": HTTP 503, or one of RETRYABLE_CODES (registry down, rate limited, JWKS refetch). */
export function retryable (error: SwitchboardError): boolean {
  return error.status === 503 || RETRYABLE_CODES.has(error.code)
}

/**
 * A Switchboard signaling client for browsers and Node. It keeps one session alive across network
 * drops: reconnecting with backoff, resuming with the last processed `seq` (the server replays what
 * was missed), deduplicating replays, queueing what the app sends meanwhile, and renewing its token.
 */
export class SwitchboardClient extends Emitter<SwitchboardEvents> {
  readonly endpoints: Endpoints
  private readonly WS: SocketConstructor | undefined
  private readonly fetchFn: FetchLike | undefined
  private readonly tokenSource: TokenSource
  private readonly reconnect: ReconnectOptions | false
  private readonly retry: RetryOptions
  private readonly options: typeof DEFAULTS & { pingIntervalMs: number | undefined }

  private _state: ClientState = 'idle'
  private socket: SocketLike | undefined
  private _welcome: WelcomeMessage | undefined
  private resumeToken: string | undefined
  private _lastSeq = 0
  private ackedSeq = 0
  private attempt = 0
  private nextId = 0
  private readonly queue: ClientMessage[] = []
  private readonly pending = new Map<string, Pending>()
  private connecting: Promise<WelcomeMessage> | undefined
  private abortAttempt: ((error: SwitchboardError) => void) | undefined
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined
  private drainTimer: ReturnType<typeof setTimeout> | undefined
  private livenessTimer: ReturnType<typeof setInterval> | undefined
  private readonly ackTimerFns: AckTimer
  /** Armed by the first message not yet acknowledged; undefined while everything is acked. */
  private ackTimer: { handle: unknown } | undefined
  /** Messages processed (seq advanced) since the last ack. */
  private unacked = 0
  /** Something arrived since the last liveness tick. */
  private heard = true
  private probing = false
  /** tokenExpiresAt of the last token-expiring we answered with a refresh (answer each expiry once). */
  private refreshedFor: number | undefined
  /** Drain moves in a row that landed on a draining instance again (e.g. a single instance restarting). */
  private drainHops = 0
  private lastDrainAt = 0
  /** Stop functions of the running monitorCall() loops. */
  private readonly monitors = new Set<() => void>()

  constructor (options: SwitchboardClientOptions) {
    super()
    this.endpoints = endpoints(options.url)
    // Checked at connect(): a client used only for getIceServers()/preflight() needs no WebSocket.
    this.WS = options.WebSocket ?? (globalThis as { WebSocket?: SocketConstructor }).WebSocket
    const fetchFn = options.fetch ?? (globalThis as { fetch?: FetchLike }).fetch
    this.fetchFn = fetchFn?.bind(globalThis)
    if (typeof options.token !== 'function' && (typeof options.token !== 'string' || options.token === '')) {
      throw new TypeError('token: a JWT string or a function returning one')
    }
    this.tokenSource = options.token
    this.reconnect = options.reconnect === false ? false : reconnectOptions(options.reconnect)
    this.retry = options.retry === false ? { ...DEFAULT_RETRY, maxAttempts: 1 } : { ...DEFAULT_RETRY, ...options.retry }
    this.options = {
      maxQueuedMessages: options.maxQueuedMessages ?? DEFAULTS.maxQueuedMessages,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      ackIntervalMs: nonNegative('ackIntervalMs', options.ackIntervalMs ?? DEFAULTS.ackIntervalMs),
      ackEveryMessages: nonNegative('ackEveryMessages', options.ackEveryMessages ?? DEFAULTS.ackEveryMessages),
      pingIntervalMs: options.pingIntervalMs
    }
    this.ackTimerFns = options.ackTimer ?? globalAckTimer
  }

  get state (): ClientState { return this._state }
  /** The welcome of the current (or last) connection. */
  get welcome (): WelcomeMessage | undefined { return this._welcome }
  get peerId (): string | undefined { return this._welcome?.peerId }
  /** Highest replayed-message seq processed: what a resume presents as `lastSeq`. */
  get lastSeq (): number { return this._lastSeq }
  /** Messages waiting for a connection. */
  get queued (): number { return this.queue.length }

  // ---- connection lifecycle ---------------------------------------------------------------

  /**
   * Opens the first connection and resolves with its welcome. A refusal that says when to come back
   * (Retry-After, e.g. a 503 while the server fetches its IdP's new signing key) is retried after that
   * long, within `reconnect.maxAttempts`. Any other failure rejects with a SwitchboardError (for a
   * refused upgrade, the reason learned from the preflight route) and leaves the client idle, so
   * connect() may be called again. Reconnection only starts once a session exists.
   */
  async connect (): Promise<WelcomeMessage> {
    if (this._state === 'closed') throw new SwitchboardError(ClientErrorCode.CLOSED, 'This client was closed; create a new one')
    if (this._state === 'open' && this._welcome) return this._welcome
    if (this.connecting) return this.connecting
    if (this._state === 'reconnecting') return (await this.waitFor('open')).welcome
    if (this.WS === undefined) throw new TypeError('No WebSocket implementation: pass { WebSocket } (in Node 20: import { WebSocket } from \'ws\')')
    this.setState('connecting')
    this.connecting = this.withRetry(() => this.openSocket(), () => this._state === 'connecting').catch((err: unknown) => {
      const error = asSwitchboardError(err, ClientErrorCode.CONNECT_FAILED)
      if (this._state === 'connecting') {
        this.setState('idle')
        this.failOutstanding(error)
      }
      throw error
    }).finally(() => { this.connecting = undefined })
    return this.connecting
  }

  /**
   * Ends the session: close code 1000 tells the server to remove this peer from its rooms at once
   * (the others get peer-left `left`). Outstanding requests reject with SWB_CLIENT_CLOSED. Final.
   * While reconnecting there is no socket to say it on: the server ends the session after its grace period.
   */
  async close (reason = 'client closed'): Promise<void> {
    if (this._state === 'closed') return
    const error = new SwitchboardError(ClientErrorCode.CLOSED, 'The client was closed')
    const socket = this.socket
    const wasOpen = this._state === 'open'
    // An attempt in progress is closed with 1000 too (not the 4000 of a failed attempt): the session ends.
    if (socket !== undefined && !wasOpen) retireSocket(socket, CloseCode.NORMAL, reason)
    this.abortAttempt?.(error)
    this.socket = undefined
    this.resumeToken = undefined
    this.stopTimers()
    this.stopMonitors()
    clearTimeout(this.reconnectTimer)
    this.setState('closed')
    this.failOutstanding(error)
    if (socket !== undefined && wasOpen && socket.readyState === SOCKET_OPEN) {
      const live = socket
      // Wait for the server's close frame, so the session has ended before close() resolves.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, 2000)
        function done (): void {
          clearTimeout(timer)
          retireSocket(live)
          resolve()
        }
        live.onmessage = () => {}
        live.onclose = done
        live.close(CloseCode.NORMAL, reason)
      })
    } else if (socket !== undefined) {
      retireSocket(socket, CloseCode.NORMAL, reason)
    }
    this.emit('close', { code: CloseCode.NORMAL, reason, willReconnect: false })
  }

  /** A method, not a comparison, so TypeScript does not carry a narrowing across awaits and callbacks. */
  private isClosed (): boolean {
    return this._state === 'closed'
  }

  private setState (state: ClientState): void {
    const previous = this._state
    if (previous === state) return
    this._state = state
    this.emit('state', { state, previous })
  }

  private get canRenewToken (): boolean {
    return typeof this.tokenSource === 'function'
  }

  private async resolveToken (): Promise<string> {
    let token: unknown
    try {
      token = typeof this.tokenSource === 'function' ? await this.tokenSource() : this.tokenSource
    } catch (err) {
      throw new SwitchboardError(ClientErrorCode.TOKEN_UNAVAILABLE, `The token function failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
    if (typeof token !== 'string' || token === '') throw new SwitchboardError(ClientErrorCode.TOKEN_UNAVAILABLE, 'The token function returned no token')
    return token
  }


  /** One connection attempt: resolves once the welcome is processed, rejects with the reason it failed. */
  private async openSocket (): Promise<WelcomeMessage> {
    const WS = this.WS
    if (WS === undefined) throw new TypeError('No WebSocket implementation')
    const token = await this.resolveToken()
    if (this._state === 'closed') throw new SwitchboardError(ClientErrorCode.CLOSED, 'The client was closed')
    const resuming = this.resumeToken !== undefined
    const url = new URL(this.endpoints.signal)
    if (this.resumeToken !== undefined) {
      url.searchParams.set('resume', this.resumeToken)
      url.searchParams.set('lastSeq', String(this._lastSeq))
    }

    return new Promise<WelcomeMessage>((resolve, reject) => {
      let socket: SocketLike
      try {
        socket = new WS(url.toString(), [SUBPROTOCOL, BEARER_SUBPROTOCOL_PREFIX + token], SOCKET_OPTIONS)
      } catch (err) {
        reject(new SwitchboardError(ClientErrorCode.CONNECT_FAILED, `Cannot open a WebSocket: ${err instanceof Error ? err.message : String(err)}`, { cause: err }))
        return
      }
      this.socket = socket
      let opened = false
      let settled = false
      /** An `error` the server sent before the welcome (e.g. SWB_TOO_MANY_CONNECTIONS), then it closes. */
      let refusal: SwitchboardError | undefined

      const fail = (error: SwitchboardError): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        this.abortAttempt = undefined
        if (this.socket === socket) this.socket = undefined
        retireSocket(socket, CloseCode.CLIENT_RECONNECTING, 'connection attempt failed')
        reject(error)
      }
      const timer = setTimeout(() => {
        fail(new SwitchboardError(ClientErrorCode.TIMEOUT, `No welcome within ${this.options.connectTimeoutMs} ms`))
      }, this.options.connectTimeoutMs)
      this.abortAttempt = fail

      socket.onopen = () => {
        opened = true
        if (socket.protocol !== SUBPROTOCOL) {
          fail(new SwitchboardError(ClientErrorCode.PROTOCOL_MISMATCH, `The server selected subprotocol "${socket.protocol}", not ${SUBPROTOCOL}`))
        }
      }
      socket.onmessage = (event) => {
        const message = parseServerMessage(event.data)
        if (message === undefined) return
        if (settled) {
          this.onServerMessage(message)
          return
        }
        if (message.type === 'error') {
          refusal = new SwitchboardError(message.code, message.message)
          return
        }
        if (message.type !== 'welcome') return
        // Processed synchronously: replayed messages may already be queued right behind the welcome.
        settled = true
        clearTimeout(timer)
        this.abortAttempt = undefined
        this.establish(message, resuming)
        resolve(message)
      }
      socket.onerror = () => {
        // A close event always follows; it carries what little the browser tells.
      }
      socket.onclose = (event) => {
        if (settled) {
          this.onSocketClosed(socket, event.code, event.reason)
          return
        }
        if (refusal !== undefined) {
          fail(refusal)
        } else if (opened) {
          fail(new SwitchboardError(ClientErrorCode.CONNECT_FAILED, `The server closed the connection before its welcome (${event.code}${event.reason ? ` ${event.reason}` : ''})`))
        } else {
          // A refused upgrade looks like any network failure (1006): ask the preflight route why.
          void this.diagnose(token).then(fail)
        }
      }
    })
  }

  /** The reason an upgrade failed, from GET /v1/signal/preflight (which runs the same checks). */
  private async diagnose (token: string): Promise<SwitchboardError> {
    const unexplained = new SwitchboardError(ClientErrorCode.CONNECT_FAILED, 'The WebSocket connection failed')
    if (this.fetchFn === undefined) return unexplained
    try {
      await requestJson<PreflightResult>(this.fetchFn, this.endpoints.http + PREFLIGHT_PATH, token, { method: 'GET' })
      return unexplained
    } catch (err) {
      return asSwitchboardError(err, ClientErrorCode.CONNECT_FAILED)
    }
  }

  /** A connection failure that retrying cannot cure: a refused origin, a bad token, a bad request. */
  private isFatal (error: SwitchboardError): boolean {
    if (error.code === ClientErrorCode.PROTOCOL_MISMATCH || error.code === ClientErrorCode.CLOSED) return true
    const status = error.status
    if (status === undefined || status === 429 || status >= 500) return false
    if (status === 401) return !(this.canRenewToken && RENEWABLE_AUTH_CODES.has(error.code))
    return status >= 400
  }

  /** The welcome arrived: the connection is live. Runs synchronously, before any replayed message. */
  private establish (welcome: WelcomeMessage, resuming: boolean): void {
    this._welcome = welcome
    this.resumeToken = welcome.resumeToken
    this.attempt = 0
    this.heard = true
    this.probing = false
    const lost = resuming && !welcome.resumed
    if (!welcome.resumed) {
      // A fresh session numbers its messages from its welcome's seq (0).
      this._lastSeq = welcome.seq
      this.ackedSeq = welcome.seq
      this.unacked = 0
      this.refreshedFor = undefined
    }
    this.setState('open')
    this.startTimers(welcome)
    let sessionLost: SessionLostEvent | undefined
    if (lost) {
      const code = welcome.resumeError?.code ?? 'SWB_RESUME_UNKNOWN'
      const message = welcome.resumeError?.message ?? 'The session could not be resumed'
      // The old session's rooms are gone: what was meant for them must not leak into the new one.
      this.failOutstanding(new SwitchboardError(code, message))
      sessionLost = { code, message, welcome }
    } else {
      if (welcome.resumed) this.resendInFlight(new Set(welcome.rooms))
      this.flushQueue()
    }
    this.emit('welcome', welcome)
    if (sessionLost) this.emit('session-lost', sessionLost)
    if (welcome.resumed) this.emit('resumed', welcome)
    this.emit('open', { welcome, resumed: welcome.resumed })
  }

  /**
   * Requests sent on the dropped socket whose effect the session does not show: the server may never
   * have received them. Joins are idempotent, and a leave for a room we are still in is safe to repeat.
   * The others will be answered by the replay.
   */
  private resendInFlight (rooms: ReadonlySet<string>): void {
    for (const pending of this.pending.values()) {
      if (!pending.sent) continue
      const m = pending.message
      const resend = m.type === 'ping' || (m.type === 'join' && !rooms.has(m.room)) || (m.type === 'leave' && rooms.has(m.room))
      if (resend) this.write(m)
    }
  }

  private onSocketClosed (socket: SocketLike, code: number, reason: string): void {
    if (socket !== this.socket) return
    this.socket = undefined
    retireSocket(socket)
    this.stopTimers()
    const willReconnect = this.reconnect !== false && reconnectableClose(code, this.canRenewToken)
    this.emit('close', { code, reason, willReconnect })
    if (this._state === 'closed') return // a close listener called close()
    if (willReconnect) {
      this.scheduleReconnect('dropped')
    } else {
      this.finish(new SwitchboardError(ClientErrorCode.CLOSED, `The connection closed (${code}${reason ? ` ${reason}` : ''})`))
    }
  }

  /** Drops a live socket on our own initiative (drain, unresponsive server) and resumes on a new one. */
  private dropAndResume (reason: 'draining' | 'unresponsive'): void {
    const socket = this.socket
    if (socket === undefined || this._state !== 'open') return
    this.socket = undefined
    this.stopTimers()
    // Not 1000: that would end the session. Any other code keeps it resumable for the grace period.
    retireSocket(socket, CloseCode.CLIENT_RECONNECTING, reason, reason === 'unresponsive')
    const willReconnect = this.reconnect !== false
    this.emit('close', { code: CloseCode.CLIENT_RECONNECTING, reason, willReconnect })
    if (this._state !== 'open') return // a close listener called close()
    if (this.reconnect === false) {
      this.finish(new SwitchboardError(ClientErrorCode.CLOSED, `The connection was dropped (${reason})`))
      return
    }
    this.attempt = 0
    let delay: number | undefined
    if (reason === 'draining') {
      // The first move is immediate (the server already spread clients with afterMs). Landing on a
      // draining instance again means the balancer has nowhere else to send us: back off.
      const now = Date.now()
      this.drainHops = now - this.lastDrainAt < this.reconnect.maxDelayMs ? this.drainHops + 1 : 1
      this.lastDrainAt = now
      delay = this.drainHops <= 1 ? 0 : backoffDelay(this.drainHops - 1, this.reconnect)
    }
    this.scheduleReconnect(reason, delay)
  }

  private scheduleReconnect (reason: ReconnectingEvent['reason'], delayMs?: number, error?: SwitchboardError): void {
    if (this._state === 'closed' || this.reconnect === false) return
    this.attempt += 1
    if (this.attempt > this.reconnect.maxAttempts) {
      const gaveUp = error ?? new SwitchboardError(ClientErrorCode.CONNECT_FAILED, `Gave up after ${this.reconnect.maxAttempts} attempts`)
      this.emit('close', { code: 1006, reason: gaveUp.message, willReconnect: false, error: gaveUp })
      this.finish(gaveUp)
      return
    }
    const delay = delayMs ?? backoffDelay(this.attempt, this.reconnect)
    this.setState('reconnecting')
    this.emit('reconnecting', { attempt: this.attempt, delayMs: delay, reason, ...(error && { error }) })
    clearTimeout(this.reconnectTimer)
    this.reconnectTimer = setTimeout(() => { void this.reconnectNow() }, delay)
  }

  private async reconnectNow (): Promise<void> {
    if (this._state !== 'reconnecting') return
    try {
      await this.openSocket()
    } catch (err) {
      if (this.isClosed()) return
      const error = asSwitchboardError(err, ClientErrorCode.CONNECT_FAILED)
      if (this.isFatal(error)) {
        this.emit('close', { code: 1006, reason: error.message, willReconnect: false, error })
        this.finish(error)
        return
      }
      const delay = error.retryAfterMs !== undefined && this.reconnect !== false
        ? Math.max(error.retryAfterMs, backoffDelay(this.attempt + 1, this.reconnect))
        : undefined
      this.scheduleReconnect('retry', delay, error)
    }
  }

  /** The connection is over for good (not through close()). */
  private finish (error: SwitchboardError): void {
    clearTimeout(this.reconnectTimer)
    this.stopTimers()
    this.stopMonitors()
    this.resumeToken = undefined
    this.setState('closed')
    this.failOutstanding(error)
  }

  /** Rejects every outstanding request and drops every queued message with `error`. */
  private failOutstanding (error: SwitchboardError): void {
    const queued = this.queue.splice(0)
    for (const message of queued) this.emit('dropped', { message, error })
    const pending = [...this.pending.values()]
    this.pending.clear()
    for (const p of pending) {
      clearTimeout(p.timer)
      p.reject(error)
    }
  }

  // ---- timers: liveness, acks, drain ------------------------------------------------------

  private startTimers (welcome: WelcomeMessage): void {
    this.stopTimers()
    const pingEvery = this.options.pingIntervalMs ?? welcome.heartbeatIntervalMs
    if (pingEvery > 0) this.livenessTimer = setInterval(() => this.checkLiveness(), pingEvery)
    // Messages processed on the previous socket and not acknowledged yet get their ack on this one.
    if (this._lastSeq > this.ackedSeq) this.armAckTimer()
  }

  private stopTimers (): void {
    clearInterval(this.livenessTimer)
    this.disarmAckTimer()
    clearTimeout(this.drainTimer)
    this.livenessTimer = undefined
    this.drainTimer = undefined
  }

  /**
   * Browsers cannot see WebSocket pings, so a half-open socket (common when a phone changes network)
   * would look alive for minutes. A quiet interval gets a `ping`; another one with no answer means dead.
   */
  private checkLiveness (): void {
    if (this.heard) {
      this.heard = false
      this.probing = false
      return
    }
    if (!this.probing) {
      this.probing = true
      this.write({ type: 'ping' })
      return
    }
    this.dropAndResume('unresponsive')
  }

  /** One more message processed: ack now when the count is reached, else make sure the timer runs. */
  private countForAck (): void {
    this.unacked += 1
    const every = this.options.ackEveryMessages
    if (every > 0 && this.unacked >= every) this.sendAck()
    else this.armAckTimer()
  }

  private armAckTimer (): void {
    if (this.ackTimer !== undefined || this.options.ackIntervalMs <= 0 || this._state !== 'open') return
    const timer: { handle: unknown } = { handle: undefined }
    timer.handle = this.ackTimerFns.set(() => {
      if (this.ackTimer !== timer) return
      this.ackTimer = undefined
      this.sendAck()
    }, this.options.ackIntervalMs)
    this.ackTimer = timer
  }

  private disarmAckTimer (): void {
    if (this.ackTimer === undefined) return
    this.ackTimerFns.clear(this.ackTimer.handle)
    this.ackTimer = undefined
  }

  /** Acknowledges everything processed so far; nothing is sent when nothing new arrived since the last ack. */
  private sendAck (): void {
    this.disarmAckTimer()
    if (this._lastSeq <= this.ackedSeq || this._state !== 'open') return
    // Only a written ack counts: one lost with its socket is sent again (by the timer) on the next one.
    if (!this.write({ type: 'ack', seq: this._lastSeq })) return
    this.ackedSeq = this._lastSeq
    this.unacked = 0
  }

  /** token-expiring: with a token function, fetch a new token and send `refresh` (once per expiry). */
  private async renewToken (tokenExpiresAt: number): Promise<void> {
    if (!this.canRenewToken || this.refreshedFor === tokenExpiresAt) return
    this.refreshedFor = tokenExpiresAt
    let token: string
    try {
      token = await this.resolveToken()
    } catch {
      // The server closes with 4001 at expiry; reconnecting asks the token function again.
      return
    }
    if (this._state === 'open') this.write({ type: 'refresh', id: this.newId(), token })
  }

  // ---- inbound ----------------------------------------------------------------------------

  private onServerMessage (message: ServerMessage): void {
    this.heard = true
    const advanced = REPLAYED_TYPES.has(message.type)
    if (advanced) {
      // Replays may repeat what was already processed: seq tells.
      if (message.seq <= this._lastSeq) return
      this._lastSeq = message.seq
    }
    switch (message.type) {
      case 'joined':
      case 'left':
        this.settleRoomRequests(message.type === 'joined' ? 'join' : 'leave', message.room, message)
        break
      case 'pong':
        if (message.ref !== undefined) this.settle(message.ref, message)
        break
      case 'error':
        if (message.ref !== undefined) this.settle(message.ref, new SwitchboardError(message.code, message.message, { ref: message.ref }))
        else if (RETRYABLE_CODES.has(message.code)) this.resendUnanswered()
        break
      case 'token-expiring':
        void this.renewToken(message.tokenExpiresAt)
        break
      case 'reconnect':
        // Without automatic reconnection the server's close at the drain deadline ends the connection.
        if (this.reconnect === false) break
        clearTimeout(this.drainTimer)
        this.drainTimer = setTimeout(() => this.dropAndResume('draining'), message.afterMs)
        break
    }
    this.emit(message.type, message as never)
    // Acked once the listeners ran: `ack` means processed, not just received.
    if (advanced) this.countForAck()
  }

  /**
   * A rate-limit refusal names no message (the server refuses before parsing, to stay cheap): any
   * join/leave still unanswered may be the one. They are sent again after a backoff; both are
   * idempotent, and a duplicate answer finds its request already settled. Bounded by retry.maxAttempts.
   */
  private resendUnanswered (): void {
    for (const pending of this.pending.values()) {
      const m = pending.message
      if (!pending.sent || m.type === 'ping' || pending.resends + 1 >= this.retry.maxAttempts) continue
      pending.resends += 1
      const delay = backoffDelay(pending.resends, { ...this.retry, factor: 2, jitter: 0.5 })
      setTimeout(() => { if (this.pending.get(m.id ?? '') === pending) this.write(m) }, delay)
    }
  }

  private settle (id: string, outcome: ServerMessage | SwitchboardError): void {
    const pending = this.pending.get(id)
    if (pending === undefined) return
    this.pending.delete(id)
    clearTimeout(pending.timer)
    if (outcome instanceof SwitchboardError) pending.reject(outcome)
    else pending.resolve(outcome)
  }

  private settleRoomRequests (type: 'join' | 'leave', room: string, message: ServerMessage): void {
    for (const [id, pending] of this.pending) {
      if (pending.message.type === type && pending.message.room === room) this.settle(id, message)
    }
  }

  // ---- outbound ---------------------------------------------------------------------------

  private newId (): string {
    this.nextId += 1
    return String(this.nextId)
  }

  /** Writes to the live socket. Only for messages that make sense on this connection alone. */
  private write (message: ClientMessage): boolean {
    const socket = this.socket
    if (socket === undefined || socket.readyState !== SOCKET_OPEN) return false
    socket.send(JSON.stringify(message))
    return true
  }

  /** Sends now when connected, else queues (bounded) for after the next resume. */
  private submit (message: ClientMessage): void {
    if (this._state === 'closed') throw new SwitchboardError(ClientErrorCode.CLOSED, 'The client was closed')
    if (this._state === 'idle') throw new SwitchboardError(ClientErrorCode.NOT_CONNECTED, 'Call connect() first')
    const json = JSON.stringify(message)
    const limit = this._welcome?.limits.maxMessageBytes
    if (limit !== undefined && utf8.encode(json).length > limit) {
      throw new SwitchboardError(ClientErrorCode.MESSAGE_TOO_LARGE, `Message exceeds the server's ${limit} bytes`)
    }
    const socket = this.socket
    if (this._state === 'open' && socket !== undefined && socket.readyState === SOCKET_OPEN) {
      socket.send(json)
      const pending = message.id === undefined ? undefined : this.pending.get(message.id)
      if (pending) pending.sent = true
      return
    }
    if (this.queue.length >= this.options.maxQueuedMessages) {
      throw new SwitchboardError(ClientErrorCode.QUEUE_FULL, `More than ${this.options.maxQueuedMessages} messages queued while disconnected`)
    }
    this.queue.push(message)
  }

  private flushQueue (): void {
    const socket = this.socket
    while (this.queue.length > 0 && socket !== undefined && socket.readyState === SOCKET_OPEN) {
      const message = this.queue.shift()
      if (message === undefined) break
      socket.send(JSON.stringify(message))
      const pending = message.id === undefined ? undefined : this.pending.get(message.id)
      if (pending) pending.sent = true
    }
  }

  private request<T extends ServerMessage> (message: ClientMessageOf<'join' | 'leave' | 'ping'> & { id: string }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(message.id)
        const queuedAt = this.queue.indexOf(message)
        if (queuedAt >= 0) this.queue.splice(queuedAt, 1)
        reject(new SwitchboardError(ClientErrorCode.TIMEOUT, `No answer to "${message.type}" within ${this.options.requestTimeoutMs} ms`, { ref: message.id }))
      }, this.options.requestTimeoutMs)
      this.pending.set(message.id, { message, sent: false, resends: 0, resolve: resolve as (m: ServerMessage) => void, reject, timer })
      try {
        this.submit(message)
      } catch (err) {
        clearTimeout(timer)
        this.pending.delete(message.id)
        reject(err)
      }
    })
  }

  /** Joins `room` (the token must grant it). Resolves with `joined` (its `peers` are already there), rejects with the server's code. */
  join (room: string, meta?: PeerMeta): Promise<JoinedMessage> {
    return this.withRetry(() => this.request<JoinedMessage>({ type: 'join', id: this.newId(), room, ...(meta !== undefined && { meta }) }))
  }

  /** Leaves `room`. Resolves with `left`; rejects with SWB_NOT_IN_ROOM when not in it. */
  leave (room: string): Promise<LeftMessage> {
    return this.withRetry(() => this.request<LeftMessage>({ type: 'leave', id: this.newId(), room }))
  }

  /** Sends an SDP offer to one peer of `room`. Returns the message id (an `error` refusing it carries it as `ref`). */
  sendOffer (room: string, to: string, sdp: string): string {
    const id = this.newId()
    this.submit({ type: 'offer', id, room, to, sdp })
    return id
  }

  sendAnswer (room: string, to: string, sdp: string): string {
    const id = this.newId()
    this.submit({ type: 'answer', id, room, to, sdp })
    return id
  }

  /** Trickles an ICE candidate (an RTCIceCandidate or its init); null signals end-of-candidates. */
  sendCandidate (room: string, to: string, candidate: IceCandidate): string {
    const id = this.newId()
    // Only the four RTCIceCandidateInit fields: an RTCIceCandidate object carries many more, which the server refuses.
    const init = candidate === null
      ? null
      : Object.fromEntries(Object.entries({
        candidate: candidate.candidate,
        sdpMid: candidate.sdpMid,
        sdpMLineIndex: candidate.sdpMLineIndex,
        usernameFragment: candidate.usernameFragment
      }).filter(([, v]) => v !== undefined)) as NonNullable<IceCandidate>
    this.submit({ type: 'candidate', id, room, to, candidate: init })
    return id
  }

  /** An application message to one peer, or (without `to`) everyone else in the room. */
  send (room: string, data: unknown, to?: string): string {
    const id = this.newId()
    this.submit({ type: 'message', id, room, data, ...(to !== undefined && { to }) })
    return id
  }

  /** Round trip to the server in ms. Only while connected (it measures this connection). */
  async ping (): Promise<number> {
    if (this._state !== 'open') throw new SwitchboardError(ClientErrorCode.NOT_CONNECTED, 'Not connected')
    const started = Date.now()
    await this.request({ type: 'ping', id: this.newId() })
    return Date.now() - started
  }

  // ---- call quality ---------------------------------------------------------------------

  /**
   * Sends a call-quality report (see callQualityReport()). The server does not answer it. Stats are
   * perishable: while not connected the report is dropped, not queued. Returns the message id when
   * sent (an `error` refusing it carries it as `ref`), undefined when dropped.
   */
  reportStats (report: CallQualityReport): string | undefined {
    const socket = this.socket
    if (this._state !== 'open' || socket === undefined || socket.readyState !== SOCKET_OPEN) return undefined
    const id = this.newId()
    // Only the fields of the message: the server refuses any other property.
    const message: ClientMessageOf<'stats'> = { type: 'stats', id, candidateType: report.candidateType }
    for (const key of ['rttMs', 'jitterMs', 'packetLoss', 'bitrateBps'] as const) {
      const value = report[key]
      if (value !== undefined) message[key] = value
    }
    socket.send(JSON.stringify(message))
    return id
  }

  /**
   * Reports the call's quality every `intervalMs` (the first report after one interval): samples
   * `pc.getStats()`, turns it into a report covering the interval, and sends it with reportStats(). Returns
   * a function that stops it; it also stops when `pc` is closed and when this client is closed.
   */
  monitorCall (pc: StatsSource, intervalMs = DEFAULT_STATS_INTERVAL_MS): () => void {
    if (this._state === 'closed') throw new SwitchboardError(ClientErrorCode.CLOSED, 'The client was closed')
    if (typeof pc?.getStats !== 'function') throw new TypeError('monitorCall: expected an RTCPeerConnection (an object with getStats())')
    if (!Number.isFinite(intervalMs) || intervalMs < MIN_STATS_INTERVAL_MS) {
      throw new RangeError(`monitorCall: intervalMs must be a number of ms >= ${MIN_STATS_INTERVAL_MS}`)
    }
    let previous: StatsSnapshot | undefined
    let active = true
    let sampling = false
    const stop = (): void => {
      if (!active) return
      active = false
      clearInterval(timer)
      this.monitors.delete(stop)
    }
    const sample = async (): Promise<void> => {
      if (pc.connectionState === 'closed') {
        stop()
        return
      }
      // A getStats() slower than the interval skips a tick instead of piling up calls.
      if (sampling) return
      sampling = true
      try {
        const stats = await pc.getStats()
        if (!active) return
        const { report, snapshot } = callQualityReport(stats, previous)
        // The snapshot moves on even when the report is dropped: the next one covers its own interval only.
        previous = snapshot
        this.reportStats(report)
      } catch {
        // getStats() rejects while the connection closes under us: that tick has nothing to report.
      } finally {
        sampling = false
      }
    }
    const timer = setInterval(() => { void sample() }, intervalMs)
    this.monitors.add(stop)
    return stop
  }

  private stopMonitors (): void {
    for (const stop of [...this.monitors]) stop()
  }

  // ---- HTTP -------------------------------------------------------------------------------

  private requireFetch (): FetchLike {
    if (this.fetchFn === undefined) throw new TypeError('No fetch implementation: pass { fetch }')
    return this.fetchFn
  }

  /**
   * Short-lived TURN credentials as an RTCConfiguration: `new RTCPeerConnection(await client.getIceServers())`.
   * Fetch again at `refreshAt`. `ttl` (seconds) asks for a shorter lifetime.
   */
  async getIceServers (ttl?: number): Promise<IceServersResult> {
    const fetchFn = this.requireFetch()
    return this.withRetry(async () => requestJson<IceServersResult>(fetchFn, this.endpoints.http + TURN_CREDENTIALS_PATH, await this.resolveToken(), {
      method: 'POST',
      ...(ttl !== undefined && { body: { ttl } })
    }))
  }

  /** Runs the upgrade's checks (token, origin, connection limit, draining) over HTTP and says why it would fail. */
  async preflight (): Promise<PreflightResult> {
    const fetchFn = this.requireFetch()
    return this.withRetry(async () => requestJson<PreflightResult>(fetchFn, this.endpoints.http + PREFLIGHT_PATH, await this.resolveToken(), { method: 'GET' }))
  }

  // ---- retries ----------------------------------------------------------------------------

  /**
   * Runs `attempt` until it succeeds, fails with a refusal that is not retryable(), or runs out of
   * attempts; waits with exponential backoff (or the server's Retry-After, when it fits under
   * maxDelayMs: a longer one is surfaced at once). `stillWanted` stops early (e.g. close() meanwhile).
   */
  private async withRetry<T> (attempt: () => Promise<T>, stillWanted: () => boolean = () => !this.isClosed()): Promise<T> {
    const { maxAttempts, initialDelayMs, maxDelayMs } = this.retry
    for (let n = 1; ; n++) {
      try {
        return await attempt()
      } catch (err) {
        if (!(err instanceof SwitchboardError) || !retryable(err) || n >= maxAttempts || !stillWanted()) throw err
        if (err.retryAfterMs !== undefined && err.retryAfterMs > maxDelayMs) throw err
        const backoff = backoffDelay(n, { initialDelayMs, maxDelayMs, factor: 2, jitter: 0.5, maxAttempts })
        await new Promise((resolve) => setTimeout(resolve, Math.max(backoff, err.retryAfterMs ?? 0)))
        if (!stillWanted()) throw err
      }
    }
  }
}
