/**
 * One peer's replay buffer for the in-memory registry: the messages written to it since its last `ack`,
 * oldest first, bounded in count and in UTF-8 bytes, so a peer that reconnects gets back what it missed.
 *
 * The frames are kept as their UTF-8 bytes, appended to chunks off the JS heap, each with its seq and
 * length in front of it: buffering a frame leaves no JS object behind. Kept as strings (or as a
 * buffer each), every frame lived about as long as the client's ack interval (1 s by default), so every
 * young-generation collection copied it and promoted it; V8 grew the young generation because so much
 * survived, and the pauses grew with it, to 5-23 ms at 2,000 messages a second (docs/bench.md, paced
 * latency). A chunk is written front to back. Once every message in it is acknowledged it goes back to
 * the registry's ChunkPool (chunk-pool.ts) when the caller says no view of it can still be waiting on a
 * socket (ackThrough), and is written again with other messages; otherwise the garbage collector takes
 * it, and a frame still queued on a socket (a view of its chunk) keeps it alive.
 */

import { ChunkPool } from './chunk-pool.js'
import { FRAME_HEADROOM } from './types.js'

export interface ReplayLimits {
  /** Most messages kept. */
  messages: number
  /** Most bytes kept (UTF-8, the same rule as the Redis registry). */
  bytes: number
}

/**
 * Chunk sizes: a peer's first chunk is small (most peers only ever get a few short server messages,
 * such as `peer-joined`, and an idle connection must stay cheap), each further one twice the last, up to
 * CHUNK_BYTES, and at least the next record's size rounded up to a power of two (the pool's size
 * classes); a frame larger than CHUNK_BYTES gets a chunk of its own size. A frame that does not fit in what
 * is left of the newest chunk starts a new one, so the chunks a peer holds come to at most twice its
 * buffered records (frames and their 16-byte headers) plus two chunks (the oldest one's acknowledged
 * part, the newest one's unwritten part), and to nothing once everything is acknowledged.
 */
export const FIRST_CHUNK_BYTES = 512
export const CHUNK_BYTES = 8 * 1024

/**
 * Each buffered message is a record in its chunk: its seq (a float64), the length of its frame (a
 * uint32), FRAME_HEADROOM bytes left for whoever writes the frame out (newestFrame: a WebSocket
 * header goes there), and the frame's bytes. A record never spans two chunks. Where a chunk's records
 * end before the chunk does, the next 16 bytes (when there is room for them) hold END as the length.
 *
 * Keeping seq and length inside the chunk instead of in a JS array matters: an array of four numbers
 * per message grew and was copied all through an ack interval and lived as long as the interval, so it
 * was promoted to the old generation: that was most of what a relayed message promoted (about 170 bytes
 * before, 85-98 after; docs/bench.md, runs H and I).
 */
export const RECORD_HEADER_BYTES = 12 + FRAME_HEADROOM
const END = 0xffffffff

/** For buffers that keep no chunk for later (tests, tools): every chunk is allocated, none is kept. */
const NO_POOL = new ChunkPool(FIRST_CHUNK_BYTES, CHUNK_BYTES, 0)

export class ReplayBuffer {
  /** The chunks still holding buffered messages, the oldest message's first. */
  private chunks: Buffer[] = []
  /** Where the oldest message's record starts in chunks[0]. */
  private head = 0
  /** Bytes written to the newest chunk. */
  private used = 0
  /** Where the newest message's frame is in the newest chunk. */
  private newestStart = 0
  private newestEnd = 0
  private count = 0
  /** UTF-8 bytes of the buffered frames. */
  bytes = 0

  /** `pool`: where chunks come from, and where acknowledged ones go back to (ackThrough). */
  constructor (private readonly pool: ChunkPool = NO_POOL) {}

  /** How many messages are buffered. */
  get size (): number {
    return this.count
  }

