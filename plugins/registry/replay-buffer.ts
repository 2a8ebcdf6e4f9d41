/**
 * One peer's replay buffer for the in-memory registry: the messages written to it since its last `ack`,
 * oldest first, bounded in count and in UTF-8 bytes, so a peer that reconnects gets back what it missed.
 *
 * The frames stay JS strings. Kept off the heap instead, they no longer survive young-generation
 * collections as 3 KB strings, but neither way paid (docs/bench.md, results): one byte ring per peer
 * cost 9% more CPU per message and three times the memory per active peer; each frame as a Buffer
 * from Node's pool (survivors per scavenge 60 KB instead of 250-340 KB) cost about 17% of the closed
 * loop's messages per CPU-second at N = 10,000 and held 2-3x the memory (a live frame pins its 8 KB
 * pool slab). Neither moved the paced p99.
 */

export interface ReplayLimits {
  /** Most messages kept. */
  messages: number
  /** Most bytes kept (UTF-8, the same rule as the Redis registry). */
  bytes: number
}

interface Entry { seq: number, json: string, bytes: number }

export class ReplayBuffer {
  private entries: Entry[] = []
  /** UTF-8 bytes of the buffered frames. */
  bytes = 0

  /** How many messages are buffered. */
  get size (): number {
    return this.entries.length
  }

  /**
   * Buffers `json` (`length` UTF-8 bytes) as message `seq`, first dropping the oldest messages the
   * limits leave no room for. Returns the highest seq dropped (`seq` itself if the message alone is
   * over a limit and is not kept), or 0 if none was.
   */
  push (seq: number, json: string, length: number, limits: ReplayLimits): number {
    let dropped = 0
    while (this.entries.length > 0 && (this.entries.length + 1 > limits.messages || this.bytes + length > limits.bytes)) dropped = this.dropOldest()
    if (length > limits.bytes || limits.messages < 1) return seq
    this.entries.push({ seq, json, bytes: length })
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
  since (lastSeq: number): Array<{ seq: number, json: string }> {
    const out: Array<{ seq: number, json: string }> = []
    for (const { seq, json } of this.entries) if (seq > lastSeq) out.push({ seq, json })
    return out
  }

  /** Only while entries is not empty. */
  private dropOldest (): number {
    const oldest = this.entries.shift() as Entry
    this.bytes -= oldest.bytes
    return oldest.seq
  }
}
