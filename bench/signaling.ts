/**
 * Signaling benchmark: Switchboard against a raw `ws` relay, side by side in one run, loopback only.
 *
 *   npm run bench:signaling -- [--peers 200] [--duration 10] [--paced-rate 2000] ...   (--help)
 *
 * Each server runs in its own child process(es), so its CPU (utime+stime) and memory (VmRSS, and the
 * V8 heap after a forced GC) are read apart from the load generator's. Per target: start → warm-up →
 * memory with 0 connections → memory with --idle-peers joined peers → connect --peers → idle CPU →
 * closed-loop phase (throughput) → paced phase (latency at a fixed rate) → memory after load → stop.
 * docs/bench.md explains the numbers and how to add targets.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { rawRelayDriver, switchboardDriver } from './lib/drivers.js'
import { Meter, closePeers, connectPairs, peerSpecs, peersOf, sameInstance, splitPair, type LoadOptions, type Placement, type SignalingDriver } from './lib/load.js'
import { settledMemory, type MemorySample } from './lib/memory.js'
import { freePort } from './lib/net.js'
import { idleCpuPercent, runPhase, type PhaseResult } from './lib/phase.js'
import { cpuTimeMs } from './lib/proc.js'
import { waitForQuiet } from './lib/quiet.js'
import { ROOT, installCleanupHandlers, startService, stopAllNow, type ServiceProcess } from './lib/service.js'
import { markdownTable, num, ratio } from './lib/table.js'

const USAGE = `usage: npm run bench:signaling -- [options]
  --peers <n>            peers exchanging messages, in rooms of 2 (default 200)
  --idle-peers <n>       peers connected (and joined) only to measure memory per connection (default 2000)
  --duration <s>         closed-loop (throughput) phase length (default 10)
  --max-messages <n>     also end the closed-loop phase after this many messages
  --paced-rate <msg/s>   paced (latency) phase rate, all pairs together; 0 skips it (default 2000)
  --paced-duration <s>   paced phase length (default 5)
  --candidates <n>       ICE candidates each way per negotiation (default 8)
  --sdp-bytes <n>        approximate SDP size of offers and answers (default 3000)
  --ack-every <n>        Switchboard peers send ack every n relayed messages; 0 never (default 0)
  --targets <list>       comma-separated, run in this order: switchboard, baseline, and
                         switchboard-redis (two instances on one redis-server, the peers of each
                         room on different instances) (default switchboard,baseline)
  --wait-quiet <s>       before each target and phase, wait up to this long for other processes
                         to use less than 10% of a core, and run a phase they disturbed once more
                         (for shared machines; default 0: do not wait)
  --no-gc                do not force a GC (via the child's inspector) before memory readings
  --no-json              do not write bench/results/signaling-<time>.json
  --timeout <s>          abort the run after this long, not counting --wait-quiet (default 180)`

class UsageError extends Error {}

interface Options {
  peers: number
  idlePeers: number
  durationMs: number
  maxMessages: number | undefined
  pacedRate: number
  pacedDurationMs: number
  candidates: number
  sdpBytes: number
  ackEvery: number
  targets: TargetName[]
  gc: boolean
  json: boolean
  timeoutMs: number
  waitQuietMs: number
}

const TARGET_NAMES = ['switchboard', 'switchboard-redis', 'baseline'] as const
type TargetName = typeof TARGET_NAMES[number]

function parseOptions (argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      peers: { type: 'string', default: '200' },
      'idle-peers': { type: 'string', default: '2000' },
      duration: { type: 'string', default: '10' },
      'max-messages': { type: 'string' },
      'paced-rate': { type: 'string', default: '2000' },
      'paced-duration': { type: 'string', default: '5' },
      candidates: { type: 'string', default: '8' },
      'sdp-bytes': { type: 'string', default: '3000' },
      'ack-every': { type: 'string', default: '0' },
      targets: { type: 'string', default: 'switchboard,baseline' },
      'no-gc': { type: 'boolean', default: false },
      'no-json': { type: 'boolean', default: false },
      timeout: { type: 'string', default: '180' },
      'wait-quiet': { type: 'string', default: '0' },
      help: { type: 'boolean', default: false }
    }
  })
  if (values.help) {
    process.stdout.write(USAGE + '\n')
    process.exit(0)
  }
  const int = (name: string, value: string | undefined, min: number, max: number): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}`)
    return n
  }
  const peers = int('peers', values.peers, 2, 20_000)
  const idlePeers = int('idle-peers', values['idle-peers'], 2, 20_000)
  if (peers % 2 !== 0 || idlePeers % 2 !== 0) throw new UsageError('--peers and --idle-peers must be even (rooms of 2)')
  const targets = values.targets.split(',').map((t) => t.trim()).filter(Boolean)
  for (const t of targets) if (!(TARGET_NAMES as readonly string[]).includes(t)) throw new UsageError(`unknown target "${t}" (${TARGET_NAMES.join(', ')})`)
  if (targets.length === 0) throw new UsageError('--targets needs at least one target')
  return {
    peers,
    idlePeers,
    durationMs: int('duration', values.duration, 1, 300) * 1000,
    maxMessages: values['max-messages'] === undefined ? undefined : int('max-messages', values['max-messages'], 1, 1e9),
    pacedRate: int('paced-rate', values['paced-rate'], 0, 1e6),
    pacedDurationMs: int('paced-duration', values['paced-duration'], 1, 300) * 1000,
    candidates: int('candidates', values.candidates, 0, 64),
    sdpBytes: int('sdp-bytes', values['sdp-bytes'], 500, 60_000),
    ackEvery: int('ack-every', values['ack-every'], 0, 1e6),
    targets: [...new Set(targets)] as TargetName[],
    gc: !values['no-gc'],
    json: !values['no-json'],
    timeoutMs: int('timeout', values.timeout, 10, 3600) * 1000,
    waitQuietMs: int('wait-quiet', values['wait-quiet'], 0, 3600) * 1000
  }
}

/** What a target runs: its processes (all measured, summed) and the URLs peers connect to. */
interface Deployment {
  services: ServiceProcess[]
  urls: string[]
  placement: Placement
}

