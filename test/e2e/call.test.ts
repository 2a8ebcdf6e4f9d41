import t from 'tap'
import { randomBytes } from 'node:crypto'
import { build, listen } from '../helpers/build.js'
import { launchBrowser, requireE2E } from '../helpers/browser.js'
import { startTurnServer } from '../helpers/turnserver.js'
import { connected, openPair } from '../helpers/e2e-demo.js'

/**
 * Real calls in real Chromium through a real Switchboard and a real coturn, driven through the demo
 * page: direct, forced relay, and relay with credentials coturn refuses. Both pages use the
 * development token route (no JWT settings), as a developer trying the demo does.
 */

const TURN_SECRET = `e2e-turn-${randomBytes(8).toString('hex')}`
// Audit events go to stdout by default; the TAP output stays readable without them.
const QUIET = { AUDIT_LOG_LEVEL: 'silent' } as const
const room = (name: string): string => `e2e-${name}-${randomBytes(4).toString('hex')}`

/** One sample of the server's Prometheus text for a candidate type, 0 when absent. */
async function metricFor (origin: string, name: string, candidateType: string): Promise<number> {
  const text = await (await fetch(`${origin}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name}{candidate_type="${candidateType}"} `))
  return line === undefined ? 0 : Number(line.split(' ')[1])
}

