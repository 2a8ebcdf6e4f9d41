import { createHash, randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket } from 'ws'
import type { Config } from '../../src/config.js'
import type { Auth, Identity } from '../auth/types.js'
import type { DeliveryOutcome, RoomRegistry } from '../registry/types.js'
import { Connection } from './connection.js'
import { SignalCode, SignalError } from './errors.js'
import { CloseCode, type ConnectionLimits, type OutgoingMessage, type PeerInfo } from './messages.js'
import type { SignalingObserver, Who } from './observer.js'

const NORMAL_CLOSURE = 1000

export interface ResumeRequest { token: string, lastSeq: number }

export function hashResumeToken (token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

/**
 * Everything signaling keeps per instance: the live connections, the grace timers of dropped peers,
 * the heartbeat and the drain. Shared state (rooms, sessions, buffers) is in the registry.
 */
export class SignalingHub {
  readonly connections = new Map<string, Connection>()
  private readonly graceTimers = new Map<string, NodeJS.Timeout>()
  private readonly heartbeat: NodeJS.Timeout
  draining = false
  private closing = false

  constructor (
    readonly config: Config,
    readonly registry: RoomRegistry,
    readonly auth: Auth,
    readonly observer: SignalingObserver,
    private readonly log: FastifyBaseLogger
  ) {
    // One timer for all sockets: a socket that missed the previous ping is dead.
    this.heartbeat = setInterval(() => this.beat(), config.WS_HEARTBEAT_INTERVAL_MS)
    this.heartbeat.unref()
    // Shared registries: a peer resumed on another instance (retire its socket here), or a session
    // with no socket anywhere must end (its instance died and the grace ran out).
    registry.onTakeover?.((peerId) => this.retire(peerId))
    registry.onSessionOrphaned?.((peerId) => this.expire(peerId, 'timeout'))
  }

  get limits (): ConnectionLimits {
    const c = this.config
    return {
      maxMessageBytes: c.WS_MAX_MESSAGE_BYTES,
      messagesPerSecond: c.WS_MESSAGES_PER_SECOND,
      messageBurst: c.WS_MESSAGE_BURST,
      maxRoomsPerPeer: c.MAX_ROOMS_PER_PEER,
      maxConnectionsPerUser: c.MAX_CONNECTIONS_PER_USER,
      roomCapacity: c.ROOM_CAPACITY,
      resumeGraceMs: Math.round(c.RESUME_GRACE_SECONDS * 1000),
      resumeBufferMessages: c.RESUME_BUFFER_MESSAGES,
      resumeBufferBytes: c.RESUME_BUFFER_BYTES
    }
  }

  private beat (): void {
    for (const conn of this.connections.values()) {
      if (!conn.alive) {
        conn.log.info('heartbeat timeout')
        this.observer.heartbeatTimeout()
        conn.socket.terminate()
        continue
      }
      conn.alive = false
      conn.socket.ping()
    }
  }

  /** Sets up a freshly upgraded socket: resume or a new session, the welcome, then live traffic. */
  async accept (socket: WebSocket, identity: Identity, resume: ResumeRequest | undefined, log: FastifyBaseLogger): Promise<void> {
    // Frames sent before we are ready wait in the socket, instead of reaching no listener.
    socket.pause()
    let closedEarly: number | undefined
    const onEarlyClose = (code: number): void => { closedEarly = code }
    socket.once('close', onEarlyClose)

    let peerId: string | undefined
    let resumeError: SignalError | undefined
    let replayed: Array<{ seq: number, json: string }> = []
    let rooms: string[] = []
    if (resume) {
      const result = await this.findResumable(identity, resume)
      if (result.ok) ({ peerId, replayed, rooms } = result)
      else resumeError = result.error
    }

    // A resumed peer's previous socket (often half-open on a flaky network) gives way to this one.
    const previous = peerId === undefined ? undefined : this.connections.get(peerId)
    if (previous) await this.replace(previous)

    if (!await this.registry.acquireConnection(identity.sub, this.config.MAX_CONNECTIONS_PER_USER)) {
      this.observer.refused({ userId: identity.sub }, SignalCode.TOO_MANY_CONNECTIONS)
      // No welcome and no session: this error is the only message, hence seq 0.
      socket.send(JSON.stringify({ type: 'error', seq: 0, code: SignalCode.TOO_MANY_CONNECTIONS, message: `At most ${this.config.MAX_CONNECTIONS_PER_USER} connections per user` }))
      socket.close(CloseCode.POLICY, 'too many connections')
      socket.off('close', onEarlyClose)
      // Still paused, the socket would never read the client's closing handshake and would linger
      // (both ends waiting for ws's 30 s close timeout).
      socket.resume()
      return
    }

    const resumeToken = randomBytes(32).toString('base64url')
    const resumed = peerId !== undefined
    try {
      if (peerId === undefined) {
        peerId = randomBytes(12).toString('base64url')
        await this.registry.createSession(peerId, identity.sub, hashResumeToken(resumeToken))
      } else if (resume) {
        clearTimeout(this.graceTimers.get(peerId))
        this.graceTimers.delete(peerId)
        // The presented token stays valid next to the new one: this welcome may be lost with the socket.
        await this.registry.rotateResumeToken(peerId, hashResumeToken(resumeToken), hashResumeToken(resume.token))
      }
    } catch (err) {
      // The slot taken above belongs to no connection yet: give it back before failing.
      await this.registry.releaseConnection(identity.sub).catch(() => {})
      throw err
    }

    const conn = new Connection(peerId, identity, socket, this, log.child({ peerId }))
    conn.seq = resumed && resume ? resume.lastSeq : 0
    this.connections.set(peerId, conn)
    this.registry.attach(peerId, conn.sink)
    if (resumed && resume) {
      // Read the backlog again now that the sink is attached: whatever was delivered since the first
      // read (while no sink, or the replaced one, was attached) is in it, and everything from here on
      // lands in conn's pending queue; startLive() skips the overlap by seq, so nothing is lost or doubled.
      const again = await this.registry.replay(peerId, resume.lastSeq)
      if (again.ok) replayed = again.messages
    }
    socket.off('close', onEarlyClose)
    socket.on('close', (code: number) => {
      // During a registry outage the cleanup can fail; it must not become an unhandled rejection.
      this.onClose(conn, code).catch((err: unknown) => conn.log.warn({ err }, 'connection cleanup failed'))
    })

    conn.sendTransient({
      type: 'welcome',
      peerId,
      userId: identity.sub,
      resumeToken,
      resumed,
      ...(resumeError && { resumeError: { code: resumeError.code, message: resumeError.message } }),
      rooms,
      heartbeatIntervalMs: this.config.WS_HEARTBEAT_INTERVAL_MS,
      tokenExpiresAt: conn.tokenExpiresAtMs,
      limits: this.limits
    })
    conn.startLive(replayed)
    // Arrived during a drain (a resume, or a balancer that has not noticed yet): told to move on too,
    // rather than left to be cut off at the deadline.
    if (this.draining) conn.sendTransient(this.reconnectMessage())
    this.observer.connected(conn.who, resumed)
    conn.log.info({ userId: identity.sub, resumed, replayed: replayed.length, resumeError: resumeError?.code }, resumed ? 'peer resumed' : 'peer connected')
    socket.resume()
    if (closedEarly !== undefined) await this.onClose(conn, closedEarly)
  }

  private async findResumable (identity: Identity, resume: ResumeRequest): Promise<
    { ok: true, peerId: string, replayed: Array<{ seq: number, json: string }>, rooms: string[] } | { ok: false, error: SignalError }
  > {
    const hash = hashResumeToken(resume.token)
    const session = await this.registry.findSession(hash)
    if (session === 'ended') return { ok: false, error: new SignalError(SignalCode.RESUME_EXPIRED, 'The session has ended (grace period over, or it left)') }
    if (!session) return { ok: false, error: new SignalError(SignalCode.RESUME_UNKNOWN, 'Unknown resume token, or one whose successor was already used') }
    if (session.userId !== identity.sub) {
      return { ok: false, error: new SignalError(SignalCode.RESUME_FORBIDDEN, 'The resume token belongs to another user') }
    }
    const replay = await this.registry.replay(session.peerId, resume.lastSeq)
    if (!replay.ok) {
      // The old session cannot be made whole: end it now so its rooms do not wait for a ghost, and
      // retire its socket if one is still open (it would otherwise live on with no session behind it).
      const live = this.connections.get(session.peerId)
      if (live) await this.replace(live)
      await this.expire(session.peerId, 'timeout')
      return replay.reason === 'overflow'
        ? { ok: false, error: new SignalError(SignalCode.RESUME_OVERFLOW, 'Messages since lastSeq were dropped (replay buffer full)') }
        : { ok: false, error: new SignalError(SignalCode.RESUME_BAD_SEQ, `lastSeq ${resume.lastSeq} is ahead of the session (${session.seq})`) }
    }
    return { ok: true, peerId: session.peerId, replayed: replay.messages, rooms: session.rooms }
  }

  /** The peer was taken over by another instance: close its socket here (4009); its session carries on there. */
  private retire (peerId: string): void {
    clearTimeout(this.graceTimers.get(peerId))
    this.graceTimers.delete(peerId)
    const conn = this.connections.get(peerId)
    if (conn) this.replace(conn).catch((err: unknown) => conn.log.warn({ err }, 'could not retire a connection taken over elsewhere'))
  }

  /** Retires a connection whose peer resumed on a new socket; its session carries on. */
  private async replace (previous: Connection): Promise<void> {
    // Close before dispose: close() is a no-op on a disposed connection, which left the old socket open.
    previous.close(CloseCode.SESSION_REPLACED, 'session resumed on another connection', true)
    previous.dispose()
    this.connections.delete(previous.peerId)
    this.registry.detach(previous.peerId, previous.sink)
    await this.registry.releaseConnection(previous.userId)
  }

  private async onClose (conn: Connection, code: number): Promise<void> {
    this.observer.disconnected(conn.who, code)
    if (conn.closed) return // already replaced by a resumed connection
    conn.dispose()
    if (this.connections.get(conn.peerId) === conn) this.connections.delete(conn.peerId)
    this.registry.detach(conn.peerId, conn.sink)
    await this.registry.releaseConnection(conn.userId)
    conn.log.info({ code }, 'connection closed')
    if (this.closing) return
    // 1000 is the client saying goodbye; anything else is a drop that may be resumed.
    if (code === NORMAL_CLOSURE) {
      await this.expire(conn.peerId, 'left')
      return
    }
    const timer = setTimeout(() => {
      void this.expire(conn.peerId, 'timeout').catch((err: unknown) => this.log.error({ err }, 'session expiry failed'))
    }, Math.round(this.config.RESUME_GRACE_SECONDS * 1000))
    timer.unref()
    this.graceTimers.set(conn.peerId, timer)
  }

  /** Ends a session: it leaves its rooms and the others are told. */
  async expire (peerId: string, reason: 'left' | 'timeout'): Promise<void> {
    clearTimeout(this.graceTimers.get(peerId))
    this.graceTimers.delete(peerId)
    const rooms = await this.registry.deleteSession(peerId)
    this.observer.sessionEnded(peerId, reason)
    this.log.info({ peerId, reason, rooms: rooms.length }, 'session ended')
    for (const room of rooms) {
      const body = JSON.stringify({ type: 'peer-left', room, peerId, reason } satisfies OutgoingMessage)
      await Promise.all((await this.registry.members(room)).map((m) => this.deliverBody(m.peerId, 'peer-left', body)))
    }
  }

  async deliver (peerId: string, message: OutgoingMessage): Promise<DeliveryOutcome> {
    return this.deliverBody(peerId, message.type, JSON.stringify(message))
  }

  private async deliverBody (peerId: string, type: string, body: string): Promise<DeliveryOutcome> {
    const outcome = await this.registry.deliver(peerId, body)
    this.observer.delivered(type, outcome)
    return outcome
  }

  async join (conn: Connection, room: string, role: string | undefined, meta: Record<string, unknown> | undefined): Promise<void> {
    const member: PeerInfo = { peerId: conn.peerId, userId: conn.userId }
    if (role !== undefined) member.role = role
    if (meta !== undefined) member.meta = meta
    const outcome = await this.registry.join(room, member, { capacity: this.config.ROOM_CAPACITY, maxRoomsPerPeer: this.config.MAX_ROOMS_PER_PEER })
    if (!outcome.ok) {
      if (outcome.reason === 'full') throw new SignalError(SignalCode.ROOM_FULL, `Room "${room}" is full (${this.config.ROOM_CAPACITY} peers)`)
      if (outcome.reason === 'too-many-rooms') throw new SignalError(SignalCode.TOO_MANY_ROOMS, `A peer may be in at most ${this.config.MAX_ROOMS_PER_PEER} rooms`)
      throw new SignalError(SignalCode.INTERNAL, 'Session not found')
    }
    await this.deliver(conn.peerId, { type: 'joined', room, ...(role !== undefined && { role }), peers: outcome.peers })
    if (outcome.alreadyJoined) return
    conn.log.info({ room }, 'joined room')
    this.observer.joined(conn.who, room, role)
    const body = JSON.stringify({ type: 'peer-joined', room, peer: member } satisfies OutgoingMessage)
    await Promise.all(outcome.peers.map((p) => this.deliverBody(p.peerId, 'peer-joined', body)))
  }

  async leave (who: Who & { peerId: string }, room: string): Promise<void> {
    const { peerId } = who
    if (!await this.registry.leave(room, peerId)) throw new SignalError(SignalCode.NOT_IN_ROOM, `You are not in room "${room}"`)
    this.log.info({ peerId, room }, 'left room')
    this.observer.left(who, room)
    await this.deliver(peerId, { type: 'left', room })
    const body = JSON.stringify({ type: 'peer-left', room, peerId, reason: 'left' } satisfies OutgoingMessage)
    await Promise.all((await this.registry.members(room)).map((m) => this.deliverBody(m.peerId, 'peer-left', body)))
  }

  /** Delivers to one peer, only if both share `room`: a message never crosses rooms. */
  async relay (from: string, room: string, to: string, message: OutgoingMessage): Promise<void> {
    const [senderIn, recipientIn] = await Promise.all([this.registry.isMember(room, from), this.registry.isMember(room, to)])
    if (!senderIn) throw new SignalError(SignalCode.NOT_IN_ROOM, `You are not in room "${room}"`)
    if (!recipientIn || to === from) throw new SignalError(SignalCode.PEER_NOT_IN_ROOM, `Peer "${to}" is not in room "${room}"`)
    await this.deliver(to, message)
  }

  async broadcast (from: string, room: string, message: OutgoingMessage): Promise<void> {
    const members = await this.registry.members(room)
    if (!members.some((m) => m.peerId === from)) throw new SignalError(SignalCode.NOT_IN_ROOM, `You are not in room "${room}"`)
    const body = JSON.stringify(message)
    await Promise.all(members.filter((m) => m.peerId !== from).map((m) => this.deliverBody(m.peerId, message.type, body)))
  }

  /**
   * Graceful drain: refuse joins, ask every client to reconnect (spread over RECONNECT_JITTER_MS so
   * they do not all come back in the same second), then close whoever is left at the deadline.
   */
  async drain (deadlineMs: number): Promise<void> {
    if (this.draining) return
    this.draining = true
    this.log.info({ connections: this.connections.size, deadlineMs }, 'draining signaling connections')
    for (const conn of this.connections.values()) conn.sendTransient(this.reconnectMessage())
    const deadline = Date.now() + deadlineMs
    while (this.connections.size > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    this.closeAll()
  }

  /** Jittered over RECONNECT_JITTER_MS so that clients do not all come back in the same second. */
  private reconnectMessage (): OutgoingMessage {
    return { type: 'reconnect', reason: 'draining', afterMs: Math.floor(Math.random() * this.config.RECONNECT_JITTER_MS) }
  }

  private closeAll (): void {
    for (const conn of this.connections.values()) conn.close(CloseCode.GOING_AWAY, 'server shutting down', true)
  }

  /** Instance shutdown: stop timers, close every socket with 1001; sessions stay resumable elsewhere. */
  close (): void {
    this.closing = true
    clearInterval(this.heartbeat)
    for (const timer of this.graceTimers.values()) clearTimeout(timer)
    this.graceTimers.clear()
    this.closeAll()
  }
}
