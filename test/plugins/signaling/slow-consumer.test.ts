import t from 'tap'
import { WebSocket } from 'ws'
import { pair, signalingServer } from '../../helpers/signaling-harness.js'
import { WsPeer, until } from '../../helpers/ws-peer.js'

const SEND_BUFFER_LIMIT = 256 * 1024
const MESSAGE_BYTES = 60_000

t.test('a client that stops reading is closed with 4008; server memory stays bounded and others are served', async (t) => {
  const h = await signalingServer(t, {
    WS_SEND_BUFFER_LIMIT_BYTES: SEND_BUFFER_LIMIT,
    WS_MAX_MESSAGE_BYTES: 65536,
    WS_MESSAGES_PER_SECOND: 100_000,
    WS_MESSAGE_BURST: 100_000,
    RESUME_BUFFER_MESSAGES: 100_000,
    RESUME_BUFFER_BYTES: 256 * 1024 * 1024,
    RESUME_GRACE_SECONDS: 3600
  })
  const [slow, flooder] = await pair(h, 'r', ['slow', 'flooder'])
  const [x, y] = await pair(h, 'elsewhere', ['x', 'y'])
  const serverSide = h.app.signaling.hub.connections.get(slow.peerId)
  t.ok(serverSide, 'the server-side connection of the slow peer')
  if (!serverSide) return

  slow.socket.pause() // stops reading: the kernel buffers fill, then the server's
  const payload = 'x'.repeat(MESSAGE_BYTES)
  let sent = 0
  let maxBuffered = 0
  // Flood in batches; after each, a round trip proves the server handled the batch.
  while (serverSide.socket.readyState === WebSocket.OPEN && sent < 1000) {
    for (let i = 0; i < 20; i++) flooder.send({ type: 'message', room: 'r', to: slow.peerId, data: { n: sent++, payload } })
    await flooder.sync(5000)
    maxBuffered = Math.max(maxBuffered, serverSide.socket.bufferedAmount)
  }
  t.not(serverSide.socket.readyState, WebSocket.OPEN, `the server gave up on the slow consumer after ${sent} messages`)
  t.ok(maxBuffered <= SEND_BUFFER_LIMIT + 2 * (MESSAGE_BYTES + 200), `user-space send buffer peaked at ${maxBuffered} bytes`)

  // Reading again, the client drains what was on the wire and then finds the close frame.
  slow.socket.resume()
  t.equal(await slow.waitClosed(), 4008, 'closed with 4008 (slow consumer)')
  t.ok(flooder.isOpen, 'the sender is not punished')
  await until(() => !h.app.signaling.hub.connections.has(slow.peerId), 'the server to let go of the slow socket')

  // Others are served meanwhile and after.
  x.send({ type: 'message', room: 'elsewhere', to: y.peerId, data: 'unaffected' })
  t.match(await y.next('message'), { data: 'unaffected' })

  // Nothing was lost: its session was kept, and a resume replays the rest, in order.
  const token = await h.token('slow')
  const resumed = h.track(await WsPeer.resume(h.base, token, slow))
  t.match(resumed.welcome, { resumed: true, peerId: slow.peerId })
  const all = [...slow.ofType('message'), ...await resumed.waitCount('message', sent - slow.ofType('message').length, 10_000)]
  t.equal(all.length, sent, `all ${sent} messages arrived across the two connections`)
  t.ok(all.every((m, i) => (m.data as { n: number }).n === i), 'in the order they were sent')
  t.ok(all.every((m, i) => i === 0 || m.seq === (all[i - 1]?.seq ?? 0) + 1), 'with consecutive seq')
})

t.test('a reader that keeps up is never cut off, however much it receives', async (t) => {
  const h = await signalingServer(t, {
    WS_SEND_BUFFER_LIMIT_BYTES: SEND_BUFFER_LIMIT,
    WS_MESSAGES_PER_SECOND: 100_000,
    WS_MESSAGE_BURST: 100_000
  })
  const [reader, sender] = await pair(h, 'r')
  const payload = 'y'.repeat(MESSAGE_BYTES)
  for (let batch = 0; batch < 10; batch++) {
    for (let i = 0; i < 10; i++) sender.send({ type: 'message', room: 'r', to: reader.peerId, data: payload })
    await reader.waitCount('message', (batch + 1) * 10, 5000)
  }
  t.ok(reader.isOpen)
  t.equal(reader.ofType('message').length, 100)
})
