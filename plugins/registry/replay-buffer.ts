/**
 * One peer's replay buffer for the in-memory registry: the messages written to it since its last `ack`,
 * oldest first, bounded in count and in UTF-8 bytes, so a peer that reconnects gets back what it missed.
 *
 * The frames are kept off the JS heap, in one byte ring per peer, and their seq and place in arrays of
 * numbers: nothing is allocated on the heap per message. Kept as strings, every buffered message
 * survived the young-generation collections until its ack (up to a second with the client's policy)
 * and was copied twice, then promoted: at 2,000 messages a second that was most of each collection's
 * pause, and the tail of the relay's latency (docs/bench.md). The ring is freed whenever the buffer
 * empties, so an idle peer that has acknowledged everything holds none.
 */

/** Smallest ring allocated; it doubles as needed (compacting what it holds). */
const MIN_CAPACITY = 1024

export interface ReplayLimits {
  /** Most messages kept. */
  messages: number
  /** Most bytes kept (UTF-8, the same rule as the Redis registry). */
  bytes: number
}

export class ReplayBuffer {
  private ring: Buffer | undefined
  /** Where the next frame goes in the ring. */
  private writeAt = 0
  /** Per buffered message, oldest first: its seq, and where its frame is in the ring. */
  private readonly seqs: number[] = []
  private readonly starts: number[] = []
  private readonly lengths: number[] = []
  /** UTF-8 bytes of the buffered frames. */
  bytes = 0

  get size (): number {
    return this.seqs.length
  }

  /**
   * Buffers `json` (`length` UTF-8 bytes) as message `seq`, first dropping the oldest messages the
   * limits leave no room for. Returns the highest seq dropped (`seq` itself if the message alone is
   * over the byte limit and is not kept), or 0 if none was.
   */
  push (seq: number, json: string, length: number, limits: ReplayLimits): number {
    let dropped = 0
    while (this.seqs.length > 0 && (this.seqs.length + 1 > limits.messages || this.bytes + length > limits.bytes)) dropped = this.dropOldest()
    if (length > limits.bytes || limits.messages < 1) {
      this.releaseIfEmpty()
      return seq
    }
    const at = this.placeFor(length)
    const ring = this.ring as Buffer
    ring.write(json, at, length, 'utf8')
    this.writeAt = at + length
    this.seqs.push(seq)
    this.starts.push(at)
    this.lengths.push(length)
    this.bytes += length
    return dropped
  }

  /** Drops every message up to `seq` (acknowledged); returns the highest seq dropped, or 0. */
  ackThrough (seq: number): number {
    let dropped = 0
    while (this.seqs.length > 0 && (this.seqs[0] as number) <= seq) dropped = this.dropOldest()
    this.releaseIfEmpty()
    return dropped
  }

  /** The buffered messages after `lastSeq`, oldest first, as strings again. */
  since (lastSeq: number): Array<{ seq: number, json: string }> {
    const out: Array<{ seq: number, json: string }> = []
    const ring = this.ring
    if (ring === undefined) return out
    for (let i = 0; i < this.seqs.length; i++) {
      const seq = this.seqs[i] as number
      if (seq <= lastSeq) continue
      const start = this.starts[i] as number
      out.push({ seq, json: ring.toString('utf8', start, start + (this.lengths[i] as number)) })
    }
    return out
  }

  private dropOldest (): number {
    const seq = this.seqs.shift() as number
    this.starts.shift()
    this.bytes -= this.lengths.shift() as number
    return seq
  }

  private releaseIfEmpty (): void {
    if (this.seqs.length > 0) return
    this.ring = undefined
    this.writeAt = 0
  }

  /**
   * Where a frame of `length` bytes goes: after the newest one, or at the start of the ring when the end
   * is too short (each frame stays in one piece), as long as that does not reach the oldest one; else
   * in a larger ring.
   */
  private placeFor (length: number): number {
    const ring = this.ring
    if (ring !== undefined) {
      if (this.seqs.length === 0) {
        this.writeAt = 0
        if (ring.length >= length) return 0
      } else {
        const oldest = this.starts[0] as number
        if (this.writeAt > oldest) {
          // Not wrapped: the free space is after the newest frame, then before the oldest.
          if (ring.length - this.writeAt >= length) return this.writeAt
          if (oldest >= length) return 0
        } else if (oldest - this.writeAt >= length) {
          return this.writeAt
        }
      }
    }
    this.grow(length)
    return this.writeAt
  }

  /** Moves the frames, oldest first, to the start of a ring with room for `length` more bytes. */
  private grow (length: number): void {
    let capacity = Math.max(MIN_CAPACITY, this.ring?.length ?? 0)
    while (capacity < 2 * (this.bytes + length)) capacity *= 2
    const ring = Buffer.allocUnsafeSlow(capacity)
    let at = 0
    for (let i = 0; i < this.starts.length; i++) {
      const start = this.starts[i] as number
      const frameLength = this.lengths[i] as number
      ;(this.ring as Buffer).copy(ring, at, start, start + frameLength)
      this.starts[i] = at
      at += frameLength
    }
    this.ring = ring
    this.writeAt = at
  }
}
