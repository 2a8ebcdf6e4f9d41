import type { Options } from './options.js'
import { figures, SLOPE_FIGURES, type Spread, type Summary } from './summary.js'
import { markdownTable, num } from './table.js'
import type { Target } from './targets.js'
import type { TargetRoundResult } from './target-run.js'

/**
 * The Markdown report: one table of figures (a column per target; each cell the median over the
 * rounds and, with several rounds, the min–max spread) and one table of ratios against the baselines.
 */

function cell (s: Spread | undefined, format: (n: number) => string): string {
  if (s === undefined) return '–'
  return s.values.length > 1 ? `${format(s.median)} (${format(s.min)}–${format(s.max)})` : format(s.median)
}

const times = (n: number): string => `${n >= 10 ? num(n, 1) : num(n, 2)}×`

export function figuresTable (opts: Options, targets: readonly Target[], summary: Summary, rounds: Map<Target, TargetRoundResult[]>): string {
  const header = ['', ...targets.map((t) => t.label)]
  const rows: string[][] = []
  const section = (label: string): void => { rows.push([`**${label}**`, ...targets.map(() => '')]) }
  const figs = figures(opts)
  for (const n of opts.peers) {
    const active = opts.activePeers === 0 ? n : Math.min(n, opts.activePeers)
    section(`N = ${num(n)} connected peers; load phases over ${num(active)} of them (${num(active / 2)} rooms)`)
    let lastSection = ''
    for (const f of figs) {
      const prefix = f.section === lastSection ? '' : `${f.section}: `
      lastSection = f.section
      rows.push([`${prefix}${f.label}`, ...targets.map((t) => cell(summary.figures.find((x) => x.key === f.key && x.peers === n && x.target === t.name)?.spread, f.format))])
    }
  }
  for (let i = 1; i < opts.peers.length; i++) {
    const from = opts.peers[i - 1] as number
    const to = opts.peers[i] as number
    section(`Idle memory per connection: slope between N = ${num(from)} and ${num(to)}`)
    for (const f of SLOPE_FIGURES) {
      rows.push([f.label, ...targets.map((t) => cell(summary.slopes.find((x) => x.key === f.key && x.from === from && x.target === t.name)?.spread, f.format))])
    }
  }
  section(`Health, all ${opts.rounds} round(s)`)
  const sum = (pick: (r: TargetRoundResult) => number) => (t: Target): string => num((rounds.get(t) ?? []).reduce((s, r) => s + pick(r), 0))
  const total = (record: Record<string, number>): number => Object.values(record).reduce((s, n) => s + n, 0)
  rows.push(['error messages received', ...targets.map(sum((r) => total(r.errors)))])
  rows.push(['unexpected closes and socket errors', ...targets.map(sum((r) => total(r.unexpectedCloses) + r.socketErrors))])
  return markdownTable(header, rows)
}

export function ratiosTable (summary: Summary): string {
  const rows = summary.ratios.map((r) => [r.label, r.where, r.spread === undefined ? '–' : times(r.spread.median),
    r.spread === undefined || r.spread.values.length < 2 ? '–' : `${times(r.spread.min)}–${times(r.spread.max)}`, r.goal])
  return markdownTable(['ratio (per round, from the same run)', 'at', 'median', 'min–max', 'issue 9 target'], rows)
}
