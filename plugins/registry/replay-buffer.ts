/**
 * One peer's replay buffer for the in-memory registry: the messages written to it since its last `ack`,
 * oldest first, bounded in count and in UTF-8 bytes, so a peer that reconnects gets back what it missed.
 *
 * It holds each frame as the UTF-8 bytes the socket writes (a Buffer, its bytes off the JS heap), in
 * one array, with nothing else per message: the seqs it holds are consecutive (the registry stamps
 * them one by one), so the first one says them all. What stays alive until the peer's ack is then one
 * small object per message instead of a 3 KB string and an entry, and much less survives the young
 * generation's collections and gets promoted, which is what held back the paced latency
 * (docs/bench.md). An earlier try kept the bytes in one growable ring per peer instead: allocating
 * and freeing the rings cost 9% more CPU per message and three times the memory per active peer.
 */

export interface ReplayLimits {
  /** Most messages kept. */
  messages: number
  /** Most bytes kept (UTF-8, the same rule as the Redis registry). */
  bytes: number
}

export class ReplayBuffer {
  private readonly frames: Buffer[] = []
  /** The seq of frames[0]. */
  private first = 0
  /** Bytes of the buffered frames. */
  bytes = 0

  /** How many messages are buffered. */
  get size (): number {
    return this.frames.length
  }

  /**
   * Buffers `frame` as message `seq` (the one after the last pushed), first dropping the oldest
   * messages the limits leave no room for. Returns the highest seq dropped (`seq` itself if the
   * message alone is over a limit and is not kept), or 0 if none was.
   */
  push (seq: number, frame: Buffer, limits: ReplayLimits): number {
    const frames = this.frames
    if (frames.length > 0 && seq !== this.first + frames.length) throw new Error(`replay buffer: seq ${seq} does not follow ${this.first + frames.length - 1}`)
    let dropped = 0
    while (frames.length > 0 && (frames.length + 1 > limits.messages || this.bytes + frame.length > limits.bytes)) dropped = this.dropOldest()
    if (frame.length > limits.bytes || limits.messages < 1) return seq
    if (frames.length === 0) this.first = seq
    frames.push(frame)
    this.bytes += frame.length
    return dropped
  }

  /** Drops every message up to `seq` (acknowledged); returns the highest seq dropped, or 0. */
  ackThrough (seq: number): number {
    let dropped = 0
    while (this.frames.length > 0 && this.first <= seq) dropped = this.dropOldest()
    return dropped
  }

  /** The buffered messages after `lastSeq`, oldest first. */
  since (lastSeq: number): Array<{ seq: number, json: Buffer }> {
    const out: Array<{ seq: number, json: Buffer }> = []
    for (let i = Math.max(0, lastSeq + 1 - this.first); i < this.frames.length; i++) out.push({ seq: this.first + i, json: this.frames[i] as Buffer })
    return out
  }

  /** Only while the buffer is not empty. */
  private dropOldest (): number {
    this.bytes -= (this.frames.shift() as Buffer).length
    return this.first++
  }
}
