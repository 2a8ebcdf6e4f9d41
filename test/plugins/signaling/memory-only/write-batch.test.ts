import t from 'tap'
import { readFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import { pair, signalingServer } from '../../../helpers/signaling-harness.js'

// write-batch.ts: the frames one TCP chunk brings go to each recipient in one write system call, in
// order. Counted with the kernel's own figure for this process (client and server both run here).
// In memory only, hence this folder, which the Redis rerun of the signaling suite does not read: with
// Redis a relay reaches its recipient through a pub/sub delivery, outside the sender's chunk.
const writeSyscalls = (): number => Number(/syscw: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1])

t.test('a burst of candidates in one TCP chunk reaches the recipient in one write, in order', async (t) => {
  const h = await signalingServer(t, {})
  const [a, b] = await pair(h, 'burst')
  await b.sync()
  const burst = Array.from({ length: 16 }, (_, i) => ({ type: 'candidate', room: 'burst', to: b.peerId, candidate: { candidate: `candidate:${i} 1 udp 2122260223 192.0.2.1 ${50000 + i} typ host`, sdpMid: '0', sdpMLineIndex: 0 } }))

  const tcp = (a.socket as unknown as { _socket: Socket })._socket
  const before = writeSyscalls()
  tcp.cork() // the client's 16 frames leave in one write, so the server reads them as one chunk
  for (const c of burst) a.send(c)
  tcp.uncork()
  const got = await b.waitCount('candidate', 16)
  const writes = writeSyscalls() - before
  t.same(got.map((m) => (m.candidate as { candidate: string }).candidate), burst.map((c) => c.candidate.candidate), 'all 16, in order')
  // 1 write from the client and 1 from the server; unbatched, the server alone would make 16.
  t.ok(writes <= 4, `the relay took ${writes} write system calls in all (16 or more without batching)`)
})
