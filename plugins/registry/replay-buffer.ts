/**
 * One peer's replay buffer for the in-memory registry: the messages written to it since its last `ack`,
 * oldest first, bounded in count and in UTF-8 bytes, so a peer that reconnects gets back what it missed.
 *
 * The frames are kept off the JS heap, in one byte ring per peer, and their seq and place in one array
 * of numbers: nothing is allocated on the heap per message. Kept as strings, every buffered message
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
  /**
   * Per buffered message, oldest first, three numbers: its seq, where its frame starts in the ring, and
   * its length. One array (not one each, nor an object per message), made with the ring and freed with it.
   */
  private entries: number[] | undefined
  /** UTF-8 bytes of the buffered frames. */
  bytes = 0

  /** How many messages are buffered. */
  get size (): number {
    return this.entries === undefined ? 0 : this.entries.length / 3
  }

  /**
   * Buffers `json` (`length` UTF-8 bytes) as message `seq`, first dropping the oldest messages the
   * limits leave no room for. Returns the highest seq dropped (`seq` itself if the message alone is
   * over the byte limit and is not kept), or 0 if none was.
   */
  push (seq: number, json: string, length: number, limits: ReplayLimits): number {
    let dropped = 0
    while (this.size > 0 && (this.size + 1 > limits.messages || this.bytes + length > limits.bytes)) dropped = this.dropOldest()
    if (length > limits.bytes || limits.messages < 1) {
      this.releaseIfEmpty()
      return seq
    }
    const at = this.placeFor(length)
    const ring = this.ring as Buffer
    ring.write(json, at, length, 'utf8')
    this.writeAt = at + length
    ;(this.entries ??= []).push(seq, at, length)
    this.bytes += length
    return dropped
  }

  /** Drops every message up to `seq` (acknowledged); returns the highest seq dropped, or 0. */
  ackThrough (seq: number): number {
    let dropped = 0
    while (this.entries !== undefined && this.entries.length > 0 && (this.entries[0] as number) <= seq) dropped = this.dropOldest()
    this.releaseIfEmpty()
    return dropped
  }

  /** The buffered messages after `lastSeq`, oldest first, as strings again. */
  since (lastSeq: number): Array<{ seq: number, json: string }> {
    const out: Array<{ seq: number, json: string }> = []
    const { ring, entries } = this
    if (ring === undefined || entries === undefined) return out
    for (let i = 0; i < entries.length; i += 3) {
      const seq = entries[i] as number
      if (seq <= lastSeq) continue
      const start = entries[i + 1] as number
      out.push({ seq, json: ring.toString('utf8', start, start + (entries[i + 2] as number)) })
    }
    return out
  }

  /** Only while entries is not empty. */
  private dropOldest (): number {
    const entries = this.entries as number[]
    const seq = entries.shift() as number
    entries.shift()
    this.bytes -= entries.shift() as number
    return seq
  }

  private releaseIfEmpty (): void {
    if (this.size > 0) return
    this.ring = undefined
    this.entries = undefined
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
      if (this.size === 0) {
        this.writeAt = 0
        if (ring.length >= length) return 0
      } else {
        const oldest = (this.entries as number[])[1] as number
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

  /**
   * Moves the frames, oldest first, to the start of a ring with room for `length` more bytes: the same
   * size if compacting makes room (the free space was in two pieces too short), else doubled. Half as
   * much again as the frames take leaves slack for the pieces a ring cuts.
   */
  private grow (length: number): void {
    let capacity = Math.max(MIN_CAPACITY, this.ring?.length ?? 0)
    while (capacity < 1.5 * (this.bytes + length)) capacity *= 2
    const ring = Buffer.allocUnsafeSlow(capacity)
    let at = 0
    const entries = this.entries ?? []
    for (let i = 0; i < entries.length; i += 3) {
      const start = entries[i + 1] as number
      const frameLength = entries[i + 2] as number
      ;(this.ring as Buffer).copy(ring, at, start, start + frameLength)
      entries[i + 1] = at
      at += frameLength
    }
    this.ring = ring
    this.writeAt = at
  }
}
