import t from 'tap'
import { relayProblem } from '../../../demo/call.js'
import { build, listen } from '../../helpers/build.js'
import { launchBrowser, requireE2E } from '../../helpers/browser.js'
import { loadDemo } from '../../helpers/e2e-demo.js'

/*
 * "Force relay" with no TURN server: the page says so instead of sitting at "new" (a relay-only
 * RTCPeerConnection without a turn: URL gathers nothing and never fails by itself).
 */

t.test('relayProblem: only a relay-only call without any turn:/turns: URL is refused', async (t) => {
  t.equal(relayProblem(false, []), undefined, 'no relay forced: nothing to say')
  t.match(relayProblem(true, []), /Force relay.*no TURN server/)
  t.match(relayProblem(true, [{ urls: ['stun:127.0.0.1:3478'] }]), /no TURN server/, 'STUN alone cannot relay')
  t.equal(relayProblem(true, [{ urls: 'turn:127.0.0.1:3478?transport=udp', username: 'u', credential: 'c' }]), undefined)
  t.equal(relayProblem(true, [{ urls: ['stun:h:3478'] }, { urls: ['turns:h:443?transport=tcp'] }]), undefined)
})

const { skip } = requireE2E(t, { turnserver: false })
t.test('the demo page refuses to join with Force relay and no TURN configured, and says why', { skip }, async (t) => {
  const browser = await launchBrowser(t)
  // Development with STUN only: what `npm start` gives a developer who has not started coturn.
  const origin = await listen(await build(t, { NODE_ENV: 'development', JWT_SECRET: undefined, AUDIT_LOG_LEVEL: 'silent', TURN_URLS: '', STUN_URLS: 'stun:127.0.0.1:3478' }))
  const page = await loadDemo(browser, origin, { room: 'no-turn', relay: true, camera: false })
  t.teardown(() => page.close())
  await page.page.click('#join')
  // The error element is shown by the same code that records state.error: wait for it, not for a time.
  await page.page.waitForSelector('#error:not([hidden])', { timeout: 10_000 })
  const text = await page.page.textContent('#error')
  t.match(text, /Force relay is ticked.*no TURN server.*\(SWB_DEMO_NO_TURN\)/)
  const state = await page.state()
  t.equal(state.error?.code, 'SWB_DEMO_NO_TURN')
  t.notOk(state.events.includes('joined'), 'it did not join a room where the call could never connect')
  t.equal(state.signaling, 'idle', 'and left signaling again')
  t.same(page.problems, [], 'no page errors')
})
