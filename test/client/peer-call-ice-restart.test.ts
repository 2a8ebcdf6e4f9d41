import t from 'tap'
import { randomBytes } from 'node:crypto'
import { build, listen } from '../helpers/build.js'
import { signTestToken } from '../helpers/tokens.js'
import { launchBrowser, requireE2E } from '../helpers/browser.js'
import { startTurnServer } from '../helpers/turnserver.js'
import { openHarness, servePeerCallPage } from '../helpers/peer-call-browser.js'

/**
 * A successful ICE restart: two Chromium pages on a relay-only PeerCall through a real coturn. The
 * coturn process is stopped (the relays, the only path, are gone: the connection goes disconnected
 * or failed), and a new coturn starts on the same port with the same secret. Nothing but an ICE
 * restart can bring the call back: Chromium does not gather again by itself, and the new server knows
 * none of the old allocations. PeerCall must restart on its own, and the data channel must carry
 * messages again. (peer-call-browser.test.ts covers the restarts running out when the relay stays away.)
 */

const TURN_SECRET = `restart-turn-${randomBytes(8).toString('hex')}`
const connected = (i: { connection: string }): boolean => i.connection === 'connected'
const broken = (state: string): boolean => state === 'disconnected' || state === 'failed'

const { skip } = requireE2E(t)
if (skip === false) {
  t.test('the relay goes away and comes back: PeerCall restarts ICE and the data channel delivers again', async (t) => {
    const browser = await launchBrowser(t)
    const first = await startTurnServer(t, { secrets: [TURN_SECRET] })
    const app = await build(t, {
      AUDIT_LOG_LEVEL: 'silent', CORS_ORIGINS: '*', TURN_PROVIDER: 'hmac', TURN_SECRET,
      TURN_URLS: `turn:127.0.0.1:${first.port}?transport=udp`
    })
    const url = await listen(app)
    const site = await servePeerCallPage(t)
    const [a, b] = await Promise.all([openHarness(t, browser, site), openHarness(t, browser, site)])
    const room = `restart-${randomBytes(4).toString('hex')}`
    // Quick restarts, and enough of them to outlast the seconds the TURN server is away.
    const iceRestart = { maxAttempts: 8, initialDelayMs: 300, maxDelayMs: 1000, disconnectedTimeoutMs: 500 }
    const [ta, tb] = await Promise.all([signTestToken({ sub: 'restart-a' }), signTestToken({ sub: 'restart-b' })])
    await Promise.all([
      a.start({ url, room, token: ta, relay: true, iceRestart }),
      b.start({ url, room, token: tb, relay: true, iceRestart })
    ])
    await a.openChannel('chat')
    await Promise.all([
      a.waitFor('connected over a relay', (i) => connected(i) && i.openChannels.length === 1 && i.selectedLocal === 'relay'),
      b.waitFor('connected over a relay', (i) => connected(i) && i.openChannels.length === 1 && i.selectedLocal === 'relay')
    ])
    t.ok(await a.roundTrip() >= 0, 'data flows before the break')
    const [beforeA, beforeB] = await Promise.all([a.info(), b.info()])
    t.equal(beforeA.iceRestarts + beforeB.iceRestarts, 0, 'no restart before the break')

    await first.stop()
    // ICE consent checks through the dead relay fail: PeerCall sees the state and schedules a restart.
    const [downA, downB] = await Promise.all([
      a.waitFor('a restart scheduled after the break', (i) => i.restarts.some((r) => r.reason !== 'requested'), 30_000),
      b.waitFor('a restart scheduled after the break', (i) => i.restarts.some((r) => r.reason !== 'requested'), 30_000)
    ])
    for (const [name, down, before] of [['A', downA, beforeA], ['B', downB, beforeB]] as const) {
      const states = down.connectionStates.slice(before.connectionStates.length)
      t.ok(states.some(broken), `${name}'s connection broke (${states.join(' → ')})`)
      t.ok(down.restarts.every((r) => r.reason === 'disconnected' || r.reason === 'failed'), `${name}: restarts for ${down.restarts.map((r) => r.reason).join(', ')}`)
    }

    // The TURN server comes back where the ICE servers say it is; the credentials are still valid.
    const second = await startTurnServer(t, { secrets: [TURN_SECRET], port: first.port })
    const [upA, upB] = await Promise.all([
      a.waitFor('connected again over a relay', (i) => connected(i) && i.signaling === 'stable' && i.selectedLocal === 'relay', 45_000),
      b.waitFor('connected again over a relay', (i) => connected(i) && i.signaling === 'stable' && i.selectedLocal === 'relay', 45_000)
    ])
    t.ok(upA.iceRestarts + upB.iceRestarts >= 1, `PeerCall restarted ICE (A ${upA.iceRestarts}, B ${upB.iceRestarts} restarts)`)
    t.ok(upA.offersReceived + upB.offersReceived > beforeA.offersReceived + beforeB.offersReceived, 'the restart was negotiated (a new offer went across)')
    t.same([upA.closeReason, upB.closeReason], [undefined, undefined], 'neither call gave up')
    t.same(upA.openChannels, ['chat'], 'the same data channel, still open (ICE restarts keep DTLS and SCTP)')
    t.ok(await a.roundTrip() >= 0 && await b.roundTrip() >= 0, 'the data channel delivers again, both ways')

    // The path it came back on is the new server's: both sides allocated there.
    for (const user of ['restart-a', 'restart-b']) {
      const line = new RegExp(`user <\\d+:${user}>: incoming packet ALLOCATE processed, success`)
      // coturn writes its log on its own schedule: give the line a moment to land.
      for (let waited = 0; waited < 5000 && !line.test(second.log()); waited += 100) await new Promise((resolve) => setTimeout(resolve, 100))
      t.match(second.log(), line, `${user} allocated a relay on the new coturn`)
    }
  })
} else {
  t.test(`PeerCall ICE restart in Chromium: ${skip}`, { skip }, async () => {})
}
