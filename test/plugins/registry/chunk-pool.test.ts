import t from 'tap'
import { ChunkPool } from '../../../plugins/registry/chunk-pool.js'

/** The pool of replay-buffer chunks: size classes, reuse, and its bound. */

t.test('size classes: the smallest power of two from 512 to 8192 that holds the bytes, or the bytes beyond', async (t) => {
  const pool = new ChunkPool(512, 8192, 1 << 20)
  t.strictSame([1, 512, 513, 1024, 3300, 4096, 4097, 8192, 8193, 70_000].map((n) => pool.sizeFor(n)),
    [512, 512, 1024, 1024, 4096, 4096, 8192, 8192, 8193, 70_000])
})

t.test('a chunk given back is the next one taken of its size; other sizes are not kept', async (t) => {
  const pool = new ChunkPool(512, 8192, 1 << 20)
  const chunk = pool.take(4096)
  t.equal(chunk.length, 4096)
  pool.give(chunk)
  t.equal(pool.bytes, 4096)
  t.not(pool.take(2048), chunk, 'another size class: a new chunk')
  t.equal(pool.take(4096), chunk, 'the same size: the chunk given back')
  t.equal(pool.bytes, 0)
  t.not(pool.take(4096), chunk, 'taken once only')
  for (const odd of [pool.take(3000), pool.take(9000), pool.take(256)]) pool.give(odd)
  t.equal(pool.bytes, 0, 'chunks of no class (sizes not a power of two, larger than 8192, smaller than 512) are left to the GC')
})

t.test('holds at most maxBytes: what comes back beyond that is left to the GC', async (t) => {
  const pool = new ChunkPool(512, 8192, 20_000)
  const chunks = [1, 2, 3].map(() => pool.take(8192))
  for (const chunk of chunks) pool.give(chunk)
  t.equal(pool.bytes, 16_384, 'two of three 8 KB chunks kept')
  pool.give(pool.take(512))
  t.equal(pool.bytes, 16_384 + 512, 'a small one still fits')
  t.equal(pool.take(8192), chunks[1], 'last in, first out')
  t.equal(pool.bytes, 8192 + 512)
})

t.test('a full pool makes room for a chunk of another class: the oldest chunks of the fullest other class go', async (t) => {
  const pool = new ChunkPool(512, 8192, 4096)
  const smalls = Array.from({ length: 8 }, () => pool.take(512))
  for (const chunk of smalls) pool.give(chunk)
  t.equal(pool.bytes, 4096, 'full of 512-byte chunks')
  const big = pool.take(2048)
  pool.give(big)
  t.equal(pool.bytes, 4096, 'still within the bound')
  t.equal(pool.take(2048), big, 'the 2 KB chunk was kept')
  t.strictSame([1, 2, 3, 4].map(() => smalls.indexOf(pool.take(512))), [7, 6, 5, 4], 'the four newest small ones stayed')
  t.equal(smalls.indexOf(pool.take(512)), -1, 'the four oldest went to make room')

  const alone = new ChunkPool(512, 8192, 8192)
  const first = alone.take(8192)
  const second = alone.take(8192)
  alone.give(first)
  alone.give(second)
  t.equal(alone.bytes, 8192, 'full with its own class: a chunk of that class is left to the GC')
  t.equal(alone.take(8192), first)

  const small = new ChunkPool(512, 8192, 4096)
  small.give(small.take(512))
  small.give(small.take(1024))
  small.give(small.take(8192))
  t.equal(small.bytes, 1536, 'a chunk larger than the bound is not kept, and makes no room it could not use')
})

t.test('trim lets go of the chunks no take needed since the last trim, oldest first', async (t) => {
  const pool = new ChunkPool(512, 8192, 1 << 20)
  const chunks = [1, 2, 3].map(() => pool.take(8192))
  const small = pool.take(512)
  for (const chunk of chunks) pool.give(chunk)
  pool.give(small)
  pool.trim()
  t.equal(pool.bytes, 3 * 8192 + 512, 'given back since the last trim: all kept')
  const used = pool.take(8192)
  t.equal(used, chunks[2])
  pool.give(used)
  pool.trim()
  t.equal(pool.bytes, 8192, 'the two 8 KB chunks and the 512-byte one no take reached are gone')
  t.equal(pool.take(8192), used, 'the one in use stayed')
  pool.give(used)
  pool.trim()
  t.equal(pool.bytes, 8192, 'given back again since the last trim: kept')
  pool.trim()
  t.equal(pool.bytes, 0, 'an interval without takes: the pool is empty')
})
