import WebSocket from 'ws'

export type Msg = Record<string, unknown> & { type: string, seq: number }

/**
 * A raw `ws` signaling peer for tests: records every server message and lets a test wait for the
 * next one matching a predicate, with a timeout so a missing message fails fast instead of hanging.
 */
export class WsPeer {
  readonly received: Msg[] = []
  private waiters: Array<{ match: (m: Msg) => boolean, resolve: (m: Msg) => void, from: number }> = []
  closeCode: number | undefined
  closeReason = ''
  readonly closed: Promise<number>
  welcome!: Msg

  private constructor (readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as Msg
      this.received.push(msg)
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(msg)) return true
        w.resolve(msg)
        return false
      })
    })
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => {
      this.closeCode = code
      this.closeReason = reason.toString()
      resolve(code)
    }))
  }

  /** Opens a socket to `${base}/v1/signal` (http→ws) and waits for `welcome`. */
  static async connect (base: string, token: string | undefined, opts: { query?: Record<string, string>, headers?: Record<string, string>, protocols?: string[] } = {}): Promise<WsPeer> {
    const url = new URL('/v1/signal', base.replace(/^http/, 'ws'))
    for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v)
    const headers = { ...(token !== undefined && { authorization: `Bearer ${token}` }), ...opts.headers }
    const socket = new WebSocket(url, opts.protocols ?? [], { headers })
    const peer = new WsPeer(socket)
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { statusCode: res.statusCode, headers: res.headers })))
      socket.once('error', reject)
    })
    peer.welcome = await peer.next('welcome')
    return peer
  }

  send (message: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message))
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
        reject(new Error(`timed out waiting for ${typeof match === 'string' ? match : 'a matching message'}; got ${this.received.map((m) => m.type).join(',')}`))
      }, timeoutMs)
      this.waiters.push(waiter)
    })
  }

  /** Waits for the next message received after now that matches. */
  async nextNew (match: string | ((m: Msg) => boolean), timeoutMs = 3000): Promise<Msg> {
    return this.next(match, timeoutMs, this.received.length)
  }

  /** Highest replayed-message seq seen (what a client passes as lastSeq). */
  get lastSeq (): number {
    return this.received.reduce((max, m) => Math.max(max, m.seq), 0)
  }

  close (code = 1000): void {
    this.socket.close(code)
  }

  /** Drops the TCP connection without a close frame, like a phone losing its network. */
  drop (): void {
    this.socket.terminate()
  }
}
