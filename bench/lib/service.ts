import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { childPids, cmdline, isAlive } from './proc.js'
import { freePort, waitForHttp, waitForRedis } from './net.js'

/** Repository root (bench/lib/ is two levels down). */
export const ROOT = join(import.meta.dirname, '..', '..')
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx')

/** A server under test, running in its own process so its CPU and memory can be read from /proc. */
export interface ServiceProcess {
  readonly name: string
  /** http://127.0.0.1:<port> */
  readonly url: string
  /** The Node process that runs the script (tsx starts it as a child of its own CLI process). */
  readonly pid: number
  /** Where the child's V8 inspector listens (loopback), when started with `inspect`. */
  readonly inspectorPort: number | undefined
  /** For a redis-server: its port, so memory readings can ask it for `used_memory`. */
  readonly redisPort: number | undefined
  /** Last lines the child wrote, for error messages. */
  output (): string
  stop (): Promise<void>
}

export interface StartOptions {
  name: string
  /** What to run: a TypeScript file (relative to the repository root) through tsx, or a binary. */
  run: { script: string } | { bin: string, args: string[] }
  /** The child's whole environment besides PATH/HOME (nothing else is inherited, e.g. no REDIS_URL). */
  env: Record<string, string>
  /** The port the child must listen on (the caller passes it in env or args). */
  port: number
  /** How to tell it is ready: an HTTP path that answers 200, or a Redis PING. */
  ready: { httpPath: string } | 'redis-ping'
  /** tsx scripts only: --inspect on a loopback port so the bench can force a GC before reading memory. */
  inspect?: boolean
  readyTimeoutMs?: number
  /** Output lines that are known noise (besides inspector chatter and pino lines below warn). */
  ignoreOutput?: RegExp
}

const INSPECTOR_CHATTER = /^(Debugger (listening on|attached|ending on)|For help, see: https:\/\/nodejs\.org)/

/** Lines worth showing from a child's output: not the inspector's chatter, not pino lines below warn. */
function newsworthy (line: string): boolean {
  if (line.trim() === '' || INSPECTOR_CHATTER.test(line)) return false
  const level = /^\{"level":(\d+)/.exec(line)?.[1]
  return level === undefined || Number(level) >= 40
}

// Every process group we started; killed on exit, error or signal so no server outlives the bench.
const groups = new Set<number>()
let handlersInstalled = false

function killGroup (pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal)
  } catch {
    // Already gone.
  }
}

/**
 * Makes sure children die with us: on normal exit, uncaught errors and SIGINT/SIGTERM/SIGHUP.
 * Children run in their own process group (detached), so Ctrl-C reaches only us and we kill the
 * whole group: the tsx CLI, the server and tsx's esbuild helper.
 */
export function installCleanupHandlers (): void {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', () => { for (const pgid of groups) killGroup(pgid, 'SIGKILL') })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping child processes\n`)
      for (const pgid of groups) killGroup(pgid, 'SIGKILL')
      process.exit(signal === 'SIGINT' ? 130 : 143)
    })
  }
}

export function stopAllNow (): void {
  for (const pgid of groups) killGroup(pgid, 'SIGKILL')
  groups.clear()
}

/** Finds the Node process running `script` under the tsx CLI process `wrapperPid`. */
async function findScriptProcess (wrapperPid: number, script: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    for (const pid of childPids(wrapperPid)) {
      try {
        if (cmdline(pid).includes(script)) return pid
      } catch {
        // Exited meanwhile.
      }
    }
    await sleep(50)
  }
  throw new Error(`could not find the process running ${script} under pid ${wrapperPid}`)
}

export async function startService (opts: StartOptions): Promise<ServiceProcess> {
  installCleanupHandlers()
  const script = 'script' in opts.run ? opts.run.script : undefined
  const inspectorPort = script !== undefined && opts.inspect === true ? await freePort() : undefined
  // tsx passes node flags placed before the script to the Node process that runs it.
  const [bin, args] = 'bin' in opts.run
    ? [opts.run.bin, opts.run.args]
    : [TSX, [
        // --expose-gc: a memory reading ends with an ordinary gc() (see collectGarbage in memory.ts).
        ...(inspectorPort === undefined ? [] : [`--inspect=127.0.0.1:${inspectorPort}`, '--expose-gc']),
        // BENCH_CPU_PROF_DIR=<dir>: every server writes a V8 CPU profile there when it exits (open it in Chrome DevTools).
        ...(process.env.BENCH_CPU_PROF_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF_DIR}`]),
        // BENCH_NODE_FLAGS='--flag ...': extra Node flags for every server (all targets alike), e.g. GC tuning experiments.
        ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== ''),
        opts.run.script
      ]]
  const child: ChildProcess = spawn(bin, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true
  })
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve))
  if (child.pid === undefined) throw new Error(`could not start ${opts.name}: ${(await spawnError).message}`)
  const pgid = child.pid
  groups.add(pgid)

  // Keep the tail of the child's output; the pipes must be drained or the child would block.
  let tail = ''
  let truncated = false
  const keep = (chunk: Buffer): void => {
    tail += chunk.toString('utf8')
    if (tail.length > 16_000) {
      tail = tail.slice(-8000)
      truncated = true
    }
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  let exited: string | undefined
  const exitedPromise = new Promise<void>((resolve) => child.once('exit', (code, signal) => {
    exited = `${opts.name} exited (${signal ?? code}):\n${tail}`
    resolve()
  }))

  const url = `http://127.0.0.1:${opts.port}`
  // The script's own process once found (tsx's CLI may exit before it): stop() waits for it too.
  let scriptPid: number | undefined
  const scriptGone = async (): Promise<void> => {
    while (scriptPid !== undefined && isAlive(scriptPid)) await sleep(50)
  }
  const stop = async (): Promise<void> => {
    if (!groups.has(pgid)) return
    // The script's own process when known, else the leader, never the whole group: a SIGTERM to the
    // group reached the server twice, and a second signal ends it before --cpu-prof writes its profile.
    // Not through tsx's CLI either: it relays the signal and, unless the child confirms within 30 ms,
    // kills it with SIGKILL, which a server busy with 10,000 closing sockets did not (no profile, no
    // graceful shutdown).
    try {
      process.kill(scriptPid ?? pgid, 'SIGTERM')
    } catch {
      // Already gone.
    }
    // Writing a CPU profile at exit can take a while for a long run: give it time before the SIGKILL.
    await Promise.race([Promise.all([exitedPromise, scriptGone()]), sleep(process.env.BENCH_CPU_PROF_DIR === undefined ? 5000 : 60_000)])
    killGroup(pgid, 'SIGKILL') // stragglers such as esbuild's service process
    groups.delete(pgid)
  }

  try {
    const timeoutMs = opts.readyTimeoutMs ?? 30_000
    if (opts.ready === 'redis-ping') await waitForRedis(opts.port, timeoutMs, () => exited)
    else await waitForHttp(`${url}${opts.ready.httpPath}`, timeoutMs, () => exited)
    const pid = script === undefined ? pgid : await findScriptProcess(pgid, script, 5000)
    scriptPid = pid
    if (!isAlive(pid)) throw new Error(`${opts.name} died`)
    const output = (): string => {
      const lines = tail.split('\n')
      if (truncated) lines.shift() // cut in the middle
      return lines.filter((l) => newsworthy(l) && !(opts.ignoreOutput?.test(l) ?? false)).join('\n').trim()
    }
    return { name: opts.name, url, pid, inspectorPort, redisPort: opts.ready === 'redis-ping' ? opts.port : undefined, output, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
