/**
 * TURN credential issuance throughput: POST /v1/turn/credentials (JWT verify + rate limit + HMAC +
 * schema serialization) against a baseline route in the same Fastify instance that returns a constant.
 * The ratio is the cost of issuance relative to the framework's own floor on this machine.
 *
 *   npx tsx bench/turn-credentials.ts [--duration=5] [--connections=10] [--rounds=3]
 *
 * The two routes alternate for several rounds and the medians are reported, so a burst of load from
 * another process on a shared machine skews one round rather than one side of the comparison.
 * Load goes to 127.0.0.1 only. The app runs with production settings (NODE_ENV=production, info logs
 * and the audit stream on) but writes its logs to a discarding stream, so the terminal stays readable.
 */
import { Writable } from 'node:stream'
import os from 'node:os'
import autocannon from 'autocannon'
import { SignJWT } from 'jose'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'

const args = new Map(process.argv.slice(2).map((a) => {
  const [k, v] = a.replace(/^--/, '').split('=')
  return [k ?? '', v ?? '']
}))
const DURATION_S = Number(args.get('duration') ?? 5)
const CONNECTIONS = Number(args.get('connections') ?? 10)
const ROUNDS = Number(args.get('rounds') ?? 3)
const WARMUP_S = 1

const JWT_SECRET = 'bench-jwt-secret-that-is-long-enough-0123456789'

const config = loadConfig({
  NODE_ENV: 'production',
  LOG_LEVEL: 'info',
  HOST: '127.0.0.1',
  PORT: '0',
  JWT_SECRET,
  TURN_SECRET: 'bench-turn-secret-0123456789-abcdefgh,bench-turn-secret-previous-0123456789',
  STUN_URLS: 'stun:stun.example.org:3478',
  TURN_URLS: 'turn:turn.example.org:3478?transport=udp,turn:turn.example.org:3478?transport=tcp,turns:turn.example.org:443?transport=tcp',
  // High enough that the limiter counts every request but never refuses one.
  TURN_RATE_LIMIT_MAX: '1000000000',
  TURN_RATE_LIMIT_WINDOW_SECONDS: '60'
})

let logBytes = 0
const discard = new Writable({ write (chunk: Buffer, _enc, cb) { logBytes += chunk.length; cb() } })
const app = await buildApp(config, { logStream: discard })

// The baseline: same instance, hooks and serializer path, no auth, no limiter, a constant body of similar size.
const CONSTANT = {
  iceServers: [{ urls: ['stun:stun.example.org:3478'] }, { urls: ['turn:turn.example.org:3478?transport=udp'], username: '1800000000:alice', credential: 'QblFnq+a1d/Zh/PwaBP1MUlWf+U=' }],
  ttl: 3600,
  expiresAt: '2027-01-15T08:00:00.000Z',
  refreshAt: '2027-01-15T07:48:00.000Z'
}
app.post('/bench/baseline', async () => CONSTANT)

const base = await app.listen({ host: '127.0.0.1', port: 0 })
const token = await new SignJWT({ sub: 'bench-user' })
  .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
  .setIssuedAt()
  .setExpirationTime('1h')
  .sign(new TextEncoder().encode(JWT_SECRET))

// One sanity request each, so a misconfiguration fails loudly instead of benchmarking 401s.
const probe = await fetch(`${base}/v1/turn/credentials`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
if (probe.status !== 200) throw new Error(`credentials probe answered ${probe.status}: ${await probe.text()}`)

interface Run { rps: number, p50: number, p99: number, requests: number, non2xx: number, errors: number, cpuUsPerRequest: number }

async function load (path: string, seconds: number): Promise<Run> {
  // CPU time of this process (server + load generator) per request: steadier than req/s when other
  // processes compete for the cores, since it does not count time spent waiting for a core.
  const cpuBefore = process.cpuUsage()
  const result = await autocannon({
    url: `${base}${path}`,
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    connections: CONNECTIONS,
    duration: seconds
  })
  const cpu = process.cpuUsage(cpuBefore)
  return {
    cpuUsPerRequest: (cpu.user + cpu.system) / Math.max(1, result.requests.total),
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts
  }
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

const row = (name: string, r: Run): string =>
  `${name.padEnd(26)} ${r.rps.toFixed(0).padStart(7)} req/s   p50 ${String(r.p50).padStart(3)} ms   p99 ${String(r.p99).padStart(3)} ms   ` +
  `${r.cpuUsPerRequest.toFixed(0).padStart(4)} µs CPU/req   ${r.requests} requests, ${r.non2xx} non-2xx, ${r.errors} errors`

try {
  await load('/bench/baseline', WARMUP_S)
  await load('/v1/turn/credentials', WARMUP_S)
  console.log(`node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), load average ${os.loadavg()[0]?.toFixed(2)}; ` +
    `${CONNECTIONS} connections, ${ROUNDS} rounds of ${DURATION_S} s per route after ${WARMUP_S} s warm-up; load generator in the same process`)
  const baselines: Run[] = []
  const issuances: Run[] = []
  for (let round = 1; round <= ROUNDS; round++) {
    const baseline = await load('/bench/baseline', DURATION_S)
    const issuance = await load('/v1/turn/credentials', DURATION_S)
    baselines.push(baseline)
    issuances.push(issuance)
    console.log(`round ${round}`)
    console.log(`  ${row('baseline (constant)', baseline)}`)
    console.log(`  ${row('POST /v1/turn/credentials', issuance)}`)
  }
  const baselineRps = median(baselines.map((r) => r.rps))
  const issuanceRps = median(issuances.map((r) => r.rps))
  console.log(`median: baseline ${baselineRps.toFixed(0)} req/s, issuance ${issuanceRps.toFixed(0)} req/s, ` +
    `ratio issuance/baseline ${(issuanceRps / baselineRps).toFixed(2)} (per round: ${baselines.map((b, i) => ((issuances[i]?.rps ?? 0) / b.rps).toFixed(2)).join(', ')})`)
  const baselineCpu = median(baselines.map((r) => r.cpuUsPerRequest))
  const issuanceCpu = median(issuances.map((r) => r.cpuUsPerRequest))
  console.log(`median CPU per request: baseline ${baselineCpu.toFixed(0)} µs, issuance ${issuanceCpu.toFixed(0)} µs ` +
    `(issuance costs ${(issuanceCpu / baselineCpu).toFixed(2)}× the baseline, i.e. ~${(baselineCpu / issuanceCpu).toFixed(2)} of its throughput on idle cores)`)
  console.log(`load average after: ${os.loadavg()[0]?.toFixed(2)}; log output discarded: ${(logBytes / 1e6).toFixed(1)} MB`)
  if ([...baselines, ...issuances].some((r) => r.non2xx + r.errors > 0)) {
    console.error('some requests failed: the numbers above are not valid')
    process.exitCode = 1
  }
} finally {
  await app.close()
}
