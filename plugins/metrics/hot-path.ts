import type { Registry } from 'prom-client'

/**
 * Metrics updated once per relayed message. prom-client hashes and validates the labels on every
 * inc()/observe(), even through a labels() child, which costs more than the relay itself; these keep
 * plain numbers per label value and become Prometheus samples only when scraped.
 */

interface Sample { labels: Record<string, string | number>, value: number, metricName?: string }

/** What prom-client's Registry asks of a metric. */
interface RegistrableMetric {
  name: string
  help: string
  type: 'counter' | 'histogram'
  aggregator: 'sum'
  get (): Promise<{ name: string, help: string, type: string, values: Sample[], aggregator: 'sum' }>
  reset (): void
}

/** Registers a metric whose samples are made at scrape time. */
function register (registry: Registry, name: string, help: string, type: RegistrableMetric['type'], samples: () => Sample[], reset: () => void): void {
  const metric: RegistrableMetric = {
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: samples() }),
    reset
  }
  registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0])
}

/** A counter with two labels; `child(a, b)` is resolved once by the caller and incremented with `.value++`. */
export class HotCounter {
  private readonly children = new Map<string, Map<string, { value: number }>>()

  constructor (registry: Registry, readonly name: string, readonly help: string, private readonly labelNames: readonly [string, string]) {
    register(registry, name, help, 'counter', () => this.samples(), () => this.children.clear())
  }

  child (a: string, b: string): { value: number } {
    let byB = this.children.get(a)
    if (byB === undefined) this.children.set(a, byB = new Map())
    let child = byB.get(b)
    if (child === undefined) byB.set(b, child = { value: 0 })
    return child
  }

  /** For tests and the rare caller that has no cached child. */
  inc (a: string, b: string, by = 1): void {
    this.child(a, b).value += by
  }

  private samples (): Sample[] {
    const [nameA, nameB] = this.labelNames
    const out: Sample[] = []
    for (const [a, byB] of this.children) for (const [b, child] of byB) out.push({ labels: { [nameA]: a, [nameB]: b }, value: child.value })
    return out
  }
}

/** One label value's histogram: cumulative at scrape time, plain per-bucket counts meanwhile. */
export class HotHistogramChild {
  readonly counts: number[]
  sum = 0
  count = 0

  constructor (private readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length).fill(0)
  }

  observe (value: number): void {
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && value > (bounds[i] as number)) i++
    if (i < bounds.length) this.counts[i] = (this.counts[i] as number) + 1
    this.sum += value
    this.count++
  }
}

/** A histogram with one label. */
export class HotHistogram {
  private readonly children = new Map<string, HotHistogramChild>()

  constructor (registry: Registry, readonly name: string, readonly help: string, private readonly labelName: string, private readonly bounds: readonly number[]) {
    register(registry, name, help, 'histogram', () => this.samples(), () => this.children.clear())
  }

  child (label: string): HotHistogramChild {
    let child = this.children.get(label)
    if (child === undefined) this.children.set(label, child = new HotHistogramChild(this.bounds))
    return child
  }

  private samples (): Sample[] {
    const out: Sample[] = []
    for (const [label, child] of this.children) {
      let cumulative = 0
      this.bounds.forEach((le, i) => {
        cumulative += child.counts[i] as number
        out.push({ labels: { le, [this.labelName]: label }, value: cumulative, metricName: `${this.name}_bucket` })
      })
      out.push({ labels: { le: '+Inf', [this.labelName]: label }, value: child.count, metricName: `${this.name}_bucket` })
      out.push({ labels: { [this.labelName]: label }, value: child.sum, metricName: `${this.name}_sum` })
      out.push({ labels: { [this.labelName]: label }, value: child.count, metricName: `${this.name}_count` })
    }
    return out
  }
}
