import t from 'tap'
import { randomBytes } from 'node:crypto'
import { build, listen } from '../helpers/build.js'
import { launchBrowser, requireE2E } from '../helpers/browser.js'
import { connected, openPair } from '../helpers/e2e-demo.js'

/**
 * Scenario 5: a call survives the loss of one page's signaling socket. The server drops page A's
 * socket (as a network change would); A's client resumes with the same peerId, B never hears that A
 * left, and an ICE restart negotiated over the resumed signaling keeps the call going.
 */

const { skip } = requireE2E(t, { turnserver: false })
if (skip === false) {
  const browser = await launchBrowser(t)
  // Development mode (the page mints its own tokens); no ICE servers: host candidates on loopback.
  // A short grace period: if the resume failed to keep A's session, B would see peer-left within the test.
  // Not too short: the page's resume (a reconnect delay of up to 750 ms, then a new socket) must fit in it
  // with room to spare on a busy machine, or the test would measure the machine, not the resume.
  const GRACE_MS = 4000
  const app = await build(t, { AUDIT_LOG_LEVEL: 'silent', JWT_SECRET: undefined, STUN_URLS: '', TURN_URLS: '', RESUME_GRACE_SECONDS: GRACE_MS / 1000 })
  const origin = await listen(app)

  t.test('5. resume: A\'s socket is cut mid-call; same peerId, no peer-left for B, ICE restart over the resumed signaling', async (t) => {
    const { a, b } = await openPair(browser, origin, { room: `e2e-resume-${randomBytes(4).toString('hex')}` }, t)
    const [before] = await Promise.all([a.waitFor('connected', connected), b.waitFor('connected', connected)])
    const peerId = before.peerId ?? ''
    const bEventsBefore = (await b.state()).events.length

    // Drop A's socket on the server side without a close frame: the client sees 1006, like a dead network.
    const conn = app.signaling.hub.connections.get(peerId)
    t.ok(conn, 'A\'s connection is on the server')
    // Stamped by a close listener registered after the hub's own, which starts the grace timer: the
    // original deadline is then reckoned from no earlier than the server's.
    let cutAt = Number.POSITIVE_INFINITY
    conn?.socket.once('close', () => { cutAt = Date.now() })
    conn?.socket.terminate()

    const after = await a.waitFor('resumed and restarted ICE', (s) => s.events.includes('welcome (resumed)') && s.iceRestarts >= 1 && connected(s))
    t.equal(after.peerId, peerId, 'A resumed with the same peerId')
    t.ok(app.signaling.hub.connections.has(peerId), 'A\'s peerId is live on the server again')
    const aEvents = after.events
    t.ok(aEvents.indexOf('ICE restart') > aEvents.indexOf('welcome (resumed)'), 'A restarted ICE after the resume')
    t.equal(aEvents.filter((e) => e === 'call created').length, 1, 'A kept its RTCPeerConnection')

    const bAfter = await b.waitFor('ICE restarted', (s) => s.iceRestarts >= 1 && connected(s))
    const bNew = bAfter.events.slice(bEventsBefore)
    t.notOk(bNew.some((e) => e.startsWith('peer-left')), `B never saw peer-left (B's events since the cut: ${bNew.join(', ')})`)
    t.ok(bNew.includes('offer'), 'B got the ICE-restart offer over signaling')
    t.equal(bAfter.partner?.peerId, peerId, 'B still calls the same peer')

    // The call still carries data both ways after the restart.
    await a.chat('still here after the drop')
    await b.waitFor('shown A\'s line', (s) => s.chat.some((c) => c.from === 'them' && c.text === 'still here after the drop'))
    await b.chat('welcome back')

    // Past the grace period the dropped socket would have ended the session: still no peer-left.
    t.ok(Number.isFinite(cutAt), 'the server saw the cut')
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, cutAt + GRACE_MS + 300 - Date.now())))
    const bFinal = (await b.state()).events.slice(bEventsBefore)
    t.notOk(bFinal.some((e) => e.startsWith('peer-left')), 'no peer-left after the grace period either')
    t.equal((await a.state()).connection, 'connected', 'the call is still connected')
    t.same([...a.problems, ...b.problems], [], 'no page errors')
  })
}
else t.test(`scenario 5: ${skip}`, { skip }, async () => {})