interface Target {
  name: TargetName
  label: string
  driver: SignalingDriver
  start (): Promise<Deployment>
}

function targets (opts: Options): Target[] {
  const jwtSecret = randomBytes(32).toString('base64url')
  const switchboard = async (name: string, extraEnv: Record<string, string> = {}): Promise<ServiceProcess> => {
    const port = await freePort()
    return startService({
      name,
      run: { script: 'src/server.ts' },
      port,
      ready: { httpPath: '/health/ready' },
      inspect: opts.gc,
      env: {
        NODE_ENV: 'test',
        LOG_LEVEL: 'warn',
        PORT: String(port),
        HOST: '127.0.0.1',
        JWT_SECRET: jwtSecret,
        TURN_SECRET: randomBytes(24).toString('base64url'),
        // Generous limits: the bench measures throughput, not the abuse guards. Everything else
        // (replay buffers, heartbeat, message size, metrics, audit log) stays at its production default.
        WS_MESSAGES_PER_SECOND: '100000',
        WS_MESSAGE_BURST: '100000',
        MAX_CONNECTIONS_PER_USER: '10',
        WS_SEND_BUFFER_LIMIT_BYTES: String(16 * 1024 * 1024),
        SHUTDOWN_DRAIN_SECONDS: '0',
        ...extraEnv
      }
    })
  }
  const all: Target[] = [{
    name: 'switchboard',
    label: 'Switchboard',
    driver: switchboardDriver(jwtSecret),
    async start () {
      const service = await switchboard('switchboard')
      return { services: [service], urls: [service.url], placement: sameInstance }
    }
  }, {
    name: 'switchboard-redis',
    label: 'Switchboard ×2 + Redis',
    driver: switchboardDriver(jwtSecret),
    async start () {
      // Two instances on one Redis, the two peers of every room on different instances: every
      // message crosses Redis. CPU and memory are those of all three processes.
      const port = await freePort()
      const redis = await startService({
        name: 'redis',
        run: { bin: 'redis-server', args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'] },
        port,
        ready: 'redis-ping',
        // Its start-up banner and the overcommit advice (irrelevant with persistence off) are not news.
        ignoreOutput: /oO0OoO0OoO0Oo|Redis version=|Configuration loaded|Server initialized|Memory overcommit must be enabled/,
        env: {}
      })
      try {
        const instances = await Promise.all(['a', 'b'].map(async (id) => switchboard(`switchboard-${id}`, {
          REDIS_URL: `redis://127.0.0.1:${port}`,
          INSTANCE_ID: `bench-${id}`
        })))
        return { services: [...instances, redis], urls: instances.map((i) => i.url), placement: splitPair }
      } catch (err) {
        await redis.stop()
        throw err
      }
    }
  }, {
    name: 'baseline',
    label: 'raw ws relay',
    driver: rawRelayDriver(),
    async start () {
      const port = await freePort()
      const service = await startService({
        name: 'baseline',
        run: { script: 'bench/baseline-relay.ts' },
        port,
        ready: { httpPath: '/health' },
        inspect: opts.gc,
        env: { PORT: String(port), HOST: '127.0.0.1' }
      })
      return { services: [service], urls: [service.url], placement: sameInstance }
    }
  }]
  return opts.targets.map((name) => all.find((t) => t.name === name) as Target)
}

interface TargetResult {
  peers: number
  /** Time to connect and join the idle set. */
  connectMs: number
  frameBytes: { offer: number, candidate: number }
  memory: {
    idle0: MemorySample
    idlePeers: MemorySample
    beforeLoad: MemorySample
    afterLoad: MemorySample
    rssPerIdlePeerBytes: number
    heapPerIdlePeerBytes: number | undefined
    /** What the load phases left behind per connected peer (replay buffers, mostly). */
    heapRetainedPerPeerBytes: number | undefined
  }
  /** Server CPU with the load peers connected and silent, % of one core. */
  idleCpuPercent: number
  closedLoop: PhaseResult
  paced: PhaseResult | undefined
  errors: Record<string, number>
  unexpectedCloses: Record<string, number>
  socketErrors: number
  serverOutput: string
}

const log = (line: string): void => { process.stderr.write(`${line}\n`) }

/** With --wait-quiet, lets other jobs on a shared machine finish before a measurement starts. */
async function quiet (opts: Options): Promise<void> {
  if (opts.waitQuietMs === 0) return
  const other = await waitForQuiet(opts.waitQuietMs)
  if (other >= 10) log(`   (other processes still use ${num(other)}% of a core; going ahead)`)
}

/** Other processes' CPU above which a phase counts as disturbed (warned about; with --wait-quiet, run again). */
const DISTURBED_PERCENT = 20

/** With --wait-quiet: runs a phase when the machine is quiet, and once more if someone else disturbed it. */
async function undisturbed (opts: Options, phase: () => Promise<PhaseResult>): Promise<PhaseResult> {
  await quiet(opts)
  const first = await phase()
  if (opts.waitQuietMs === 0 || first.otherCpuPercent + first.stealPercent <= DISTURBED_PERCENT) return first
  log(`   (other processes used ${num(first.otherCpuPercent)}% of a core: running the ${first.mode} phase again)`)
  await quiet(opts)
  return phase()
}

async function runTarget (target: Target, opts: Options): Promise<TargetResult> {
  await quiet(opts)
  log(`\n== ${target.label}: starting`)
  const { services, urls, placement } = await target.start()
  try {
    const cpu = { cpuMs: () => Object.fromEntries(services.map((s) => [s.name, cpuTimeMs(s.pid)])) }
    const meter = new Meter()
    const load: LoadOptions = { sdpBytes: opts.sdpBytes, candidates: opts.candidates, ackEvery: opts.ackEvery }
    const messagesPerRound = 2 + 2 * opts.candidates

    // Warm-up on a few rooms, so the JIT's code and the first-use allocations are not billed to connections.
    const warm = await connectPairs(target.driver, peerSpecs(5, urls, placement, 'warm'), meter, load)
    await runPhase(warm, meter, cpu, { mode: 'closed-loop', durationMs: 1500, drainMs: 2000, messagesPerRound })
    await closePeers(peersOf(warm))
    await sleep(300)
    const idle0 = await settledMemory(services)
    log(`   idle, 0 connections: RSS ${mb(idle0.rss)} MB`)

    // Memory per connection from a large idle set, so it stands well above the measurement noise.
    const t0 = performance.now()
    const idle = await connectPairs(target.driver, peerSpecs(opts.idlePeers / 2, urls, placement, 'idle'), meter, load)
    const connectMs = Math.round(performance.now() - t0)
    const idlePeers = await settledMemory(services)
    log(`   ${opts.idlePeers} idle peers joined in ${connectMs} ms: RSS ${mb(idlePeers.rss)} MB`)
    await closePeers(peersOf(idle))
    await sleep(500)

    const pairs = await connectPairs(target.driver, peerSpecs(opts.peers / 2, urls, placement, 'peer'), meter, load)
    const beforeLoad = await settledMemory(services)
    const idleCpu = await idleCpuPercent(cpu, 2000)

    const closedLoop = await undisturbed(opts, () => runPhase(pairs, meter, cpu, {
      mode: 'closed-loop', durationMs: opts.durationMs, maxMessages: opts.maxMessages, drainMs: 5000, messagesPerRound
    }))
    log(`   closed loop: ${num(closedLoop.deliveredPerSecond)} msg/s, p50 ${closedLoop.latencyMs.p50} ms, p99 ${closedLoop.latencyMs.p99} ms`)
    let paced: PhaseResult | undefined
    if (opts.pacedRate > 0) {
      paced = await undisturbed(opts, () => runPhase(pairs, meter, cpu, {
        mode: 'paced', durationMs: opts.pacedDurationMs, messagesPerSecond: opts.pacedRate, drainMs: 5000, messagesPerRound
      }))
      log(`   paced ${num(opts.pacedRate)} msg/s: ${num(paced.deliveredPerSecond)} msg/s, p50 ${paced.latencyMs.p50} ms, p99 ${paced.latencyMs.p99} ms`)
    }
    const afterLoad = await settledMemory(services)
    log(`   after load: RSS ${mb(afterLoad.rss)} MB (before: ${mb(beforeLoad.rss)} MB)`)
    const frameBytes = pairs[0]?.a.frameSizes() ?? { offer: 0, candidate: 0 }
    await closePeers(peersOf(pairs))

    return {
      peers: opts.peers,
      connectMs,
      frameBytes,
      memory: {
        idle0,
        idlePeers,
        beforeLoad,
        afterLoad,
        rssPerIdlePeerBytes: Math.round((idlePeers.rss - idle0.rss) / opts.idlePeers),
        heapPerIdlePeerBytes: perPeer(idle0.heapUsed, idlePeers.heapUsed, opts.idlePeers),
        heapRetainedPerPeerBytes: perPeer(beforeLoad.heapUsed, afterLoad.heapUsed, opts.peers)
      },
      idleCpuPercent: idleCpu,
      closedLoop,
      paced,
      errors: Object.fromEntries(meter.errors),
      unexpectedCloses: Object.fromEntries(meter.unexpectedCloses),
      socketErrors: meter.socketErrors,
      serverOutput: services.map((s) => s.output()).join('\n').trim()
    }
  } finally {
    for (const service of services) await service.stop()
  }
}

/** The commit the run was made on (the working tree may have differed; the JSON says which commit only). */
function gitCommit (): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return undefined
  }
}

