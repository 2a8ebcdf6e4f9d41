import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { signTestToken } from '../../helpers/tokens.js'
import { bearer, buildAuthApp } from './app.js'

/** Headers a browser sends when opening a WebSocket; authenticate() treats such requests as upgrades. */
const UPGRADE = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }

/** Test-only: shows what extractToken sees with and without the WebSocket-only sources. */
function extractRoute (app: FastifyInstance): void {
  app.get('/extract', async (request) => ({
    upgrade: app.auth.extractToken(request, true) ?? null,
    plain: app.auth.extractToken(request) ?? null
  }))
}

t.test('extractToken: header always; query and subprotocol only when allowed', async (t) => {
  const { app } = await buildAuthApp(t, {}, extractRoute)
  const token = await signTestToken()
  const other = await signTestToken({ sub: 'bob' })
  const cases: Array<[string, { url?: string, headers?: Record<string, string> }, { upgrade: string | null, plain: string | null }]> = [
    ['Authorization: Bearer', { headers: bearer(token) }, { upgrade: token, plain: token }],
    ['scheme is case-insensitive', { headers: { authorization: `bearer ${token}` } }, { upgrade: token, plain: token }],
    ['access_token query', { url: `/extract?access_token=${token}` }, { upgrade: token, plain: null }],
    ['subprotocol after switchboard.v1', { headers: { 'sec-websocket-protocol': `switchboard.v1, bearer.${token}` } }, { upgrade: token, plain: null }],
    ['subprotocol first, no spaces', { headers: { 'sec-websocket-protocol': `bearer.${token},switchboard.v1` } }, { upgrade: token, plain: null }],
    ['no bearer subprotocol', { headers: { 'sec-websocket-protocol': 'switchboard.v1' } }, { upgrade: null, plain: null }],
    ['empty bearer subprotocol', { headers: { 'sec-websocket-protocol': 'switchboard.v1, bearer.' } }, { upgrade: null, plain: null }],
    ['empty query value', { url: '/extract?access_token=' }, { upgrade: null, plain: null }],
    ['header wins over subprotocol and query', {
      url: `/extract?access_token=${other}`,
      headers: { ...bearer(token), 'sec-websocket-protocol': `switchboard.v1, bearer.${other}` }
    }, { upgrade: token, plain: token }],
    ['subprotocol wins over query', {
      url: `/extract?access_token=${other}`,
      headers: { 'sec-websocket-protocol': `switchboard.v1, bearer.${token}` }
    }, { upgrade: token, plain: null }],
    ['nothing', {}, { upgrade: null, plain: null }]
  ]
  for (const [name, req, expected] of cases) {
    const res = await app.inject({ url: req.url ?? '/extract', headers: req.headers ?? {} })
    t.same(res.json(), expected, name)
  }
})

t.test('authenticate accepts query and subprotocol tokens on WebSocket upgrades only', async (t) => {
  const { app } = await buildAuthApp(t)
  const token = await signTestToken({ sub: 'carol' })

  let res = await app.inject({ url: `/whoami?access_token=${token}`, headers: UPGRADE })
  t.equal(res.statusCode, 200, 'query token on an upgrade')
  t.equal(res.json().sub, 'carol')

  res = await app.inject({ url: '/whoami', headers: { ...UPGRADE, 'sec-websocket-protocol': `switchboard.v1, bearer.${token}` } })
  t.equal(res.statusCode, 200, 'subprotocol token on an upgrade')
  t.equal(res.json().sub, 'carol')

  res = await app.inject({ url: '/whoami', headers: { 'sec-websocket-protocol': `switchboard.v1, bearer.${token}` } })
  t.equal(res.statusCode, 401, 'subprotocol header on a plain request does not count')
  t.equal(res.json().code, 'SWB_AUTH_TOKEN_MISSING')

  res = await app.inject({ url: '/whoami', headers: UPGRADE })
  t.equal(res.statusCode, 401, 'an upgrade without any token is refused before it is upgraded')
  t.equal(res.json().code, 'SWB_AUTH_TOKEN_MISSING')
  t.equal(res.headers['www-authenticate'], 'Bearer realm="switchboard"')

  const expired = await signTestToken({}, { expiresIn: '-1h' })
  res = await app.inject({ url: '/whoami', headers: { ...UPGRADE, 'sec-websocket-protocol': `switchboard.v1, bearer.${expired}` } })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'SWB_AUTH_TOKEN_EXPIRED')
})
