import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'

/**
 * Linux /proc readers: CPU time and resident memory of another process, measured from outside so
 * the load generator's own work is never counted against the server.
 */

let ticksPerSecond: number | undefined

/** USER_HZ, the unit of utime/stime in /proc/<pid>/stat (100 on virtually every Linux). */
export function clockTicksPerSecond (): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      ticksPerSecond = 100
    }
  }
  return ticksPerSecond
}

/**
 * Fields of a stat file (/proc/<pid>/stat, /proc/<pid>/task/<tid>/stat) after `comm`, which may itself
 * contain spaces and parentheses.
 */
function statFields (path: string): string[] {
  const stat = readFileSync(path, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
}

/** User + system CPU time in a stat file, in milliseconds (fields 14 and 15). */
function cpuMsIn (path: string): number {
  const fields = statFields(path)
  // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) * 1000 / clockTicksPerSecond()
}

/** User + system CPU time the process has used so far, all its threads, in milliseconds. */
export function cpuTimeMs (pid: number): number {
  return cpuMsIn(`/proc/${pid}/stat`)
}

/**
 * The CPU time of the process's main thread alone (its task whose id is the pid), in milliseconds. For
 * Node that is the event loop: the process's total minus this is V8's and libuv's helper threads
 * (concurrent marking, parallel scavenges, compilation), which compete for the same cores.
 */
export function mainThreadCpuTimeMs (pid: number): number {
  return cpuMsIn(`/proc/${pid}/task/${pid}/stat`)
}

/** Resident set size in bytes, from VmRSS in /proc/<pid>/status. */
export function rssBytes (pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!match?.[1]) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(match[1]) * 1024
}

export function cmdline (pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
}

/** Direct children of `pid`, found by scanning every process's parent id. */
export function childPids (pid: number): number[] {
  const children: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (Number(statFields(`/proc/${entry}/stat`)[1]) === pid) children.push(Number(entry))
    } catch {
      // The process exited while we were scanning.
    }
  }
  return children
}

export function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * CPU time the whole machine has spent so far (first line of /proc/stat), in milliseconds summed over
 * all cores: busy in processes (user, nice, system), in interrupts (irq, softirq: on loopback that is
 * mostly TCP delivery, which no process is billed for), and stolen by the hypervisor. Process time
 * minus what the server and the load generator used is everyone else: a benchmark on a shared box
 * must say how much that was.
 */
export function machineCpuMs (): { process: number, interrupts: number, steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? ''
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number)
  const tick = 1000 / clockTicksPerSecond()
  return {
    process: ((user ?? 0) + (nice ?? 0) + (system ?? 0)) * tick,
    interrupts: ((irq ?? 0) + (softirq ?? 0)) * tick,
    steal: (steal ?? 0) * tick
  }
}
