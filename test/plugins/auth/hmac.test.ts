import t from 'tap'
import { UnsecuredJWT } from 'jose'
import { signTestToken } from '../../helpers/tokens.js'
import { TEST_JWT_SECRET } from '../../helpers/config.js'
import { bearer, buildAuthApp, nowSeconds } from './app.js'

const PROBLEM = /^application\/problem\+json/

t.test('valid HS256, HS384 and HS512 tokens authenticate', async (t) => {
  const { app } = await buildAuthApp(t)
  t.equal(app.auth.mode, 'secret')
  t.same(app.auth.algorithms, ['HS256', 'HS384', 'HS512'])
  for (const alg of ['HS256', 'HS384', 'HS512']) {
    const token = await signTestToken({ sub: `user-${alg}` }, { alg })
    const res = await app.inject({ url: '/whoami', headers: bearer(token) })
    t.equal(res.statusCode, 200, alg)
    t.equal(res.json().sub, `user-${alg}`, alg)
    t.type(res.json().exp, 'number', 'exp is always part of the identity')
  }
})

t.test('identity carries name, role and normalised room grants, and nothing else', async (t) => {
  const { app } = await buildAuthApp(t)
  const token = await signTestToken({
    sub: 'alice',
    name: 'Dr. Alice',
    role: 'guest',
    rooms: ['waiting-room', { room: 'clinic-42/*', role: 'host' }, { room: 'r2' }],
    email: 'alice@example.test'
  })
  const res = await app.inject({ url: '/whoami', headers: bearer(token) })
  t.equal(res.statusCode, 200)
  const identity = res.json()
  t.same(identity.rooms, [{ room: 'waiting-room' }, { room: 'clinic-42/*', role: 'host' }, { room: 'r2' }])
  t.equal(identity.name, 'Dr. Alice')
  t.equal(identity.role, 'guest')
  t.same(Object.keys(identity).sort(), ['exp', 'iat', 'name', 'role', 'rooms', 'sub'], 'unknown claims are not carried (iat is: revocations compare it)')
})

t.test('no token: 401 TOKEN_MISSING with a bare Bearer challenge (RFC 6750 3.1)', async (t) => {
  const { app } = await buildAuthApp(t)
  for (const headers of [{}, { authorization: 'Basic YWxpY2U6c2VjcmV0' }, { authorization: 'Bearer' }, { authorization: 'Bearer   ' }]) {
    const res = await app.inject({ url: '/whoami', headers })
    t.equal(res.statusCode, 401)
    t.match(res.headers['content-type'], PROBLEM)
    t.equal(res.json().code, 'SWB_AUTH_TOKEN_MISSING')
    t.equal(res.headers['www-authenticate'], 'Bearer realm="switchboard"', 'no error attribute when no token was sent')
  }
})

t.test('query-string tokens do not count on plain HTTP requests', async (t) => {
  const { app } = await buildAuthApp(t)
  const token = await signTestToken()
  const res = await app.inject({ url: `/whoami?access_token=${token}` })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'SWB_AUTH_TOKEN_MISSING')
})

t.test('expired token: 401 TOKEN_EXPIRED with an invalid_token challenge', async (t) => {
  const { app } = await buildAuthApp(t)
  const token = await signTestToken({}, { expiresIn: '-1m' })
  const res = await app.inject({ url: '/whoami', headers: bearer(token) })
  t.equal(res.statusCode, 401)
  const body = res.json()
  t.equal(body.code, 'SWB_AUTH_TOKEN_EXPIRED')
  t.equal(body.status, 401)
  t.equal(body.type, 'urn:switchboard:problem:swb_auth_token_expired')
  t.ok(body.requestId)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="switchboard", error="invalid_token", error_description="The token has expired"')
  t.notOk(res.body.includes(token.split('.')[1]!), 'the token is never echoed')
})

t.test('clock tolerance applies to exp and nbf, and is configurable', async (t) => {
  const { app } = await buildAuthApp(t, { JWT_CLOCK_TOLERANCE_SECONDS: 5 })
  const now = nowSeconds()

  let res = await app.inject({ url: '/whoami', headers: bearer(await signTestToken({ exp: now - 2 })) })
  t.equal(res.statusCode, 200, 'expired 2 s ago is within 5 s tolerance')
  res = await app.inject({ url: '/whoami', headers: bearer(await signTestToken({ nbf: now + 2 })) })
  t.equal(res.statusCode, 200, 'nbf 2 s ahead is within 5 s tolerance')
  res = await app.inject({ url: '/whoami', headers: bearer(await signTestToken({ nbf: now + 60 })) })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'SWB_AUTH_TOKEN_NOT_YET_VALID')
  t.match(res.headers['www-authenticate'], /error="invalid_token"/)

  const { app: strict } = await buildAuthApp(t, { JWT_CLOCK_TOLERANCE_SECONDS: 0 })
  res = await strict.inject({ url: '/whoami', headers: bearer(await signTestToken({ exp: now - 2 })) })
  t.equal(res.json().code, 'SWB_AUTH_TOKEN_EXPIRED', 'without tolerance the same token is expired')
})

