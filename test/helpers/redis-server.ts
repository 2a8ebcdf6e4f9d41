import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomInt } from 'node:crypto'
import { binaryOnPath } from './turnserver.js'
import { exited, tcpPortFree } from './processes.js'

/**
 * Real `redis-server` processes for tests (never a mock): a single server, a 3-master cluster and a
 * Sentinel. Each listens on a free 127.0.0.1 port, keeps nothing on disk, and is killed in t.teardown.
 */

interface TestLike {
  teardown (fn: () => unknown): void
  fail (message: string): void
  comment (message: string): void
}

/**
 * `{ skip }` option for tests that need redis-server/redis-cli: a loud skip locally, a FAILURE under
 * CI=true (a CI image without Redis must not pass by skipping the multi-instance proofs).
 */
export function requireRedis (t: TestLike): { skip: string | false } {
  const missing = ['redis-server', 'redis-cli'].filter((n) => binaryOnPath(n) === undefined)
  if (missing.length === 0) return { skip: false }
  const reason = `${missing.join(', ')} not found on PATH (install the redis-server and redis-tools packages)`
  if (process.env.CI === 'true') t.fail(`CI=true: ${reason}; the Redis-backed tests cannot be skipped in CI`)
  else t.comment(`!!! SKIPPING Redis-backed tests: ${reason} !!!`)
  return { skip: reason }
}

export interface RedisServer {
  host: '127.0.0.1'
  port: number
  /** redis://[user:password@]127.0.0.1:port */
  url: string
  /** rediss://[user:password@]127.0.0.1:tlsPort when started with `tls` */
  tlsUrl?: string
  /** What the server printed (for failure messages). */
  output (): string
  /** Kills the process (SIGKILL by default) and waits for it to exit. */
  kill (signal?: NodeJS.Signals): Promise<void>
  /** Starts it again on the same port, empty (nothing is persisted), and waits until it answers. */
  restart (): Promise<void>
  /** Runs redis-cli against this server and returns its stdout. */
  cli (...args: string[]): string
}

export interface RedisOptions {
  /** Extra redis-server arguments, e.g. ['--cluster-enabled', 'yes']. */
  args?: string[]
  /** An ACL user (with every permission) and its password; the default user is then disabled. */
  user?: { name: string, password: string }
  /** Also needs a free port+10000 (the cluster bus). */
  cluster?: boolean
  /** Also listen with TLS on a second port (PEM files); clients need no certificate of their own. */
  tls?: { certFile: string, keyFile: string, caFile: string }
}

/** Below the ephemeral range, so a client socket cannot squat it between our check and redis binding it. */
async function freePort (withBus: boolean): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = randomInt(20000, 22000 + (withBus ? 0 : 10000))
    if (await tcpPortFree(port) && (!withBus || await tcpPortFree(port + 10000))) return port
  }
  throw new Error('no free TCP port found for redis-server')
}

/** One raw RESP round trip: the first reply line (e.g. `+PONG`, `-NOAUTH ...`), or undefined if nothing answers. */
export async function rawCommand (port: number, command: string, timeoutMs = 300): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    const timer = setTimeout(() => { socket.destroy(); resolve(undefined) }, timeoutMs)
    let data = ''
    socket.on('connect', () => socket.write(`${command}\r\n`))
    socket.on('data', (chunk) => {
      data += chunk.toString('utf8')
      if (!data.includes('\r\n')) return
      clearTimeout(timer)
      socket.destroy()
      resolve(data.split('\r\n')[0])
    })
    socket.on('error', () => { clearTimeout(timer); resolve(undefined) })
  })
}

/** Polls until the server answers PING (a NOAUTH refusal also proves it is up). */
async function waitForPing (port: number, child: ChildProcess, output: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}:\n${output()}`)
    const reply = await rawCommand(port, 'PING')
    if (reply === '+PONG' || reply?.startsWith('-NOAUTH') === true) return
    if (Date.now() > deadline) throw new Error(`redis-server on 127.0.0.1:${port} did not answer PING within ${timeoutMs} ms:\n${output()}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

