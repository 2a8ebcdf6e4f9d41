import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { signTestToken } from '../../helpers/tokens.js'
import { generateTestKey } from '../../helpers/jwks-server.js'
import { bearer, buildAuthApp } from './app.js'

// JWT_SECRET comes from testConfig(); a public-key app must not have it.
const noSecret = { JWT_SECRET: undefined }

t.test('RS256 and PS256 tokens verify against a PEM (SPKI) public key', async (t) => {
  const key = await generateTestKey('RS256')
  const { app } = await buildAuthApp(t, { ...noSecret, JWT_PUBLIC_KEY: key.publicPem })
  t.equal(app.auth.mode, 'public-key')
  t.same(app.auth.algorithms, ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'])
  for (const alg of ['RS256', 'PS256']) {
    const res = await app.inject({ url: '/whoami', headers: bearer(await key.sign({ sub: `rsa-${alg}` }, { alg })) })
    t.equal(res.statusCode, 200, alg)
    t.equal(res.json().sub, `rsa-${alg}`)
  }
})

t.test('a PEM with \\n-escaped newlines (as env files carry it) is accepted', async (t) => {
  const key = await generateTestKey('ES256')
  const { app } = await buildAuthApp(t, { ...noSecret, JWT_PUBLIC_KEY: key.publicPem.trim().replace(/\n/g, '\\n') })
  const res = await app.inject({ url: '/whoami', headers: bearer(await key.sign()) })
  t.equal(res.statusCode, 200)
})

t.test('ES256 tokens verify against a JWK given as JSON', async (t) => {
  const key = await generateTestKey('ES256')
  const { app } = await buildAuthApp(t, { ...noSecret, JWT_PUBLIC_KEY: JSON.stringify(key.publicJwk) })
  t.same(app.auth.algorithms, ['ES256'], 'an EC P-256 key verifies ES256 only')
  let res = await app.inject({ url: '/whoami', headers: bearer(await key.sign({ sub: 'ec-user' })) })
  t.equal(res.statusCode, 200)
  t.equal(res.json().sub, 'ec-user')

  const otherKey = await generateTestKey('ES256')
  res = await app.inject({ url: '/whoami', headers: bearer(await otherKey.sign({ sub: 'ec-user' }, { kid: key.kid })) })
  t.equal(res.statusCode, 401, 'signed by another EC key')
  t.equal(res.json().code, 'SWB_AUTH_BAD_SIGNATURE')
})

t.test('EdDSA (Ed25519) tokens verify against a PEM key, under both alg names', async (t) => {
  const key = await generateTestKey('EdDSA')
  const { app } = await buildAuthApp(t, { ...noSecret, JWT_PUBLIC_KEY: key.publicPem })
  t.same(app.auth.algorithms, ['EdDSA', 'Ed25519'])
  for (const alg of ['EdDSA', 'Ed25519']) {
    const res = await app.inject({ url: '/whoami', headers: bearer(await key.sign({ sub: 'ed-user' }, { alg })) })
    t.equal(res.statusCode, 200, alg)
  }
})

t.test('algorithm confusion: an HS256 token keyed with the public key is refused', async (t) => {
  const key = await generateTestKey('RS256')
  const { app } = await buildAuthApp(t, { ...noSecret, JWT_PUBLIC_KEY: key.publicPem })
  // The classic attack: the public key is public, so an attacker HMACs with its PEM text.
  for (const secret of [key.publicPem, key.publicPem.trim()]) {
    const confused = await signTestToken({ sub: 'admin' }, { secret, alg: 'HS256' })
    const res = await app.inject({ url: '/whoami', headers: bearer(confused) })
    t.equal(res.statusCode, 401)
    t.equal(res.json().code, 'SWB_AUTH_ALGORITHM_NOT_ALLOWED')
  }
  // A token for another key type is refused by algorithm as well.
  const ec = await generateTestKey('ES256')
  const res = await app.inject({ url: '/whoami', headers: bearer(await ec.sign()) })
  t.equal(res.json().code, 'SWB_AUTH_ALGORITHM_NOT_ALLOWED')
})

t.test('JWT_ALGORITHMS narrows a public key to some of its algorithms', async (t) => {
  const key = await generateTestKey('RS256')
  const { app } = await buildAuthApp(t, { ...noSecret, JWT_PUBLIC_KEY: key.publicPem, JWT_ALGORITHMS: 'PS256' })
  let res = await app.inject({ url: '/whoami', headers: bearer(await key.sign({}, { alg: 'RS256' })) })
  t.equal(res.json().code, 'SWB_AUTH_ALGORITHM_NOT_ALLOWED')
  res = await app.inject({ url: '/whoami', headers: bearer(await key.sign({}, { alg: 'PS256' })) })
  t.equal(res.statusCode, 200)
})

t.test('bad JWT_PUBLIC_KEY / JWT_ALGORITHMS values stop the app at start with the variable named', async (t) => {
  const rsa = await generateTestKey('RS256')
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const privateJwk = JSON.stringify(privateKey.export({ format: 'jwk' }))
  const weakRsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const cases: Array<[string, string | undefined, string | undefined, RegExp]> = [
    ['garbage', 'not a key', undefined, /^JWT_PUBLIC_KEY: not a PEM public key or JWK JSON/],
    ['broken JSON', '{"kty":', undefined, /^JWT_PUBLIC_KEY: looks like JSON/],
    ['private PEM', privatePem, undefined, /^JWT_PUBLIC_KEY: this is a private key/],
    ['private JWK', privateJwk, undefined, /^JWT_PUBLIC_KEY: the JWK holds a private key/],
    ['symmetric JWK', JSON.stringify({ kty: 'oct', k: 'c2VjcmV0' }), undefined, /^JWT_PUBLIC_KEY: a symmetric JWK/],
    ['JWK alg that does not fit', JSON.stringify({ ...rsa.publicJwk, alg: 'ES256' }), undefined, /does not fit its key type/],
    ['RSA under 2048 bits', weakRsa, undefined, /at least 2048 bits/],
    ['HMAC algorithm with a public key', rsa.publicPem, 'HS256', /^JWT_ALGORITHMS: HS256 cannot be used with JWT_PUBLIC_KEY/],
    ['alg none in the allowlist', rsa.publicPem, 'none', /^JWT_ALGORITHMS: none cannot be used/]
  ]
  for (const [name, publicKey, algorithms, message] of cases) {
    await t.rejects(buildAuthApp(t, { ...noSecret, JWT_PUBLIC_KEY: publicKey, JWT_ALGORITHMS: algorithms }), { name: 'ConfigError', message }, name)
  }
})

t.test('a JWK that pins its alg verifies only that alg', async (t) => {
  const key = await generateTestKey('RS256')
  const { app } = await buildAuthApp(t, { ...noSecret, JWT_PUBLIC_KEY: JSON.stringify(key.publicJwk) })
  t.same(app.auth.algorithms, ['RS256'])
  const res = await app.inject({ url: '/whoami', headers: bearer(await key.sign({}, { alg: 'PS256' })) })
  t.equal(res.json().code, 'SWB_AUTH_ALGORITHM_NOT_ALLOWED')
})