t.test('forged and tampered signatures: 401 BAD_SIGNATURE', async (t) => {
  const { app } = await buildAuthApp(t)
  const forged = await signTestToken({ sub: 'mallory' }, { secret: 'another-secret-that-is-also-long-enough-0123' })
  let res = await app.inject({ url: '/whoami', headers: bearer(forged) })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'SWB_AUTH_BAD_SIGNATURE')

  // Swap in another payload but keep the original signature.
  const [header, , signature] = (await signTestToken({ sub: 'alice' })).split('.')
  const payload = Buffer.from(JSON.stringify({ sub: 'admin', exp: nowSeconds() + 3600 })).toString('base64url')
  res = await app.inject({ url: '/whoami', headers: bearer(`${header}.${payload}.${signature}`) })
  t.equal(res.json().code, 'SWB_AUTH_BAD_SIGNATURE')

  // A forged token that is also expired still reads as a bad signature: claims are not trusted before it.
  const forgedExpired = await signTestToken({}, { secret: 'another-secret-that-is-also-long-enough-0123', expiresIn: '-1h' })
  res = await app.inject({ url: '/whoami', headers: bearer(forgedExpired) })
  t.equal(res.json().code, 'SWB_AUTH_BAD_SIGNATURE')
})

t.test('audience is enforced when JWT_AUDIENCE is set (any of a comma-separated list)', async (t) => {
  const { app } = await buildAuthApp(t, { JWT_AUDIENCE: 'switchboard, switchboard-staging' })
  let res = await app.inject({ url: '/whoami', headers: bearer(await signTestToken({ aud: 'billing' })) })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'SWB_AUTH_WRONG_AUDIENCE')
  res = await app.inject({ url: '/whoami', headers: bearer(await signTestToken()) })
  t.equal(res.json().code, 'SWB_AUTH_WRONG_AUDIENCE', 'a token without aud is refused too')
  res = await app.inject({ url: '/whoami', headers: bearer(await signTestToken({ aud: ['billing', 'switchboard-staging'] })) })
  t.equal(res.statusCode, 200)
})

t.test('issuer is enforced when JWT_ISSUER is set', async (t) => {
  const { app } = await buildAuthApp(t, { JWT_ISSUER: 'https://idp.example.test/' })
  let res = await app.inject({ url: '/whoami', headers: bearer(await signTestToken({ iss: 'https://evil.example.test/' })) })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'SWB_AUTH_WRONG_ISSUER')
  res = await app.inject({ url: '/whoami', headers: bearer(await signTestToken()) })
  t.equal(res.json().code, 'SWB_AUTH_WRONG_ISSUER', 'a token without iss is refused too')
  res = await app.inject({ url: '/whoami', headers: bearer(await signTestToken({ iss: 'https://idp.example.test/' })) })
  t.equal(res.statusCode, 200)
})

t.test('alg none is refused as an algorithm, not parsed as a token', async (t) => {
  const { app } = await buildAuthApp(t)
  const unsecured = new UnsecuredJWT({ sub: 'admin' }).setExpirationTime('1h').encode()
  let res = await app.inject({ url: '/whoami', headers: bearer(unsecured) })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'SWB_AUTH_ALGORITHM_NOT_ALLOWED')

  // The same with the original HMAC signature left in place.
  const [, payload, signature] = (await signTestToken({ sub: 'admin' })).split('.')
  const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')
  res = await app.inject({ url: '/whoami', headers: bearer(`${none}.${payload}.${signature}`) })
  t.equal(res.json().code, 'SWB_AUTH_ALGORITHM_NOT_ALLOWED')
})

t.test('JWT_ALGORITHMS narrows the accepted HMAC algorithms', async (t) => {
  const { app } = await buildAuthApp(t, { JWT_ALGORITHMS: 'HS512' })
  t.same(app.auth.algorithms, ['HS512'])
  let res = await app.inject({ url: '/whoami', headers: bearer(await signTestToken({}, { alg: 'HS256' })) })
  t.equal(res.json().code, 'SWB_AUTH_ALGORITHM_NOT_ALLOWED')
  res = await app.inject({ url: '/whoami', headers: bearer(await signTestToken({}, { alg: 'HS512' })) })
  t.equal(res.statusCode, 200)
})

