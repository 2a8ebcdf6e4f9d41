import { performance } from 'node:perf_hooks'
import { closePeers, connectPairs, Meter, peerSpecs, peersOf, type BenchPair, type LoadOptions } from './load.js'
import { heldBytes, settledMemory, type MemorySample } from './memory.js'
import type { Options } from './options.js'
import { idleCpuPercent, runPhase, waitForServerIdle, type CpuSource, type PhaseResult } from './phase.js'
import { cpuTimeMs, mainThreadCpuTimeMs } from './proc.js'
import { waitForQuiet } from './quiet.js'
import { num } from './table.js'
import type { Target } from './targets.js'

/**
 * One round of one target: a fresh deployment measured at every N in one go.
 *
 *   start → warm-up → memory at 0 → for N ascending: connect up to N (setup rate, CPU per
 *   connection), memory at N (idle) → for N descending: close down to N, idle CPU, closed loop,
 *   memory right after it (what the load left held per active peer), paced phase → stop.
 *
 * Idle memory is read before any load, so the slope between two N is connections only. The load
 * phases run from the largest N down, so no load ever precedes an idle reading.
 */

export interface SetupResult {
  /** Peers connected in this step (from the previous N up to this one). */
  peers: number
  ms: number
  perSecond: number
  serverCpuMs: number
  serverCpuMsPerConnection: number
}

export interface AtPeers {
  peers: number
  /** Peers that exchanged messages in the load phases. */
  activePeers: number
  setup: SetupResult
  /** Memory with N idle joined peers, before any load. */
  idle: MemorySample
  /** (RSS at N − RSS at 0) ÷ N. */
  rssPerIdlePeerBytes: number
  /** Server CPU with N peers connected and silent, % of one core. */
  idleCpuPercent: number
  closedLoop: PhaseResult & { messagesPerCpuSecond: number }
  /** Memory right before and right after the closed loop, and the difference per active peer (heap + ArrayBuffers + Redis). */
  retained: { before: MemorySample, after: MemorySample, perActivePeerBytes: number | undefined }
  paced: PhaseResult | undefined
}

export interface IdleSlope {
  from: number
  to: number
  rssPerPeerBytes: number
  /** Node heaps after GC plus Redis used_memory. */
  heldPerPeerBytes: number | undefined
}

export interface TargetRoundResult {
  round: number
  memory0: MemorySample
  byPeers: Record<number, AtPeers>
  slopes: IdleSlope[]
  frameBytes: { offer: number, candidate: number }
  errors: Record<string, number>
  unexpectedCloses: Record<string, number>
  socketErrors: number
  serverOutput: string
}

const log = (line: string): void => { process.stderr.write(`${line}\n`) }
const mb = (bytes: number): string => num(bytes / 1024 / 1024, 1)

/** Other processes' CPU above which a phase counts as disturbed (warned about; with --wait-quiet, run again). */
export const DISTURBED_PERCENT = 20

/** With --wait-quiet, lets other jobs on a shared machine finish before a measurement starts. */
export async function quiet (opts: Options): Promise<void> {
  if (opts.waitQuietMs === 0) return
  const other = await waitForQuiet(opts.waitQuietMs)
  if (other >= 10) log(`   (other processes still use ${num(other)}% of a core; going ahead)`)
}

/** With --wait-quiet: runs a phase when the machine is quiet, and once more if someone else disturbed it. */
async function undisturbed (opts: Options, phase: () => Promise<PhaseResult>): Promise<PhaseResult> {
  await quiet(opts)
  const first = await phase()
  if (opts.waitQuietMs === 0 || first.otherCpuPercent + first.stealPercent <= DISTURBED_PERCENT) return first
  log(`   (other processes used ${num(first.otherCpuPercent)}% of a core: running the ${first.mode} phase again)`)
  await quiet(opts)
  return phase()
}

