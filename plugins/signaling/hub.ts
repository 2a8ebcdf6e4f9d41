import { hash } from 'node:crypto'
import type { Socket } from 'node:net'
import pLimit, { type LimitFunction } from 'p-limit'
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket } from 'ws'
import type { Config } from '../../src/config.js'
import type { Auth, Identity, RoomGrant } from '../auth/types.js'
import { grantFor } from '../auth/claims.js'
import type { DeliveryOutcome, Frame, RoomRegistry } from '../registry/types.js'
import { Connection, PENDING_MIN_BYTES, watchSocket, type ConnectionHost, type ConnectionSettings } from './connection.js'
import { DeadlineQueue } from './deadlines.js'
import { SignalCode, SignalError } from './errors.js'
import { Heartbeat } from './heartbeat.js'
import { CloseCode, type ConnectionLimits, type OutgoingMessage, type PeerInfo } from './messages.js'
import type { SignalingObserver, Who } from './observer.js'
import { RoomEvents } from './events.js'
import { RoomControl, type DeliveryScope } from './room-control.js'
import { randomId } from './random-id.js'

const NORMAL_CLOSURE = 1000

/**
 * Sessions ended at once by socket closes and grace periods: a mass disconnect (a load balancer
 * restarting, a network blip ending 30 s later for everyone) would otherwise start one session-end
 * script per socket in the same tick, and with Redis that queue alone outlasts REDIS_COMMAND_TIMEOUT_MS:
 * the registry then takes Redis for stalled and refuses every peer's relays. Capped, they go through
 * at Redis' pace while other commands interleave.
 */
export const CONCURRENT_SESSION_ENDS = 32

export interface ResumeRequest { token: string, lastSeq: number }

export function hashResumeToken (token: string): string {
  return hash('sha256', token, 'base64url')
}

type Resumable = { ok: true, peerId: string, replayed: Array<{ seq: number, json: Frame }>, rooms: string[] } | { ok: false, error: SignalError }

/**
 * Everything signaling keeps per instance: the live connections, the grace timers of dropped peers,
 * the heartbeat and the drain. Shared state (rooms, sessions, buffers) is in the registry.
 */
export class SignalingHub {
  readonly connections = new Map<string, Connection>()
  private readonly graceTimers = new Map<string, NodeJS.Timeout>()
  /** Ends of sessions whose socket closed or whose grace ran out (see CONCURRENT_SESSION_ENDS). */
  private readonly sessionEnds: LimitFunction = pLimit(CONCURRENT_SESSION_ENDS)
  private readonly heartbeat: Heartbeat<Connection>
  draining = false
  private closing = false
  /** What every welcome and preflight reports; the same for every connection. */
  readonly limits: ConnectionLimits
  /** What a Connection may do to the hub, and nothing more. */
  private readonly host: ConnectionHost
  /** Room lifecycle moments for integrations (webhooks). */
  readonly events: RoomEvents
  /** The admin API's operations on rooms and sessions, and the max-duration timers. */
  readonly control: RoomControl

