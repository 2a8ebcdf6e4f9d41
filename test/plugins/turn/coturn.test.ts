import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { build, listen } from '../../helpers/build.js'
import { signTestToken } from '../../helpers/tokens.js'
import { requireBinaries, startTurnServer, type TurnServer } from '../../helpers/turnserver.js'
import { turnAllocate } from '../../helpers/turn-allocate.js'
import { turnRestCredential } from '../../../plugins/turn/credentials.js'
import type { Config } from '../../../src/config.js'

// Real coturn: proves that what the API issues is what a TURN server accepts (recipe §5).
const run = promisify(execFile)
const NEW_SECRET = 'rotation-new-secret-0123456789'
const OLD_SECRET = 'rotation-old-secret-0123456789'
const REST_KEY = 'rest-api-key-0123456789abcdef'

interface Credential { username: string, credential: string }

/** A real HTTP call to the app (not inject), returning the TURN entry of the RTCConfiguration. */
async function fetchTurnCredential (t: Test, turn: TurnServer, overrides: Partial<Config>, sub = 'alice'): Promise<Credential & { urls: string[] }> {
  const app = await build(t, { TURN_URLS: `turn:127.0.0.1:${turn.port}?transport=udp,turn:127.0.0.1:${turn.port}?transport=tcp`, ...overrides })
  const base = await listen(app)
  const res = await fetch(`${base}/v1/turn/credentials`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await signTestToken({ sub })}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ttl: 600 })
  })
  t.equal(res.status, 200, 'the API issued a credential')
  const body = await res.json() as { iceServers: Array<{ urls: string[], username?: string, credential?: string }> }
  const entry = body.iceServers.find((s) => s.username !== undefined)
  if (entry?.username === undefined || entry.credential === undefined) throw new Error('no TURN entry in the answer')
  return { urls: entry.urls, username: entry.username, credential: entry.credential }
}

const binaries = requireBinaries(t, 'turnserver', 'turnutils_uclient')

