import WebSocket from 'ws'

export type Msg = Record<string, unknown> & { type: string, seq: number }

export interface ConnectOptions {
  query?: Record<string, string>
  headers?: Record<string, string>
  protocols?: string[]
  /** false: the client never answers server pings (a dead peer whose TCP connection still looks open). */
  autoPong?: boolean
}

/** What the server answered to an upgrade it refused (no socket was opened). */
export interface Refusal {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Record<string, unknown>
}

/** The `/v1/signal` WebSocket URL for an app listening at `base` (http://127.0.0.1:port). */
export function signalUrl (base: string, query: Record<string, string> = {}): URL {
  const url = new URL('/v1/signal', base.replace(/^http/, 'ws'))
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v)
  return url
}

let pingIds = 0

/**
 * A raw `ws` signaling peer for tests: records every server message and lets a test wait for the
 * next one matching a predicate, with a timeout so a missing message fails fast instead of hanging.
 */
export class WsPeer {
  readonly received: Msg[] = []
  /** Errors the client socket emitted (e.g. a refused upgrade, a protocol error). */
  readonly errors: Error[] = []
  private waiters: Array<{ match: (m: Msg) => boolean, resolve: (m: Msg) => void, from: number }> = []
  /** Server pings seen since the socket opened (ws answers them unless `autoPong` is false). */
  pings = 0
  closeCode: number | undefined
  closeReason = ''
  readonly closed: Promise<number>
  welcome!: Msg

