import type { FastifyInstance } from 'fastify'
import type { Config } from '../../src/config.js'
import { build, buildWithLogs, listen, type CapturedLogs } from './build.js'
import { signTestToken, type SignTestTokenOptions } from './tokens.js'
import { WsPeer, type ConnectOptions } from './ws-peer.js'

interface Teardown { teardown (fn: () => unknown): void }

/** Token claims: a bare string is the `sub`. */
export type Who = string | Record<string, unknown>

export interface Harness {
  app: FastifyInstance
  /** http://127.0.0.1:<port> */
  base: string
  token (who: Who, opts?: SignTestTokenOptions): Promise<string>
  /** Connects a peer (waiting for its welcome); it is dropped when the test ends. */
  connect (who: Who, opts?: ConnectOptions): Promise<WsPeer>
  /** Connects and joins `room`, waiting for `joined`. */
  joined (who: Who, room: string): Promise<WsPeer>
  /** Registers a socket opened some other way, so the test's teardown drops it too. */
  track (peer: WsPeer): WsPeer
}

function claimsOf (who: Who): Record<string, unknown> {
  return typeof who === 'string' ? { sub: who } : who
}

function harness (t: Teardown, app: FastifyInstance, base: string): Harness {
  const peers: WsPeer[] = []
  t.teardown(() => { for (const p of peers) p.drop() })
  const h: Harness = {
    app,
    base,
    token: async (who, opts) => signTestToken(claimsOf(who), opts),
    track (peer) { peers.push(peer); return peer },
    async connect (who, opts) {
      return h.track(await WsPeer.connect(base, await h.token(who), opts))
    },
    async joined (who, room) {
      const peer = await h.connect(who)
      peer.send({ type: 'join', room })
      await peer.next((m) => m.type === 'joined' && m.room === room)
      return peer
    }
  }
  return h
}

/** A real app listening on a loopback port, with signaling config overrides. */
export async function signalingServer (t: Teardown, overrides: Partial<Config> = {}): Promise<Harness> {
  const app = await build(t, overrides)
  return harness(t, app, await listen(app))
}

/** Same, with every log line captured (trace level unless overridden). */
export async function signalingServerWithLogs (t: Teardown, overrides: Partial<Config> = {}): Promise<Harness & { logs: CapturedLogs }> {
  const { app, logs } = await buildWithLogs(t, overrides)
  return { ...harness(t, app, await listen(app)), logs }
}

/** Two peers of different users in `room`, each having seen the other (joined / peer-joined). */
export async function pair (h: Harness, room = 'room-1', users: [Who, Who] = ['doctor', 'patient']): Promise<[WsPeer, WsPeer]> {
  const a = await h.joined(users[0], room)
  const b = await h.joined(users[1], room)
  await a.next((m) => m.type === 'peer-joined' && m.room === room)
  return [a, b]
}

export const sleep = async (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
