import { randomBytes } from 'node:crypto'
import { rawRelayDriver, switchboardDriver } from './drivers.js'
import { sameInstance, splitPair, type Placement, type SignalingDriver } from './load.js'
import { freePort } from './net.js'
import type { Options, TargetName } from './options.js'
import { startService, type ServiceProcess } from './service.js'
import { socketIoDriver } from './socketio-driver.js'

/**
 * The servers the benchmark compares. Each target starts its own processes (all measured, summed:
 * two instances and their redis-server count as one target) and says which URL each peer uses.
 */

export interface Deployment {
  services: ServiceProcess[]
  urls: string[]
  placement: Placement
}

export interface Target {
  name: TargetName
  label: string
  driver: SignalingDriver
  start (): Promise<Deployment>
}

/** A redis-server for one target on a free loopback port, nothing on disk. Its CPU and memory count for the target. */
async function startRedisServer (): Promise<ServiceProcess> {
  const port = await freePort()
  return startService({
    name: 'redis',
    run: { bin: 'redis-server', args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'] },
    port,
    ready: 'redis-ping',
    // Its start-up banner and the overcommit advice (irrelevant with persistence off) are not news.
    ignoreOutput: /oO0OoO0OoO0Oo|Redis version=|Configuration loaded|Server initialized|Memory overcommit must be enabled/,
    env: {}
  })
}

/** Two instances of `start` on one redis-server; the peers of every room on different instances. */
async function twoInstancesOnRedis (start: (name: string, redisUrl: string) => Promise<ServiceProcess>, name: string): Promise<Deployment> {
  const redis = await startRedisServer()
  const url = `redis://127.0.0.1:${redis.redisPort ?? 0}`
  const started = await Promise.allSettled(['a', 'b'].map(async (id) => start(`${name}-${id}`, url)))
  const instances = started.flatMap((s) => s.status === 'fulfilled' ? [s.value] : [])
  const failed = started.find((s) => s.status === 'rejected')
  if (failed !== undefined) {
    for (const service of [...instances, redis]) await service.stop()
    throw failed.reason
  }
  return { services: [...instances, redis], urls: instances.map((i) => i.url), placement: splitPair }
}

export function buildTargets (opts: Options): Target[] {
  const jwtSecret = randomBytes(32).toString('base64url')

  const switchboard = async (name: string, extraEnv: Record<string, string> = {}): Promise<ServiceProcess> => {
    const port = await freePort()
    return startService({
      name,
      run: { script: 'src/server.ts' },
      port,
      ready: { httpPath: '/health/ready' },
      inspect: opts.gc,
      env: {
        NODE_ENV: 'test',
        LOG_LEVEL: 'warn',
        PORT: String(port),
        HOST: '127.0.0.1',
        JWT_SECRET: jwtSecret,
        TURN_SECRET: randomBytes(24).toString('base64url'),
        // Generous limits: the bench measures throughput, not the abuse guards. Everything else
        // (replay buffers, heartbeat, message size, metrics, audit log) stays at its production default.
        WS_MESSAGES_PER_SECOND: '100000',
        WS_MESSAGE_BURST: '100000',
        MAX_CONNECTIONS_PER_USER: '10',
        WS_SEND_BUFFER_LIMIT_BYTES: String(16 * 1024 * 1024),
        SHUTDOWN_DRAIN_SECONDS: '0',
        ...extraEnv,
        ...opts.switchboardEnv
      }
    })
  }

  const socketIo = async (name: string, env: Record<string, string> = {}): Promise<ServiceProcess> => {
    const port = await freePort()
    return startService({
      name,
      run: { script: 'bench/socketio-relay.ts' },
      port,
      ready: { httpPath: '/health' },
      inspect: opts.gc,
      env: { PORT: String(port), HOST: '127.0.0.1', ...env }
    })
  }

  const all: Target[] = [{
    name: 'switchboard',
    label: 'Switchboard',
    driver: switchboardDriver(jwtSecret),
    async start () {
      const service = await switchboard('switchboard')
      return { services: [service], urls: [service.url], placement: sameInstance }
    }
  }, {
    name: 'baseline',
    label: 'raw ws relay',
    driver: rawRelayDriver(),
    async start () {
      const port = await freePort()
      const service = await startService({
        name: 'baseline',
        run: { script: 'bench/baseline-relay.ts' },
        port,
        ready: { httpPath: '/health' },
        inspect: opts.gc,
        env: { PORT: String(port), HOST: '127.0.0.1' }
      })
      return { services: [service], urls: [service.url], placement: sameInstance }
    }
  }, {
    name: 'socketio',
    label: 'Socket.IO',
    driver: socketIoDriver(),
    async start () {
      const service = await socketIo('socketio')
      return { services: [service], urls: [service.url], placement: sameInstance }
    }
  }, {
    name: 'switchboard-redis',
    label: 'Switchboard ×2 + Redis',
    driver: switchboardDriver(jwtSecret),
    // Every message crosses Redis; CPU and memory are those of all three processes.
    start: async () => twoInstancesOnRedis(async (name, redisUrl) => switchboard(name, { REDIS_URL: redisUrl, INSTANCE_ID: `bench-${name}` }), 'switchboard')
  }, {
    name: 'socketio-redis',
    label: 'Socket.IO ×2 + Redis',
    driver: socketIoDriver(),
    // @socket.io/redis-adapter; every signal crosses processes through Redis pub/sub.
    start: async () => twoInstancesOnRedis(async (name, redisUrl) => socketIo(name, { REDIS_URL: redisUrl }), 'socketio')
  }]
  return opts.targets.map((name) => all.find((t) => t.name === name) as Target)
}