const { skip } = requireE2E(t)
if (skip === false) {
  const browser = await launchBrowser(t)
  const turn = await startTurnServer(t, { secrets: [TURN_SECRET] })
  const turnUrls = { TURN_URLS: `turn:127.0.0.1:${turn.port}?transport=udp`, STUN_URLS: `stun:127.0.0.1:${turn.port}` }
  // Development mode: no JWT key, so POST /v1/dev/token exists and the page uses it.
  const origin = await listen(await build(t, { ...QUIET, JWT_SECRET: undefined, TURN_PROVIDER: 'hmac', TURN_SECRET, ...turnUrls }))

  t.test('1. two pages join a room, talk over the data channel and receive fake audio and video', async (t) => {
    const { a, b } = await openPair(browser, origin, { room: room('direct') }, t)
    const [sa, sb] = await Promise.all([a.waitFor('connected', connected), b.waitFor('connected', connected)])
    t.equal(sa.partner?.peerId, sb.peerId, 'A calls B')
    t.equal(sb.partner?.peerId, sa.peerId, 'B calls A')
    t.notOk(['relay'].includes(sa.selected?.local ?? ''), `not relayed when a direct path exists (${sa.selected?.local})`)

    const rtt = await a.chat('hello from Alice')
    t.ok(rtt >= 0, `chat round trip A→B→A in ${rtt} ms`)
    await b.waitFor('shown Alice\'s line', (s) => s.chat.some((c) => c.from === 'them' && c.text === 'hello from Alice'))
    await b.chat('hi Alice')
    await a.waitFor('shown Bob\'s line', (s) => s.chat.some((c) => c.from === 'them' && c.text === 'hi Alice'))

    for (const [name, page] of [['A', a], ['B', b]] as const) {
      const s = await page.waitFor('receiving video frames and audio packets', (st) => st.media.videoFramesDecoded > 0 && st.media.audioPacketsReceived > 0)
      t.same([...s.media.local].sort(), ['audio', 'video'], `${name} sends the fake camera and microphone`)
      t.ok(s.media.videoFramesDecoded > 0, `${name} decoded ${s.media.videoFramesDecoded} video frames`)
    }
    // What the user sees: the pair and a round-trip time.
    t.match(await a.page.textContent('#st-candidate'), /^(host|srflx|prflx)/)
    t.match(await a.page.textContent('#st-connection'), 'connected')
    await a.waitFor('showing a round-trip time', (s) => s.selected?.rttMs !== undefined)
    t.match(await a.page.textContent('#st-rtt'), /^\d+(\.\d+)? ms$/)

    // The "Restart ICE" button: new ICE credentials on both sides, negotiated over signaling, call intact.
    t.ok(await a.page.isDisabled('#relay'), 'the transport policy cannot change mid-call')
    await a.page.click('#restart')
    await Promise.all([a, b].map((p) => p.waitFor('restarted ICE', (s) => s.iceRestarts >= 1 && connected(s))))
    await b.chat('after the restart')
    t.same([...a.problems, ...b.problems], [], 'no page errors')
  })

  t.test('2. forced relay through coturn with credentials from POST /v1/turn/credentials', async (t) => {
    const reportsBefore = await metricFor(origin, 'switchboard_call_quality_reports_total', 'relay')
    // Call-quality reports every 500 ms instead of 5 s, so the server's metrics see this call quickly.
    const { a, b } = await openPair(browser, origin, { room: room('relay'), relay: true, statsIntervalMs: 500 }, t)
    const relayed = (s: Parameters<typeof connected>[0]): boolean => connected(s) && s.selected?.local === 'relay' && s.selected.remote === 'relay'
    const [sa, sb] = await Promise.all([a.waitFor('connected over relay', relayed), b.waitFor('connected over relay', relayed)])
    for (const [name, s] of [['A', sa], ['B', sb]] as const) {
      t.equal(s.selected?.local, 'relay', `${name}: local candidate is relay`)
      t.equal(s.selected?.remote, 'relay', `${name}: remote candidate is relay`)
      t.ok(s.localCandidateTypes.length > 0 && s.localCandidateTypes.every((type) => type === 'relay'), `${name} gathered relay candidates only`)
      t.same(s.iceServers && { stun: s.iceServers.stun, turn: s.iceServers.turn }, { stun: 1, turn: 1 }, `${name} got its ICE servers from the API`)
    }
    await a.chat('through the relay')
    for (const page of [a, b]) await page.waitFor('receiving relayed audio and video', (s) => s.media.videoFramesDecoded > 0 && s.media.audioPacketsReceived > 0)
    t.match(await a.page.textContent('#st-candidate'), /^relay\/udp → relay$/)

    // The pages' client.monitorCall() reports reach the server's metrics, labelled relay.
    const deadline = Date.now() + 5000
    let reports = await metricFor(origin, 'switchboard_call_quality_reports_total', 'relay')
    while (reports < reportsBefore + 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      reports = await metricFor(origin, 'switchboard_call_quality_reports_total', 'relay')
    }
    t.ok(reports >= 1 && reports > reportsBefore, `switchboard_call_quality_reports_total{candidate_type="relay"} = ${reports} (was ${reportsBefore})`)
    t.ok(await metricFor(origin, 'switchboard_call_rtt_seconds_count', 'relay') >= 1, 'relayed calls report their round-trip time')
    t.same([...a.problems, ...b.problems], [], 'no page errors')
  })

  t.test('3. credentials coturn does not know: 401 candidate errors, no relay candidates, no connection', async (t) => {
    // Same coturn, but this instance signs with a secret coturn was never given.
    const wrong = await listen(await build(t, { ...QUIET, JWT_SECRET: undefined, TURN_PROVIDER: 'hmac', TURN_SECRET: `${TURN_SECRET}-not-known`, ...turnUrls }))
    const { a, b } = await openPair(browser, wrong, { room: room('refused'), relay: true }, t)
    // No timeout involved: the 401 arrives, then gathering completes with nothing.
    const refused = (s: Parameters<typeof connected>[0]): boolean => s.noCandidates && s.candidateErrors.some((e) => e.errorCode === 401)
    const [sa, sb] = await Promise.all([a.waitFor('refused by TURN', refused), b.waitFor('refused by TURN', refused)])
    for (const [name, s] of [['A', sa], ['B', sb]] as const) {
      t.same(s.localCandidateTypes, [], `${name} gathered no candidate`)
      t.match(s.candidateErrors.find((e) => e.errorCode === 401)?.url, new RegExp(`^turn:127\\.0\\.0\\.1:${turn.port}`), `${name}: the 401 came from our coturn`)
      t.not(s.connection, 'connected', `${name} is not connected`)
      t.equal(s.selected, undefined, `${name} has no candidate pair`)
    }
    t.match(await a.page.textContent('#st-candidate'), 'TURN refused the credentials (401')
  })
}
else t.test(`scenarios 1-3: ${skip}`, { skip }, async () => {})