  private constructor (readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      // The server sends JSON text frames only (a browser would get a Blob otherwise): a binary frame is
      // an error, and nobody waiting for a message gets it.
      if (isBinary) {
        this.errors.push(new Error('the server sent a binary frame'))
        return
      }
      const msg = JSON.parse(data.toString()) as Msg
      this.received.push(msg)
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(msg)) return true
        w.resolve(msg)
        return false
      })
    })
    // Counted from the start: a heartbeat ping can arrive in the same read as the welcome.
    socket.on('ping', () => { this.pings++ })
    // Always listened to: an unhandled 'error' on a client socket would crash the test process.
    socket.on('error', (err) => { this.errors.push(err) })
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => {
      this.closeCode = code
      this.closeReason = reason.toString()
      resolve(code)
    }))
  }

  /** Opens a socket to `${base}/v1/signal` (http→ws) without waiting for any message. */
  static async open (base: string, token: string | undefined, opts: ConnectOptions = {}): Promise<WsPeer> {
    const headers = { ...(token !== undefined && { authorization: `Bearer ${token}` }), ...opts.headers }
    const socket = new WebSocket(signalUrl(base, opts.query), opts.protocols ?? [], { headers, autoPong: opts.autoPong ?? true })
    const peer = new WsPeer(socket)
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('unexpected-response', (req, res) => {
        req.destroy()
        reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { statusCode: res.statusCode, headers: res.headers }))
      })
      socket.once('error', reject)
    })
    return peer
  }

  /** Opens a socket to `${base}/v1/signal` (http→ws) and waits for `welcome`. */
  static async connect (base: string, token: string | undefined, opts: ConnectOptions = {}): Promise<WsPeer> {
    const peer = await WsPeer.open(base, token, opts)
    peer.welcome = await peer.next('welcome')
    return peer
  }

  /** Reconnects as `previous` did, presenting its last resume token and (by default) the last seq it saw. */
  static async resume (base: string, token: string, previous: WsPeer, lastSeq = previous.lastSeq, opts: ConnectOptions = {}): Promise<WsPeer> {
    const resumeToken = previous.welcome.resumeToken as string
    return WsPeer.connect(base, token, { ...opts, query: { ...opts.query, resume: resumeToken, lastSeq: String(lastSeq) } })
  }

  /**
   * Attempts an upgrade that the server must refuse, and returns the HTTP answer. Rejects if a socket
   * opened instead: a refused upgrade must never become a WebSocket that closes later.
   */
  static async refusal (base: string, token: string | undefined, opts: ConnectOptions = {}): Promise<Refusal> {
    const headers = { ...(token !== undefined && { authorization: `Bearer ${token}` }), ...opts.headers }
    const socket = new WebSocket(signalUrl(base, opts.query), opts.protocols ?? [], { headers })
    return new Promise<Refusal>((resolve, reject) => {
      socket.on('error', () => {}) // the aborted handshake reports here; the answer is settled below
      socket.once('open', () => {
        socket.terminate()
        reject(new Error('the upgrade was accepted, expected an HTTP refusal'))
      })
      socket.once('unexpected-response', (req, res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          req.destroy()
          const text = Buffer.concat(chunks).toString('utf8')
          let body: Record<string, unknown> = {}
          try { body = JSON.parse(text) as Record<string, unknown> } catch { body = { text } }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body })
        })
      })
    })
  }

  send (message: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message))
  }

  /** Sends a frame exactly as given (malformed JSON, binary data...). */
  sendRaw (data: string | Buffer, binary = false): void {
    this.socket.send(data, { binary })
  }

  /** Resolves with the first message (already received since `sinceIndex`, or future) that matches. */
  async next (match: string | ((m: Msg) => boolean), timeoutMs = 3000, sinceIndex = 0): Promise<Msg> {
    const pred = typeof match === 'string' ? (m: Msg) => m.type === match : match
    const seen = this.received.slice(sinceIndex).find(pred)
    if (seen) return seen
    return new Promise<Msg>((resolve, reject) => {
      const waiter = { match: pred, resolve: (m: Msg) => { clearTimeout(timer); resolve(m) }, from: sinceIndex }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        reject(new Error(`timed out waiting for ${typeof match === 'string' ? match : 'a matching message'}; got ${this.received.map((m) => m.type === 'error' ? `error ${String(m.code)}` : m.type).join(',')}`))
      }, timeoutMs)
      this.waiters.push(waiter)
    })
  }

  /** Waits for the next message received after now that matches. */
  async nextNew (match: string | ((m: Msg) => boolean), timeoutMs = 3000): Promise<Msg> {
    return this.next(match, timeoutMs, this.received.length)
  }

  /** Waits for the `error` that refuses the message sent with `id`. */
  async errorFor (id: string, timeoutMs = 3000): Promise<Msg> {
    return this.next((m) => m.type === 'error' && m.ref === id, timeoutMs)
  }

  /**
   * A round trip through the server: when the pong arrives, everything the server wrote to this
   * socket before it has arrived too. Use it before asserting that something was NOT received.
   */
  async sync (timeoutMs = 3000): Promise<void> {
    const id = `sync-${++pingIds}`
    this.send({ type: 'ping', id })
    await this.next((m) => m.type === 'pong' && m.ref === id, timeoutMs)
  }

  /** Waits until `count` messages of `type` have arrived, and returns them. */
  async waitCount (type: string, count: number, timeoutMs = 3000): Promise<Msg[]> {
    let seen = 0
    await this.next((m) => m.type === type && ++seen >= count, timeoutMs)
    return this.ofType(type)
  }

  /** Messages of the given types, in arrival order. */
  ofType (...types: string[]): Msg[] {
    return this.received.filter((m) => types.includes(m.type))
  }

  /** Waits for the socket to close and returns the close code; rejects after `timeoutMs`. */
  async waitClosed (timeoutMs = 3000): Promise<number> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs)
    })
    try {
      return await Promise.race([this.closed, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  get isOpen (): boolean {
    return this.socket.readyState === WebSocket.OPEN
  }

  get peerId (): string {
    return this.welcome.peerId as string
  }

  /** Highest replayed-message seq seen (what a client passes as lastSeq). */
  get lastSeq (): number {
    return this.received.reduce((max, m) => Math.max(max, m.seq), 0)
  }

  close (code = 1000): void {
    if (this.socket.readyState === WebSocket.CLOSED) return
    this.socket.close(code)
  }

  /** Drops the TCP connection without a close frame, like a phone losing its network. */
  drop (): void {
    this.socket.terminate()
  }
}

/** Polls `check` every 10 ms until it returns true; rejects after `timeoutMs` naming `what`. */
export async function until (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
