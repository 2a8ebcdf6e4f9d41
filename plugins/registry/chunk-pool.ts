/**
 * Replay-buffer chunks (replay-buffer.ts) handed back once every message in them was acknowledged, for
 * the next messages of any peer. Under traffic a peer fills a chunk every few messages and its ack frees
 * them about a second later: allocated anew, every chunk was a Buffer that lived through several
 * young-generation collections and was promoted, with nothing else to show for it (most of what a
 * relayed message still promoted: docs/bench.md, run J). Taken from here, chunks stay in the old
 * generation and are written again.
 *
 * Chunks come in size classes (FIRST_CHUNK_BYTES doubling up to CHUNK_BYTES); larger ones, for single
 * frames over CHUNK_BYTES, are never kept.
 *
 * How much to keep: acks come in waves (a stall, a GC pause, clients acking on the same timer), and a
 * wave hands back as much as every busy peer held, which is then taken again over the next second.
 * With a small fixed bound (1 MiB) most of a wave went to the GC and most takes then missed (nine in
 * ten in the closed loop at N = 1,000; docs/bench.md, run L). So the bound (`maxBytes`) is generous,
 * and what traffic no longer needs is let go by time instead: trim(), called every interval, drops the
 * chunks of each class that stayed in the pool the whole interval. A pool stops holding memory within
 * two intervals after traffic ends.
 *
 * When the pool is full, a chunk given back displaces free chunks of other classes: the classes in
 * demand change (joins and idle peers free small first chunks; a busy peer's buffer seldom empties,
 * so it takes the largest), and small chunks from the connection phase once filled the whole bound
 * while the closed loop's 8 KB chunks were dropped.
 *
 * Handing a chunk back is the caller's promise that no view of it is still waiting to be written on a
 * socket: its bytes will be overwritten with other peers' messages (memory-registry.ts, ack).
 */
export class ChunkPool {
  /** Free chunks per size class: free[k] holds chunks of smallest << k bytes. */
  private readonly free: Buffer[][] = []
  /**
   * Per class, the fewest free chunks since the last trim(): takes pop the newest, so that many of the
   * oldest were not needed all that time.
   */
  private readonly unused: number[] = []
  private held = 0

  /** `smallest` and `largest` are powers of two. */
  constructor (private readonly smallest: number, private readonly largest: number, private readonly maxBytes: number) {
    for (let size = smallest; size <= largest; size *= 2) {
      this.free.push([])
      this.unused.push(0)
    }
  }

  /** The size class a chunk for `bytes` comes in: the smallest class that holds them, or `bytes` beyond the largest. */
  sizeFor (bytes: number): number {
    if (bytes > this.largest) return bytes
    let size = this.smallest
    while (size < bytes) size *= 2
    return size
  }

  /** A chunk of exactly `size` bytes (a size class, or larger than the largest): a free one when there is one. */
  take (size: number): Buffer {
    const k = this.classOf(size)
    const free = this.free[k]
    const chunk = free?.pop()
    if (chunk === undefined) return Buffer.allocUnsafeSlow(size)
    this.held -= chunk.length
    if ((free as Buffer[]).length < (this.unused[k] as number)) this.unused[k] = (free as Buffer[]).length
    return chunk
  }

  /**
   * Keeps a chunk no longer in use for a later take(), unless it is not of a class or larger than the
   * bound. When the pool is full, free chunks of other classes make room, the fullest class first.
   */
  give (chunk: Buffer): void {
    const k = this.classOf(chunk.length)
    const free = this.free[k]
    if (free === undefined || chunk.length > this.maxBytes) return
    while (this.held + chunk.length > this.maxBytes) {
      if (!this.dropOtherThan(k)) return
    }
    free.push(chunk)
    this.held += chunk.length
  }

  /** Lets the GC have the chunks that no take() needed since the last trim (the oldest of each class). */
  trim (): void {
    for (let k = 0; k < this.free.length; k++) {
      const free = this.free[k] as Buffer[]
      const n = Math.min(this.unused[k] as number, free.length)
      if (n > 0) {
        free.splice(0, n)
        this.held -= n * (this.smallest << k)
      }
      this.unused[k] = free.length
    }
  }

  /** Bytes of the free chunks held. */
  get bytes (): number {
    return this.held
  }

  /** Leaves one free chunk of the class holding the most bytes, other than class `k`, to the GC; false if there is none. */
  private dropOtherThan (k: number): boolean {
    let fullest = -1
    let most = 0
    for (let j = 0; j < this.free.length; j++) {
      const bytes = j === k ? 0 : (this.free[j] as Buffer[]).length * (this.smallest << j)
      if (bytes > most) {
        most = bytes
        fullest = j
      }
    }
    if (fullest < 0) return false
    // The oldest of its class: the ones given back last are the likeliest to be taken next.
    const free = this.free[fullest] as Buffer[]
    free.shift()
    if ((this.unused[fullest] as number) > 0) (this.unused[fullest] as number)--
    this.held -= this.smallest << fullest
    return true
  }

  /** The index of the class of exactly `size` bytes, or -1 (sizes are powers of two: smallest << k). */
  private classOf (size: number): number {
    if (size < this.smallest || size > this.largest || (size & (size - 1)) !== 0) return -1
    return Math.clz32(this.smallest) - Math.clz32(size)
  }
}
