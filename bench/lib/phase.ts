import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import type { BenchPair, Meter } from './load.js'
import { machineCpuMs } from './proc.js'

export interface PhaseOptions {
  /**
   * closed-loop: each pair starts its next negotiation as soon as the last one completed (the most the
   * server can deliver at this concurrency). paced: rounds start on a fixed schedule whatever the
   * server does (open loop), so latency is not hidden by the generator waiting for slow answers.
   */
  mode: 'closed-loop' | 'paced'
  durationMs: number
  /** paced: aggregate relayed messages per second across all pairs. */
  messagesPerSecond?: number
  /** closed-loop: start no new round once this many messages were sent. */
  maxMessages?: number
  /** How long in-flight messages may take to arrive after the window closes before they count as lost. */
  drainMs: number
  /** Messages in one round (offer + answer + candidates both ways). */
  messagesPerRound: number
}

export interface LatencySummary { p50: number, p90: number, p99: number, max: number, mean: number, count: number }

export interface PhaseResult {
  mode: PhaseOptions['mode']
  windowMs: number
  sent: number
  /** Relayed messages received inside the measurement window. */
  delivered: number
  deliveredPerSecond: number
  deliveredMBPerSecond: number
  /** Sent, and not received by the end of the drain. */
  lost: number
  unmatched: number
  /** One-way, sender's send() call to the receiver's message event; all messages of the phase. */
  latencyMs: LatencySummary
  serverCpuMs: number
  /** The same, per server process (several for a multi-instance target). */
  serverCpuMsByProcess: Record<string, number>
  serverCpuMsPerThousand: number
  /** Server CPU over the window, in % of one core. */
  serverCpuPercent: number
  /** The share of serverCpuMs that the processes' main threads used, in %; the rest went to helper threads (GC, JIT). */
  serverMainThreadPercent: number
  /** The load generator's own CPU and event-loop utilisation: near 100% means it, not the server, was the limit. */
  loadCpuPercent: number
  loadEventLoopUtilisation: number
  /** CPU used by every other process on the machine, % of one core: noise from other jobs. */
  otherCpuPercent: number
  /** Interrupt time (irq + softirq) machine-wide, % of one core: mostly loopback TCP for both sides. */
  interruptCpuPercent: number
  /** CPU the hypervisor gave to other guests, % of one core. */
  stealPercent: number
}

/** CPU time used so far by each of the server's processes, in ms, by process name: all threads, and the main thread alone. */
export interface CpuSource {
  cpuMs (): Record<string, number>
  mainThreadCpuMs (): Record<string, number>
}

const total = (byProcess: Record<string, number>): number => Object.values(byProcess).reduce((sum, ms) => sum + ms, 0)

function difference (after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([name, ms]) => [name, Math.round(ms - (before[name] ?? 0))]))
}

/** Server CPU while nothing is sent (heartbeats, timers, registry housekeeping), % of one core. */
export async function idleCpuPercent (server: CpuSource, ms: number): Promise<number> {
  const before = server.cpuMs()
  const t0 = performance.now()
  await sleep(ms)
  return Math.round(total(difference(server.cpuMs(), before)) / (performance.now() - t0) * 1000) / 10
}

/**
 * Waits until the target's processes use less than `belowPercent` of a core over a 250 ms window, at
 * most `maxMs`; returns how long it waited, or undefined if it gave up. After thousands of peers
 * leave, a server may spend seconds on their departures (room notifications, Redis clean-up): a phase
 * started before that ends would bill that work to the phase's messages.
 */
export async function waitForServerIdle (server: CpuSource, maxMs: number, belowPercent = 15): Promise<number | undefined> {
  const t0 = performance.now()
  while (performance.now() - t0 < maxMs) {
    const before = total(server.cpuMs())
    const w0 = performance.now()
    await sleep(250)
    if ((total(server.cpuMs()) - before) / (performance.now() - w0) * 100 < belowPercent) return Math.round(performance.now() - t0)
  }
  return undefined
}

function summarise (meter: Meter): LatencySummary {
  const h = meter.latency
  const ms = (us: number): number => Math.round(us) / 1000
  if (h.count === 0) return { p50: 0, p90: 0, p99: 0, max: 0, mean: 0, count: 0 }
  return { p50: ms(h.percentile(50)), p90: ms(h.percentile(90)), p99: ms(h.percentile(99)), max: ms(h.max), mean: ms(h.mean), count: h.count }
}