  constructor (
    readonly config: Config,
    readonly registry: RoomRegistry,
    readonly auth: Auth,
    readonly observer: SignalingObserver,
    private readonly log: FastifyBaseLogger
  ) {
    const c = config
    this.limits = {
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
    const settings: ConnectionSettings = {
      maxMessageBytes: c.WS_MAX_MESSAGE_BYTES,
      messagesPerSecond: c.WS_MESSAGES_PER_SECOND,
      messageBurst: c.WS_MESSAGE_BURST,
      sendBufferLimitBytes: c.WS_SEND_BUFFER_LIMIT_BYTES,
      tokenExpiryWarningMs: c.TOKEN_EXPIRY_WARNING_SECONDS * 1000,
      pendingMaxBytes: Math.max(PENDING_MIN_BYTES, 2 * c.WS_MAX_MESSAGE_BYTES)
    }
    const hub = this
    this.host = {
      settings,
      observer,
      get draining () { return hub.draining },
      relay: (from, room, to, body) => registry.relay(room, from, to, body),
      broadcast: async (from, room, body) => this.broadcast(from, room, body),
      join: async (conn, room, grant, meta) => this.join(conn, room, grant, meta),
      leave: async (conn, room) => this.leave(conn.who, room),
      ack: (peerId, seq) => registry.ack(peerId, seq),
      verify: async (token) => auth.verify(token),
      tokenDeadlines: new DeadlineQueue<Connection>((conn) => conn.onTokenDue()),
      closed: (conn, code) => {
        // During a registry outage the cleanup can fail; it must not become an unhandled rejection.
        this.onClose(conn, code).catch((err: unknown) => conn.log.warn({ err }, 'connection cleanup failed'))
      }
    }
    this.heartbeat = new Heartbeat<Connection>(config.WS_HEARTBEAT_INTERVAL_MS, (conn) => {
      conn.info({}, 'heartbeat timeout')
      observer.heartbeatTimeout()
      conn.socket.terminate()
    })
    this.events = new RoomEvents((err, event) => log.error({ err, event }, 'room event listener failed'))
    this.control = new RoomControl(registry, {
      deliver: async (peerId, message) => this.deliver(peerId, message),
      deliverAll: async (members, type, body, scope) => this.deliverAll(members, type, body, scope),
      endRevoked: async (peerId, userId) => this.endRevoked(peerId, userId)
    }, this.events, log)
    // Shared registries: a peer was claimed by a newer socket elsewhere (retire its socket here), or a
    // session with no socket anywhere must end (its instance died and the grace ran out). Every
    // registry: a user's sessions were revoked (end the ones held here).
    registry.listen({
      takenOver: (peerId, epoch, moved) => this.takenOver(peerId, epoch, moved),
      orphaned: async (peerId) => { await this.expire(peerId, 'timeout') },
      revoked: async (userId) => this.control.revoked(userId),
      roomDeadline: async (room, startedAt) => { await this.control.endRoom(room, 'max-duration', startedAt) },
      missedDeparture: async (peerId, room, departed, reason) => {
        await this.deliverBody(peerId, 'peer-left', JSON.stringify({ type: 'peer-left', room, peerId: departed, reason } satisfies OutgoingMessage), room)
      },
      missedArrival: async (peerId, room, arrived, self) => {
        await Promise.all([
          this.deliverBody(peerId, 'peer-joined', JSON.stringify({ type: 'peer-joined', room, peer: arrived } satisfies OutgoingMessage), room),
          this.deliverBody(arrived.peerId, 'peer-joined', JSON.stringify({ type: 'peer-joined', room, peer: self } satisfies OutgoingMessage), room)
        ])
      }
    })
  }

  /** Sets up a freshly upgraded socket: resume or a new session, the welcome, then live traffic. */
  async accept (socket: WebSocket, tcp: Socket, identity: Identity, resume: ResumeRequest | undefined, reqId: string): Promise<void> {
    // Frames sent before we are ready wait in the socket, instead of reaching no listener.
    socket.pause()
    const setup = watchSocket(socket)

    const resumeToken = randomId(32)
    let conn: Connection | undefined
    let resumeError: SignalError | undefined
    let replayed: Array<{ seq: number, json: Frame }> = []
    let rooms: string[] = []
    if (resume) {
      const found = await this.findResumable(identity, resume)
      if (!found.ok) {
        resumeError = found.error
      } else {
        const claim = await this.registry.claimSession(found.peerId, hashResumeToken(resumeToken), hashResumeToken(resume.token))
        const previous = this.connections.get(found.peerId)
        if (claim !== undefined && previous !== undefined && previous.epoch > claim.epoch) {
          // A concurrent resume of the same session claimed it after us: that socket is the live one.
          this.refuseSocket(socket, CloseCode.SESSION_REPLACED, 'session resumed on another connection')
          return
        }
        if (claim === undefined) {
          resumeError = new SignalError(SignalCode.RESUME_UNKNOWN, 'Unknown resume token, or one whose successor was already used')
        } else {
          // No await between the claim and here: a takeover notice for a later claim finds this connection.
          if (previous !== undefined) this.replace(previous)
          this.cancelGrace(found.peerId)
          conn = this.install(found.peerId, identity, socket, tcp, claim.epoch, reqId)
          conn.seq = resume.lastSeq
          replayed = found.replayed
          rooms = found.rooms
        }
      }
    }

    if (!await this.registry.acquireConnection(identity.sub, this.config.MAX_CONNECTIONS_PER_USER)) {
      this.observer.refused({ userId: identity.sub }, SignalCode.TOO_MANY_CONNECTIONS)
      // No welcome and no session: this error is the only message, hence seq 0.
      socket.send(JSON.stringify({ type: 'error', seq: 0, code: SignalCode.TOO_MANY_CONNECTIONS, message: `At most ${this.config.MAX_CONNECTIONS_PER_USER} connections per user` }))
      // A resumed session stays resumable (its grace starts); the slot was never taken.
      if (conn !== undefined) {
        this.drop(conn, false)
        this.startGrace(conn.peerId)
      }
      this.refuseSocket(socket, CloseCode.POLICY, 'too many connections')
      return
    }

    if (conn === undefined) {
      const peerId = randomId(12)
      try {
        await this.registry.createSession(peerId, identity.sub, hashResumeToken(resumeToken))
      } catch (err) {
        // The slot taken above belongs to no connection yet: give it back before failing.
        this.registry.releaseConnection(identity.sub)
        throw err
      }
      conn = this.install(peerId, identity, socket, tcp, 0, reqId)
    } else if (resume) {
      rooms = await this.leaveUngranted(conn, identity, rooms)
      // Read the backlog again now that the sink is attached: whatever was delivered since the first
      // read (while no sink, or the replaced one, was attached) is in it, and everything from here on
      // waits in the connection; startLive() skips the overlap by seq, so nothing is lost or doubled.
      const again = await this.registry.replay(conn.peerId, resume.lastSeq)
      if (again.ok) replayed = again.messages
    }
    const live = conn
    const closedEarly = live.watchClose(setup)
    if (live.closed) {
      // Replaced by a newer claim while the backlog was read: the close above has been sent.
      socket.resume()
      return
    }
    if (this.closing) {
      // app.close() closed every connection while this one was being set up: no welcome, the same 1001
      // (the session stays resumable elsewhere), or the server would wait for it to leave.
      live.close(CloseCode.GOING_AWAY, 'server shutting down', true)
      socket.resume()
      if (closedEarly !== undefined) await this.onClose(live, closedEarly)
      return
    }
    const resumed = resumeError === undefined && resume !== undefined
    live.sendTransient({
      type: 'welcome',
      peerId: live.peerId,
      userId: identity.sub,
      resumeToken,
      resumed,
      ...(resumeError && { resumeError: { code: resumeError.code, message: resumeError.message } }),
      rooms,
      heartbeatIntervalMs: this.config.WS_HEARTBEAT_INTERVAL_MS,
      tokenExpiresAt: live.tokenExpiresAtMs,
      limits: this.limits
    })
    // routes.ts corked the socket when ws wrote the 101: the 101 and the welcome leave in one write. The
    // replayed backlog goes out uncorked, so the send-buffer limit sees what the kernel did not take.
    tcp.uncork()
    live.startLive(replayed)
    // Arrived during a drain (a resume, or a balancer that has not noticed yet): told to move on too,
    // rather than left to be cut off at the deadline.
    if (this.draining) live.sendTransient(this.reconnectMessage())
    this.observer.connected(live.who, resumed)
    live.info({ userId: identity.sub, resumed, replayed: replayed.length, resumeError: resumeError?.code }, resumed ? 'peer resumed' : 'peer connected')
    socket.resume()
    if (closedEarly !== undefined) await this.onClose(live, closedEarly)
  }

  /** Makes `socket` the peer's live connection here and routes its messages to it. */
  private install (peerId: string, identity: Identity, socket: WebSocket, tcp: Socket, epoch: number, reqId: string): Connection {
    const conn = new Connection(peerId, identity, socket, tcp, epoch, this.host, this.log, reqId)
    this.connections.set(peerId, conn)
    this.registry.attach(peerId, conn)
    this.heartbeat.add(conn)
    return conn
  }

  /** Refuses an upgraded socket before any session is its own. */
  private refuseSocket (socket: WebSocket, code: number, reason: string): void {
    socket.close(code, reason)
    // Still paused, the socket would never read the client's closing handshake and would linger
    // (both ends waiting for ws's 30 s close timeout).
    socket.resume()
  }

  private async findResumable (identity: Identity, resume: ResumeRequest): Promise<Resumable> {
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
      if (live) this.replace(live)
      await this.expire(session.peerId, 'timeout', true)
      return replay.reason === 'overflow'
        ? { ok: false, error: new SignalError(SignalCode.RESUME_OVERFLOW, 'Messages since lastSeq were dropped (replay buffer full)') }
        : { ok: false, error: new SignalError(SignalCode.RESUME_BAD_SEQ, `lastSeq ${resume.lastSeq} is ahead of the session (${session.seq})`) }
    }
    return { ok: true, peerId: session.peerId, replayed: replay.messages, rooms: session.rooms }
  }

