import { WebSocket } from 'ws'
import type { FastifyInstance } from 'fastify'
import { SwitchboardClient, type SwitchboardClientOptions } from '../../client/index.js'
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