/**
 * The unmeasured lead-in of a phase (--phase-warm-up). Each memory reading ends in V8's low-memory
 * collections (memory.ts), which also shrink the young generation to its smallest: in Switchboard,
 * from 32 MB committed under the closed loop to 1 MB (4 MB after the reading's last gc()). Growing
 * back took about 2 s of load, and meanwhile a scavenge every few milliseconds promoted what a server
 * under steady traffic lets die young: six mark-compacts in those 2 s (`--trace-gc-verbose`,
 * docs/bench.md, run M). Every target gets the same lead-in; its lost messages still count in the
 * round's health figures, its errors in the round's errors.
 */
async function warmedUp (opts: Options, phase: (durationMs: number) => Promise<PhaseResult>, measuredMs: number): Promise<PhaseResult> {
  const lead = opts.phaseWarmUpMs > 0 ? await phase(opts.phaseWarmUpMs) : undefined
  const measured = await phase(measuredMs)
  return lead === undefined ? measured : { ...measured, lost: measured.lost + lead.lost }
}

/** Lets the server finish what departures left it (at most 30 s), saying so when it does not. */
async function settle (cpu: CpuSource): Promise<void> {
  const waited = await waitForServerIdle(cpu, 30_000)
  if (waited === undefined) log('   (the server was still busy 30 s after peers left; measuring anyway)')
  else if (waited > 2000) log(`   (the server was busy for ${num(waited / 1000, 1)} s after peers left)`)
}

const perPeer = (before: number | undefined, after: number | undefined, peers: number): number | undefined =>
  before === undefined || after === undefined || peers === 0 ? undefined : Math.round((after - before) / peers)

