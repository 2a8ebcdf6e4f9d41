import type { Options, TargetName } from './options.js'
import type { AtPeers, IdleSlope, TargetRoundResult } from './target-run.js'

/**
 * From rounds to figures: the median and the spread (min–max) of every figure over the rounds, and
 * the ratios against the baselines. A ratio is computed per round, from targets measured minutes
 * apart in the same interleaved round, and then summarised like any figure: on a shared machine
 * that pairs like with like better than a ratio of two medians would.
 */

export interface Spread { median: number, min: number, max: number, values: number[] }

export function spread (values: ReadonlyArray<number | undefined>): Spread | undefined {
  const defined = values.filter((v): v is number => v !== undefined && Number.isFinite(v))
  if (defined.length === 0) return undefined
  const sorted = [...defined].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  const median = sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number, values: defined }
}

/** A figure read at one N. */
export interface Figure {
  key: string
  section: string
  label: string
  pick (at: AtPeers): number | undefined
  format (n: number): string
}

/** A figure read between two consecutive N. */
export interface SlopeFigure {
  key: string
  label: string
  pick (slope: IdleSlope): number | undefined
  format (n: number): string
}

const fixed = (digits: number) => (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const whole = fixed(0)
const ms = (n: number): string => fixed(n < 10 ? 2 : 1)(n)
const kib = (bytes: number | undefined): number | undefined => bytes === undefined ? undefined : bytes / 1024

export function figures (opts: Options): Figure[] {
  const list: Figure[] = [
    { key: 'closedDelivered', section: 'closed loop', label: 'delivered messages/s', pick: (a) => a.closedLoop.deliveredPerSecond, format: whole },
    { key: 'closedPerCpuSecond', section: 'closed loop', label: 'messages per server-CPU-second', pick: (a) => a.closedLoop.messagesPerCpuSecond, format: whole },
    { key: 'closedCpuPercent', section: 'closed loop', label: 'server CPU (% of one core)', pick: (a) => a.closedLoop.serverCpuPercent, format: whole },
    { key: 'closedMainThread', section: 'closed loop', label: 'of it on the main threads (%; the rest: GC and JIT helper threads)', pick: (a) => a.closedLoop.serverMainThreadPercent, format: whole },
    { key: 'closedP99', section: 'closed loop', label: 'one-way latency p99 (ms, queueing at saturation)', pick: (a) => a.closedLoop.latencyMs.p99, format: ms },
    { key: 'closedLoadBusy', section: 'closed loop', label: 'load generator event loop busy (%)', pick: (a) => a.closedLoop.loadEventLoopUtilisation * 100, format: whole },
    { key: 'closedOther', section: 'closed loop', label: 'other processes on the machine (% of one core)', pick: (a) => a.closedLoop.otherCpuPercent, format: whole },
    { key: 'retainedPerPeer', section: 'closed loop', label: 'held right after it, per active peer (KB, heap + ArrayBuffers + Redis)', pick: (a) => kib(a.retained.perActivePeerBytes), format: fixed(1) }
  ]
  if (opts.pacedRate > 0) {
    list.push(
      { key: 'pacedDelivered', section: 'paced', label: 'delivered messages/s', pick: (a) => a.paced?.deliveredPerSecond, format: whole },
      { key: 'pacedP50', section: 'paced', label: 'one-way latency p50 (ms)', pick: (a) => a.paced?.latencyMs.p50, format: ms },
      { key: 'pacedP99', section: 'paced', label: 'one-way latency p99 (ms)', pick: (a) => a.paced?.latencyMs.p99, format: ms },
      { key: 'pacedCpuPerThousand', section: 'paced', label: 'server CPU per 1,000 messages (ms)', pick: (a) => a.paced?.serverCpuMsPerThousand, format: fixed(1) },
      { key: 'pacedOther', section: 'paced', label: 'other processes on the machine (% of one core)', pick: (a) => a.paced?.otherCpuPercent, format: whole }
    )
  }
  list.push(
    { key: 'setupRate', section: 'connections', label: 'connected + ready per second', pick: (a) => a.setup.perSecond, format: whole },
    { key: 'setupCpu', section: 'connections', label: 'server CPU per connection (ms)', pick: (a) => a.setup.serverCpuMsPerConnection, format: fixed(2) },
    { key: 'idleRss', section: 'memory', label: 'RSS with N idle peers (MB)', pick: (a) => a.idle.rss / 1024 / 1024, format: fixed(1) },
    { key: 'idleRssPerPeer', section: 'memory', label: '(RSS at N − RSS at 0) ÷ N (KB)', pick: (a) => kib(a.rssPerIdlePeerBytes), format: fixed(1) },
    { key: 'idleCpu', section: 'memory', label: 'server CPU, N peers connected, silent (% of one core)', pick: (a) => a.idleCpuPercent, format: fixed(1) },
    { key: 'lost', section: 'health', label: 'messages lost', pick: (a) => a.closedLoop.lost + (a.paced?.lost ?? 0), format: whole }
  )
  return list
}

export const SLOPE_FIGURES: SlopeFigure[] = [
  { key: 'slopeRss', label: 'idle memory per connection, RSS (KB)', pick: (s) => kib(s.rssPerPeerBytes), format: fixed(1) },
  { key: 'slopeHeld', label: 'idle memory per connection, heap + ArrayBuffers + Redis (KB)', pick: (s) => kib(s.heldPerPeerBytes), format: fixed(1) }
]

/** A ratio the issue sets a target for, numerator ÷ denominator, round by round. */
export interface RatioDef {
  label: string
  numerator: TargetName
  denominator: TargetName
  /** Per N (from a Figure key) or per slope (from a SlopeFigure key). */
  figure: { perN: string } | { slope: string }
  /** The target, for the reader (the benchmark does not judge). */
  goal: string
}

export const RATIOS: RatioDef[] = [
  { label: 'Switchboard ÷ raw relay: messages per server-CPU-second', numerator: 'switchboard', denominator: 'baseline', figure: { perN: 'closedPerCpuSecond' }, goal: '≥ 0.8× (aim 1×)' },
  { label: 'Switchboard ÷ raw relay: paced p99', numerator: 'switchboard', denominator: 'baseline', figure: { perN: 'pacedP99' }, goal: '≤ 2× at N ≥ 5,000' },
  { label: 'Switchboard ÷ raw relay: idle memory per connection (RSS slope)', numerator: 'switchboard', denominator: 'baseline', figure: { slope: 'slopeRss' }, goal: '≤ 2×' },
  { label: 'Switchboard ÷ raw relay: connection setup rate', numerator: 'switchboard', denominator: 'baseline', figure: { perN: 'setupRate' }, goal: '≥ 0.6×' },
  { label: 'Switchboard ÷ Socket.IO: messages per server-CPU-second', numerator: 'switchboard', denominator: 'socketio', figure: { perN: 'closedPerCpuSecond' }, goal: '(for information)' },
  { label: 'Switchboard ×2 + Redis ÷ Socket.IO ×2 + Redis: messages per CPU-second (incl. redis-server)', numerator: 'switchboard-redis', denominator: 'socketio-redis', figure: { perN: 'closedPerCpuSecond' }, goal: '≥ 1.0× (aim 2×)' },
  { label: 'Switchboard ×2 + Redis ÷ Socket.IO ×2 + Redis: paced p99', numerator: 'switchboard-redis', denominator: 'socketio-redis', figure: { perN: 'pacedP99' }, goal: '≤ 1.0×' }
]

export type RoundsByTarget = Partial<Record<TargetName, TargetRoundResult[]>>

export interface FigureSummary { key: string, peers: number, target: TargetName, spread: Spread | undefined }
export interface SlopeSummary { key: string, from: number, to: number, target: TargetName, spread: Spread | undefined }
export interface RatioSummary { label: string, where: string, goal: string, spread: Spread | undefined }

export interface Summary {
  figures: FigureSummary[]
  slopes: SlopeSummary[]
  ratios: RatioSummary[]
}

export function summarise (opts: Options, rounds: RoundsByTarget): Summary {
  const figs = figures(opts)
  const atPeers = (target: TargetName, n: number): Array<AtPeers | undefined> => (rounds[target] ?? []).map((r) => r.byPeers[n])
  const slopeAt = (target: TargetName, from: number): Array<IdleSlope | undefined> => (rounds[target] ?? []).map((r) => r.slopes.find((s) => s.from === from))
  const pairs = opts.peers.slice(1).map((to, i) => ({ from: opts.peers[i] as number, to }))

  const summary: Summary = { figures: [], slopes: [], ratios: [] }
  for (const target of opts.targets) {
    for (const n of opts.peers) {
      for (const f of figs) summary.figures.push({ key: f.key, peers: n, target, spread: spread(atPeers(target, n).map((a) => a === undefined ? undefined : f.pick(a))) })
    }
    for (const { from, to } of pairs) {
      for (const f of SLOPE_FIGURES) summary.slopes.push({ key: f.key, from, to, target, spread: spread(slopeAt(target, from).map((s) => s === undefined ? undefined : f.pick(s))) })
    }
  }

  for (const def of RATIOS) {
    if (!opts.targets.includes(def.numerator) || !opts.targets.includes(def.denominator)) continue
    const num = rounds[def.numerator] ?? []
    const den = rounds[def.denominator] ?? []
    const perRound = <T>(pickFrom: (r: TargetRoundResult) => T | undefined, value: (x: T) => number | undefined): Spread | undefined =>
      spread(num.map((r, i) => {
        const a = pickFrom(r)
        const other = den[i]
        const b = other === undefined ? undefined : pickFrom(other)
        const va = a === undefined ? undefined : value(a)
        const vb = b === undefined ? undefined : value(b)
        return va === undefined || vb === undefined || vb === 0 ? undefined : va / vb
      }))
    if ('perN' in def.figure) {
      const f = figs.find((x) => x.key === (def.figure as { perN: string }).perN)
      if (f === undefined) continue
      for (const n of opts.peers) {
        summary.ratios.push({ label: def.label, where: `N = ${n.toLocaleString('en-US')}`, goal: def.goal, spread: perRound((r) => r.byPeers[n], (a) => f.pick(a)) })
      }
    } else {
      const f = SLOPE_FIGURES.find((x) => x.key === (def.figure as { slope: string }).slope)
      if (f === undefined) continue
      for (const { from, to } of pairs) {
        summary.ratios.push({ label: def.label, where: `N ${from.toLocaleString('en-US')} → ${to.toLocaleString('en-US')}`, goal: def.goal, spread: perRound((r) => r.slopes.find((s) => s.from === from), (s) => f.pick(s)) })
      }
    }
  }
  return summary
}
