import t from 'tap'
import { pair, signalingServer } from '../../../helpers/signaling-harness.js'
import { sendBurstInOneChunk, tcpOf, tcpWrites } from '../../../helpers/socket-writes.js'
import { WsPeer } from '../../../helpers/ws-peer.js'

// write-batch.ts: the frames one TCP chunk brings go to each recipient in one write system call, in
// order. Counted as the TCP write requests this process hands to the kernel (client and server both
// run in it).
// In memory only, hence this folder, which the Redis rerun of the signaling suite does not read: with
// Redis a relay reaches its recipient through a pub/sub delivery, outside the sender's chunk.

t.test('a burst of candidates in one TCP chunk reaches the recipient in one write, in order', async (t) => {
  const h = await signalingServer(t, {})
  const [a, b] = await pair(h, 'burst')
  await b.sync()
  const before = tcpWrites(tcpOf(a))
  const burst = sendBurstInOneChunk(a, 'burst', b.peerId, 16)
  const got = await b.waitCount('candidate', 16)
  const writes = tcpWrites(tcpOf(a)) - before
  t.same(got.map((m) => (m.candidate as { candidate: string }).candidate), burst, 'all 16, in order')
  // 1 write from the client and 1 from the server; unbatched, the server alone would make 16. A
  // heartbeat ping and its pong may fall in the window.
  t.ok(writes <= 4, `the relay took ${writes} TCP writes in all (17 or more without batching)`)
})

t.test('the 101 response and the welcome leave the server in one write', async (t) => {
  const h = await signalingServer(t, {})
  // A user each: the per-user connection limit stays out of the way.
  const [warm, ...tokens] = await Promise.all(Array.from({ length: 6 }, async (_, i) => h.token(`setup-writes-${i}`)))
  // Warm up once: first-use work (logger streams, lazy modules) must not count.
  const probe = tcpOf(h.track(await WsPeer.connect(h.base, warm)))
  // A heartbeat ping and its pong falling inside a counted window would add writes to that window
  // only: the fewest over a few setups is the setup's own count.
  const counts: number[] = []
  for (const token of tokens) {
    const before = tcpWrites(probe)
    const peer = h.track(await WsPeer.connect(h.base, token))
    counts.push(tcpWrites(probe) - before)
    t.equal(peer.welcome.type, 'welcome')
  }
  // 1 write from the client (the upgrade request), 1 from the server; written apart, the server makes 2.
  t.equal(Math.min(...counts), 2, `TCP writes per setup, in all: ${counts.join(', ')}`)
})
