import t from 'tap'
import { randomBytes } from 'node:crypto'
import { build, listen } from '../helpers/build.js'
import { launchBrowser, requireE2E } from '../helpers/browser.js'
import { ADMIN_KEY, adminClient, enc } from '../helpers/admin-client.js'
import { openPair } from '../helpers/e2e-demo.js'

/**
 * The demo page when the room's backend acts through the admin API: a removed partner is shown as
 * removed (not as a lost connection), and an ended room ends the call on both pages with a notice.
 * Data-channel calls only (no camera): the point is what the page says, not the media.
 */

const room = (name: string): string => `e2e-${name}-${randomBytes(4).toString('hex')}`
const { skip } = requireE2E(t)
if (skip === false) {
  const browser = await launchBrowser(t)
  const origin = await listen(await build(t, { AUDIT_LOG_LEVEL: 'silent', JWT_SECRET: undefined, ADMIN_API_KEYS: ADMIN_KEY }))
  const admin = adminClient(origin)

  t.test('a partner removed by the backend: the page says so; the removed page leaves with a notice', async (t) => {
    const name = room('removed')
    const { a, b } = await openPair(browser, origin, { room: name, camera: false }, t)
    const sb = await b.waitFor('B sees its partner', (s) => s.partner !== undefined)
    t.equal((await admin('DELETE', `/rooms/${enc(name)}/peers/${enc(sb.peerId ?? '')}`)).status, 204)
    const sa = await a.waitFor('A is told', (s) => s.events.includes('They were removed from the room'))
    t.ok(sa.events.includes('peer-left (removed)'), 'peer-left with reason removed')
    t.notOk(sa.events.includes('They lost their connection'), 'not shown as a lost connection')
    const after = await b.waitFor('B left the room', (s) => s.room === undefined && s.error !== undefined)
    t.match(after.error, { code: 'SWB_DEMO_REMOVED', message: /removed/ })
    t.same([...a.problems, ...b.problems], [], 'no page errors')
  })

  t.test('a room ended by the backend: both pages end the call and say why', async (t) => {
    const name = room('ended')
    const { a, b } = await openPair(browser, origin, { room: name, camera: false }, t)
    await a.waitFor('A sees its partner', (s) => s.partner !== undefined)
    t.equal((await admin('DELETE', `/rooms/${enc(name)}`)).status, 204)
    for (const page of [a, b]) {
      const s = await page.waitFor('the page left the room', (st) => st.room === undefined && st.error !== undefined)
      t.match(s.error, { code: 'SWB_DEMO_ROOM_ENDED', message: /ended by the service/ })
      t.ok(s.events.includes('room-ended (api)'), 'room-ended shown in the event list')
    }
    t.same([...a.problems, ...b.problems], [], 'no page errors')
  })
}
