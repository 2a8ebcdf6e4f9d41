import { parseArgs } from 'node:util'

export const TARGET_NAMES = ['switchboard', 'baseline', 'socketio', 'switchboard-redis', 'socketio-redis'] as const
export type TargetName = typeof TARGET_NAMES[number]

export const USAGE = `usage: npm run bench:signaling -- [options]
  --peers <n,n,...>      connected peers (N), in rooms of 2, one figure set per N; idle memory per
                         connection is the slope between consecutive N (default 1000,10000)
  --active-peers <n>     peers (the first rooms) that exchange messages in the closed-loop and paced
                         phases, at most N; the others stay connected and silent; 0 = all N
                         (default 400: the same 200 rooms at every N, so the figures differ only by
                         the idle connections around them)
  --rounds <n>           rounds; each runs every target once, in a rotated order (default 3)
  --duration <s>         closed-loop (throughput) phase length, seconds (default 3)
  --max-messages <n>     also end the closed-loop phase after this many messages
  --phase-warm-up <s>    before each closed-loop and paced phase, the same load runs this long
                         unmeasured (default 2; 0: none): the memory reading before a phase forces
                         V8's low-memory collections, which shrink the young generation, and a phase
                         measured right after them sees a heap no server under traffic has
  --paced-rate <msg/s>   paced (latency) phase rate, all active pairs together; 0 skips it (default 2000)
  --paced-duration <s>   paced phase length, seconds (default 10: 20,000 latencies at 2,000 msg/s;
                         with fewer, the p99 is decided by a handful of stalls)
  --candidates <n>       ICE candidates each way per negotiation (default 8)
  --sdp-bytes <n>        approximate SDP size of offers and answers (default 3000)
  --ack-every <n>        Switchboard peers ack after n received messages; 0: not by count (default 64)
  --ack-after <ms>       ... or this long after the first unacknowledged one; 0: no timer (default 1000)
                         (64 / 1000 is the TypeScript client's default policy; 0 and 0 never ack)
  --concurrency <n>      handshakes in flight while connecting (default 50)
  --targets <list>       comma-separated, any of: ${TARGET_NAMES.join(', ')}
                         (default: all of them)
  --quick                smoke test: N = 20,60, 1 round, 0.5 s phases at 500 msg/s, short memory
                         readings (options given explicitly still win)
  --wait-quiet <s>       before each target and phase, wait up to this long for other processes
                         to use less than 10% of a core, and run a phase they disturbed once more
                         (for shared machines; default 0: do not wait)
  --no-gc                do not force a GC (via the child's inspector) before memory readings
  --no-json              do not write the JSON results
  --out <file>           write the JSON results here (default bench/results/signaling-<time>.json)
  --timeout <s>          abort the run after this long, not counting --wait-quiet (default 400 per
                         round, at least 1200, at most 7200; --quick 120 per round)`

export class UsageError extends Error {}

/** The largest --timeout accepted, in seconds (two hours). */
const MAX_TIMEOUT_S = 7200

export interface Options {
  /** N values, ascending. */
  peers: number[]
  /** 0: all N. */
  activePeers: number
  rounds: number
  durationMs: number
  maxMessages: number | undefined
  pacedRate: number
  pacedDurationMs: number
  candidates: number
  sdpBytes: number
  ackEvery: number
  ackAfterMs: number
  concurrency: number
  targets: TargetName[]
  quick: boolean
  /** Unmeasured load before each closed-loop and paced phase (--phase-warm-up). */
  phaseWarmUpMs: number
  /** Warm-up length and the rooms it uses: short in --quick. */
  warmUpMs: number
  warmUpRooms: number
  /** How long the idle-CPU reading lasts. */
  idleCpuMs: number
  /** settledMemory()'s pause and RSS readings: shorter in --quick. */
  memory: { settleMs: number, samples: number }
  gc: boolean
  json: boolean
  out: string | undefined
  timeoutMs: number
  waitQuietMs: number
  /** BENCH_SWITCHBOARD_ENV: set last in every Switchboard server's environment. */
  switchboardEnv: Record<string, string>
}

/**
 * BENCH_SWITCHBOARD_ENV='{"NAME":"value",...}': environment variables for every Switchboard server (one
 * instance and both Redis instances), set last, for experiments such as a longer heartbeat interval.
 */
function switchboardExperimentEnv (raw: string | undefined): Record<string, string> {
  const usage = 'BENCH_SWITCHBOARD_ENV must be a JSON object of strings, e.g. {"WS_HEARTBEAT_INTERVAL_MS":"300000"}'
  if (raw === undefined || raw.trim() === '') return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    throw new UsageError(usage)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) {
    throw new UsageError(usage)
  }
  return parsed as Record<string, string>
}