  /**
   * A newer claim of the peer won elsewhere: close its socket here if it is older; the session carries
   * on there. 4009 when a newer socket holds it; 4010 when a reaper adopted it (`moved`: this instance
   * was presumed dead), so that the client resumes instead of giving its session up.
   */
  private takenOver (peerId: string, epoch: number, moved: boolean): void {
    const conn = this.connections.get(peerId)
    if (conn !== undefined && conn.epoch >= epoch) return
    this.cancelGrace(peerId)
    if (conn !== undefined) this.replace(conn, moved)
  }

  /** Retires a connection whose peer resumed on a newer socket (or, `moved`, whose session was adopted elsewhere); its session carries on. */
  private replace (previous: Connection, moved = false): void {
    // Close before dispose: close() is a no-op on a disposed connection, which left the old socket open.
    if (moved) previous.close(CloseCode.SESSION_MOVED, 'session moved to another instance: resume', true)
    else previous.close(CloseCode.SESSION_REPLACED, 'session resumed on another connection', true)
    this.drop(previous, true)
  }

  /** Forgets a connection here; `release` gives back its slot of MAX_CONNECTIONS_PER_USER. */
  private drop (conn: Connection, release: boolean): void {
    conn.dispose()
    this.heartbeat.remove(conn)
    if (this.connections.get(conn.peerId) === conn) this.connections.delete(conn.peerId)
    this.registry.detach(conn.peerId, conn)
    if (release) this.registry.releaseConnection(conn.userId)
  }