/** Runs one measured phase over connected pairs and returns what was delivered, how fast, at what cost. */
export async function runPhase (pairs: readonly BenchPair[], meter: Meter, server: CpuSource, opts: PhaseOptions): Promise<PhaseResult> {
  meter.startPhase()
  // Messages lost in an earlier phase stay counted in flight; only this phase's count here.
  const inFlightBefore = meter.inFlight
  let running = true
  const timers: NodeJS.Timeout[] = []
  let endWindow: () => void = () => {}
  const windowClosed = new Promise<void>((resolve) => { endWindow = resolve })

  if (opts.mode === 'closed-loop') {
    const cap = opts.maxMessages ?? Infinity
    for (const pair of pairs) {
      pair.onIdle = (p) => {
        if (running && meter.sent + opts.messagesPerRound <= cap) p.startRound()
        else if (meter.inFlight <= inFlightBefore) endWindow() // the message cap was reached and everything arrived
      }
    }
  } else {
    const rate = opts.messagesPerSecond ?? 0
    if (!(rate > 0)) throw new Error('a paced phase needs messagesPerSecond > 0')
    // Every pair runs the same schedule, phase-shifted at random so rounds do not arrive in bursts.
    const periodMs = 1000 * opts.messagesPerRound * pairs.length / rate
    const start = performance.now()
    for (const pair of pairs) {
      pair.onIdle = () => {}
      let next = start + Math.random() * periodMs
      const tick = (): void => {
        if (!running) return
        pair.startRound()
        next += periodMs
        timers.push(setTimeout(tick, Math.max(0, next - performance.now())))
      }
      timers.push(setTimeout(tick, Math.max(0, next - performance.now())))
    }
  }

  const cpu0 = server.cpuMs()
  const main0 = server.mainThreadCpuMs()
  const machine0 = machineCpuMs()
  const load0 = process.cpuUsage()
  const elu0 = performance.eventLoopUtilization()
  const t0 = performance.now()
  meter.windowOpen = true
  if (opts.mode === 'closed-loop') for (const pair of pairs) pair.startRound()
  const durationTimer = setTimeout(endWindow, opts.durationMs)
  await windowClosed
  clearTimeout(durationTimer)

  meter.windowOpen = false
  running = false
  const windowMs = performance.now() - t0
  const serverCpuMsByProcess = difference(server.cpuMs(), cpu0)
  const serverCpuMs = total(serverCpuMsByProcess)
  const serverMainThreadCpuMs = total(difference(server.mainThreadCpuMs(), main0))
  const machine1 = machineCpuMs()
  const load = process.cpuUsage(load0)
  const elu = performance.eventLoopUtilization(elu0)
  for (const timer of timers) clearTimeout(timer)

  // Let what is in flight arrive: it counts for latency, not for the window's throughput.
  const drainUntil = performance.now() + opts.drainMs
  while (meter.inFlight > inFlightBefore && performance.now() < drainUntil) await sleep(20)
  for (const pair of pairs) pair.onIdle = () => {}

  const delivered = meter.inWindow
  const loadCpuMs = (load.user + load.system) / 1000
  const percent = (ms: number): number => Math.round(ms / windowMs * 1000) / 10
  return {
    mode: opts.mode,
    windowMs: Math.round(windowMs),
    sent: meter.sent,
    delivered,
    deliveredPerSecond: Math.round(delivered * 1000 / windowMs),
    deliveredMBPerSecond: Math.round(meter.bytesInWindow / windowMs * 1000 / 1e6 * 100) / 100,
    lost: meter.inFlight - inFlightBefore,
    unmatched: meter.unmatched,
    latencyMs: summarise(meter),
    serverCpuMs: Math.round(serverCpuMs),
    serverCpuMsByProcess,
    serverCpuMsPerThousand: delivered > 0 ? Math.round(serverCpuMs / delivered * 1000 * 100) / 100 : 0,
    serverCpuPercent: percent(serverCpuMs),
    serverMainThreadPercent: serverCpuMs > 0 ? Math.round(serverMainThreadCpuMs / serverCpuMs * 1000) / 10 : 0,
    loadCpuPercent: percent(loadCpuMs),
    loadEventLoopUtilisation: Math.round(elu.utilization * 100) / 100,
    otherCpuPercent: Math.max(0, percent(machine1.process - machine0.process - serverCpuMs - loadCpuMs)),
    interruptCpuPercent: percent(machine1.interrupts - machine0.interrupts),
    stealPercent: percent(machine1.steal - machine0.steal)
  }
}
