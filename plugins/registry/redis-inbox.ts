import type { Sink } from './types.js'

/** How long an out-of-order message waits for the ones before it before they are read from the buffer. */
const GAP_WAIT_MS = 20

/** What the replay buffer held after a seq: the session's last seq, and the messages from `firstSeq` on. */
export interface BufferRead { sessionSeq: number, firstSeq: number, messages: string[] }

export interface InboxSource {
  /** Reads the buffer after `afterSeq`; undefined when the session is gone or not readable now. */
  read (peerId: string, afterSeq: number): Promise<BufferRead | undefined>
  /** Runs background work whose failure only needs a log line. */
  track (work: Promise<unknown>, what: string): void
}

/**
 * In-order delivery of one owned peer's messages to its local socket. Messages reach an instance two
 * ways, the relay script's reply (peer owned here) and the pub/sub channel (sent from elsewhere), so
 * seq n+1 can arrive before n; it waits here for a moment, and a gap that persists (a publication lost
 * while the subscriber reconnected, or sent before this instance owned the peer) is read from the
 * replay buffer, which holds every message in order.
 */
export class PeerInbox {
  /** Highest seq pushed to the sink while attached; highest seq seen while not. */
  seq: number
  private sink: Sink | undefined
  /** Out-of-order messages waiting for the ones before them (allocated on the first gap). */
  private pending: Map<number, string> | undefined
  private gapTimer: NodeJS.Timeout | undefined
  /** Reading the buffer: live messages wait in `pending` so order is kept. */
  private filling = false

  constructor (readonly peerId: string, seq: number, private readonly source: InboxSource) {
    this.seq = seq
  }

  get attached (): boolean { return this.sink !== undefined }

  isAttachedTo (sink: Sink): boolean { return this.sink === sink }

  /**
   * A socket takes the messages from now on. `replayedThrough` is where the caller's own replay ended
   * (a resume writes the backlog itself); whatever reached the buffer since is read and pushed first.
   */
  attach (sink: Sink, replayedThrough: number | undefined): void {
    this.sink = sink
    if (replayedThrough !== undefined) this.seq = replayedThrough
    this.dropThrough(this.seq)
  }

  detach (): void {
    this.sink = undefined
    this.pending = undefined
    this.stopGapTimer()
  }

  /** A replay covered everything through `seq`: live delivery continues after it. */
  skipThrough (seq: number): void {
    if (this.sink === undefined || seq <= this.seq) return
    this.seq = seq
    this.dropThrough(seq)
  }

  /** One stamped message for this peer. */
  receive (seq: number, json: string): void {
    if (this.sink === undefined) {
      if (seq > this.seq) this.seq = seq
      return
    }
    if (seq <= this.seq) return
    if (seq === this.seq + 1 && !this.filling && this.pending === undefined) {
      // The common case: next in line, nothing waiting. No map, no timer.
      this.seq = seq
      this.sink.push(json, seq)
      return
    }
    ;(this.pending ??= new Map()).set(seq, json)
    this.drain()
  }

  /** Reads what the buffer holds after what was pushed, and pushes it in order. */
  async fill (): Promise<void> {
    if (this.filling || this.sink === undefined) return
    this.filling = true
    let read: BufferRead | undefined
    try {
      read = await this.source.read(this.peerId, this.seq)
    } finally {
      this.filling = false
    }
    if (read === undefined || this.sink === undefined) return
    const pending = (this.pending ??= new Map())
    read.messages.forEach((json, i) => { if (read.firstSeq + i > this.seq) pending.set(read.firstSeq + i, json) })
    // Seqs the session had issued when we read but the buffer no longer holds were evicted or
    // acknowledged: skip past them. Later ones may still be on their way: the gap timer waits for those.
    if (pending.size > 0 && this.seq < read.sessionSeq) {
      const lowest = Math.min(...pending.keys())
      if (lowest > this.seq + 1) this.seq = Math.min(lowest, read.sessionSeq + 1) - 1
    }
    this.drain()
  }

  /** Stops its timer; the inbox is of no use after this. */
  close (): void {
    this.detach()
  }

  private drain (): void {
    const sink = this.sink
    const pending = this.pending
    if (this.filling || sink === undefined || pending === undefined) return
    for (let next = pending.get(this.seq + 1); next !== undefined; next = pending.get(this.seq + 1)) {
      pending.delete(++this.seq)
      sink.push(next, this.seq)
    }
    if (pending.size === 0) {
      this.pending = undefined
      this.stopGapTimer()
    } else if (this.gapTimer === undefined) {
      this.gapTimer = setTimeout(() => {
        this.gapTimer = undefined
        this.source.track(this.fill(), 'gap fill')
      }, GAP_WAIT_MS)
    }
  }

  private dropThrough (seq: number): void {
    if (this.pending === undefined) return
    for (const s of this.pending.keys()) if (s <= seq) this.pending.delete(s)
    if (this.pending.size === 0) this.pending = undefined
  }

  private stopGapTimer (): void {
    clearTimeout(this.gapTimer)
    this.gapTimer = undefined
  }
}