const perPeer = (before: number | undefined, after: number | undefined, peers: number): number | undefined =>
  before === undefined || after === undefined ? undefined : Math.round((after - before) / peers)
const mb = (bytes: number): string => num(bytes / 1024 / 1024, 1)

/** One column per target, in run order, then one "÷ relay" column per other target when the baseline ran. */
function report (results: ReadonlyArray<{ target: Target, result: TargetResult }>, opts: Options): string {
  const base = results.find((r) => r.target.name === 'baseline')?.result
  const compared = base === undefined ? [] : results.filter((r) => r.target.name !== 'baseline')
  const header = ['', ...results.map((r) => r.target.label), ...compared.map((r) => `${r.target.label} ÷ relay`)]
  const rows: string[][] = []
  // `compare: false` for rows where a ratio means nothing (the machine's state, near-zero amounts).
  const row = (label: string, pick: (r: TargetResult) => number | undefined, fmt: (n: number) => string, compare = true): void => {
    const b = base === undefined ? undefined : pick(base)
    rows.push([
      label,
      ...results.map((r) => { const v = pick(r.result); return v === undefined ? '–' : fmt(v) }),
      ...compared.map((r) => { const a = pick(r.result); return compare && a !== undefined && b !== undefined ? ratio(a, b) : '–' })
    ])
  }
  const section = (label: string): void => { rows.push([`**${label}**`, ...header.slice(1).map(() => '')]) }
  const ms = (n: number): string => num(n, n < 10 ? 2 : 1)

  section(`Closed loop, ${opts.peers / 2} rooms × 2 peers, ${opts.durationMs / 1000} s`)
  row('delivered messages/s', (r) => r.closedLoop.deliveredPerSecond, (n) => num(n))
  row('delivered MB/s', (r) => r.closedLoop.deliveredMBPerSecond, (n) => num(n, 1))
  row('one-way latency p50 (ms)', (r) => r.closedLoop.latencyMs.p50, ms)
  row('one-way latency p99 (ms)', (r) => r.closedLoop.latencyMs.p99, ms)
  row('server CPU per 1,000 messages (ms)', (r) => r.closedLoop.serverCpuMsPerThousand, (n) => num(n, 1))
  row('server CPU (% of one core)', (r) => r.closedLoop.serverCpuPercent, (n) => num(n))
  row('→ messages/s one full core would carry (extrapolated)', (r) => r.closedLoop.serverCpuMsPerThousand > 0 ? 1e6 / r.closedLoop.serverCpuMsPerThousand : undefined, (n) => num(Math.round(n / 100) * 100))
  row('load generator CPU (% of one core)', (r) => r.closedLoop.loadCpuPercent, (n) => num(n), false)
  row('load generator event loop busy (%)', (r) => r.closedLoop.loadEventLoopUtilisation * 100, (n) => num(n), false)
  row('kernel interrupt work, mostly loopback TCP (% of one core)', (r) => r.closedLoop.interruptCpuPercent, (n) => num(n), false)
  row('other processes on the machine (% of one core)', (r) => r.closedLoop.otherCpuPercent, (n) => num(n), false)
  if (opts.pacedRate > 0) {
    section(`Paced, ${num(opts.pacedRate)} messages/s, ${opts.pacedDurationMs / 1000} s`)
    row('delivered messages/s', (r) => r.paced?.deliveredPerSecond, (n) => num(n))
    row('one-way latency p50 (ms)', (r) => r.paced?.latencyMs.p50, ms)
    row('one-way latency p99 (ms)', (r) => r.paced?.latencyMs.p99, ms)
    row('server CPU per 1,000 messages (ms)', (r) => r.paced?.serverCpuMsPerThousand, (n) => num(n, 1))
    row('other processes on the machine (% of one core)', (r) => r.paced?.otherCpuPercent, (n) => num(n), false)
  }
  section('Memory (server processes, after a forced GC)')
  const kib = (n: number | undefined): number | undefined => n === undefined ? undefined : n / 1024
  row('RSS, 0 connections (MB)', (r) => r.memory.idle0.rss / 1024 / 1024, (n) => num(n, 1))
  row(`RSS, ${num(opts.idlePeers)} idle joined peers (MB)`, (r) => r.memory.idlePeers.rss / 1024 / 1024, (n) => num(n, 1))
  row('RSS per idle connection (KB)', (r) => kib(r.memory.rssPerIdlePeerBytes), (n) => num(n, 1))
  row('JS heap per idle connection (KB)', (r) => kib(r.memory.heapPerIdlePeerBytes), (n) => num(n, 1))
  row(`RSS after the load phases, ${opts.peers} peers connected (MB)`, (r) => r.memory.afterLoad.rss / 1024 / 1024, (n) => num(n, 1))
  row('JS heap retained per peer by the load phases (KB)', (r) => kib(r.memory.heapRetainedPerPeerBytes), (n) => num(n, 1), false)
  section('Idle')
  row(`server CPU with ${opts.peers} peers connected, no traffic (% of one core)`, (r) => r.idleCpuPercent, (n) => num(n, 1), false)
  section('Connections')
  row(`peers connected + joined per second (${num(opts.idlePeers)} peers, 50 at a time)`, (r) => r.connectMs > 0 ? opts.idlePeers * 1000 / r.connectMs : undefined, (n) => num(n))
  section('Health')
  row('messages lost', (r) => r.closedLoop.lost + (r.paced?.lost ?? 0), (n) => num(n))
  row('error messages received', (r) => Object.values(r.errors).reduce((s, n) => s + n, 0), (n) => num(n))
  row('unexpected socket closes', (r) => Object.values(r.unexpectedCloses).reduce((s, n) => s + n, 0) + r.socketErrors, (n) => num(n))
  return markdownTable(header, rows)
}

