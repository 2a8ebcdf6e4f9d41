import t from 'tap'
import { signalingServer } from '../../helpers/signaling-harness.js'

const INTERVAL = 200
const GRACE_MS = 300

t.test('a client that stops answering pings is cut off within two intervals; its peer sees peer-left after the grace period', async (t) => {
  const h = await signalingServer(t, { WS_HEARTBEAT_INTERVAL_MS: INTERVAL, RESUME_GRACE_SECONDS: GRACE_MS / 1000 })
  const healthy = await h.joined('healthy', 'r')
  const silent = await h.connect('silent', { autoPong: false })
  t.equal(silent.welcome.heartbeatIntervalMs, INTERVAL, 'welcome announces the heartbeat interval')
  silent.send({ type: 'join', room: 'r' })
  await silent.next('joined')
  await healthy.next('peer-joined')

  const start = Date.now()
  const code = await silent.waitClosed(5 * INTERVAL)
  const closedAfter = Date.now() - start
  t.equal(code, 1006, 'terminated (no closing handshake with a dead peer)')
  // Two intervals at most, plus slack for a loaded CI machine's timers.
  t.ok(closedAfter <= 2 * INTERVAL + 250, `closed after ${closedAfter} ms`)

  const left = await healthy.next('peer-left', GRACE_MS + 4 * INTERVAL)
  const leftAfterClose = Date.now() - start - closedAfter
  t.match(left, { room: 'r', peerId: silent.peerId, reason: 'timeout' })
  t.ok(leftAfterClose >= GRACE_MS - 50, `peer-left ${leftAfterClose} ms after the drop, not before the grace period`)
  t.ok(healthy.isOpen, 'a client that answers pings stays connected across many intervals')
})

t.test('a client that answers pings is never cut off, even when it sends nothing', async (t) => {
  const h = await signalingServer(t, { WS_HEARTBEAT_INTERVAL_MS: 100 })
  const quiet = await h.connect('quiet')
  const pings: number[] = []
  quiet.socket.on('ping', () => pings.push(Date.now()))
  await new Promise((resolve) => setTimeout(resolve, 550))
  t.ok(pings.length >= 3, `the server pinged ${pings.length} times`)
  t.ok(quiet.isOpen)
  await quiet.sync()
})