  private async onClose (conn: Connection, code: number): Promise<void> {
    this.observer.disconnected(conn.who, code)
    if (conn.closed) return // already replaced by a resumed connection
    this.drop(conn, true)
    conn.info({ code }, 'connection closed')
    if (this.closing) return
    // 1000 is the client saying goodbye; anything else is a drop that may be resumed.
    if (code === NORMAL_CLOSURE) {
      await this.sessionEnds(async () => { if (!this.closing) await this.expire(conn.peerId, 'left') })
      return
    }
    this.startGrace(conn.peerId)
  }

  /** The peer has no socket: it stays in its rooms, resumable, until the grace period ends. */
  private startGrace (peerId: string): void {
    this.cancelGrace(peerId)
    const timer = setTimeout(() => {
      // The timer stays registered while the end waits its turn: a resume meanwhile cancels it (cancelGrace).
      this.sessionEnds(async () => {
        if (this.graceTimers.get(peerId) !== timer) return
        this.graceTimers.delete(peerId)
        await this.expire(peerId, 'timeout')
      }).catch((err: unknown) => this.log.error({ err }, 'session expiry failed'))
    }, Math.round(this.config.RESUME_GRACE_SECONDS * 1000))
    timer.unref()
    this.graceTimers.set(peerId, timer)
  }

  private cancelGrace (peerId: string): void {
    clearTimeout(this.graceTimers.get(peerId))
    this.graceTimers.delete(peerId)
  }

  /** A revoked user's session held here: its socket (if any) closes with 4003, not resumable, and it ends. */
  private async endRevoked (peerId: string, userId: string): Promise<void> {
    const conn = this.connections.get(peerId)
    if (conn !== undefined) {
      conn.close(CloseCode.SESSIONS_REVOKED, 'sessions revoked', true)
      this.drop(conn, true)
    }
    const rooms = await this.expire(peerId, 'revoked')
    this.events.emit('sessionRevoked', { peerId, userId, rooms, reason: 'revoked' })
  }

  /** Ends a session (held here, or `wherever` it is): it leaves its rooms and the others are told. Returns those rooms. */
  async expire (peerId: string, reason: 'left' | 'timeout' | 'revoked', wherever = false): Promise<string[]> {
    this.cancelGrace(peerId)
    const departures = await this.registry.deleteSession(peerId, wherever, reason)
    this.observer.sessionEnded(peerId, reason)
    this.log.info({ peerId, reason, rooms: departures.length }, 'session ended')
    for (const { room, remaining } of departures) {
      const body = JSON.stringify({ type: 'peer-left', room, peerId, reason } satisfies OutgoingMessage)
      await this.deliverAll(remaining, 'peer-left', body, { inRoom: room })
    }
    return departures.map((d) => d.room)
  }

  async deliver (peerId: string, message: OutgoingMessage): Promise<DeliveryOutcome> {
    return this.deliverBody(peerId, message.type, JSON.stringify(message))
  }

  private async deliverBody (peerId: string, type: string, body: string, room?: string): Promise<DeliveryOutcome> {
    const outcome = await this.registry.deliver(peerId, body, room)
    this.observer.delivered(type, outcome)
    return outcome
  }

