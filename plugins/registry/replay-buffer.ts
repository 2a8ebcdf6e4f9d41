/**
 * One peer's replay buffer for the in-memory registry: the messages written to it since its last `ack`,
 * oldest first, bounded in count and in UTF-8 bytes, so a peer that reconnects gets back what it missed.
 *
 * The frames are kept as their UTF-8 bytes, each in a buffer of its own, off the JS heap. Kept as
 * strings, they lived about as long as the client's ack interval (1 s by default): every young-generation
 * collection copied them (twice, until they were promoted), V8 grew the young generation because so much
 * survived, and the pauses grew with it, to 5-12 ms at 2,000 messages a second (docs/bench.md, paced
 * latency). A buffer of its own, not a slice of Node's pool: a live slice would pin its whole 8 KB slab.
 * ws sends the bytes as they are (the string would have been encoded on the write anyway).
 */

export interface ReplayLimits {
  /** Most messages kept. */
  messages: number
  /** Most bytes kept (UTF-8, the same rule as the Redis registry). */
  bytes: number
}

/** `json`'s UTF-8 bytes in a buffer of its own (see above); its length is the replay buffer's byte count. */
export function frameBytes (json: string): Buffer {
  const frame = Buffer.allocUnsafeSlow(Buffer.byteLength(json, 'utf8'))
  frame.write(json, 0, 'utf8')
  return frame
}

interface Entry { seq: number, frame: Buffer }

export class ReplayBuffer {
  private entries: Entry[] = []
  /** UTF-8 bytes of the buffered frames. */
  bytes = 0

  /** How many messages are buffered. */
  get size (): number {
    return this.entries.length
  }

  /**
   * Buffers `frame` as message `seq`, first dropping the oldest messages the limits leave no room for.
   * Returns the highest seq dropped (`seq` itself if the message alone is over a limit and is not kept),
   * or 0 if none was.
   */
  push (seq: number, frame: Buffer, limits: ReplayLimits): number {
    const length = frame.length
    let dropped = 0
    while (this.entries.length > 0 && (this.entries.length + 1 > limits.messages || this.bytes + length > limits.bytes)) dropped = this.dropOldest()
    if (length > limits.bytes || limits.messages < 1) return seq
    this.entries.push({ seq, frame })
    this.bytes += length
    return dropped
  }

  /** Drops every message up to `seq` (acknowledged); returns the highest seq dropped, or 0. */
  ackThrough (seq: number): number {
    let dropped = 0
    while (this.entries.length > 0 && (this.entries[0] as Entry).seq <= seq) dropped = this.dropOldest()
    // An emptied array keeps the backing store its pushes grew (17 slots, 152 bytes): a fresh one has
    // none. Most peers are idle with nothing unacknowledged, so this is per idle connection.
    if (dropped > 0 && this.entries.length === 0) this.entries = []
    return dropped
  }

  /** The buffered messages after `lastSeq`, oldest first. */
  since (lastSeq: number): Array<{ seq: number, json: Buffer }> {
    const out: Array<{ seq: number, json: Buffer }> = []
    for (const { seq, frame } of this.entries) if (seq > lastSeq) out.push({ seq, json: frame })
    return out
  }

  /** Only while entries is not empty. */
  private dropOldest (): number {
    const oldest = this.entries.shift() as Entry
    this.bytes -= oldest.frame.length
    return oldest.seq
  }
}