export async function startRedis (t: TestLike, options: RedisOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'swb-redis-'))
  const port = await freePort(options.cluster === true)
  const tlsPort = options.tls ? await freePort(false) : undefined
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning',
    ...(options.tls
      ? ['--tls-port', String(tlsPort), '--tls-cert-file', options.tls.certFile, '--tls-key-file', options.tls.keyFile,
          '--tls-ca-cert-file', options.tls.caFile, '--tls-auth-clients', 'no']
      : []),
    ...(options.user ? ['--user', 'default', 'off', '--user', options.user.name, 'on', `>${options.user.password}`, '~*', '&*', '+@all'] : []),
    ...(options.args ?? [])
  ]
  let child: ChildProcess
  let out = ''
  const output = (): string => out.slice(-4000)
  const spawnServer = async (): Promise<void> => {
    child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const keep = (chunk: Buffer): void => { out = (out + chunk.toString('utf8')).slice(-16384) }
    child.stdout?.on('data', keep)
    child.stderr?.on('data', keep)
    await waitForPing(port, child, output)
  }
  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (await exited(child, 0)) return
    child.kill(signal)
    if (!await exited(child, 5000)) {
      child.kill('SIGKILL')
      await exited(child, 5000)
    }
  }
  const auth = options.user ? ['--user', options.user.name, '--pass', options.user.password, '--no-auth-warning'] : []
  t.teardown(async () => {
    await kill()
    rmSync(dir, { recursive: true, force: true })
  })
  await spawnServer()
  const credentials = options.user ? `${encodeURIComponent(options.user.name)}:${encodeURIComponent(options.user.password)}@` : ''
  return {
    host: '127.0.0.1',
    port,
    url: `redis://${credentials}127.0.0.1:${port}`,
    ...(tlsPort !== undefined && { tlsUrl: `rediss://${credentials}127.0.0.1:${tlsPort}` }),
    output,
    kill,
    async restart () {
      await kill()
      await spawnServer()
    },
    cli (...cliArgs: string[]) {
      const res = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...auth, ...cliArgs], { encoding: 'utf8', timeout: 10_000 })
      if (res.status !== 0) throw new Error(`redis-cli ${cliArgs.join(' ')} failed: ${res.stderr}`)
      return res.stdout
    }
  }
}

export interface RedisCluster {
  servers: RedisServer[]
  /** host:port of every master, comma-separated (REDIS_CLUSTER_NODES). */
  nodes: string
}

/** Three masters, no replicas, slots spread by `redis-cli --cluster create`; resolves once cluster_state:ok. */
export async function startRedisCluster (t: TestLike): Promise<RedisCluster> {
  const servers: RedisServer[] = []
  for (let i = 0; i < 3; i++) {
    servers.push(await startRedis(t, { cluster: true, args: ['--cluster-enabled', 'yes', '--cluster-node-timeout', '2000'] }))
  }
  const endpoints = servers.map((s) => `127.0.0.1:${s.port}`)
  const create = spawnSync('redis-cli', ['--cluster', 'create', ...endpoints, '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 })
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${create.stdout}\n${create.stderr}`)
  const deadline = Date.now() + 15_000
  for (;;) {
    const states = servers.map((s) => /cluster_state:(\w+)/.exec(s.cli('cluster', 'info'))?.[1])
    if (states.every((s) => s === 'ok')) break
    if (Date.now() > deadline) throw new Error(`cluster not ok within 15 s: ${states.join(',')}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { servers, nodes: endpoints.join(',') }
}

export interface RedisSentinel {
  port: number
  /** host:port (REDIS_SENTINELS) */
  address: string
  masterName: string
}

/** One Sentinel (quorum 1) watching `master`; resolves once it answers for the master's address. */
export async function startSentinel (t: TestLike, master: RedisServer, masterName = 'swbmaster'): Promise<RedisSentinel> {
  const dir = mkdtempSync(join(tmpdir(), 'swb-sentinel-'))
  const port = await freePort(false)
  const confFile = join(dir, 'sentinel.conf')
  // Sentinel rewrites its config file at runtime, so it needs a writable one of its own.
  writeFileSync(confFile, [
    `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
    `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 1`,
    `sentinel down-after-milliseconds ${masterName} 2000`
  ].join('\n') + '\n')
  const child = spawn('redis-server', [confFile, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const keep = (chunk: Buffer): void => { out = (out + chunk.toString('utf8')).slice(-8192) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  t.teardown(async () => {
    if (!await exited(child, 0)) {
      child.kill('SIGKILL')
      await exited(child, 5000)
    }
    rmSync(dir, { recursive: true, force: true })
  })
  await waitForPing(port, child, () => out)
  const deadline = Date.now() + 10_000
  while (!(await rawCommand(port, `SENTINEL get-master-addr-by-name ${masterName}`))?.startsWith('*2')) {
    if (Date.now() > deadline) throw new Error(`sentinel on ${port} does not know ${masterName}:\n${out}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return { port, address: `127.0.0.1:${port}`, masterName }
}
