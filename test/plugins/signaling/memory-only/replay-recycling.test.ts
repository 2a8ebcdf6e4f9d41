import t from 'tap'
import { WebSocket } from 'ws'
import { CHUNK_POOL_BYTES, type MemoryRegistry } from '../../../../plugins/registry/memory-registry.js'
import { pair, signalingServer } from '../../../helpers/signaling-harness.js'
import { until } from '../../../helpers/ws-peer.js'

// The in-memory registry writes acknowledged replay chunks over with other peers' messages
// (chunk-pool.ts), while the frames it relays are views of those chunks. Here a client stops reading
// until its frames wait in the server's own socket buffer, and acks everything meanwhile (an ack may
// claim more than the client read): those chunks must not be written over, or the frames it finally
// reads would carry another room's messages. And when clients read what they ack, chunks are recycled.
// In memory only, hence this folder: the Redis registry keeps no chunks.

const DATA_BYTES = 3000

const overrides = {
  WS_SEND_BUFFER_LIMIT_BYTES: 256 * 1024 * 1024,
  WS_MESSAGES_PER_SECOND: 100_000,
  WS_MESSAGE_BURST: 100_000,
  RESUME_BUFFER_MESSAGES: 100_000,
  RESUME_BUFFER_BYTES: 256 * 1024 * 1024
}

t.test('a client that acks what it has not read yet gets exactly its own messages: its chunks are not written over', async (t) => {
  const h = await signalingServer(t, overrides)
  const registry = h.app.registry as unknown as MemoryRegistry
  const [reader, sender] = await pair(h, 'backed-up', ['reader', 'sender'])
  const [x, y] = await pair(h, 'elsewhere', ['x', 'y'])
  const serverSide = h.app.signaling.hub.connections.get(reader.peerId)
  if (serverSide === undefined) throw new Error('no server-side connection for the reader')

  reader.socket.pause() // stops reading: the kernel buffers fill, then the server's socket buffer
  let sent = 0
  let others = 0
  let backedUpRounds = 0
  let acked = 0
  // Rounds of: messages to the reader; its ack of everything the server wrote to it (its socket still
  // sends), applied; messages in another room, written into whatever chunks the pool hands out. Until
  // the reader's frames have waited in the server's socket buffer through several acks.
  while (backedUpRounds < 4 && sent < 20_000) {
    for (let i = 0; i < 50; i++) sender.send({ type: 'message', room: 'backed-up', to: reader.peerId, data: { n: sent++, fill: String(sent % 10).repeat(DATA_BYTES) } })
    await sender.sync(5000)
    const buffered = await registry.replay(reader.peerId, acked)
    const newest = buffered.ok ? buffered.messages.at(-1)?.seq : undefined
    if (newest === undefined) throw new Error('the reader\'s messages are not buffered')
    if (serverSide.socket.bufferedAmount > 0) backedUpRounds++
    reader.send({ type: 'ack', seq: 1_000_000_000 })
    // Applied once the newest is gone too: a replay from just before it is then refused.
    await until(async () => !(await registry.replay(reader.peerId, newest - 1)).ok, 'the ack to be applied', 10_000)
    acked = newest
    for (let i = 0; i < 50; i++) x.send({ type: 'message', room: 'elsewhere', to: y.peerId, data: { other: others++, fill: 'Z'.repeat(DATA_BYTES) } })
    await x.sync(5000)
  }
  t.equal(backedUpRounds, 4, `acks came while ${serverSide.socket.bufferedAmount} bytes waited in the server's socket buffer (after ${sent} messages)`)
  t.equal(serverSide.socket.readyState, WebSocket.OPEN, 'the reader is still connected')
  t.equal((await y.waitCount('message', others, 10_000)).length, others, 'the other room was served meanwhile')

  reader.socket.resume()
  const got = await reader.waitCount('message', sent, 30_000)
  t.equal(got.length, sent, `the reader got all ${sent} messages`)
  const wrong = got.filter((m, i) => {
    const data = m.data as { n?: number, fill?: string }
    return m.room !== 'backed-up' || m.from !== sender.peerId || data.n !== i || data.fill !== String((i + 1) % 10).repeat(DATA_BYTES)
  })
  t.equal(wrong.length, 0, 'each one its own, in order: no byte of another message in any of them')
  t.equal(reader.errors.length, 0, 'and every frame was valid')
})

t.test('clients that read what they ack: their chunks go back to the pool and are written again', async (t) => {
  const h = await signalingServer(t, overrides)
  const registry = h.app.registry as unknown as MemoryRegistry
  const [a, b] = await pair(h, 'recycled', ['a', 'b'])
  let pooled = 0
  for (let round = 1; round <= 5; round++) {
    for (let i = 0; i < 50; i++) a.send({ type: 'message', room: 'recycled', to: b.peerId, data: { round, i, fill: 'r'.repeat(DATA_BYTES) } })
    const got = await b.waitCount('message', 50 * round, 10_000)
    b.send({ type: 'ack', seq: got.at(-1)?.seq ?? 0 })
    await b.sync(5000)
    pooled = Math.max(pooled, registry.pooledChunkBytes)
  }
  t.ok(pooled > 0, `acknowledged chunks were kept for reuse (${pooled} bytes at most)`)
  t.ok(pooled <= CHUNK_POOL_BYTES, 'within the pool\'s bound')
  const all = b.ofType('message')
  t.ok(all.every((m, i) => {
    const data = m.data as { round: number, i: number, fill: string }
    return data.round === Math.floor(i / 50) + 1 && data.i === i % 50 && data.fill === 'r'.repeat(DATA_BYTES)
  }), 'every message arrived as sent, also those written into recycled chunks')
})
