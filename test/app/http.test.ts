import t from 'tap'
import { build } from '../helpers/build.js'

t.test('CORS follows the CORS_ORIGINS allowlist', async (t) => {
  const app = await build(t, { CORS_ORIGINS: 'https://clinic.example,https://app.example' })
  const preflight = (origin: string) => app.inject({
    method: 'OPTIONS',
    url: '/v1/turn/credentials',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' }
  })
  const allowed = await preflight('https://clinic.example')
  t.equal(allowed.headers['access-control-allow-origin'], 'https://clinic.example')
  const refused = await preflight('https://evil.example')
  t.equal(refused.headers['access-control-allow-origin'], undefined, 'no CORS grant for an unlisted origin')

  const closed = await build(t)
  const none = await closed.inject({ method: 'GET', url: '/health/live', headers: { origin: 'https://clinic.example' } })
  t.equal(none.headers['access-control-allow-origin'], undefined, 'empty CORS_ORIGINS: no cross-origin access')
})

t.test('security headers, request ids, and problem+json for unknown routes and bad bodies', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/health/live' })
  t.equal(res.headers['x-content-type-options'], 'nosniff', 'helmet headers')
  t.ok(res.headers['strict-transport-security'])
  t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  const traced = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'lb-trace-42' } })
  t.equal(traced.headers['x-request-id'], 'lb-trace-42', 'a sane incoming request id is kept')
  const hostile = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'bad id\nwith newline' } })
  t.not(hostile.headers['x-request-id'], 'bad id\nwith newline')

  // A token that cannot occur in the body's request id (a UUID, hex): "abc" did, now and then.
  const missing = await app.inject({ method: 'GET', url: '/nowhere?access_token=zq-query-secret' })
  t.equal(missing.statusCode, 404)
  t.match(missing.headers['content-type'], /^application\/problem\+json/)
  t.match(missing.json(), { status: 404, code: 'SWB_NOT_FOUND', type: 'urn:switchboard:problem:swb_not_found', instance: '/nowhere' })
  t.notMatch(missing.body, /zq-query-secret/, 'the query string is not echoed')

  const malformed = await app.inject({ method: 'POST', url: '/v1/turn/credentials', headers: { 'content-type': 'application/json', authorization: 'Bearer x' }, payload: '{"ttl":' })
  t.match(malformed.headers['content-type'], /^application\/problem\+json/)
  t.ok(malformed.statusCode === 400 || malformed.statusCode === 401)
})

t.test('the OpenAPI document declares every public route with its schemas', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(res.statusCode, 200)
  const doc = res.json() as { openapi: string, paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>, components: { schemas: Record<string, unknown> } }
  t.equal(doc.openapi, '3.1.0')
  t.ok(doc.components.schemas.Problem, 'the problem shape is a named component')
  for (const path of ['/health/live', '/health/ready', '/v1/turn/credentials', '/v1/turn/rest', '/v1/signal', '/v1/signal/preflight', '/metrics']) {
    t.ok(doc.paths[path], `${path} is documented`)
  }
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      t.ok(op.responses && Object.keys(op.responses).length > 0, `${method.toUpperCase()} ${path} declares its responses`)
    }
  }
  t.notOk(doc.paths['/v1/dev/token'], 'the development token route is not in the test (non-development) document')
})
