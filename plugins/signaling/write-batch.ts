import type { Socket } from 'node:net'

/**
 * One writev per recipient for everything one TCP chunk of frames causes. A client often sends several
 * frames at once (a burst of ICE candidates); ws hands them over one by one within the same 'data'
 * event, and each relayed one would be its own write system call on the recipient's socket (the
 * largest single cost of a relay, measured with --cpu-prof). While a chunk is processed, a recipient's
 * socket is corked on its first write and uncorked when the chunk is done: the frames leave together,
 * in the same tick, in the same order. Writes made outside a chunk (deliveries from Redis, timers) go
 * out at once as before.
 */
const corked: Socket[] = []
let inChunk = false

function flush (): void {
  for (let i = 0; i < corked.length; i++) (corked[i] as Socket).uncork()
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

/** Brackets ws's 'data' listener of an upgraded connection's TCP socket with chunkStart/chunkEnd. */
export function batchWritesOf (tcp: Socket): void {
  tcp.prependListener('data', chunkStart)
  tcp.on('data', chunkEnd)
}

/** Called before writing to `tcp`: within a chunk, holds the write until the chunk is done. */
export function holdWrites (tcp: Socket): void {
  if (!inChunk || tcp.writableCorked > 0) return
  tcp.cork()
  corked.push(tcp)
}
