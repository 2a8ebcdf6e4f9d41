import t from 'tap'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { build, listen } from '../helpers/build.js'
import { signTestToken } from '../helpers/tokens.js'
import { requireBinaries, startTurnServer } from '../helpers/turnserver.js'
import { ROOT } from '../helpers/client-package.js'

/**
 * PeerCall on another WebRTC stack: two Node processes on node-datachannel's RTCPeerConnection
 * polyfill (libdatachannel) call each other through a real instance, directly and forced through a
 * real coturn with credentials from POST /v1/turn/credentials (URL-encoded by encodeTurnCredentials).
 */

const TSX = join(ROOT, 'node_modules/tsx/dist/cli.mjs')
const PEER = join(ROOT, 'test/helpers/node-peer.ts')
const TURN_SECRET = `ndc-turn-${randomBytes(8).toString('hex')}`
// Each peer is a tsx process that compiles the client on start: slow on a busy machine.
t.setTimeout(300_000)

interface PeerResult { pair?: unknown, localCandidates?: unknown, role?: string, exchanged?: number, local?: string, states?: string[], errors?: string[], polite?: boolean, turn?: boolean, error?: string }

function runPeer (t: { teardown (fn: () => unknown): void }, env: Record<string, string>): Promise<PeerResult> {
  const child = spawn(process.execPath, [TSX, PEER], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  let err = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.on('exit', (code) => {
      clearTimeout(timer)
      const line = out.trim().split('\n').pop() ?? ''
      try {
        resolve(JSON.parse(line) as PeerResult)
      } catch {
        resolve({ error: `exit ${code}; stdout: ${out.slice(-500)}; stderr: ${err.slice(-1000)}` })
      }
    })
  })
}

const { skip } = requireBinaries(t, 'turnserver')
if (skip === false) {
  const turn = await startTurnServer(t, { secrets: [TURN_SECRET] })
  const app = await build(t, {
    AUDIT_LOG_LEVEL: 'silent', TURN_PROVIDER: 'hmac', TURN_SECRET,
    TURN_URLS: `turn:127.0.0.1:${turn.port}?transport=udp`, STUN_URLS: `stun:127.0.0.1:${turn.port}`
  })
  const url = await listen(app)

  for (const relay of [true, false]) {
    t.test(relay ? 'two node-datachannel processes, forced through coturn' : 'two node-datachannel processes, direct', async (t) => {
      const room = `ndc-${randomBytes(4).toString('hex')}`
      const common = { SWB_URL: url, SWB_ROOM: room, SWB_RELAY: relay ? '1' : '0' }
      const [offerer, answerer] = await Promise.all([
        runPeer(t, { ...common, SWB_ROLE: 'offer', SWB_TOKEN: await signTestToken({ sub: 'node-a' }) }),
        runPeer(t, { ...common, SWB_ROLE: 'answer', SWB_TOKEN: await signTestToken({ sub: 'node-b' }) })
      ])
      for (const [name, r] of [['offerer', offerer], ['answerer', answerer]] as const) {
        t.equal(r.error, undefined, `${name} ran to the end: ${r.error ?? "ok"}`)
        t.equal(r.exchanged, 3, `${name}: three ping/pong rounds over the data channel`)
        t.ok(r.states?.includes('connected'), `${name} connected (${r.states?.join(' → ')})`)
        t.ok(r.turn, `${name} had TURN credentials from the instance`)
        if (relay) {
          // Only relay candidates were gathered and signaled: coturn granted allocations with the
          // instance's credentials (URL-encoded for libdatachannel). libjuice then pairs over the
          // socket it holds towards TURN (its TURN-mapped srflx address): on loopback that path
          // reaches the other side too, so the selected pair is not 'relay' here as it is in Chromium.
          const candidates = r.localCandidates as string[] | undefined
          t.ok(candidates !== undefined && candidates.length > 0 && candidates.every((c) => c === 'relay'), `${name}: relay candidates only (${JSON.stringify(candidates)})`)
        } else {
          t.not(r.local, 'relay', `${name}: a direct path (${r.local})`)
        }
      }
      t.not(offerer.polite, answerer.polite, 'exactly one side is polite')
      if (relay) {
        for (const user of ['node-a', 'node-b']) {
          t.match(turn.log(), new RegExp(`user <\\d+:${user}>: incoming packet ALLOCATE processed, success`), `coturn allocated a relay for ${user}`)
        }
      }
    })
  }
} else {
  t.test(`node-datachannel calls: ${skip}`, { skip }, async () => {})
}