  /**
   * `members` were read before this runs: with Redis a member may leave meanwhile (its own instance
   * applies its `leave` between our round trips), so a notice about a room is scoped to it and
   * delivered only to peers still in it (found by the fuzzer on Redis: peer-joined after `left`).
   */
  private async deliverAll (members: PeerInfo[], type: string, body: string, scope: DeliveryScope = {}): Promise<void> {
    const { except, inRoom } = scope
    await Promise.all(members.filter((m) => m.peerId !== except).map(async (m) => this.deliverBody(m.peerId, type, body, inRoom)))
  }

  async join (conn: Connection, room: string, grant: RoomGrant, meta: Record<string, unknown> | undefined): Promise<void> {
    const { role } = grant
    const member: PeerInfo = { peerId: conn.peerId, userId: conn.userId }
    if (role !== undefined) member.role = role
    if (meta !== undefined) member.meta = meta
    const outcome = await this.registry.join(room, member, {
      capacity: this.config.ROOM_CAPACITY,
      maxRoomsPerPeer: this.config.MAX_ROOMS_PER_PEER,
      ...(grant.capacity !== undefined && { grantCapacity: grant.capacity })
    })
    if (!outcome.ok) {
      if (outcome.reason === 'full') throw new SignalError(SignalCode.ROOM_FULL, `Room "${room}" is full (${outcome.capacity} peers)`)
      if (outcome.reason === 'too-many-rooms') throw new SignalError(SignalCode.TOO_MANY_ROOMS, `A peer may be in at most ${this.config.MAX_ROOMS_PER_PEER} rooms`)
      throw new SignalError(SignalCode.INTERNAL, 'Session not found')
    }
    const metadata = outcome.room.settings?.metadata
    await this.deliver(conn.peerId, { type: 'joined', room, ...(role !== undefined && { role }), peers: outcome.peers, ...(metadata !== undefined && { metadata }) })
    if (outcome.alreadyJoined) return
    // The max-duration deadline is shared while the others are told (it never rejects).
    const armed = this.control.arm(room, outcome.room)
    conn.info({ room }, 'joined room')
    this.observer.joined(conn.who, room, role)
    await this.deliverAll(outcome.peers, 'peer-joined', JSON.stringify({ type: 'peer-joined', room, peer: member } satisfies OutgoingMessage), { inRoom: room })
    await armed
  }

  /** `reason` is what the others see: `left` (the peer asked), `revoked` (its token no longer grants the room). */
  async leave (who: Who & { peerId: string }, room: string, reason: 'left' | 'revoked' = 'left'): Promise<void> {
    const { peerId } = who
    const remaining = await this.registry.leave(room, peerId, reason)
    if (remaining === undefined) throw new SignalError(SignalCode.NOT_IN_ROOM, `You are not in room "${room}"`)
    this.log.info({ peerId, room, reason }, 'left room')
    this.observer.left(who, room)
    await this.deliver(peerId, { type: 'left', room })
    await this.deliverAll(remaining, 'peer-left', JSON.stringify({ type: 'peer-left', room, peerId, reason } satisfies OutgoingMessage), { inRoom: room })
  }

  /**
   * A resume presents a new token, perhaps with fewer grants: the rooms it no longer grants are left
   * (the peer gets `left`, after its welcome; the others `peer-left` with reason `revoked`), so a grant
   * taken away at the IdP takes effect at the next reconnect. Returns the rooms the peer stays in.
   */
  private async leaveUngranted (conn: Connection, identity: Identity, rooms: string[]): Promise<string[]> {
    const kept: string[] = []
    for (const room of rooms) {
      if (grantFor(identity, room) !== undefined) {
        kept.push(room)
        continue
      }
      try {
        await this.leave(conn.who, room, 'revoked')
      } catch (err) {
        // Gone meanwhile (a concurrent expiry): nothing to leave.
        if (!(err instanceof SignalError && err.code === SignalCode.NOT_IN_ROOM)) throw err
      }
    }
    return kept
  }

  /** An application message to everyone else in the room; the sender must be a member. */
  async broadcast (from: string, room: string, body: string): Promise<void> {
    const members = await this.registry.members(room)
    if (!members.some((m) => m.peerId === from)) throw new SignalError(SignalCode.NOT_IN_ROOM, `You are not in room "${room}"`)
    await this.deliverAll(members, 'message', body, { except: from, inRoom: room })
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
    this.heartbeat.stop()
    this.host.tokenDeadlines.stop()
    this.control.close()
    for (const timer of this.graceTimers.values()) clearTimeout(timer)
    this.graceTimers.clear()
    this.closeAll()
  }
}
