import t from 'tap'
import { signalingServer, signalingServerWithLogs } from '../../helpers/signaling-harness.js'
import { until } from '../../helpers/ws-peer.js'

const INTERVAL = 200
const GRACE_MS = 300

t.test('a client that stops answering pings is cut off at its next heartbeat; its peer sees peer-left after the grace period', async (t) => {
  const h = await signalingServerWithLogs(t, { WS_HEARTBEAT_INTERVAL_MS: INTERVAL, RESUME_GRACE_SECONDS: GRACE_MS / 1000 })
  const healthy = await h.joined('healthy', 'r')
  const silent = await h.connect('silent', { autoPong: false })
  t.equal(silent.welcome.heartbeatIntervalMs, INTERVAL, 'welcome announces the heartbeat interval')
  silent.send({ type: 'join', room: 'r' })
  await silent.next('joined')
  await healthy.next('peer-joined')

  // The timeout only fails fast; a busy machine delays every timer, so "within two intervals" is counted
  // in heartbeats, not milliseconds: the server pings once per interval and cuts the socket at the first
  // heartbeat after the ping it left unanswered.
  const code = await silent.waitClosed(10 * INTERVAL + 3000)
  t.equal(code, 1006, 'terminated (no closing handshake with a dead peer)')
  t.equal(silent.pings, 1, 'cut off at the heartbeat after its one unanswered ping, not later')

  const left = await healthy.next('peer-left', GRACE_MS + 5000)
  t.match(left, { room: 'r', peerId: silent.peerId, reason: 'timeout' })
  // "Not before the grace period" on the server's own clock (its log times), from the moment it dropped
  // the socket, so a late wake-up of this test process cannot shorten what is measured.
  const lines = h.logs.lines.filter((l) => l.peerId === silent.peerId)
  const closedAt = lines.find((l) => l.msg === 'connection closed')?.time as number
  const endedAt = lines.find((l) => l.msg === 'session ended')?.time as number
  t.ok(lines.some((l) => l.msg === 'heartbeat timeout'), 'the heartbeat cut it')
  // Timers run on a monotonic clock and log times on Date.now(): allow a few ms between the two.
  t.ok(endedAt - closedAt >= GRACE_MS - 5, `session ended ${endedAt - closedAt} ms after the drop, not before the grace period`)
  t.ok(healthy.isOpen, 'a client that answers pings stays connected across many intervals')
})

t.test('a client that answers pings is never cut off, even when it sends nothing', async (t) => {
  const h = await signalingServer(t, { WS_HEARTBEAT_INTERVAL_MS: 100 })
  const quiet = await h.connect('quiet')
  // Three answered pings: the heartbeat has come back twice to a socket that answered, and kept it.
  await until(() => quiet.pings >= 3, 'three heartbeat pings', 5000)
  t.ok(quiet.isOpen)
  await quiet.sync()
  t.ok(quiet.isOpen, 'still open after a round trip')
})
