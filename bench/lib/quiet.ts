import { setTimeout as sleep } from 'node:timers/promises'
import { machineCpuMs } from './proc.js'

/**
 * On a shared machine, waits (at most `maxWaitMs`) until everything but this process has used less
 * than `thresholdPercent` of one core for a whole second. Returns that last reading, so the caller
 * can say when it gave up waiting.
 */
export async function waitForQuiet (maxWaitMs: number, thresholdPercent = 10): Promise<number> {
  const deadline = Date.now() + maxWaitMs
  let other = Infinity
  do {
    const machine0 = machineCpuMs().process
    const own0 = process.cpuUsage()
    await sleep(1000)
    const own = process.cpuUsage(own0)
    other = Math.max(0, (machineCpuMs().process - machine0 - (own.user + own.system) / 1000) / 10)
    if (other < thresholdPercent) return other
  } while (Date.now() < deadline)
  return other
}
