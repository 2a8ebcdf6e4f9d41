import WebSocket from 'ws'
import { signalUrl } from '../helpers/ws-peer.js'
import type { Frame } from './frames.js'

/** What a peer reports to the world: every server message after the welcome, and its closes. */
export interface PeerHost {
  readonly base: string
  received (peer: FuzzPeer, text: string): void
  closed (peer: FuzzPeer, code: number): void
  violation (text: string): void
}

type Welcome = Record<string, unknown> & { type: string, seq: number, peerId: string, resumeToken: string, resumed: boolean }

let syncIds = 0

/**
 * One signaling client of the fuzz world, on a raw `ws` socket. Unlike the tests' WsPeer it keeps no
 * history (a long run receives millions of messages): the world checks each message as it arrives,
 * and the peer keeps only what a real client keeps (peer id, resume token, last seq, its rooms).
 */
export class FuzzPeer {
  socket: WebSocket | undefined
  peerId = ''
  /** Every peer id this peer has had: a failed resume starts a new session with a new id. */
  readonly peerIds = new Set<string>()
  resumeToken = ''
  /** Highest seq of a replayed message processed (what a resume presents). */
  lastSeq = 0
  /** The rooms this peer is in, as its own stream of `joined` and `left` tells it. */
  readonly rooms = new Set<string>()
  /** Joins it sent since the last batch settled and not yet answered by `joined`, per room (see World's relaysMayPrecedeJoined). */
  readonly joining = new Map<string, number>()
  /** Closes the frames sent in the current batch may cause. */
  readonly mayClose = new Set<number>()
  /** The last frames sent (kind and size), to say what preceded a violation. */
  readonly recent: string[] = []
  open = false
  /** A frame the server closes the socket on was sent: what follows would be discarded unread, so it is not sent. */
  closing = false
  /** The client socket's last error (a protocol error on the client side shows as close 1006). */
  lastError = ''
  private readonly pongs = new Map<string, (outcome: 'pong' | 'refused' | 'closed') => void>()

  constructor (
    readonly index: number,
    readonly name: string,
    readonly token: string,
    /** Whether the token grants `room` (the oracle's own reading of the `rooms` claim). */
    readonly grants: (room: string) => boolean,
    private readonly host: PeerHost
  ) {}

