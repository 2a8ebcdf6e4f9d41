import { WebSocket } from 'ws'
import type { FastifyInstance } from 'fastify'
import { SwitchboardClient, type AckTimer, type SwitchboardClientOptions } from '../../client/index.js'
import type { Config } from '../../src/config.js'
import { build, listen } from '../helpers/build.js'
import { signTestToken } from '../helpers/tokens.js'

interface Teardown { teardown (fn: () => unknown): void }

/** A real server on a loopback port. */
export async function startServer (t: Teardown, overrides: Partial<Config> = {}): Promise<{ app: FastifyInstance, base: string }> {
  const app = await build(t, overrides)
  const base = await listen(app)
  return { app, base }
}

/** A client using `ws`, closed when the test ends (before the server: teardowns run in reverse order). */
export function makeClient (t: Teardown, base: string, options: Partial<SwitchboardClientOptions> & Pick<SwitchboardClientOptions, 'token'>): SwitchboardClient {
  const client = new SwitchboardClient({
    url: base,
    WebSocket,
    // Tests drop sockets on purpose: come back fast and predictably.
    reconnect: { initialDelayMs: 20, maxDelayMs: 200, jitter: 0 },
    requestTimeoutMs: 3000,
    connectTimeoutMs: 3000,
    ...options
  })
  t.teardown(() => client.close())
  return client
}

export async function connectedClient (t: Teardown, base: string, sub: string, options: Partial<SwitchboardClientOptions> = {}): Promise<SwitchboardClient> {
  const client = makeClient(t, base, { token: await signTestToken({ sub }), ...options })
  await client.connect()
  return client
}

/** Drops the server side of a peer's socket without a close frame, like a network loss. */
export function dropServerSide (app: FastifyInstance, peerId: string | undefined): void {
  const conn = peerId === undefined ? undefined : app.signaling.hub.connections.get(peerId)
  if (conn === undefined) throw new Error(`no live connection for peer ${String(peerId)}`)
  conn.socket.terminate()
}

/** Polls `check` until it is true (or fails after `timeoutMs`), instead of sleeping a fixed time. */
export async function until (check: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/**
 * A fake clock for the client's `ackTimer` option: nothing fires until advance(), so a test can show
 * that no ack is due yet without sleeping, and make the timer fire exactly when it wants.
 */
export class FakeClock implements AckTimer {
  now = 0
  private nextId = 0
  private readonly timers = new Map<number, { at: number, callback: () => void }>()

  set (callback: () => void, ms: number): number {
    this.nextId += 1
    this.timers.set(this.nextId, { at: this.now + ms, callback })
    return this.nextId
  }

  clear (handle: unknown): void {
    this.timers.delete(handle as number)
  }

  /** Timers waiting to fire. */
  get pending (): number { return this.timers.size }

  /** Moves time on by `ms`, running every timer that falls due, in order. */
  advance (ms: number): void {
    const target = this.now + ms
    for (;;) {
      let due: [number, { at: number, callback: () => void }] | undefined
      for (const entry of this.timers) if (entry[1].at <= target && (due === undefined || entry[1].at < due[1].at)) due = entry
      if (due === undefined) break
      this.timers.delete(due[0])
      this.now = due[1].at
      due[1].callback()
    }
    this.now = target
  }
}

/** Every `ack` the server's registry applies, in order (recorded when the server handles it). */
export function recordAcks (app: FastifyInstance): Array<{ peerId: string, seq: number }> {
  const acks: Array<{ peerId: string, seq: number }> = []
  const registry = app.registry
  const ack = registry.ack.bind(registry)
  registry.ack = (peerId, seq) => {
    acks.push({ peerId, seq })
    return ack(peerId, seq)
  }
  return acks
}

/** Runs `fn` with no globalThis.WebSocket, as in Node 20, and puts the global back (whatever `fn` does). */
export function withoutGlobalWebSocket<T> (fn: () => T): T {
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, 'WebSocket')
  if (descriptor === undefined) return fn()
  Reflect.deleteProperty(globalThis, 'WebSocket')
  if ('WebSocket' in globalThis) throw new Error('globalThis.WebSocket cannot be removed')
  try {
    return fn()
  } finally {
    Object.defineProperty(globalThis, 'WebSocket', descriptor)
  }
}
