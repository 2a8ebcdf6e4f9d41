import type { Writable } from 'node:stream'

/**
 * One writev per recipient for everything one TCP chunk of frames causes. A client often sends several
 * frames at once (a burst of ICE candidates); ws hands them over one by one within the same 'data'
 * event, and each relayed one would be its own write system call on the recipient's socket (the
 * largest single cost of a relay, measured with --cpu-prof). While a chunk is processed, a recipient's
 * socket is corked on its first write and uncorked when the chunk is done: the frames leave together,
 * in the same tick, in the same order. The Redis subscriber's connection is bracketed the same way:
 * the publications one chunk of its replies carries (relays from other instances) leave each recipient
 * in one writev too; and the relay commands one client chunk causes leave for Redis in one writev.
 * Writes made outside a chunk (timers, replies to commands) go out at once.
 */
const corked: Writable[] = []
let inChunk = false

function flush (): void {
  for (let i = 0; i < corked.length; i++) (corked[i] as Writable).uncork()
  corked.length = 0
}

/** Runs before ws reads a chunk. Anything left corked (a handler threw mid-chunk) is released first. */
function chunkStart (): void {
  if (corked.length > 0) flush()
  inChunk = true
}

/** Runs after ws has handled every complete frame of the chunk. */
function chunkEnd (): void {
  inChunk = false
  flush()
}

/**
 * Brackets the 'data' listeners of a socket whose listeners deliver synchronously (ws on an upgraded
 * connection, ioredis's parser on the subscriber) with chunkStart/chunkEnd. Call it once the reading
 * listener is attached, so that chunkEnd runs after it.
 */
export function batchWritesOf (stream: NodeJS.EventEmitter): void {
  stream.prependListener('data', chunkStart)
  stream.on('data', chunkEnd)
}

/**
 * Called before writing to `stream` (a recipient's TCP socket, or the Redis command connection that
 * carries the relays a chunk causes): within a chunk, holds the write until the chunk is done.
 */
export function holdWrites (stream: Writable): void {
  if (!inChunk || stream.writableCorked > 0) return
  stream.cork()
  corked.push(stream)
}
