/**
 * Signaling benchmark: Switchboard against a raw `ws` relay and Socket.IO 4 (alone and on Redis with
 * @socket.io/redis-adapter), side by side in one run, loopback only.
 *
 *   npm run bench:signaling -- [--peers 1000,10000] [--rounds 3] [--targets ...] [--quick]   (--help)
 *
 * Each server runs in its own child process(es), so its CPU (utime+stime) and memory (VmRSS, the V8
 * heap after a forced GC, Redis's used_memory) are read apart from the load generator's. Rounds
 * interleave the targets (a rotated order each round) so a noisy neighbour hits all of them alike;
 * the report gives medians, the min–max spread, and per-round ratios against the baselines.
 * bench/lib/target-run.ts has the per-target sequence; docs/bench.md explains every figure.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseOptions, USAGE, UsageError, type Options, type TargetName } from './lib/options.js'
import { figuresTable, ratiosTable } from './lib/report.js'
import { ROOT, installCleanupHandlers, stopAllNow } from './lib/service.js'
import { summarise, type RoundsByTarget } from './lib/summary.js'
import { num } from './lib/table.js'
import { DISTURBED_PERCENT, runTargetRound, type TargetRoundResult } from './lib/target-run.js'
import { buildTargets, type Target } from './lib/targets.js'

const log = (line: string): void => { process.stderr.write(`${line}\n`) }

/** The commit the run was made on (the working tree may have differed; the JSON says which commit only). */
function gitCommit (): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return undefined
  }
}

/** Round r runs the targets starting at the r-th: no target is always first (cold machine) or last. */
function rotated<T> (list: readonly T[], by: number): T[] {
  const k = by % list.length
  return [...list.slice(k), ...list.slice(0, k)]
}

/** Notes under the table: disturbed phases, a saturated load generator, errors, server output. */
function notes (opts: Options, rounds: Map<Target, TargetRoundResult[]>): string[] {
  const lines: string[] = []
  for (const [target, results] of rounds) {
    // Disturbed phases: one line per target, not one per phase.
    const disturbed = results.flatMap((r) => opts.peers.flatMap((n) => [r.byPeers[n]?.closedLoop, r.byPeers[n]?.paced]))
      .filter((p): p is NonNullable<typeof p> => p !== undefined)
    const noisy = disturbed.filter((p) => p.otherCpuPercent + p.stealPercent > DISTURBED_PERCENT)
    if (noisy.length > 0) {
      const others = noisy.map((p) => p.otherCpuPercent + p.stealPercent)
      lines.push(`${target.name}: ${noisy.length} of ${disturbed.length} phases disturbed: other processes used ${num(Math.min(...others))}–${num(Math.max(...others))}% of a core (noisy; see the spread)`)
    }
    for (const r of results) {
      const where = `${target.name}, round ${r.round}`
      if (Object.keys(r.errors).length > 0) lines.push(`${where}: errors ${JSON.stringify(r.errors)}`)
      if (Object.keys(r.unexpectedCloses).length > 0) lines.push(`${where}: unexpected closes ${JSON.stringify(r.unexpectedCloses)}`)
      for (const n of opts.peers) {
        const at = r.byPeers[n]
        if (at === undefined) continue
        if (at.closedLoop.loadEventLoopUtilisation > 0.9) {
          lines.push(`${where}, N=${n}: the load generator's event loop was ${Math.round(at.closedLoop.loadEventLoopUtilisation * 100)}% busy in the closed loop: ` +
            'it, not the server, set the pace; compare messages per server-CPU-second, not messages/s')
        }
      }
      if (r.serverOutput !== '') lines.push(`${where}: server output (tail):\n${r.serverOutput.slice(-1500)}`)
    }
  }
  return lines
}

async function main (): Promise<void> {
  let parsed: Options | 'help'
  try {
    parsed = parseOptions(process.argv.slice(2))
  } catch (err) {
    if (!(err instanceof UsageError) && !(err instanceof TypeError)) throw err
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`)
    process.exit(2)
  }
  if (parsed === 'help') {
    process.stdout.write(USAGE + '\n')
    return
  }
  const opts = parsed
  installCleanupHandlers()
  // The watchdog: whatever hangs, the run ends and takes its children with it.
  const watchdog = setTimeout(() => {
    log(`bench: still running after ${opts.timeoutMs / 1000} s, giving up`)
    stopAllNow()
    process.exit(1)
  }, opts.timeoutMs + opts.rounds * opts.targets.length * 8 * opts.waitQuietMs)
  watchdog.unref()

  const started = performance.now()
  const targets = buildTargets(opts)
  const rounds = new Map<Target, TargetRoundResult[]>(targets.map((t) => [t, []]))
  for (let round = 1; round <= opts.rounds; round++) {
    for (const target of rotated(targets, round - 1)) rounds.get(target)?.push(await runTargetRound(target, opts, round))
  }
  clearTimeout(watchdog)

  const byName: RoundsByTarget = Object.fromEntries([...rounds].map(([t, r]) => [t.name, r])) as Record<TargetName, TargetRoundResult[]>
  const summary = summarise(opts, byName)
  const cpus = os.cpus()
  const machine = `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${num(os.totalmem() / 1024 ** 3, 1)} GB RAM, Linux ${os.release()}, Node ${process.version}`
  const totalSeconds = (performance.now() - started) / 1000
  const frames = [...rounds.values()][0]?.[0]?.frameBytes
  process.stdout.write(`\n${figuresTable(opts, targets, summary, rounds)}\n\n${ratiosTable(summary)}\n\n`)
  process.stdout.write(`machine: ${machine}; commit ${gitCommit() ?? 'unknown'}; ${opts.rounds} round(s); total ${num(totalSeconds, 1)} s\n`)
  if (frames) {
    process.stdout.write(`frames: offer/answer ${num(frames.offer)} B, candidate ${num(frames.candidate)} B; round = 1 offer + 1 answer + ` +
      `${opts.candidates} candidates each way; Switchboard acks after ${opts.ackEvery} messages or ${opts.ackAfterMs} ms\n`)
  }
  // An experiment's settings belong next to its figures: they are not the defaults the README's tables use.
  if (Object.keys(opts.switchboardEnv).length > 0) process.stdout.write(`Switchboard servers ran with BENCH_SWITCHBOARD_ENV=${JSON.stringify(opts.switchboardEnv)}\n`)
  if ((process.env.BENCH_NODE_FLAGS ?? '').trim() !== '') process.stdout.write(`every server ran with BENCH_NODE_FLAGS=${process.env.BENCH_NODE_FLAGS ?? ''}\n`)
  for (const line of notes(opts, rounds)) process.stdout.write(`${line}\n`)

  if (opts.json) {
    const file = opts.out ?? join(ROOT, 'bench', 'results', `signaling-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), commit: gitCommit(), machine, totalSeconds, options: opts, summary, rounds: byName }, null, 2) + '\n')
    process.stdout.write(`results: ${file}\n`)
  }
}

main().catch((err: unknown) => {
  log(`bench failed: ${(err as Error).stack ?? String(err)}`)
  stopAllNow()
  process.exit(1)
})