export function parseOptions (argv: string[], env: NodeJS.ProcessEnv = process.env): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      peers: { type: 'string' },
      'active-peers': { type: 'string' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      'max-messages': { type: 'string' },
      'phase-warm-up': { type: 'string' },
      'paced-rate': { type: 'string' },
      'paced-duration': { type: 'string' },
      candidates: { type: 'string', default: '8' },
      'sdp-bytes': { type: 'string', default: '3000' },
      'ack-every': { type: 'string', default: '64' },
      'ack-after': { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '50' },
      targets: { type: 'string', default: TARGET_NAMES.join(',') },
      quick: { type: 'boolean', default: false },
      'no-gc': { type: 'boolean', default: false },
      'no-json': { type: 'boolean', default: false },
      out: { type: 'string' },
      timeout: { type: 'string' },
      'wait-quiet': { type: 'string', default: '0' },
      help: { type: 'boolean', default: false }
    }
  })
  if (values.help) return 'help'
  const quick = values.quick
  // --quick only changes the defaults; anything given explicitly wins.
  const pick = (value: string | undefined, normal: string, fast: string): string => value ?? (quick ? fast : normal)
  const int = (name: string, value: string, min: number, max: number): number => {
    const n = Number(value)
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}`)
    return n
  }
  const seconds = (name: string, value: string, min: number, max: number): number => {
    const n = Number(value)
    if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number of seconds from ${min} to ${max}`)
    return Math.round(n * 1000)
  }
  const peers = [...new Set(pick(values.peers, '1000,10000', '20,60').split(',').map((p) => int('peers', p.trim(), 2, 20_000)))]
    .sort((a, b) => a - b)
  if (peers.some((n) => n % 2 !== 0)) throw new UsageError('--peers must be even numbers (rooms of 2)')
  const activePeers = int('active-peers', pick(values['active-peers'], '400', '0'), 0, 20_000)
  if (activePeers % 2 !== 0) throw new UsageError('--active-peers must be even (rooms of 2)')
  const targets = values.targets.split(',').map((t) => t.trim()).filter(Boolean)
  for (const t of targets) if (!(TARGET_NAMES as readonly string[]).includes(t)) throw new UsageError(`unknown target "${t}" (${TARGET_NAMES.join(', ')})`)
  if (targets.length === 0) throw new UsageError('--targets needs at least one target')
  const rounds = int('rounds', pick(values.rounds, '3', '1'), 1, 20)
  // A round of all five targets at the default N takes about 290 s on the project's 2-vCPU machine:
  // the default limit grows with the rounds asked for, so a longer run is not cut off by it (up to the
  // largest --timeout accepted, so --rounds 20 alone is no usage error about an option not given).
  const defaultTimeout = Math.min(MAX_TIMEOUT_S, quick ? 120 * rounds : Math.max(1200, 400 * rounds))
  return {
    peers,
    activePeers,
    rounds,
    durationMs: seconds('duration', pick(values.duration, '3', '0.5'), 0.1, 300),
    maxMessages: values['max-messages'] === undefined ? undefined : int('max-messages', values['max-messages'], 1, 1e9),
    phaseWarmUpMs: seconds('phase-warm-up', pick(values['phase-warm-up'], '2', '0.2'), 0, 60),
    pacedRate: int('paced-rate', pick(values['paced-rate'], '2000', '500'), 0, 1e6),
    pacedDurationMs: seconds('paced-duration', pick(values['paced-duration'], '10', '0.5'), 0.1, 300),
    candidates: int('candidates', values.candidates, 0, 64),
    sdpBytes: int('sdp-bytes', values['sdp-bytes'], 500, 60_000),
    ackEvery: int('ack-every', values['ack-every'], 0, 1e6),
    ackAfterMs: int('ack-after', values['ack-after'], 0, 600_000),
    concurrency: int('concurrency', values.concurrency, 2, 10_000),
    targets: [...new Set(targets)] as TargetName[],
    quick,
    warmUpMs: quick ? 300 : 1500,
    warmUpRooms: quick ? 2 : 5,
    idleCpuMs: quick ? 300 : 1000,
    memory: quick ? { settleMs: 0, samples: 1 } : { settleMs: 300, samples: 3 },
    switchboardEnv: switchboardExperimentEnv(env.BENCH_SWITCHBOARD_ENV),
    gc: !values['no-gc'],
    json: !values['no-json'],
    out: values.out,
    timeoutMs: int('timeout', values.timeout ?? String(defaultTimeout), 10, MAX_TIMEOUT_S) * 1000,
    waitQuietMs: int('wait-quiet', values['wait-quiet'], 0, 3600) * 1000
  }
}
