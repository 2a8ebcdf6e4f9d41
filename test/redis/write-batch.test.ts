import t, { type Test } from 'tap'
import { startRedis, requireRedis } from '../helpers/redis-server.js'
import { startInstances } from '../helpers/instances.js'
import { signTestToken } from '../helpers/tokens.js'
import { WsPeer } from '../helpers/ws-peer.js'
import { sendBurstInOneChunk, tcpOf, tcpWrites } from '../helpers/socket-writes.js'

// write-batch.ts across instances: a burst that reaches instance A in one TCP chunk goes to Redis in one
// write (the relay commands), and the publications that reach instance B in one chunk of its subscriber
// go to the recipient in one write. Counted as the TCP write requests this process hands to the
// kernel: it runs the clients and both instances (redis-server is another process).
const skip = requireRedis(t)

async function peer (t: Test, base: string, sub: string): Promise<WsPeer> {
  const p = await WsPeer.connect(base, await signTestToken({ sub }))
  t.teardown(() => p.drop())
  return p
}

t.test('a burst relayed across instances is written in a few system calls, in order', skip, async (t) => {
  const redis = await startRedis(t)
  const [instA, instB] = await startInstances(t, ['a', 'b'], { REDIS_URL: redis.url })
  if (!instA || !instB) throw new Error('instances')
  const a = await peer(t, instA.base, 'doctor')
  const b = await peer(t, instB.base, 'patient')
  a.send({ type: 'join', room: 'burst' })
  await a.next('joined')
  b.send({ type: 'join', room: 'burst' })
  await b.next('joined')
  await a.next('peer-joined')
  await b.sync()

  const before = tcpWrites(tcpOf(a))
  const burst = sendBurstInOneChunk(a, 'burst', b.peerId, 16) // instance A reads them as one chunk
  const got = await b.waitCount('candidate', 16)
  const writes = tcpWrites(tcpOf(a)) - before
  t.same(got.map((m) => (m.candidate as { candidate: string }).candidate), burst, 'all 16, in order')
  // Batched: 1 from the client, 1 from A to Redis, 1 (or a few, if Redis splits its publications)
  // from B to the recipient, plus any liveness write that fell in the window. Unbatched: 33 or more.
  t.ok(writes <= 10, `the relay took ${writes} TCP writes in all (33 or more without batching)`)
})