  /** Opens a socket and waits for its welcome; resumes the session when there is one. */
  async connect (timeoutMs = 10_000): Promise<Welcome> {
    const resuming = this.resumeToken !== ''
    const query = resuming ? { resume: this.resumeToken, lastSeq: String(this.lastSeq) } : undefined
    const socket = new WebSocket(signalUrl(this.host.base, query), [], { headers: { authorization: `Bearer ${this.token}` } })
    this.socket = socket
    this.closing = false
    return new Promise<Welcome>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no welcome within ${timeoutMs} ms`)), timeoutMs)
      socket.on('error', (err) => {
        this.lastError = err.message
        clearTimeout(timer)
        reject(err) // after the welcome, a no-op: the close reports it
      })
      // One listener from the start: ws may emit the welcome and the replay after it in one go, and a
      // listener added after awaiting the welcome would miss the replay.
      socket.on('message', (data: Buffer) => {
        if (this.open) {
          this.host.received(this, data.toString())
          return
        }
        clearTimeout(timer)
        this.open = true
        resolve(this.welcomed(JSON.parse(data.toString()) as Welcome, resuming))
      })
      socket.on('close', (code) => {
        clearTimeout(timer)
        if (!this.open) reject(new Error(`${this.name}: closed (${code}) before its welcome`))
        this.open = false
        for (const done of this.pongs.values()) done('closed')
        this.pongs.clear()
        if (this.socket === socket) this.host.closed(this, code)
      })
    })
  }

  private welcomed (welcome: Welcome, resuming: boolean): Welcome {
    if (welcome.type !== 'welcome') this.host.violation(`${this.name}: first message is ${welcome.type}, not welcome`)
    if (resuming && welcome.resumed) {
      if (welcome.peerId !== this.peerId) this.host.violation(`${this.name}: resumed with peer id ${welcome.peerId}, had ${this.peerId}`)
      if (welcome.seq !== this.lastSeq) this.host.violation(`${this.name}: resumed at seq ${welcome.seq}, presented ${this.lastSeq}`)
    } else {
      // A new session (or a resume the server refused): no rooms, seq from 0.
      this.rooms.clear()
      this.lastSeq = welcome.seq
      this.peerId = welcome.peerId
      this.peerIds.add(welcome.peerId)
    }
    this.resumeToken = welcome.resumeToken
    return welcome
  }

  /** Sends one frame if the socket is open; false when it was skipped (closed by an earlier frame). */
  send (frame: Frame): boolean {
    if (!this.open || this.closing || this.socket === undefined) return false
    if (frame.closes === true) this.closing = true
    if (frame.mayClose !== undefined) this.mayClose.add(frame.mayClose)
    const head = typeof frame.data === 'string' ? frame.data.slice(0, 60) : frame.data.subarray(0, 60).toString()
    if (this.recent.push(`${frame.kind}${frame.binary ? ' (binary)' : ''} ${frame.data.length} ${typeof frame.data === 'string' ? 'chars' : 'bytes'}: ${head}`) > 8) this.recent.shift()
    if (typeof frame.data === 'string' && frame.data.includes('join')) this.noteJoin(frame.data)
    this.socket.send(frame.data, { binary: frame.binary })
    return true
  }

  private noteJoin (data: string): void {
    try {
      const sent = JSON.parse(data) as { type?: unknown, room?: unknown }
      if (sent.type === 'join' && typeof sent.room === 'string') this.joining.set(sent.room, (this.joining.get(sent.room) ?? 0) + 1)
    } catch {
      // Not JSON: the server refuses it, nothing to note.
    }
  }

  /**
   * A rate-limit refusal comes before the message is parsed, so it carries no `ref`: it may be our
   * sync ping's. Pending syncs send another ping (a late pong for the first is ignored).
   */
  refusedUnparsed (): void {
    for (const done of this.pongs.values()) done('refused')
    this.pongs.clear()
  }

  /** Called by the world for a pong or an error that refers to one of our sync pings. */
  answered (ref: string, outcome: 'pong' | 'refused'): boolean {
    const done = this.pongs.get(ref)
    if (done === undefined) return false
    this.pongs.delete(ref)
    done(outcome)
    return true
  }

  /**
   * A round trip: resolves 'pong' once everything the server wrote to this socket before it has
   * arrived (and everything sent before it has been handled), 'closed' if the socket closed first.
   * A ping refused by the rate limit or backpressure is retried.
   */
  async sync (timeoutMs = 10_000): Promise<'pong' | 'closed'> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (!this.open || this.socket === undefined) return 'closed'
      const ref = `sync-${++syncIds}`
      const outcome = await new Promise<'pong' | 'refused' | 'closed' | 'timeout'>((resolve) => {
        const timer = setTimeout(() => { this.pongs.delete(ref); resolve('timeout') }, Math.max(0, deadline - Date.now()))
        this.pongs.set(ref, (o) => { clearTimeout(timer); resolve(o) })
        this.socket?.send(JSON.stringify({ type: 'ping', id: ref }))
      })
      if (outcome === 'pong' || outcome === 'closed') return outcome
      if (outcome === 'timeout') throw new Error(`${this.name}: no pong within ${timeoutMs} ms (the server hangs?), after:\n  ${this.recent.join('\n  ')}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  /** Acknowledges what it processed, as a real client does, so the replay buffer stays small. */
  ack (): void {
    if (this.open) this.socket?.send(JSON.stringify({ type: 'ack', seq: this.lastSeq }))
  }

  /** Ends the session (close 1000: it leaves its rooms at once); resolves once the socket is closed. */
  async leave (timeoutMs = 5000): Promise<void> {
    const socket = this.socket
    if (socket === undefined || !this.open) return
    this.socket = undefined // its close is ours, not the server's: not reported
    this.open = false
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { socket.terminate(); resolve() }, timeoutMs)
      socket.once('close', () => { clearTimeout(timer); resolve() })
      socket.close(1000)
    })
  }

  /** Without a close frame: the session stays resumable for the grace period, as after a network drop. */
  drop (): void {
    const socket = this.socket
    this.open = false
    this.socket = undefined // its close is ours, not the server's: not reported
    socket?.terminate()
  }
}