export async function runTargetRound (target: Target, opts: Options, round: number): Promise<TargetRoundResult> {
  await quiet(opts)
  log(`\n== round ${round}: ${target.label}: starting`)
  const { services, urls, placement } = await target.start()
  const pairs: BenchPair[] = []
  try {
    const cpu: CpuSource = {
      cpuMs: () => Object.fromEntries(services.map((s) => [s.name, cpuTimeMs(s.pid)])),
      mainThreadCpuMs: () => Object.fromEntries(services.map((s) => [s.name, mainThreadCpuTimeMs(s.pid)]))
    }
    const totalCpuMs = (): number => Object.values(cpu.cpuMs()).reduce((sum, ms) => sum + ms, 0)
    const meter = new Meter()
    const load: LoadOptions = { sdpBytes: opts.sdpBytes, candidates: opts.candidates, ackEvery: opts.ackEvery, ackAfterMs: opts.ackAfterMs }
    const messagesPerRound = 2 + 2 * opts.candidates
    const connect = { concurrency: opts.concurrency, timeoutMs: 120_000 }

    // Warm-up on a few rooms, so the JIT's code and the first-use allocations are not billed to connections.
    const warmSpecs = peerSpecs(opts.warmUpRooms, urls, placement, `warm${round}`)
    await target.driver.prepare?.(warmSpecs)
    const warm = await connectPairs(target.driver, warmSpecs, meter, load, connect)
    await runPhase(warm, meter, cpu, { mode: 'closed-loop', durationMs: opts.warmUpMs, drainMs: 2000, messagesPerRound })
    await closePeers(peersOf(warm))
    await settle(cpu)
    const memory0 = await settledMemory(services, opts.memory)
    log(`   0 connections: RSS ${mb(memory0.rss)} MB`)

    // Idle: connect up to each N, reading memory before any load.
    const byPeers: Record<number, AtPeers> = {}
    const idle = new Map<number, { setup: SetupResult, memory: MemorySample }>()
    for (const n of opts.peers) {
      const have = pairs.length * 2
      const specs = peerSpecs((n - have) / 2, urls, placement, `r${round}`, have / 2)
      await target.driver.prepare?.(specs) // token signing is the client's work, not setup time
      await quiet(opts)
      const cpu0 = totalCpuMs()
      const t0 = performance.now()
      pairs.push(...await connectPairs(target.driver, specs, meter, load, connect))
      const ms = performance.now() - t0
      const serverCpuMs = totalCpuMs() - cpu0
      const setup = {
        peers: specs.length,
        ms: Math.round(ms),
        perSecond: Math.round(specs.length * 1000 / ms),
        serverCpuMs: Math.round(serverCpuMs),
        serverCpuMsPerConnection: Math.round(serverCpuMs / specs.length * 1000) / 1000
      }
      const memory = await settledMemory(services, opts.memory)
      idle.set(n, { setup, memory })
      log(`   ${num(n)} peers (${num(specs.length)} connected + joined at ${num(setup.perSecond)}/s, ${setup.serverCpuMsPerConnection} ms CPU each): RSS ${mb(memory.rss)} MB`)
    }
    const slopes: IdleSlope[] = []
    for (let i = 1; i < opts.peers.length; i++) {
      const from = opts.peers[i - 1] as number
      const to = opts.peers[i] as number
      const a = idle.get(from)?.memory as MemorySample
      const b = idle.get(to)?.memory as MemorySample
      slopes.push({ from, to, rssPerPeerBytes: Math.round((b.rss - a.rss) / (to - from)), heldPerPeerBytes: perPeer(heldBytes(a), heldBytes(b), to - from) })
    }

    // Load, from the largest N down: close the peers above N, then run the phases over the active ones.
    for (const n of [...opts.peers].reverse()) {
      const extra = pairs.splice(n / 2)
      if (extra.length > 0) {
        await closePeers(peersOf(extra))
        await settle(cpu)
      }
      const active = pairs.slice(0, opts.activePeers === 0 ? pairs.length : Math.min(pairs.length, opts.activePeers / 2))
      const { setup, memory } = idle.get(n) as { setup: SetupResult, memory: MemorySample }
      const before = extra.length > 0 ? await settledMemory(services, opts.memory) : memory
      const idleCpu = await idleCpuPercent(cpu, opts.idleCpuMs)

      const closed = await undisturbed(opts, async () => warmedUp(opts, async (durationMs) => runPhase(active, meter, cpu, {
        mode: 'closed-loop', durationMs, maxMessages: opts.maxMessages, drainMs: 10_000, messagesPerRound
      }), opts.durationMs))
      const closedLoop = { ...closed, messagesPerCpuSecond: closed.serverCpuMs > 0 ? Math.round(closed.delivered * 1000 / closed.serverCpuMs) : 0 }
      const after = await settledMemory(services, opts.memory)
      const retainedPerPeer = perPeer(heldBytes(before), heldBytes(after), active.length * 2)
      log(`   N=${num(n)} closed loop: ${num(closed.deliveredPerSecond)} msg/s, ${num(closedLoop.messagesPerCpuSecond)} per CPU-second; ` +
        `held after it: ${retainedPerPeer === undefined ? '–' : num(retainedPerPeer / 1024, 1)} KB per active peer`)

      let paced: PhaseResult | undefined
      if (opts.pacedRate > 0) {
        paced = await undisturbed(opts, async () => warmedUp(opts, async (durationMs) => runPhase(active, meter, cpu, {
          mode: 'paced', durationMs, messagesPerSecond: opts.pacedRate, drainMs: 10_000, messagesPerRound
        }), opts.pacedDurationMs))
        log(`   N=${num(n)} paced ${num(opts.pacedRate)} msg/s: p50 ${paced.latencyMs.p50} ms, p99 ${paced.latencyMs.p99} ms`)
      }
      byPeers[n] = {
        peers: n,
        activePeers: active.length * 2,
        setup,
        idle: memory,
        rssPerIdlePeerBytes: Math.round((memory.rss - memory0.rss) / n),
        idleCpuPercent: idleCpu,
        closedLoop,
        retained: { before, after, perActivePeerBytes: retainedPerPeer },
        paced
      }
    }
    const frameBytes = pairs[0]?.a.frameSizes() ?? { offer: 0, candidate: 0 }
    return {
      round,
      memory0,
      byPeers,
      slopes,
      frameBytes,
      errors: Object.fromEntries(meter.errors),
      unexpectedCloses: Object.fromEntries(meter.unexpectedCloses),
      socketErrors: meter.socketErrors,
      serverOutput: services.map((s) => s.output()).join('\n').trim()
    }
  } finally {
    await closePeers(peersOf(pairs))
    for (const service of services) await service.stop()
  }
}
