import { randomBytes } from 'node:crypto'

/**
 * Random identifiers (peer ids, resume tokens) cut from a pool of CSPRNG bytes, refilled a few
 * kilobytes at a time. One randomBytes call per identifier cost about 14 µs of a connection's setup
 * (--cpu-prof); Node's randomUUID buffers its entropy the same way. The bytes handed out are zeroed in
 * the pool, so a resume token (of which only a hash is stored) does not linger in memory.
 */
const POOL_BYTES = 4096
let pool = Buffer.alloc(0)
let offset = 0

/** `bytes` random bytes, base64url-encoded. */
export function randomId (bytes: number): string {
  if (offset + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES)
    offset = 0
  }
  const id = pool.toString('base64url', offset, offset + bytes)
  pool.fill(0, offset, offset + bytes)
  offset += bytes
  return id
}
