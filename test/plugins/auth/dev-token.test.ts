import t from 'tap'
import { buildApp } from '../../../src/app.js'
import { testConfig } from '../../helpers/config.js'
import { bearer, buildAuthApp, nowSeconds } from './app.js'

// Development mode: no JWT_SECRET / JWT_PUBLIC_KEY / JWT_JWKS_URL, NODE_ENV not production.
const devMode = { JWT_SECRET: undefined, NODE_ENV: 'development' as const }

t.test('development mode generates a secret, warns, and never logs the secret', async (t) => {
  const { app, logs } = await buildAuthApp(t, devMode)
  t.equal(app.auth.mode, 'development')
  t.same(app.auth.algorithms, ['HS256'])
  const warnings = logs.lines.filter((l) => l.level === 40 && /development secret/.test(String(l.msg)))
  t.equal(warnings.length, 1, 'one WARN says a development secret is in use')

  const res = await app.inject({ method: 'POST', url: '/v1/dev/token', payload: { sub: 'bob' } })
  t.equal(res.statusCode, 200)
  // The secret is random; check no log line carries anything that verifies tokens: no key-like field at all.
  t.notOk(/secret"\s*:/i.test(logs.text()), 'no secret field in any log line')
  t.notOk(logs.text().includes(res.json().token.split('.')[2]), 'the minted token is not logged')
})

t.test('POST /v1/dev/token mints a token the same app accepts', async (t) => {
  const { app } = await buildAuthApp(t, devMode)
  const before = nowSeconds()
  const res = await app.inject({
    method: 'POST',
    url: '/v1/dev/token',
    payload: { sub: 'bob', name: 'Bob', role: 'guest', rooms: ['r1', { room: 'clinic/*', role: 'host' }], ttl: 600 }
  })
  t.equal(res.statusCode, 200)
  const { token, expiresAt } = res.json()
  t.type(token, 'string')
  const expires = Date.parse(expiresAt) / 1000
  t.ok(expires >= before + 600 && expires <= nowSeconds() + 600, 'expiresAt is ttl seconds from now')

  const who = await app.inject({ url: '/whoami', headers: bearer(token) })
  t.equal(who.statusCode, 200)
  const { iat, ...identity } = who.json() as { iat: number }
  t.same(identity, {
    sub: 'bob', name: 'Bob', role: 'guest', exp: expires, rooms: [{ room: 'r1' }, { room: 'clinic/*', role: 'host' }]
  })
  t.ok(iat >= before && iat <= nowSeconds(), 'iat is when it was minted')
})

t.test('defaults: random dev sub, one hour, every room', async (t) => {
  const { app } = await buildAuthApp(t, devMode)
  const a = await app.inject({ method: 'POST', url: '/v1/dev/token', payload: {} })
  const b = await app.inject({ method: 'POST', url: '/v1/dev/token', payload: {} })
  t.equal(a.statusCode, 200)
  const idA = await app.auth.verify(a.json().token)
  const idB = await app.auth.verify(b.json().token)
  t.match(idA.sub, /^dev-[0-9a-f]{8}$/)
  t.not(idA.sub, idB.sub, 'two tokens without sub are two users')
  t.ok(Math.abs(idA.exp - (nowSeconds() + 3600)) <= 2)
  t.same(idA.rooms, [{ room: '*' }], 'without rooms the token grants every room (ROOM_GRANTS=required admits nothing without a grant)')
  const none = await app.inject({ method: 'POST', url: '/v1/dev/token', payload: { rooms: [] } })
  t.same((await app.auth.verify(none.json().token)).rooms, [], 'rooms: [] mints a token that grants no room')
})

t.test('bad bodies get 400 problems', async (t) => {
  const { app } = await buildAuthApp(t, devMode)
  const cases: Array<[string, unknown]> = [
    ['ttl below 60', { ttl: 10 }],
    ['ttl above a day', { ttl: 86401 }],
    ['ttl not a number', { ttl: 'long' }],
    ['empty sub', { sub: '' }],
    ['sub too long', { sub: 'x'.repeat(129) }],
    ['empty role in a grant', { rooms: [{ room: 'r1', role: '' }] }],
    ['room with a control character', { rooms: ['r1\u0000'] }],
    ['room grant without room', { rooms: [{ role: 'host' }] }],
    ['unknown field', { admin: true }]
  ]
  for (const [name, payload] of cases) {
    const res = await app.inject({ method: 'POST', url: '/v1/dev/token', payload: payload as object })
    t.equal(res.statusCode, 400, name)
    t.equal(res.json().code, 'SWB_VALIDATION', name)
  }
  const notJson = await app.inject({ method: 'POST', url: '/v1/dev/token', headers: { 'content-type': 'application/json' }, payload: '{"sub":' })
  t.equal(notJson.statusCode, 400)
  t.equal(notJson.json().code, 'SWB_MALFORMED_JSON')
})

t.test('dev tokens carry JWT_ISSUER / JWT_AUDIENCE so they pass the same checks', async (t) => {
  const { app } = await buildAuthApp(t, { ...devMode, JWT_ISSUER: 'https://dev.local/', JWT_AUDIENCE: 'switchboard' })
  const res = await app.inject({ method: 'POST', url: '/v1/dev/token', payload: { sub: 'dana' } })
  const who = await app.inject({ url: '/whoami', headers: bearer(res.json().token) })
  t.equal(who.statusCode, 200)
})

t.test('a dev token from another process (another random secret) is refused', async (t) => {
  const { app: a } = await buildAuthApp(t, devMode)
  const { app: b } = await buildAuthApp(t, devMode)
  const token = (await a.inject({ method: 'POST', url: '/v1/dev/token', payload: {} })).json().token
  const res = await b.inject({ url: '/whoami', headers: bearer(token) })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'SWB_AUTH_BAD_SIGNATURE')
})

t.test('the route does not exist when a JWT key is configured', async (t) => {
  const { app } = await buildAuthApp(t) // testConfig sets JWT_SECRET
  t.equal(app.auth.mode, 'secret')
  const res = await app.inject({ method: 'POST', url: '/v1/dev/token', payload: { sub: 'eve' } })
  t.equal(res.statusCode, 404)
  t.equal(res.json().code, 'SWB_NOT_FOUND')
  const openapi = (await app.inject({ url: '/docs/json' })).json()
  t.notOk(openapi.paths['/v1/dev/token'], 'nor is it in the OpenAPI document')
})

t.test('the route is documented in OpenAPI in development mode', async (t) => {
  const { app } = await buildAuthApp(t, devMode)
  const openapi = (await app.inject({ url: '/docs/json' })).json()
  t.ok(openapi.paths['/v1/dev/token']?.post)
})

t.test('production never falls back to a development secret', async (t) => {
  // buildApp itself refuses, even when the config check was skipped.
  await t.rejects(buildApp(testConfig({ JWT_SECRET: undefined, NODE_ENV: 'production' })), {
    name: 'ConfigError',
    message: /NODE_ENV=production needs JWT_SECRET, JWT_PUBLIC_KEY or JWT_JWKS_URL/
  })
})
