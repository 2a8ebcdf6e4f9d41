import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'
import { redisUsedMemory } from './net.js'
import { rssBytes } from './proc.js'
import type { ServiceProcess } from './service.js'

export interface MemorySample {
  /** Resident set size of the service process(es), bytes. */
  rss: number
  /**
   * V8 heap in use right after a full GC plus the ArrayBuffers alive then (Buffers hold their bytes
   * outside the heap), bytes; undefined when no child has an inspector.
   */
  heapUsed: number | undefined
  /** redis-server's `used_memory`, bytes, for targets that run one. */
  redisUsed: number | undefined
}

/** What the target holds in data structures: Node heaps after GC plus Redis's own count (undefined without a heap reading). */
export function heldBytes (sample: MemorySample): number | undefined {
  return sample.heapUsed === undefined ? undefined : sample.heapUsed + (sample.redisUsed ?? 0)
}

/**
 * Forces a full GC in a child through its V8 inspector (HeapProfiler.collectGarbage) and returns the
 * heap in use afterwards, plus the bytes of the ArrayBuffers still alive (off the heap, but data the
 * server holds all the same). Without it, "memory per idle connection" would mostly measure how much
 * garbage happened to be waiting for the next collection.
 */
export async function collectGarbage (inspectorPort: number): Promise<number> {
  // Generous timeouts: right after thousands of sockets closed, a busy server (on a busy machine)
  // may take seconds to get to the inspector's request.
  const res = await fetch(`http://127.0.0.1:${inspectorPort}/json/list`, { signal: AbortSignal.timeout(15_000) })
  const targets = await res.json() as Array<{ webSocketDebuggerUrl?: string }>
  const target = targets[0]?.webSocketDebuggerUrl
  if (target === undefined) throw new Error('inspector lists no target')
  const socket = new WebSocket(target, { perMessageDeflate: false })
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
    })
    let nextId = 1
    const call = async (method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> => {
      const id = nextId++
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`inspector ${method} timed out`)), 30_000)
        const onMessage = (data: WebSocket.RawData): void => {
          const reply = JSON.parse(data.toString()) as { id?: number, result?: Record<string, unknown>, error?: { message: string } }
          if (reply.id !== id) return
          clearTimeout(timer)
          socket.off('message', onMessage)
          if (reply.error) reject(new Error(`inspector ${method}: ${reply.error.message}`))
          else resolve(reply.result ?? {})
        }
        socket.on('message', onMessage)
        socket.send(JSON.stringify({ id, method, params }))
      })
    }
    // Twice: the first pass runs finalizers (e.g. of closed sockets) that free more on the second.
    await call('HeapProfiler.collectGarbage')
    await call('HeapProfiler.collectGarbage')
    const usage = await call('Runtime.getHeapUsage')
    const buffers = await call('Runtime.evaluate', { expression: 'process.memoryUsage().arrayBuffers', returnByValue: true })
    // HeapProfiler.collectGarbage is V8's low-memory notification: its memory-reducing collections
    // (which also return pages, so the RSS readings settle) set the next full GC's trigger only 10%
    // above what is live. A server whose old generation then grows by a megabyte or two (for
    // Switchboard, replay buffers held until the next ack) went through a full mark within seconds,
    // inside the phase after the reading: a pause it would otherwise see every few minutes. One
    // ordinary full GC (gc(): the child runs with --expose-gc) sets the limits as in normal operation.
    await call('Runtime.evaluate', { expression: 'gc()' })
    return Number(usage.usedSize) + Number((buffers.result as { value?: unknown } | undefined)?.value ?? 0)
  } finally {
    socket.terminate()
  }
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

/**
 * Memory of the service processes once things have settled: GC (when possible), a short pause so
 * freed pages are returned, then the median of a few RSS readings (--quick: no pause, one reading). Sums over all processes so a
 * multi-instance target is measured as a whole.
 */
export async function settledMemory (services: readonly ServiceProcess[], { settleMs = 300, samples: count = 5 } = {}): Promise<MemorySample> {
  // Heap of the Node processes (those with an inspector); others, such as redis-server, count in RSS only.
  let heapUsed: number | undefined
  for (const service of services) {
    if (service.inspectorPort === undefined) continue
    try {
      heapUsed = (heapUsed ?? 0) + await collectGarbage(service.inspectorPort)
    } catch (err) {
      // One missing heap reading blanks the heap figures that need it; it does not end the run.
      process.stderr.write(`   (no heap reading from ${service.name}: ${(err as Error).message})\n`)
      return { ...await rssOnly(services, settleMs, count), heapUsed: undefined, redisUsed: undefined }
    }
  }
  let redisUsed: number | undefined
  for (const service of services) {
    if (service.redisPort !== undefined) redisUsed = (redisUsed ?? 0) + await redisUsedMemory(service.redisPort)
  }
  return { ...await rssOnly(services, settleMs, count), heapUsed, redisUsed }
}

/** A pause (so freed pages are returned), then the median of `count` RSS readings summed over the processes. */
async function rssOnly (services: readonly ServiceProcess[], settleMs: number, count: number): Promise<{ rss: number }> {
  if (settleMs > 0) await sleep(settleMs)
  const samples: number[] = []
  for (let i = 0; i < count; i++) {
    if (i > 0) await sleep(100)
    samples.push(services.reduce((sum, s) => sum + rssBytes(s.pid), 0))
  }
  return { rss: median(samples) }
}
