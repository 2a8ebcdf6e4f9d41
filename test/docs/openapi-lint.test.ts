import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from '../helpers/build.js'
import { ADMIN_KEY } from '../helpers/admin-client.js'

/*
 * The OpenAPI document at /docs/json, linted by Redocly CLI with its recommended rules (0 errors), and
 * the rules of this project on top: every operation has an operationId and a security requirement,
 * every error response is application/problem+json.
 */

const REDOCLY = join(import.meta.dirname, '..', '..', 'node_modules', '.bin', 'redocly')

interface Operation {
  operationId?: string
  security?: unknown[]
  responses: Record<string, { content?: Record<string, unknown> }>
}

t.test('the OpenAPI document passes `redocly lint` (recommended) and declares ids, security and problem+json', async (t) => {
  // Development mode (no JWT key) so that the development token route is in the document too.
  const app = await build(t, { NODE_ENV: 'development', JWT_SECRET: undefined, ADMIN_API_KEYS: ADMIN_KEY, TURN_REST_API_KEYS: 'rest-key-0123456789' })
  const doc = (await app.inject({ url: '/docs/json' })).json() as {
    paths: Record<string, Record<string, Operation>>
    components: { securitySchemes: Record<string, { type: string, scheme?: string, in?: string }> }
  }

  const schemes = doc.components.securitySchemes
  t.match(schemes.bearerAuth, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, 'the bearer JWT')
  t.match(schemes.adminApiKey, { type: 'http', scheme: 'bearer' }, 'the admin API key')
  t.match(schemes.turnRestApiKey, { type: 'apiKey', in: 'header' }, 'the TURN REST API key')
  for (const path of ['/v1/admin/rooms', '/v1/admin/rooms/{room}', '/v1/admin/rooms/{room}/peers/{peerId}', '/v1/admin/rooms/{room}/messages',
    '/v1/admin/users/{userId}/sessions', '/v1/admin/stats', '/health', '/v1/dev/token']) {
    t.ok(doc.paths[path], `${path} is documented`)
  }
  const ids = new Set<string>()
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const name = `${method.toUpperCase()} ${path}`
      t.ok(op.operationId !== undefined && !ids.has(op.operationId), `${name} has its own operationId`)
      ids.add(op.operationId ?? '')
      t.ok(Array.isArray(op.security), `${name} states its security (an empty list when public)`)
      if (path.startsWith('/v1/admin/')) t.same(op.security, [{ adminApiKey: [] }], `${name} needs an admin key`)
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) >= 400 && !(path.startsWith('/health') && status === '503')) {
          t.same(Object.keys(response.content ?? {}), ['application/problem+json'], `${name} ${status} is application/problem+json`)
        }
      }
    }
  }

  const dir = mkdtempSync(join(tmpdir(), 'swb-openapi-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'openapi.json')
  writeFileSync(file, JSON.stringify(doc))
  const lint = spawnSync(REDOCLY, ['lint', file, '--extends', 'recommended', '--format', 'json'], {
    encoding: 'utf8',
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    timeout: 60_000
  })
  const report = JSON.parse(lint.stdout) as { totals: { errors: number }, problems: Array<{ severity: string, ruleId: string, message: string, location: Array<{ pointer: string }> }> }
  const errors = report.problems.filter((p) => p.severity === 'error').map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`)
  t.same(errors, [], 'redocly lint --extends recommended: no errors')
  t.equal(report.totals.errors, 0)
})