t.test('coturn with two static-auth-secret lines (new first, old second)', binaries, async (t) => {
  const turn = await startTurnServer(t, { secrets: [NEW_SECRET, OLD_SECRET] })

  t.test('an API credential allocates a relay (Node client and turnutils_uclient)', async (t) => {
    const cred = await fetchTurnCredential(t, turn, { TURN_SECRET: `${NEW_SECRET},${OLD_SECRET}` })
    t.same(cred.urls, [`turn:127.0.0.1:${turn.port}?transport=udp`, `turn:127.0.0.1:${turn.port}?transport=tcp`])
    const result = await turnAllocate(turn.host, turn.port, cred.username, cred.credential)
    t.same(result.ok && { ok: result.ok, realm: result.realm }, { ok: true, realm: turn.realm }, `allocated: ${JSON.stringify(result)}`)
    if (result.ok) t.match(result.relayed, /^127\.0\.0\.1:\d+$/, 'a relayed transport address')

    // The recipe's independent client: exit 0 only after allocations and a data exchange between two
    // relayed clients (-y). It paces itself (~4 s a run), so UDP and TCP run side by side.
    const runs = [['UDP', []], ['TCP', ['-t']]] as const
    await Promise.all(runs.map(async ([name, transport]) => {
      const { stdout } = await run('turnutils_uclient', [...transport, '-y', '-c', '-n', '2', '-u', cred.username, '-w', cred.credential, '-p', String(turn.port), '127.0.0.1'], { timeout: 20_000 })
      t.match(stdout, /start_mclient: tot_send_msgs=4, tot_recv_msgs=4/, `turnutils_uclient over ${name}: 4 messages sent and relayed back`)
    }))
  })

  t.test('an unsafe sub (mapped to an opaque id) still works', async (t) => {
    const cred = await fetchTurnCredential(t, turn, { TURN_SECRET: NEW_SECRET }, 'patient:alice@example.com')
    t.match(cred.username, /^\d+:~/)
    const result = await turnAllocate(turn.host, turn.port, cred.username, cred.credential)
    t.equal(result.ok, true, JSON.stringify(result))
  })

  t.test('the compat endpoint answer allocates too', async (t) => {
    const app = await build(t, { TURN_SECRET: NEW_SECRET, TURN_REST_API_KEYS: REST_KEY, TURN_URLS: `turn:127.0.0.1:${turn.port}?transport=udp` })
    const base = await listen(app)
    const res = await fetch(`${base}/v1/turn/rest?service=turn&username=janus-1&key=${REST_KEY}`)
    t.equal(res.status, 200)
    const body = await res.json() as { username: string, password: string }
    const result = await turnAllocate(turn.host, turn.port, body.username, body.password)
    t.equal(result.ok, true, JSON.stringify(result))
  })

  t.test('an expired credential is refused with 401', async (t) => {
    // Same issuer code as the API, with a clock 61 s in the past: expired one second ago.
    const expired = turnRestCredential(NEW_SECRET, 'alice', 60, Date.now() - 61_000)
    const result = await turnAllocate(turn.host, turn.port, expired.username, expired.credential)
    t.same(result, { ok: false, code: 401, reason: 'Unauthorized', realm: turn.realm })
  })

  t.test('a credential signed with an unknown secret is refused with 401', async (t) => {
    const cred = await fetchTurnCredential(t, turn, { TURN_SECRET: 'some-other-secret-0123456789' })
    const result = await turnAllocate(turn.host, turn.port, cred.username, cred.credential)
    t.same(result, { ok: false, code: 401, reason: 'Unauthorized', realm: turn.realm })
  })

  t.test('rotation: an old-secret credential still works while coturn lists both secrets', async (t) => {
    // Before the switch: the service signs with the old secret only.
    const beforeSwitch = await fetchTurnCredential(t, turn, { TURN_SECRET: OLD_SECRET })
    // After the switch: TURN_SECRET=new,old, so the new one signs.
    const afterSwitch = await fetchTurnCredential(t, turn, { TURN_SECRET: `${NEW_SECRET},${OLD_SECRET}` })
    t.not(beforeSwitch.credential, afterSwitch.credential)
    for (const [name, cred] of [['old-secret credential', beforeSwitch], ['new-secret credential', afterSwitch]] as const) {
      const result = await turnAllocate(turn.host, turn.port, cred.username, cred.credential)
      t.equal(result.ok, true, `${name}: ${JSON.stringify(result)}`)
    }
  })
})

t.test('once the old secret is removed from coturn, old-secret credentials are refused', binaries, async (t) => {
  // Why the order matters: remove the old secret only after the longest TTL has passed.
  const turn = await startTurnServer(t, { secrets: [NEW_SECRET] })
  const old = await fetchTurnCredential(t, turn, { TURN_SECRET: OLD_SECRET })
  t.same(await turnAllocate(turn.host, turn.port, old.username, old.credential), { ok: false, code: 401, reason: 'Unauthorized', realm: turn.realm })
  const current = await fetchTurnCredential(t, turn, { TURN_SECRET: `${NEW_SECRET},${OLD_SECRET}` })
  t.equal((await turnAllocate(turn.host, turn.port, current.username, current.credential)).ok, true)
})

t.test('a missing binary is a loud skip locally and a failure under CI=true', async (t) => {
  const saved = process.env.CI
  t.teardown(() => { if (saved === undefined) delete process.env.CI; else process.env.CI = saved })
  const calls: Array<[string, string]> = []
  const recorder = { teardown: () => {}, fail: (m: string) => { calls.push(['fail', m]) }, comment: (m: string) => { calls.push(['comment', m]) } }

  process.env.CI = 'true'
  t.match(requireBinaries(recorder, 'no-such-binary-swb'), { skip: /no-such-binary-swb not found/ })
  t.same(calls.map(([kind]) => kind), ['fail'], 'CI: the test run fails')

  calls.length = 0
  delete process.env.CI
  t.match(requireBinaries(recorder, 'no-such-binary-swb'), { skip: /no-such-binary-swb/ })
  t.same(calls.map(([kind]) => kind), ['comment'], 'locally: a comment, no failure')
  t.match(calls[0]?.[1], /SKIPPING/)

  t.same(requireBinaries(recorder, 'sh'), { skip: false }, 'present binaries do not skip')
})
