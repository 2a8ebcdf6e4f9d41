/**
 * One peer's replay buffer for the in-memory registry: the messages written to it since its last `ack`,
 * oldest first, bounded in count and in UTF-8 bytes, so a peer that reconnects gets back what it missed.
 *
 * The frames are kept as their UTF-8 bytes, appended to chunks off the JS heap, with their seq and
 * place in plain number arrays: buffering a frame leaves no JS object behind. Kept as strings (or as a
 * buffer each), every frame lived about as long as the client's ack interval (1 s by default), so every
 * young-generation collection copied it and promoted it; V8 grew the young generation because so much
 * survived, and the pauses grew with it, to 5-23 ms at 2,000 messages a second (docs/bench.md, paced
 * latency). A chunk is written once, front to back, and never reused: a frame still queued on a socket
 * (a view of its chunk) keeps the chunk alive, and no other message can ever be written over it.
 */

export interface ReplayLimits {
  /** Most messages kept. */
  messages: number
  /** Most bytes kept (UTF-8, the same rule as the Redis registry). */
  bytes: number
}

/**
 * Chunk sizes: a peer's first chunk is small (most peers only ever get a few short server messages,
 * such as `peer-joined`, and an idle connection must stay cheap), each further one twice the last, up to
 * CHUNK_BYTES; a frame larger than that gets a chunk of its own size. A frame that does not fit in what
 * is left of the newest chunk starts a new one, so the chunks a peer holds come to at most twice its
 * buffered bytes plus two chunks (the oldest one's acknowledged part, the newest one's unwritten part),
 * and to nothing once everything is acknowledged.
 */
export const FIRST_CHUNK_BYTES = 512
export const CHUNK_BYTES = 8 * 1024

/** Per message in `meta`: seq, chunk number, start and end of its bytes in that chunk. */
const STRIDE = 4

export class ReplayBuffer {
  /** STRIDE numbers per buffered message, the oldest at `first`. */
  private meta: number[] = []
  private first = 0
  /** The chunks still holding buffered messages; chunks[i] is chunk number `chunkBase + i`. */
  private chunks: Buffer[] = []
  private chunkBase = 0
  /** Bytes written to the newest chunk. */
  private used = 0
  /** UTF-8 bytes of the buffered frames. */
  bytes = 0

  /** Bytes of the chunks held (the frames' bytes and what is left of their chunks). */
  get chunkBytes (): number {
    let n = 0
    for (const chunk of this.chunks) n += chunk.length
    return n
  }

  /** How many messages are buffered. */
  get size (): number {
    return (this.meta.length - this.first) / STRIDE
  }

  /**
   * Buffers the message `head` + `payload` + `tail` (written as they are, not joined first: the payload
   * is a 3 KB SDP at times) as message `seq`, first dropping the oldest messages the limits leave no
   * room for. Returns the highest seq dropped (`seq` itself if the message alone is over a limit and is
   * not kept), or 0 if none was.
   */
  push (seq: number, head: string, payload: string, tail: string, limits: ReplayLimits): number {
    const length = Buffer.byteLength(head) + Buffer.byteLength(payload) + Buffer.byteLength(tail)
    let dropped = 0
    while (this.size > 0 && (this.size + 1 > limits.messages || this.bytes + length > limits.bytes)) dropped = this.dropOldest()
    if (length > limits.bytes || limits.messages < 1) return seq
    let last = this.chunks.length - 1
    let chunk = this.chunks[last]
    if (chunk === undefined || this.used + length > chunk.length) {
      const size = chunk === undefined ? FIRST_CHUNK_BYTES : Math.min(2 * chunk.length, CHUNK_BYTES)
      chunk = Buffer.allocUnsafeSlow(Math.max(size, length))
      this.chunks.push(chunk)
      this.used = 0
      last++
    }
    const start = this.used
    let end = start + chunk.write(head, start)
    if (payload.length > 0) end += chunk.write(payload, end)
    if (tail.length > 0) end += chunk.write(tail, end)
    this.used = end
    this.meta.push(seq, this.chunkBase + last, start, end)
    this.bytes += length
    return dropped
  }

  /** The newest buffered message's bytes (a view of its chunk). Only while the buffer is not empty. */
  newest (): Buffer {
    return this.frameAt(this.meta.length - STRIDE)
  }

  /** Drops every message up to `seq` (acknowledged); returns the highest seq dropped, or 0. */
  ackThrough (seq: number): number {
    let dropped = 0
    while (this.size > 0 && (this.meta[this.first] as number) <= seq) dropped = this.dropOldest()
    return dropped
  }

  /** The buffered messages after `lastSeq`, oldest first, as views of their chunks. */
  since (lastSeq: number): Array<{ seq: number, json: Buffer }> {
    const out: Array<{ seq: number, json: Buffer }> = []
    for (let i = this.first; i < this.meta.length; i += STRIDE) {
      const seq = this.meta[i] as number
      if (seq > lastSeq) out.push({ seq, json: this.frameAt(i) })
    }
    return out
  }

  private frameAt (i: number): Buffer {
    const m = this.meta
    return (this.chunks[(m[i + 1] as number) - this.chunkBase] as Buffer).subarray(m[i + 2], m[i + 3])
  }

  /** Only while the buffer is not empty. */
  private dropOldest (): number {
    const m = this.meta
    const i = this.first
    const seq = m[i] as number
    this.bytes -= (m[i + 3] as number) - (m[i + 2] as number)
    this.first += STRIDE
    if (this.first === m.length) {
      // Empty: a fresh array has no backing store (most peers are idle with nothing unacknowledged),
      // and the chunks go, the newest too, so an idle peer holds no chunk.
      this.meta = []
      this.first = 0
      this.chunks = []
      this.chunkBase = 0
      this.used = 0
      return seq
    }
    // Chunks before the oldest message's are done with.
    const oldestChunk = m[this.first + 1] as number
    while (this.chunkBase < oldestChunk) {
      this.chunks.shift()
      this.chunkBase++
    }
    // A peer that never acks keeps evicting: the consumed front of `meta` is cut off now and then.
    if (this.first >= 64 * STRIDE && this.first * 2 >= m.length) {
      this.meta = m.slice(this.first)
      this.first = 0
    }
    return seq
  }
}
