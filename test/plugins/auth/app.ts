import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { buildApp } from '../../../src/app.js'
import { checkConfig, type Config } from '../../../src/config.js'
import { captureLogs, type CapturedLogs } from '../../helpers/build.js'
import { testConfig } from '../../helpers/config.js'
import { generateTestKey, type TestKey } from '../../helpers/jwks-server.js'

interface Teardown { teardown (fn: () => unknown): void }

/**
 * The real app plus test-only routes that exercise the auth plugin without the TURN or signaling
 * routes: GET /whoami authenticates like any protected route and returns request.identity;
 * GET /anonymous does not authenticate and returns what request.identity holds there.
 * Send `upgrade: websocket` to take the WebSocket path (query and subprotocol tokens count there).
 */
export async function buildAuthApp (
  t: Teardown,
  overrides: Partial<Config> = {},
  extraRoutes?: (app: FastifyInstance) => void
): Promise<{ app: FastifyInstance, logs: CapturedLogs }> {
  const { stream, logs } = captureLogs()
  const config = testConfig({ LOG_LEVEL: 'trace', ...overrides })
  checkConfig(config)
  const app = await buildApp(config, { logStream: stream })
  t.teardown(() => app.close())
  app.get('/whoami', { onRequest: app.auth.authenticate }, async (request: FastifyRequest) => request.identity)
  app.get('/anonymous', async (request: FastifyRequest) => ({ identity: request.identity }))
  extraRoutes?.(app)
  await app.ready()
  return { app, logs }
}

export function bearer (token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` }
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000)

export function jwksConfig (url: string, extra: Partial<Config> = {}): Partial<Config> {
  return { JWT_SECRET: undefined, JWT_JWKS_URL: url, ...extra }
}

export async function whoami (app: FastifyInstance, token: string): Promise<{ status: number, code?: string, sub?: string, headers: Record<string, unknown> }> {
  const res = await app.inject({ url: '/whoami', headers: bearer(token) })
  const body = res.json()
  return { status: res.statusCode, code: body.code, sub: body.sub, headers: res.headers }
}

/** Polls until check() holds; fails the test with `what` after timeoutMs. */
export async function until (what: string, check: () => Promise<boolean>, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(50)
  }
  throw new Error(`timed out waiting for: ${what}`)
}

// One unpublished key signs every "unknown kid" token (RSA key generation is slow; kids are free).
let stranger: Promise<TestKey> | undefined
/** A token for a kid the IdP never published. */
export async function unknownKidToken (): Promise<string> {
  stranger ??= generateTestKey('RS256')
  return (await stranger).sign({ sub: 'stranger' }, { kid: randomUUID() })
}