t.test('JWT_ALGORITHMS naming a public-key algorithm with JWT_SECRET fails at start', async (t) => {
  await t.rejects(buildAuthApp(t, { JWT_ALGORITHMS: 'HS256,RS256' }), /JWT_ALGORITHMS: RS256 cannot be used with JWT_SECRET/)
})

t.test('missing or invalid claims: 401 CLAIMS_INVALID', async (t) => {
  const { app } = await buildAuthApp(t)
  const cases: Array<[string, Record<string, unknown>]> = [
    ['no exp', { exp: undefined }],
    ['no sub', { sub: undefined }],
    ['empty sub', { sub: '' }],
    ['sub too long', { sub: 'x'.repeat(129) }],
    ['sub not a string', { sub: 42 }],
    ['sub with a control character', { sub: 'alice\nadmin' }],
    ['exp not a number', { exp: 'tomorrow' }],
    ['rooms not an array', { rooms: 'r1' }],
    ['room grant without room', { rooms: [{ role: 'host' }] }],
    ['empty room name', { rooms: [''] }],
    ['role not a string', { role: ['host'] }]
  ]
  for (const [name, claims] of cases) {
    const res = await app.inject({ url: '/whoami', headers: bearer(await signTestToken(claims)) })
    t.equal(res.statusCode, 401, name)
    t.equal(res.json().code, 'SWB_AUTH_CLAIMS_INVALID', name)
    t.match(res.headers['www-authenticate'], /^Bearer realm="switchboard", error="invalid_token", error_description="[^"]+"$/, name)
  }
  const ok = await app.inject({ url: '/whoami', headers: bearer(await signTestToken({ sub: 'x'.repeat(128) })) })
  t.equal(ok.statusCode, 200, 'a 128-character sub is fine')
})

t.test('malformed token strings: 401 MALFORMED_TOKEN', async (t) => {
  const { app } = await buildAuthApp(t)
  const valid = await signTestToken()
  const [h, p, s] = valid.split('.')
  const notJson = Buffer.from('not json').toString('base64url')
  const cases: Array<[string, string]> = [
    ['one segment', 'garbage'],
    ['two segments', `${h}.${p}`],
    ['four segments', `${valid}.${s}`],
    ['characters outside base64url', `${h}.${p}.${s}==`],
    ['header not JSON', `${notJson}.${p}.${s}`],
    ['header JSON but not an object', `${Buffer.from('"HS256"').toString('base64url')}.${p}.${s}`],
    ['header without alg', `${Buffer.from('{"typ":"JWT"}').toString('base64url')}.${p}.${s}`],
    ['oversized', `${h}.${'A'.repeat(9000)}.${s}`]
  ]
  for (const [name, token] of cases) {
    const res = await app.inject({ url: '/whoami', headers: bearer(token) })
    t.equal(res.statusCode, 401, name)
    t.equal(res.json().code, 'SWB_AUTH_MALFORMED_TOKEN', name)
  }
  // Validly signed, but the payload is not a JSON object.
  const res = await app.inject({ url: '/whoami', headers: bearer(await signRaw('[1,2,3]')) })
  t.equal(res.json().code, 'SWB_AUTH_MALFORMED_TOKEN')
})

t.test('app.auth.verify works on its own (before any upgrade) and rejects with typed errors', async (t) => {
  const { app } = await buildAuthApp(t)
  const identity = await app.auth.verify(await signTestToken({ sub: 'bob', role: 'host' }))
  t.equal(identity.sub, 'bob')
  t.equal(identity.role, 'host')
  await t.rejects(app.auth.verify('nope'), { code: 'SWB_AUTH_MALFORMED_TOKEN', statusCode: 401 })
  await t.rejects(app.auth.verify(''), { code: 'SWB_AUTH_TOKEN_MISSING', statusCode: 401 })
  await t.rejects(app.auth.verify(await signTestToken({}, { expiresIn: '-1h' })), { code: 'SWB_AUTH_TOKEN_EXPIRED', statusCode: 401 })
})

t.test('request.identity is null on routes that do not authenticate', async (t) => {
  const { app } = await buildAuthApp(t)
  const res = await app.inject({ url: '/anonymous', headers: bearer(await signTestToken()) })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { identity: null }, 'a token alone does not authenticate a route without the hook')
})

/** Signs an arbitrary payload string with the test secret (jose's SignJWT only takes objects). */
async function signRaw (payload: string): Promise<string> {
  const { createHmac } = await import('node:crypto')
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')
  const body = Buffer.from(payload).toString('base64url')
  const sig = createHmac('sha256', TEST_JWT_SECRET).update(`${header}.${body}`).digest('base64url')
  return `${header}.${body}.${sig}`
}
