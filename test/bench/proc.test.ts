import t from 'tap'
import { Worker } from 'node:worker_threads'
import { clockTicksPerSecond, cpuTimeMs, mainThreadCpuTimeMs } from '../../bench/lib/proc.js'

/**
 * The benchmark splits a server's CPU into its main thread's and its helper threads' (GC, JIT) from
 * /proc/<pid>/task/<pid>/stat. Read on this very process: work on another thread must show in the
 * process's total only, work on the main thread in both.
 */

/** Spins on this thread until `reading` has moved by at least `ms` (ticks are 10 ms), or 5 s passed. */
function spinUntil (reading: () => number, ms: number): void {
  const start = reading()
  const deadline = Date.now() + 5000
  while (reading() - start < ms && Date.now() < deadline) { /* busy */ }
}

t.test('work on the main thread counts in both readings', async (t) => {
  const main0 = mainThreadCpuTimeMs(process.pid)
  const all0 = cpuTimeMs(process.pid)
  spinUntil(() => mainThreadCpuTimeMs(process.pid), 50)
  const main = mainThreadCpuTimeMs(process.pid) - main0
  const all = cpuTimeMs(process.pid) - all0
  t.ok(main >= 50, `the main thread's reading moved (${main} ms)`)
  // Both readings count whole clock ticks (10 ms), taken a moment apart: one tick each way is noise.
  const tick = 1000 / clockTicksPerSecond()
  t.ok(all >= main - 2 * tick, `the process's total moved as much (${all} ms)`)
})

t.test('work on another thread counts in the process total only', async (t) => {
  // A worker that does a fixed amount of work (a few hundred ms of CPU however busy the machine is),
  // then reports and exits. The main thread only waits meanwhile.
  const worker = new Worker(`
    const { parentPort } = require('node:worker_threads')
    let x = 0
    for (let i = 0; i < 1e8; i++) x = (x + i * 7) % 1000003
    parentPort.postMessage(x)
  `, { eval: true })
  const main0 = mainThreadCpuTimeMs(process.pid)
  const all0 = cpuTimeMs(process.pid)
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve())
    worker.once('error', reject)
  })
  const main = mainThreadCpuTimeMs(process.pid) - main0
  const all = cpuTimeMs(process.pid) - all0
  await worker.terminate()
  t.ok(all - main >= 100, `the worker's work shows in the total beyond the main thread (total ${all} ms, main ${main} ms)`)
})
