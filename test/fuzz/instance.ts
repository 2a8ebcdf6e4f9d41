import { fork, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import type { Config } from '../../src/config.js'
import type { TargetReply } from './target.js'

/** The fuzzed instance seen from the fuzzer: its URL, a heap probe, and whether it is still alive. */
export interface FuzzTarget {
  base: string
  /** Memory after a forced GC (external: Buffers, off the JS heap), and any property that appeared on the shared prototypes. */
  probe (): Promise<{ heapUsed: number, external: number, rss: number, polluted: string[] }>
  /** The server's view of a peer's connection (null: none on this instance). */
  inspect (peerId: string): Promise<Record<string, unknown> | null>
  /** Set when the process exited: a crash, since only stop() ends it otherwise. */
  readonly exit: { code: number | null, signal: string | null } | undefined
  /** The last 16 KB of its stdout and stderr. */
  output (): string
  stop (): Promise<void>
}

export async function startTarget (overrides: Partial<Config>, startTimeoutMs = 30_000): Promise<FuzzTarget> {
  const child: ChildProcess = fork(join(import.meta.dirname, 'target.ts'), [], {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'test', FUZZ_CONFIG: JSON.stringify(overrides) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc']
  })
  let output = ''
  const keep = (d: Buffer): void => { output = (output + d.toString()).slice(-16384) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  let exit: { code: number | null, signal: string | null } | undefined
  const exited = new Promise<void>((resolve) => child.once('exit', (code, signal) => {
    exit = { code, signal }
    resolve()
  }))
  const replies: Array<(reply: TargetReply) => void> = []
  child.on('message', (reply: TargetReply) => replies.shift()?.(reply))
  const next = async (what: string, timeoutMs: number): Promise<TargetReply> => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fuzz target: no ${what} within ${timeoutMs} ms\n${output}`)), timeoutMs)
    void exited.then(() => reject(new Error(`fuzz target exited (${exit?.code ?? exit?.signal}) while waiting for ${what}\n${output}`)))
    replies.push((reply) => { clearTimeout(timer); resolve(reply) })
  })

  const ready = await next('ready', startTimeoutMs)
  if (ready.type !== 'ready') throw new Error(`fuzz target: unexpected ${ready.type}`)
  return {
    base: ready.base,
    async probe () {
      const reply = next('probe', 30_000)
      child.send({ type: 'probe' })
      const r = await reply
      if (r.type !== 'probe') throw new Error(`fuzz target: unexpected ${r.type}`)
      return { heapUsed: r.heapUsed, external: r.external, rss: r.rss, polluted: r.polluted }
    },
    async inspect (peerId) {
      const reply = next('inspect', 30_000)
      child.send({ type: 'inspect', peerId })
      const r = await reply
      if (r.type !== 'inspect') throw new Error(`fuzz target: unexpected ${r.type}`)
      return r.state
    },
    get exit () { return exit },
    output: () => output,
    async stop () {
      if (exit !== undefined) return
      child.disconnect()
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(killer)
    }
  }
}
