import t from 'tap'
import { randomBytes } from 'node:crypto'
import { build, listen } from '../helpers/build.js'
import { signTestToken } from '../helpers/tokens.js'
import { launchBrowser, requireE2E } from '../helpers/browser.js'
import { startTurnServer } from '../helpers/turnserver.js'
import { openHarness, servePeerCallPage, type HarnessPage } from '../helpers/peer-call-browser.js'
import { dropServerSide } from './helpers.js'

/**
 * PeerCall between two headless Chromium pages through a real instance and a real coturn: direct,
 * forced relay, glare (both sides offer at once), a TURN credential refresh during a relayed call
 * followed by an ICE restart on the new credentials, and a signaling drop and resume mid-call that
 * leaves the media path alone (no new offer or answer).
 */

const TURN_SECRET = `pc-turn-${randomBytes(8).toString('hex')}`
const room = (name: string): string => `pc-${name}-${randomBytes(4).toString('hex')}`
const connected = (i: { connection: string }): boolean => i.connection === 'connected'

const { skip } = requireE2E(t)
if (skip === false) {
  const browser = await launchBrowser(t)
  const turn = await startTurnServer(t, { secrets: [TURN_SECRET] })
  const app = await build(t, {
    AUDIT_LOG_LEVEL: 'silent', CORS_ORIGINS: '*', TURN_PROVIDER: 'hmac', TURN_SECRET, TURN_TTL_SECONDS: 60,
    TURN_URLS: `turn:127.0.0.1:${turn.port}?transport=udp`, STUN_URLS: `stun:127.0.0.1:${turn.port}`
  })
  const url = await listen(app)
  const site = await servePeerCallPage(t)

  /** Two pages in one room, each with a started PeerCall (no channel yet, so nothing negotiated). */
  async function pair (t: { teardown (fn: () => unknown): void }, name: string, options: { relay?: boolean, refreshLeadMs?: number } = {}): Promise<[HarnessPage, HarnessPage]> {
    const [a, b] = await Promise.all([openHarness(t, browser, site), openHarness(t, browser, site)])
    const r = room(name)
    const [ta, tb] = await Promise.all([signTestToken({ sub: `${name}-a` }), signTestToken({ sub: `${name}-b` })])
    // Whoever joins first waits for the other's peer-joined; both have their PeerCall once both starts return.
    await Promise.all([a.start({ url, room: r, token: ta, ...options }), b.start({ url, room: r, token: tb, ...options })])
    return [a, b]
  }

  t.test('direct: one side opens a channel, PeerCall negotiates, data flows both ways', async (t) => {
    const [a, b] = await pair(t, 'direct')
    await a.openChannel('chat')
    const [ia, ib] = await Promise.all([a.waitFor('connected', (i) => connected(i) && i.openChannels.length === 1), b.waitFor('connected', (i) => connected(i) && i.openChannels.length === 1)])
    t.not(ia.polite, ib.polite, 'exactly one side is polite')
    t.ok(await a.roundTrip() >= 0 && await b.roundTrip() >= 0, 'ping/pong both ways')
    t.not((await a.info()).selectedLocal, 'relay', 'a direct pair')
  })

  t.test('glare: both sides open a channel at the same moment, and the call ends up connected once', async (t) => {
    const [a, b] = await pair(t, 'glare')
    // Each side's offer is held until both have one out: then they cross, as they would on a slow network.
    await Promise.all([a.holdOffers(), b.holdOffers()])
    await Promise.all([a.openChannel('from-a'), b.openChannel('from-b')])
    await Promise.all([a.waitFor('offering', (i) => i.signaling === 'have-local-offer'), b.waitFor('offering', (i) => i.signaling === 'have-local-offer')])
    await Promise.all([a.releaseOffers(), b.releaseOffers()])
    const [ia, ib] = await Promise.all([
      a.waitFor('connected with both channels', (i) => connected(i) && i.openChannels.length === 2 && i.signaling === 'stable'),
      b.waitFor('connected with both channels', (i) => connected(i) && i.openChannels.length === 2 && i.signaling === 'stable')
    ])
    t.ok(ia.collisions >= 1 && ib.collisions >= 1, `the offers crossed (collisions seen: A ${ia.collisions}, B ${ib.collisions})`)
    t.same(ia.openChannels, ['from-a', 'from-b'])
    t.same(ib.openChannels, ['from-a', 'from-b'])
    t.notOk(ia.connectionStates.includes('failed') || ib.connectionStates.includes('failed'), 'never failed')
    t.ok(await a.roundTrip() >= 0 && await b.roundTrip() >= 0, 'data both ways')
  })

  t.test('forced relay through coturn; TURN credentials refreshed mid-call; an ICE restart allocates with them', async (t) => {
    // refreshLeadMs longer than the credentials' whole life: the refresh comes after PeerCall's 1 s floor.
    const [a, b] = await pair(t, 'relay', { relay: true, refreshLeadMs: 120_000 })
    const before = await a.info()
    await a.openChannel('chat')
    // Seen once on a loaded CI runner (Node 24 run): A kept its offer out 15 s with no answer. B's side
    // goes into the failure message, so the next occurrence says which side stalled.
    const ia = await a.waitFor('connected over a relay', (i) => connected(i) && i.openChannels.length === 1 && i.selectedLocal === 'relay')
      .catch(async (err: Error) => { throw new Error(`${err.message}; B: ${JSON.stringify(await b.info())}`) })
    await b.waitFor('connected', (i) => connected(i) && i.openChannels.length === 1)
    t.equal(ia.selectedLocal, 'relay', 'the selected local candidate is a TURN relay')

    const refreshed = await a.waitFor('new TURN credentials', (i) => i.credentialRefreshes >= 1 && i.turnUsername !== before.turnUsername)
    t.not(refreshed.turnUsername, before.turnUsername, 'setConfiguration got a new TURN username (a later expiry)')
    t.ok(connected(refreshed), 'the call went on during the refresh')
    const user = refreshed.turnUsername ?? ''

    await a.restartIce()
    const after = await a.waitFor('restarted and connected over a relay', (i) => i.iceRestarts === 1 && connected(i) && i.signaling === 'stable')
    t.equal(after.selectedLocal, 'relay')
    t.ok(await a.roundTrip() >= 0, 'data after the restart')
    // Refreshes go on every second here (refreshLeadMs): the restart used one of the refreshed usernames.
    const firstExpiry = Number((before.turnUsername ?? '').split(':')[0])
    const allocated = (): number[] => [...turn.log().matchAll(/user <(\d+):relay-a>: incoming packet ALLOCATE processed, success/g)].map((m) => Number(m[1]))
    // coturn writes its log on its own schedule: give the line a moment to land.
    for (let waited = 0; waited < 5000 && !allocated().some((expiry) => expiry > firstExpiry); waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const allocatedExpiries = allocated()
    t.ok(allocatedExpiries.some((expiry) => expiry > firstExpiry), `coturn allocated with refreshed credentials (expiries ${[...new Set(allocatedExpiries)].join(', ')}; first ${firstExpiry}; refreshed ${user})`)
  })

  t.test('signaling drop and resume mid-call: no new negotiation, the data channel keeps working', async (t) => {
    const [a, b] = await pair(t, 'resume')
    await a.openChannel('chat')
    await Promise.all([a.waitFor('connected', (i) => connected(i) && i.openChannels.length === 1), b.waitFor('connected', (i) => connected(i) && i.openChannels.length === 1)])
    const [beforeA, beforeB] = await Promise.all([a.info(), b.info()])

    dropServerSide(app, beforeA.peerId)
    const resumed = await a.waitFor('resumed', (i) => i.resumed === 1)
    t.ok(await a.roundTrip() >= 0 && await b.roundTrip() >= 0, 'data both ways after the resume')
    const afterB = await b.info()
    t.equal(resumed.peerId, beforeA.peerId, 'the same session')
    t.equal(resumed.offersReceived + resumed.answersReceived, beforeA.offersReceived + beforeA.answersReceived, 'A got no new offer or answer')
    t.equal(afterB.offersReceived + afterB.answersReceived, beforeB.offersReceived + beforeB.answersReceived, 'B got no new offer or answer')
    t.same(resumed.connectionStates.slice(beforeA.connectionStates.length), [], 'the connection state never changed')
    t.equal(resumed.iceRestarts, 0)

    // Signaling works again on the resumed session: an ICE restart negotiates over it.
    await a.restartIce()
    await a.waitFor('restarted', (i) => i.iceRestarts === 1 && connected(i) && i.signaling === 'stable')
    await b.waitFor('answered the restart', (i) => i.offersReceived > afterB.offersReceived && i.signaling === 'stable')
    t.ok(await b.roundTrip() >= 0, 'data after the restart')
  })

  t.test('the relay goes away mid-call: ICE restarts, bounded and with backoff, then the call closes as failed', async (t) => {
    // A TURN server of this test's own, stopped under a relay-only call: no path is left.
    const doomed = await startTurnServer(t, { secrets: [TURN_SECRET] })
    const lone = await build(t, {
      AUDIT_LOG_LEVEL: 'silent', CORS_ORIGINS: '*', TURN_PROVIDER: 'hmac', TURN_SECRET,
      TURN_URLS: `turn:127.0.0.1:${doomed.port}?transport=udp`, STUN_URLS: `stun:127.0.0.1:${doomed.port}`
    })
    const loneUrl = await listen(lone)
    const [a, b] = await Promise.all([openHarness(t, browser, site), openHarness(t, browser, site)])
    const r = room('gone')
    const iceRestart = { maxAttempts: 2, initialDelayMs: 300, maxDelayMs: 1000, disconnectedTimeoutMs: 500 }
    const [ta, tb] = await Promise.all([signTestToken({ sub: 'gone-a' }), signTestToken({ sub: 'gone-b' })])
    await Promise.all([
      a.start({ url: loneUrl, room: r, token: ta, relay: true, iceRestart }),
      b.start({ url: loneUrl, room: r, token: tb, relay: true, iceRestart })
    ])
    await a.openChannel('chat')
    await Promise.all([a.waitFor('connected', (i) => connected(i) && i.selectedLocal === 'relay'), b.waitFor('connected', connected)])

    await doomed.stop()
    const gone = await a.waitFor('given up', (i) => i.closeReason !== undefined, 45_000)
    t.equal(gone.closeReason, 'failed', 'closed as failed once the restarts were spent')
    const automatic = gone.restarts.filter((x) => x.reason !== 'requested')
    t.same(automatic.map((x) => x.attempt), [1, 2], `two restarts, no more (${JSON.stringify(automatic)})`)
    const first = automatic[0]
    if (first?.reason === 'disconnected') t.ok(first.delayMs >= iceRestart.disconnectedTimeoutMs, 'a disconnected call waits disconnectedTimeoutMs before restarting')
    t.ok((automatic[1]?.delayMs ?? 0) >= iceRestart.initialDelayMs, 'the second restart backs off')
    t.ok(gone.iceRestarts >= 1, `restarts negotiated (${gone.iceRestarts})`)
  })
} else {
  t.test(`PeerCall in Chromium: ${skip}`, { skip }, async () => {})
}