async function main (): Promise<void> {
  let opts: Options
  try {
    opts = parseOptions(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`)
    process.exit(2)
  }
  installCleanupHandlers()
  const watchdog = setTimeout(() => {
    log(`bench: still running after ${opts.timeoutMs / 1000} s, giving up`)
    stopAllNow()
    process.exit(1)
  }, opts.timeoutMs + opts.targets.length * 5 * opts.waitQuietMs)
  watchdog.unref()

  const started = performance.now()
  const results: Array<{ target: Target, result: TargetResult }> = []
  for (const target of targets(opts)) results.push({ target, result: await runTarget(target, opts) })
  clearTimeout(watchdog)

  const cpus = os.cpus()
  const machine = `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${num(os.totalmem() / 1024 ** 3, 1)} GB RAM, Linux ${os.release()}, Node ${process.version}`
  const anyResult = results[0]?.result
  process.stdout.write(`\n${report(results, opts)}\n\n`)
  process.stdout.write(`machine: ${machine}; commit ${gitCommit() ?? 'unknown'}\n`)
  if (anyResult) {
    process.stdout.write(`frames: offer/answer ${num(anyResult.frameBytes.offer)} B, candidate ${num(anyResult.frameBytes.candidate)} B; ` +
      `round = 1 offer + 1 answer + ${opts.candidates} candidates each way; total ${num((performance.now() - started) / 1000, 1)} s\n`)
  }
  for (const { target: { name }, result: r } of results) {
    if (Object.keys(r.errors).length > 0) process.stdout.write(`${name} errors: ${JSON.stringify(r.errors)}\n`)
    if (Object.keys(r.unexpectedCloses).length > 0) process.stdout.write(`${name} unexpected closes: ${JSON.stringify(r.unexpectedCloses)}\n`)
    if (r.closedLoop.loadEventLoopUtilisation > 0.9) {
      process.stdout.write(`${name}: the load generator's event loop was ${Math.round(r.closedLoop.loadEventLoopUtilisation * 100)}% busy in the closed-loop phase: ` +
        'it, not the server, set the pace; compare CPU per 1,000 messages instead\n')
    }
    for (const phase of [r.closedLoop, r.paced]) {
      if (phase && phase.otherCpuPercent + phase.stealPercent > DISTURBED_PERCENT) {
        process.stdout.write(`${name}: other processes used ${phase.otherCpuPercent}% of a core (+${phase.stealPercent}% steal) during the ${phase.mode} phase: the numbers are noisy, run again on a quiet machine\n`)
      }
    }
    if (r.serverOutput !== '') process.stdout.write(`${name} server output (tail):\n${r.serverOutput.slice(-1500)}\n`)
  }

  if (opts.json) {
    const dir = join(ROOT, 'bench', 'results')
    mkdirSync(dir, { recursive: true })
    const file = join(dir, `signaling-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
    const byName = Object.fromEntries(results.map((r) => [r.target.name, r.result]))
    writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), commit: gitCommit(), machine, options: opts, results: byName }, null, 2) + '\n')
    process.stdout.write(`results: ${file}\n`)
  }
}

main().catch((err: unknown) => {
  log(`bench failed: ${(err as Error).stack ?? String(err)}`)
  stopAllNow()
  process.exit(1)
})
