import t from 'tap'
import { createHmac } from 'node:crypto'
import { build, buildWithLogs } from '../../helpers/build.js'
import { signTestToken } from '../../helpers/tokens.js'
import { checkIceUrl } from '../../../plugins/turn/urls.js'

const URL = '/v1/turn/credentials'
const TURN_SECRET = 'test-turn-secret-0123456789'

async function bearer (claims: Record<string, unknown> = {}): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await signTestToken(claims)}` }
}

t.test('issues an RTCConfiguration with HMAC TURN credentials', async (t) => {
  const app = await build(t)
  const before = Math.floor(Date.now() / 1000)
  const res = await app.inject({ method: 'POST', url: URL, headers: await bearer() })
  const after = Math.floor(Date.now() / 1000)
  t.equal(res.statusCode, 200)
  t.equal(res.headers['cache-control'], 'no-store', 'credentials are never cached')
  const body = res.json()
  t.same(Object.keys(body).sort(), ['expiresAt', 'iceServers', 'refreshAt', 'ttl'])
  t.equal(body.ttl, 3600, 'TURN_TTL_SECONDS by default')
  t.same(body.iceServers[0], { urls: ['stun:127.0.0.1:3478'] }, 'STUN_URLS first, without credentials')
  const turn = body.iceServers[1]
  t.same(turn.urls, ['turn:127.0.0.1:3478?transport=udp', 'turn:127.0.0.1:3478?transport=tcp'])
  const [expiry, user] = turn.username.split(':')
  t.equal(user, 'alice', 'the sub is the user part')
  t.ok(Number(expiry) >= before + 3600 && Number(expiry) <= after + 3600, 'expiry = now + ttl, in whole seconds')
  t.equal(turn.credential, createHmac('sha1', TURN_SECRET).update(turn.username).digest('base64'))
  t.equal(body.expiresAt, new Date(Number(expiry) * 1000).toISOString(), 'expiresAt is the expiry in the username')
  const refreshMs = Date.parse(body.refreshAt)
  t.ok(refreshMs >= (before + 2880) * 1000 && refreshMs <= (after + 2880) * 1000, 'refreshAt = 80% of ttl')
  for (const server of body.iceServers) for (const url of server.urls) t.ok(checkIceUrl(url).ok, `browser-valid: ${url}`)
})

t.test('an unsafe sub becomes an opaque user id; the first TURN_SECRET signs', async (t) => {
  const app = await build(t, { TURN_SECRET: 'new-secret-aaaaaaaa,old-secret-bbbbbbbb' })
  const res = await app.inject({ method: 'POST', url: URL, headers: await bearer({ sub: 'patient:alice@example.com' }) })
  t.equal(res.statusCode, 200)
  const turn = res.json().iceServers[1]
  t.match(turn.username, /^\d{10}:~[A-Za-z0-9_-]{22}$/)
  t.notOk(turn.username.includes('alice'), 'the raw sub never goes on the wire')
  t.equal(turn.credential, createHmac('sha1', 'new-secret-aaaaaaaa').update(turn.username).digest('base64'))
})

t.test('the ttl in the body is honoured, and clamped to TURN_TTL_SECONDS', async (t) => {
  const app = await build(t, { TURN_TTL_SECONDS: 1800 })
  const headers = { ...await bearer(), 'content-type': 'application/json' }
  for (const [asked, granted] of [[600, 600], [60, 60], [86400, 1800]] as const) {
    const res = await app.inject({ method: 'POST', url: URL, headers, payload: JSON.stringify({ ttl: asked }) })
    t.equal(res.statusCode, 200, `ttl ${asked}`)
    const body = res.json()
    t.equal(body.ttl, granted, `asked ${asked}, granted ${granted}`)
    t.equal(Number(body.iceServers[1].username.split(':')[0]), Date.parse(body.expiresAt) / 1000)
  }
  const empty = await app.inject({ method: 'POST', url: URL, headers, payload: '{}' })
  t.equal(empty.json().ttl, 1800, 'an empty object means the default')
})

t.test('bad bodies get a 400 problem', async (t) => {
  const app = await build(t, { TURN_RATE_LIMIT_MAX: 1000 })
  const headers = { ...await bearer(), 'content-type': 'application/json' }
  const cases: Array<[string, string, number, string]> = [
    ['ttl below 60', '{"ttl":59}', 400, 'SWB_VALIDATION'],
    ['ttl above 86400', '{"ttl":86401}', 400, 'SWB_VALIDATION'],
    ['non-integer ttl', '{"ttl":600.5}', 400, 'SWB_VALIDATION'],
    ['ttl not a number', '{"ttl":"soon"}', 400, 'SWB_VALIDATION'],
    // docs/turn.md: the body is typed JSON, so a numeric string is not converted (issue 12).
    ['ttl as a numeric string', '{"ttl":"600"}', 400, 'SWB_VALIDATION'],
    ['ttl as a boolean', '{"ttl":true}', 400, 'SWB_VALIDATION'],
    ['ttl as a one-element array', '{"ttl":[600]}', 400, 'SWB_VALIDATION'],
    ['unknown field', '{"tll":600}', 400, 'SWB_VALIDATION'],
    ['JSON null', 'null', 400, 'SWB_VALIDATION'],
    ['JSON array', '[600]', 400, 'SWB_VALIDATION'],
    ['malformed JSON', '{"ttl":6', 400, 'SWB_MALFORMED_JSON'],
    ['empty JSON body', '', 400, 'SWB_VALIDATION']
  ]
  for (const [name, payload, status, code] of cases) {
    const res = await app.inject({ method: 'POST', url: URL, headers, payload })
    t.equal(res.statusCode, status, name)
    t.match(res.headers['content-type'], /^application\/problem\+json/, name)
    t.match(res.json(), { status, code, instance: URL }, name)
  }
  const numericString = await app.inject({ method: 'POST', url: URL, headers, payload: '{"ttl":"600"}' })
  t.match(numericString.json().detail, /^body\/ttl /, 'the detail names the offending field')
  const text = await app.inject({ method: 'POST', url: URL, headers: { ...await bearer(), 'content-type': 'text/plain' }, payload: 'ttl=600' })
  t.equal(text.statusCode, 400, 'a text body is not an object')
  t.equal(text.json().code, 'SWB_VALIDATION')
  const xml = await app.inject({ method: 'POST', url: URL, headers: { ...await bearer(), 'content-type': 'application/xml' }, payload: '<ttl>600</ttl>' })
  t.equal(xml.statusCode, 415)
  t.equal(xml.json().code, 'SWB_UNSUPPORTED_MEDIA_TYPE')
  const form = await app.inject({ method: 'POST', url: URL, headers: { ...await bearer(), 'content-type': 'application/x-www-form-urlencoded' }, payload: 'ttl=600' })
  t.equal(form.statusCode, 415, 'form bodies are only for the TURN REST compat endpoint')
  const big = await app.inject({ method: 'POST', url: URL, headers, payload: JSON.stringify({ ttl: 600, pad: 'x'.repeat(70 * 1024) }) })
  t.equal(big.statusCode, 413)
})

t.test('missing, expired and forged tokens get a 401 problem', async (t) => {
  const app = await build(t)
  const missing = await app.inject({ method: 'POST', url: URL })
  t.equal(missing.statusCode, 401)
  t.match(missing.headers['content-type'], /^application\/problem\+json/)
  t.equal(missing.json().code, 'SWB_AUTH_TOKEN_MISSING')
  t.match(missing.headers['www-authenticate'], /^Bearer/)

  const expired = await app.inject({ method: 'POST', url: URL, headers: { authorization: `Bearer ${await signTestToken({}, { expiresIn: '-5m' })}` } })
  t.equal(expired.statusCode, 401)
  t.equal(expired.json().code, 'SWB_AUTH_TOKEN_EXPIRED')

  const forged = await app.inject({ method: 'POST', url: URL, headers: { authorization: `Bearer ${await signTestToken({}, { secret: 'not-the-server-secret-not-the-server-secret' })}` } })
  t.equal(forged.statusCode, 401)
  t.equal(forged.json().code, 'SWB_AUTH_BAD_SIGNATURE')
  t.notOk(JSON.stringify(forged.json()).includes('iceServers'))

  const garbage = await app.inject({ method: 'POST', url: URL, headers: { authorization: 'Bearer not.a.jwt' } })
  t.equal(garbage.statusCode, 401)
})

t.test('static provider hands out the configured long-term credentials', async (t) => {
  const app = await build(t, {
    TURN_PROVIDER: 'static',
    TURN_STATIC_USERNAME: 'lab-user',
    TURN_STATIC_CREDENTIAL: 'lab-password',
    STUN_URLS: '',
    TURN_URLS: 'turn:turn.lab.test:3478?transport=udp'
  })
  const res = await app.inject({ method: 'POST', url: URL, headers: await bearer(), payload: { ttl: 120 } })
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.same(body.iceServers, [{ urls: ['turn:turn.lab.test:3478?transport=udp'], username: 'lab-user', credential: 'lab-password' }])
  t.equal(body.ttl, 120)
})

t.test('without TURN_SECRET outside production: a random secret with a WARN that holds no secret', async (t) => {
  const { app, logs } = await buildWithLogs(t, { NODE_ENV: 'development', TURN_SECRET: undefined })
  const warn = logs.lines.find((l) => l.level === 40 && String(l.msg).includes('TURN_SECRET'))
  t.ok(warn, 'a WARN says credentials are signed with a random secret')
  t.same(Object.keys(warn ?? {}).sort(), ['component', 'hostname', 'level', 'msg', 'pid', 'time'], 'no extra fields (no secret)')
  const res = await app.inject({ method: 'POST', url: URL, headers: await bearer() })
  t.equal(res.statusCode, 200)
  t.not(res.json().iceServers[1].credential, createHmac('sha1', '').update(res.json().iceServers[1].username).digest('base64'))
})

t.test('no TURN_URLS (development): STUN only, still a valid RTCConfiguration', async (t) => {
  const app = await build(t, { TURN_URLS: '' })
  const res = await app.inject({ method: 'POST', url: URL, headers: await bearer() })
  t.equal(res.statusCode, 200)
  t.same(res.json().iceServers, [{ urls: ['stun:127.0.0.1:3478'] }])
})

t.test('buildApp refuses a bad TURN URL even when checkConfig was skipped', async (t) => {
  const { buildApp } = await import('../../../src/app.js')
  const { testConfig } = await import('../../helpers/config.js')
  await t.rejects(buildApp(testConfig({ TURN_URLS: 'turn:turn.example.org:53' })), { name: 'ConfigError', message: /TURN_URLS/ })
})

t.test('never logs the token, the TURN credential or the secret', async (t) => {
  const { app, logs } = await buildWithLogs(t)
  const token = await signTestToken({ sub: 'alice' })
  const res = await app.inject({ method: 'POST', url: URL, headers: { authorization: `Bearer ${token}` }, payload: { ttl: 600 } })
  t.equal(res.statusCode, 200)
  const { credential } = res.json().iceServers[1]
  const text = logs.text()
  t.ok(text.includes('request completed'), 'the request was logged')
  t.notOk(text.includes(token), 'no token')
  t.notOk(text.includes(token.split('.')[2] ?? '-'), 'no token signature')
  t.notOk(text.includes(credential), 'no TURN credential')
  t.notOk(text.includes(TURN_SECRET), 'no TURN secret')
})

t.test('OpenAPI documents the route with security and problem responses', async (t) => {
  const app = await build(t)
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json()
  const op = doc.paths['/v1/turn/credentials'].post
  t.same(op.tags, ['turn'])
  t.ok(op.summary)
  t.same(op.security, [{ bearerAuth: [] }])
  for (const status of ['200', '400', '401', '429', '502', '503']) t.ok(op.responses[status], `documents ${status}`)
  t.ok(op.requestBody, 'documents the optional body')
  const rest = doc.paths['/v1/turn/rest']
  t.ok(rest.get && rest.post, 'compat endpoint documented for GET and POST')
  for (const status of ['200', '400', '401', '403', '429']) t.ok(rest.get.responses[status], `compat documents ${status}`)
})