  /** Bytes of the chunks held (the frames' bytes, their records' headers and what is left of their chunks). */
  get chunkBytes (): number {
    let n = 0
    for (const chunk of this.chunks) n += chunk.length
    return n
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
    while (this.count > 0 && (this.count + 1 > limits.messages || this.bytes + length > limits.bytes)) dropped = this.dropOldest()
    if (length > limits.bytes || limits.messages < 1) return seq
    const record = RECORD_HEADER_BYTES + length
    let chunk = this.chunks[this.chunks.length - 1]
    if (chunk === undefined || this.used + record > chunk.length) {
      if (chunk !== undefined && this.used + RECORD_HEADER_BYTES <= chunk.length) chunk.writeUInt32LE(END, this.used + 8)
      const size = chunk === undefined ? FIRST_CHUNK_BYTES : Math.min(2 * chunk.length, CHUNK_BYTES)
      chunk = this.pool.take(this.pool.sizeFor(Math.max(size, record)))
      this.chunks.push(chunk)
      this.used = 0
    }
    const start = this.used
    chunk.writeDoubleLE(seq, start)
    chunk.writeUInt32LE(length, start + 8)
    const frame = start + RECORD_HEADER_BYTES
    let end = frame + chunk.write(head, frame)
    if (payload.length > 0) end += chunk.write(payload, end)
    if (tail.length > 0) end += chunk.write(tail, end)
    this.used = end
    this.newestStart = frame
    this.newestEnd = end
    this.count++
    this.bytes += length
    return dropped
  }

  /**
   * The newest buffered message's bytes, a view of its chunk: whoever writes it must say, until it has
   * been written, that the chunk cannot be recycled (ackThrough). Only while the buffer is not empty.
   */
  newest (): Buffer {
    return (this.chunks[this.chunks.length - 1] as Buffer).subarray(this.newestStart, this.newestEnd)
  }

  /** newest(), with the FRAME_HEADROOM bytes in front of it (Sink.pushFrame): the caller may write there. */
  newestFrame (): Buffer {
    return (this.chunks[this.chunks.length - 1] as Buffer).subarray(this.newestStart - FRAME_HEADROOM, this.newestEnd)
  }

  /**
   * Drops every message up to `seq` (acknowledged); returns the highest seq dropped, or 0. `recycle`:
   * the caller knows that no view of these chunks (newest(), since()) is still waiting to be written
   * anywhere, so the chunks emptied go back to the pool to be written over.
   */
  ackThrough (seq: number, recycle = false): number {
    let dropped = 0
    while (this.count > 0 && (this.chunks[0] as Buffer).readDoubleLE(this.head) <= seq) dropped = this.dropOldest(recycle)
    return dropped
  }

  /**
   * The buffered messages after `lastSeq`, oldest first, as copies: a resume may take a while to write
   * them, and an ack meanwhile may hand their chunks back to the pool. (Resumes are rare; relays, the
   * hot path, get views: newest().)
   */
  since (lastSeq: number): Array<{ seq: number, json: Buffer }> {
    const out: Array<{ seq: number, json: Buffer }> = []
    let c = 0
    let at = this.head
    for (let left = this.count; left > 0; left--) {
      let chunk = this.chunks[c] as Buffer
      if (!hasRecordAt(chunk, at)) {
        chunk = this.chunks[++c] as Buffer
        at = 0
      }
      const seq = chunk.readDoubleLE(at)
      const frame = at + RECORD_HEADER_BYTES
      at = frame + chunk.readUInt32LE(at + 8)
      if (seq > lastSeq) out.push({ seq, json: Buffer.copyBytesFrom(chunk, frame, at - frame) })
    }
    return out
  }

  /** Only while the buffer is not empty. Evictions (push, over the limits) never recycle: those frames may still be queued. */
  private dropOldest (recycle = false): number {
    const chunk = this.chunks[0] as Buffer
    const seq = chunk.readDoubleLE(this.head)
    const length = chunk.readUInt32LE(this.head + 8)
    this.bytes -= length
    this.head += RECORD_HEADER_BYTES + length
    if (--this.count === 0) {
      // Empty: the chunks go, the newest too, so an idle peer holds no chunk.
      if (recycle) for (const done of this.chunks) this.pool.give(done)
      this.chunks.length = 0
      this.head = 0
      this.used = 0
      return seq
    }
    // The oldest chunk is done with once its last record went: the next message is in the next chunk.
    if (this.chunks.length > 1 && !hasRecordAt(chunk, this.head)) {
      this.chunks.shift()
      if (recycle) this.pool.give(chunk)
      this.head = 0
    }
    return seq
  }
}

/** Whether a record starts at `at`: past a chunk's last record come END or too little room for a header. */
function hasRecordAt (chunk: Buffer, at: number): boolean {
  return at + RECORD_HEADER_BYTES <= chunk.length && chunk.readUInt32LE(at + 8) !== END
}
