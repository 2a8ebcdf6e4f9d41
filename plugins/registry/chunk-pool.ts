/**
 * Replay-buffer chunks (replay-buffer.ts) handed back once every message in them was acknowledged, for
 * the next messages of any peer. Under traffic a peer fills a chunk every few messages and its ack frees
 * them about a second later: allocated anew, every chunk was a Buffer that lived through several
 * young-generation collections and was promoted, with nothing else to show for it (most of what a
 * relayed message still promoted: docs/bench.md, run J). Taken from here, chunks stay in the old
 * generation and are written again.
 *
 * Chunks come in size classes (FIRST_CHUNK_BYTES doubling up to CHUNK_BYTES); larger ones, for single
 * frames over CHUNK_BYTES, are never kept. The pool holds at most `maxBytes`: what a burst of acks
 * frees beyond that goes to the garbage collector, so memory that traffic no longer needs is released.
 *
 * Handing a chunk back is the caller's promise that no view of it is still waiting to be written on a
 * socket: its bytes will be overwritten with other peers' messages (memory-registry.ts, ack).
 */
export class ChunkPool {
  /** Free chunks per size class: free[k] holds chunks of smallest << k bytes. */
  private readonly free: Buffer[][] = []
  private held = 0

  /** `smallest` and `largest` are powers of two. */
  constructor (private readonly smallest: number, private readonly largest: number, private readonly maxBytes: number) {
    for (let size = smallest; size <= largest; size *= 2) this.free.push([])
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
    const chunk = this.free[this.classOf(size)]?.pop()
    if (chunk === undefined) return Buffer.allocUnsafeSlow(size)
    this.held -= chunk.length
    return chunk
  }

  /** Keeps a chunk no longer in use for a later take(), unless the pool is full or the chunk is not of a class. */
  give (chunk: Buffer): void {
    const free = this.free[this.classOf(chunk.length)]
    if (free === undefined || this.held + chunk.length > this.maxBytes) return
    free.push(chunk)
    this.held += chunk.length
  }

  /** Bytes of the free chunks held. */
  get bytes (): number {
    return this.held
  }

  /** The index of the class of exactly `size` bytes, or -1 (sizes are powers of two: smallest << k). */
  private classOf (size: number): number {
    if (size < this.smallest || size > this.largest || (size & (size - 1)) !== 0) return -1
    return Math.clz32(this.smallest) - Math.clz32(size)
  }
}
