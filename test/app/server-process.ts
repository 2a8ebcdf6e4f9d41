import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'

/**
 * src/server.ts as a real process (through tsx), for what only the entry point does: the listen
 * address, the start-up lines, the log format on a non-terminal stdout, and exit codes. Waits are on
 * output events and the exit event, never on timers.
 */

const REPO = join(import.meta.dirname, '..', '..')

export interface ServerProcess {
  child: ChildProcess
  /** stdout parsed as JSON lines (throws on a line that is not JSON: the non-TTY format is JSON only). */
  lines (): Array<Record<string, unknown>>
  stdout (): string
  stderr (): string
  /** Resolves with the first log line that satisfies `predicate`, as soon as it is written. */
  waitForLine (what: string, predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>
  exit: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

interface Teardown { teardown (fn: () => unknown): void }

export function startServer (t: Teardown, env: Record<string, string>): ServerProcess {
  // Only what is given: nothing from this shell (or CI) leaks into the server's config.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  const exit = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  child.stdout?.on('data', (c: Buffer) => { out += c.toString('utf8') })
  child.stderr?.on('data', (c: Buffer) => { err += c.toString('utf8') })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exit
    }
  })
  const lines = (): Array<Record<string, unknown>> =>
    out.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>)

  const waitForLine = async (what: string, predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        // Only complete lines: a chunk can end in the middle of one.
        const complete = out.slice(0, out.lastIndexOf('\n') + 1)
        const found = complete.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>).find(predicate)
        if (found === undefined) return false
        cleanup()
        resolve(found)
        return true
      }
      const onExit = (code: number | null): void => {
        if (check()) return
        cleanup()
        reject(new Error(`server exited (${code}) before ${what}:\n${err}${out}`))
      }
      const cleanup = (): void => {
        child.stdout?.off('data', onData)
        child.off('exit', onExit)
      }
      // Listeners run after the buffering one above, so `out` already holds the new chunk.
      const onData = (): void => { check() }
      child.stdout?.on('data', onData)
      child.once('exit', onExit)
      if (!check() && (child.exitCode !== null || child.signalCode !== null)) onExit(child.exitCode)
    })

  return { child, lines, stdout: () => out, stderr: () => err, waitForLine, exit }
}

/** The base URL Fastify logged ("Server listening at ..."), once it is listening. */
export async function listeningUrl (server: ServerProcess): Promise<string> {
  const line = await server.waitForLine('listening', (l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at '))
  return String(line.msg).slice('Server listening at '.length)
}
