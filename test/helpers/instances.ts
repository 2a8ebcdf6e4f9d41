import { spawn, type ChildProcess } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { checkConfig, type Config } from '../../src/config.js'
import { TEST_JWT_SECRET, testConfig } from './config.js'
import { tcpPortFree } from './processes.js'
import { until } from './ws-peer.js'

/**
 * Several Switchboard instances sharing one Redis, as a load balancer would see them: in this process
 * (buildApp + listen on 127.0.0.1:0), or as child processes running the real entry point (src/server.ts)
 * when a test must SIGKILL one.
 */

interface Teardown { teardown (fn: () => unknown): void }

export interface Instance {
  app: FastifyInstance
  /** http://127.0.0.1:<port> */
  base: string
}

/**
 * Liveness for tests: a dead instance is noticed within 2.5 s, yet an instance starved of CPU on a
 * busy 2-core CI machine is not presumed dead (tests that time a death pass DEATH_WATCH instead).
 */
export const FAST_LIVENESS: Partial<Config> = {
  REDIS_INSTANCE_TTL_SECONDS: 2,
  REDIS_REAP_INTERVAL_SECONDS: 0.5,
  REDIS_COMMAND_TIMEOUT_MS: 500,
  REDIS_CONNECT_TIMEOUT_MS: 5000
}

/**
 * A dead instance noticed within 1.7 s: for the tests that measure the failure bound. Its heartbeat
 * (every TTL / 3) may run a second late before it is presumed dead: with a 0.6 s TTL, a child starved
 * of CPU on a busy machine was presumed dead while alive and refused its peers.
 */
export const DEATH_WATCH = { REDIS_INSTANCE_TTL_SECONDS: 1.5, REDIS_REAP_INTERVAL_SECONDS: 0.2 } as const

export async function startInstance (t: Teardown, overrides: Partial<Config>): Promise<Instance> {
  const config = testConfig({ AUDIT_LOG_LEVEL: 'silent', ...FAST_LIVENESS, ...overrides })
  checkConfig(config)
  const app = await buildApp(config)
  t.teardown(() => app.close())
  await app.ready()
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, base }
}

/** `names.length` instances on the same Redis settings, named by INSTANCE_ID. */
export async function startInstances (t: Teardown, names: string[], overrides: Partial<Config>): Promise<Instance[]> {
  const instances: Instance[] = []
  for (const name of names) instances.push(await startInstance(t, { INSTANCE_ID: name, ...overrides }))
  return instances
}

export interface ChildInstance {
  base: string
  child: ChildProcess
  output (): string
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/**
 * A port below the ephemeral range (which starts at 32768), so that no client socket of a test running
 * in parallel can be given it between this check and the child's listen (redis-server.ts keeps to
 * 20000-31999 for the same reason). Another server can still take it first: see spawnInstance.
 */
async function freePort (): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = randomInt(12000, 20000)
    if (await tcpPortFree(port)) return port
  }
  throw new Error('no free TCP port found for an instance')
}

const ROOT = join(import.meta.dirname, '..', '..')

/** The child could not listen: another process took the port freePort() had found free. */
class PortTaken extends Error {}

/** The real entry point in a child process (so it can be SIGKILLed), configured through its environment. */
export async function spawnInstance (t: Teardown, env: Record<string, string>): Promise<ChildInstance> {
  // freePort() finds a port that was free a moment ago; a server of a test running in parallel may take
  // it before the child listens (seen once with ports from listen(0): EADDRINUSE). Then the child is
  // started again on another port.
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnOn(t, await freePort(), env)
    } catch (err) {
      if (!(err instanceof PortTaken) || attempt === 3) throw err
    }
  }
}

async function spawnOn (t: Teardown, port: number, env: Record<string, string>): Promise<ChildInstance> {
  const base = `http://127.0.0.1:${port}`
  // node itself (not the tsx launcher, which forks a second process): SIGKILL must hit the server.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'test',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      JWT_SECRET: TEST_JWT_SECRET,
      METRICS_ENABLED: 'false',
      AUDIT_LOG_LEVEL: 'silent',
      ...Object.fromEntries(Object.entries(FAST_LIVENESS).map(([k, v]) => [k, String(v)])),
      ...env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  const keep = (d: Buffer): void => { output = (output + d.toString()).slice(-16384) }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  // tsx compiles on start: poll readiness rather than guess a delay.
  await until(async () => {
    if (child.exitCode !== null) {
      const message = `instance exited early (${child.exitCode}):\n${output}`
      throw output.includes('EADDRINUSE') ? new PortTaken(message) : new Error(message)
    }
    try {
      return (await fetch(`${base}/health/ready`)).status === 200
    } catch {
      return false
    }
  }, 'the instance to be ready', 30_000)
  return { base, child, output: () => output, exited }
}
