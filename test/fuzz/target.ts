import type { Config } from '../../src/config.js'
import { startInstance } from '../helpers/instances.js'

/**
 * The instance under fuzz, in a process of its own: a crash shows up as an exit instead of taking the
 * fuzzer down with it, and its heap (started with --expose-gc) is measured without the fuzzer's own
 * clients in it. Started by test/fuzz/instance.ts, which talks to it over the IPC channel.
 */

export type TargetRequest = { type: 'probe' } | { type: 'inspect', peerId: string }
export type TargetReply =
  | { type: 'ready', base: string }
  | { type: 'probe', heapUsed: number, external: number, rss: number, polluted: string[] }
  | { type: 'inspect', state: Record<string, unknown> | null }

const send = (reply: TargetReply): void => { process.send?.(reply) }
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined || process.send === undefined) throw new Error('start me with --expose-gc and an IPC channel (see test/fuzz/instance.ts)')

function prototypeNames (): string[] {
  return [Object.prototype, Array.prototype, Function.prototype].flatMap((proto) => Object.getOwnPropertyNames(proto))
}
const pristine = new Set(prototypeNames())

/** A connection's internals, for a failure report (why did it not answer?). */
function inspect (peerId: string): Record<string, unknown> | null {
  const conn = app.signaling.hub.connections.get(peerId)
  if (conn === undefined) return null
  const c = conn as unknown as Record<string, unknown> & { waiting: unknown[], socket: { readyState: number, isPaused: boolean, bufferedAmount: number } }
  return {
    closed: c.closed,
    seq: c.seq,
    blocked: c.blocked,
    throttled: c.throttled,
    inflight: c.inflight,
    waiting: c.waiting.length,
    pendingBytes: c.pendingBytes,
    readyState: c.socket.readyState,
    paused: c.socket.isPaused,
    bufferedAmount: c.socket.bufferedAmount
  }
}

const closers: Array<() => unknown> = []
const overrides = JSON.parse(process.env.FUZZ_CONFIG ?? '{}') as Partial<Config>
const { app, base } = await startInstance({ teardown: (fn) => closers.push(fn) }, overrides)

process.on('message', (request: TargetRequest) => {
  if (request.type === 'inspect') {
    send({ type: 'inspect', state: inspect(request.peerId) })
    return
  }
  // Twice: the first collection can leave garbage that only a second one frees (weak maps, finalizers).
  gc()
  gc()
  const { heapUsed, external, rss } = process.memoryUsage()
  // Frames carry `__proto__` and `constructor` keys: anything that leaked onto the shared prototypes shows here.
  const polluted = prototypeNames().filter((name) => !pristine.has(name))
  send({ type: 'probe', heapUsed, external, rss, polluted })
})
// The fuzzer went away (or is done): stop like a test teardown would.
process.on('disconnect', () => {
  void (async () => {
    for (const close of closers.reverse()) await close()
    process.exit(0)
  })()
})
send({ type: 'ready', base })
