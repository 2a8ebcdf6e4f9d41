import { spawn } from 'node:child_process'
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { randomBytes, randomInt } from 'node:crypto'
import { stunBinding, turnRealm } from './turn-allocate.js'
import { exited, tcpPortFree, udpPortFree } from './processes.js'

/**
 * Starts Debian's coturn (`turnserver`) on 127.0.0.1 as a foreground child process with a generated
 * config (use-auth-secret + static-auth-secret lines), for tests that prove credentials against a real
 * TURN server. See /work/shared/recipes/turn-credentials.md §5-6 for why ports are chosen as they are.
 */

interface TestLike {
  teardown (fn: () => unknown): void
  fail (message: string): void
  comment (message: string): void
}

export function binaryOnPath (name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

/**
 * `{ skip }` option for tests that need a system binary: a loud skip locally, a FAILURE under CI=true
 * (a CI image without coturn must not pass by skipping the TURN proofs).
 */
export function requireBinaries (t: TestLike, ...names: string[]): { skip: string | false } {
  const missing = names.filter((n) => binaryOnPath(n) === undefined)
  if (missing.length === 0) return { skip: false }
  const reason = `${missing.join(', ')} not found on PATH (install the coturn package)`
  if (process.env.CI === 'true') {
    t.fail(`CI=true: ${reason}; the coturn-backed tests cannot be skipped in CI`)
  } else {
    t.comment(`!!! SKIPPING coturn-backed tests: ${reason} !!!`)
  }
  return { skip: reason }
}

export interface TurnServer {
  host: '127.0.0.1'
  port: number
  realm: string
  /** What coturn wrote to its log file so far (for failure messages). */
  log (): string
  stop (): Promise<void>
}

export interface TurnServerOptions {
  /** static-auth-secret lines, tried in turn by coturn (several = rotation window). */
  secrets: string[]
}

/**
 * A listening port below the ephemeral range (32768-60999, where a client socket can squat it) that is
 * free for both UDP and TCP. coturn binds with SO_REUSEPORT, so a busy port would not make it fail:
 * it would silently share packets with another server. Hence the explicit check (and the realm check later).
 */
async function freeListeningPort (): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = randomInt(20000, 32000)
    if (await udpPortFree(port) && await tcpPortFree(port)) return port
  }
  throw new Error('no free UDP+TCP port found in 20000-31999')
}

export async function startTurnServer (t: TestLike, options: TurnServerOptions): Promise<TurnServer> {
  const dir = mkdtempSync(join(tmpdir(), 'swb-coturn-'))
  const port = await freeListeningPort()
  // Relay ports above the ephemeral range; a random block so parallel test files rarely overlap
  // (coturn picks another port in its range when one is taken).
  const minRelay = randomInt(61000, 65400)
  const realm = `swb-${randomBytes(4).toString('hex')}.test`
  const logFile = join(dir, 'turnserver.log')
  const conf = [
    'listening-ip=127.0.0.1',
    'relay-ip=127.0.0.1',
    `listening-port=${port}`,
    `min-port=${minRelay}`,
    `max-port=${minRelay + 100}`,
    // Test only: the relay addresses are 127.0.0.1, so loopback peers must be allowed.
    'allow-loopback-peers',
    'no-tls',
    'no-dtls',
    'no-cli',
    'no-rfc5780',
    'no-multicast-peers',
    `realm=${realm}`,
    'fingerprint',
    'use-auth-secret',
    ...options.secrets.map((s) => `static-auth-secret=${s}`),
    // An isolated SQLite userdb: the default /var/lib/turn/turndb may be shared or unwritable.
    `userdb=${join(dir, 'turndb')}`,
    `log-file=${logFile}`,
    'simple-log',
    'verbose',
    `pidfile=${join(dir, 'turnserver.pid')}`
  ].join('\n') + '\n'
  const confFile = join(dir, 'turnserver.conf')
  writeFileSync(confFile, conf, { mode: 0o600 })

  // Foreground (no -o): the process is our child, so we know its pid and can always stop it.
  const child = spawn('turnserver', ['-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (chunk: Buffer): void => { output = (output + chunk.toString('utf8')).slice(-8192) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const readLog = (): string => { try { return readFileSync(logFile, 'utf8') } catch { return output } }

  const stop = async (): Promise<void> => {
    if (!await exited(child, 0)) {
      child.kill('SIGTERM')
      if (!await exited(child, 3000)) {
        child.kill('SIGKILL')
        await exited(child, 3000)
      }
    }
    rmSync(dir, { recursive: true, force: true })
  }
  t.teardown(stop)

  // Readiness: poll with STUN Binding requests instead of sleeping a fixed time.
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`turnserver exited with ${child.exitCode} before it was ready:\n${output}`)
    if ((await stunBinding('127.0.0.1', port, 200)).ok) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`turnserver did not answer STUN on 127.0.0.1:${port} within 10 s:\n${readLog().slice(-4000)}`)
    }
  }
  // Whoever answered must be *our* server (see SO_REUSEPORT above).
  const announced = await turnRealm('127.0.0.1', port)
  if (announced !== realm) {
    await stop()
    throw new Error(`127.0.0.1:${port} answered with realm ${String(announced)}, not ${realm}: another TURN server shares the port`)
  }
  return { host: '127.0.0.1', port, realm, log: readLog, stop }
}
