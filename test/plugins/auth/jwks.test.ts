import t from 'tap'
import { signTestToken } from '../../helpers/tokens.js'
import { generateTestKey, startJwksServer, type TestKey } from '../../helpers/jwks-server.js'
import { buildAuthApp, jwksConfig, unknownKidToken, until, whoami } from './app.js'

t.test('RS256, ES256 and EdDSA tokens verify from a JWKS; one fetch serves them all', async (t) => {
  const idp = await startJwksServer(t, ['RS256', 'ES256', 'EdDSA'])
  const { app } = await buildAuthApp(t, jwksConfig(idp.url))
  t.equal(app.auth.mode, 'jwks')
  t.notOk(app.auth.algorithms.some((a) => a.startsWith('HS')), 'no HMAC algorithm in JWKS mode')
  for (let round = 0; round < 2; round++) {
    for (const key of idp.keys) {
      const res = await whoami(app, await key.sign({ sub: `user-${key.alg}` }))
      t.equal(res.status, 200, key.alg)
      t.equal(res.sub, `user-${key.alg}`)
    }
  }
  t.equal(idp.fetches, 1, 'the key set is fetched once and cached')
})

t.test('key rotation: a new kid is picked up without a restart', async (t) => {
  const idp = await startJwksServer(t, ['RS256'])
  const { app } = await buildAuthApp(t, jwksConfig(idp.url, { JWT_JWKS_COOLDOWN_SECONDS: 0 }))
  const [oldKey] = idp.keys as [TestKey]
  t.equal((await whoami(app, await oldKey.sign())).status, 200)
  t.equal(idp.fetches, 1)

  const newKey = await idp.addKey('RS256')
  const res = await whoami(app, await newKey.sign({ sub: 'rotated' }))
  t.equal(res.status, 200, 'the unknown kid triggered a refetch that found the new key')
  t.equal(res.sub, 'rotated')
  t.equal(idp.fetches, 2)
  t.equal((await whoami(app, await oldKey.sign())).status, 200, 'the old key still works while published')
})

t.test('a retired key stops verifying once the cached set expires', async (t) => {
  const idp = await startJwksServer(t, ['RS256'])
  const { app } = await buildAuthApp(t, jwksConfig(idp.url, { JWT_JWKS_CACHE_SECONDS: 1 }))
  const [oldKey] = idp.keys as [TestKey]
  const token = await oldKey.sign()
  t.equal((await whoami(app, token)).status, 200)
  idp.removeKey(oldKey.kid)
  await until('the retired key to be refused', async () => (await whoami(app, token)).code === 'SWB_AUTH_BAD_SIGNATURE')
  t.pass('refused with SWB_AUTH_BAD_SIGNATURE after the cache refreshed')
})

t.test('cooldown floor: a flood of unknown kids causes no flood of fetches, and gets retryable answers', async (t) => {
  const idp = await startJwksServer(t, ['RS256'])
  const { app } = await buildAuthApp(t, jwksConfig(idp.url, { JWT_JWKS_COOLDOWN_SECONDS: 30 }))
  t.equal((await whoami(app, await idp.keys[0]!.sign())).status, 200)

  const strangers = await Promise.all(Array.from({ length: 20 }, async () => unknownKidToken()))
  const concurrent = await Promise.all(strangers.map(async (token) => whoami(app, token)))
  for (const token of strangers.slice(0, 10)) concurrent.push(await whoami(app, token))
  // The key might have been published since the set was fetched: not a final 401 before the set is fetched again.
  t.ok(concurrent.every((r) => r.status === 503 && r.code === 'SWB_AUTH_JWKS_UNAVAILABLE'), 'every unknown kid inside the cooldown is told to retry')
  const retryAfter = concurrent.map((r) => Number(r.headers['retry-after']))
  t.ok(retryAfter.every((s) => s >= 1 && s <= 31), `Retry-After points at the end of the cooldown (${Math.min(...retryAfter)}..${Math.max(...retryAfter)} s)`)
  t.equal(idp.fetches, 1, '30 unknown kids inside the cooldown: no refetch at all')
})

t.test('after the cooldown, an unknown kid refetches once', async (t) => {
  const idp = await startJwksServer(t, ['RS256'])
  // 2 s rather than 1 s: the "inside the cooldown" step must not race a loaded CI machine.
  const { app } = await buildAuthApp(t, jwksConfig(idp.url, { JWT_JWKS_COOLDOWN_SECONDS: 2 }))
  t.equal((await whoami(app, await idp.keys[0]!.sign())).status, 200)
  const newKey = await idp.addKey('ES256')
  const fresh = await newKey.sign({ sub: 'late' })
  const early = await whoami(app, fresh)
  t.match(early, { status: 503, code: 'SWB_AUTH_JWKS_UNAVAILABLE' }, 'inside the cooldown the new kid is not fetched yet: retry, not a final 401')
  t.ok(Number(early.headers['retry-after']) >= 1 && Number(early.headers['retry-after']) <= 3, 'Retry-After: when the cooldown ends')

  // Keep a stream of unknown kids going while we wait: they must not add fetches.
  const answers: number[] = []
  await until('the new key to be fetched after the cooldown', async () => {
    const [res] = await Promise.all([whoami(app, fresh), whoami(app, await unknownKidToken()), whoami(app, await unknownKidToken())])
    answers.push(res.status)
    return res.status === 200
  })
  t.ok(answers.every((s) => s === 503 || s === 200), 'the rotated key was never refused for good')
  t.equal(idp.fetches, 2, 'one fetch at start, one after the cooldown')
})

t.test('a kid still missing from a set fetched after the token arrived is a final 401', async (t) => {
  const idp = await startJwksServer(t, ['RS256'])
  const { app } = await buildAuthApp(t, jwksConfig(idp.url, { JWT_JWKS_COOLDOWN_SECONDS: 0 }))
  t.equal((await whoami(app, await idp.keys[0]!.sign())).status, 200)
  const res = await whoami(app, await unknownKidToken())
  t.match(res, { status: 401, code: 'SWB_AUTH_BAD_SIGNATURE' }, 'refetched at once (no cooldown), and the key is not there')
  t.equal(idp.fetches, 2)
})

t.test('tokens without kid verify when several keys of that type are published', async (t) => {
  const idp = await startJwksServer(t, ['ES256', 'ES256'])
  const { app } = await buildAuthApp(t, jwksConfig(idp.url))
  for (const key of idp.keys) {
    t.equal((await whoami(app, await key.sign({}, { kid: null }))).status, 200)
  }
  const outsider = await generateTestKey('ES256')
  const res = await whoami(app, await outsider.sign({}, { kid: null }))
  t.equal(res.status, 401)
  t.equal(res.code, 'SWB_AUTH_BAD_SIGNATURE')
})

t.test('HMAC tokens are refused in JWKS mode without touching the IdP (no algorithm confusion)', async (t) => {
  const idp = await startJwksServer(t, ['RS256'])
  const { app } = await buildAuthApp(t, jwksConfig(idp.url))
  await whoami(app, await idp.keys[0]!.sign())
  const before = idp.fetches
  for (const secret of [JSON.stringify(idp.keys[0]!.publicJwk), idp.keys[0]!.publicPem]) {
    const res = await whoami(app, await signTestToken({ sub: 'admin' }, { secret, alg: 'HS256' }))
    t.equal(res.status, 401)
    t.equal(res.code, 'SWB_AUTH_ALGORITHM_NOT_ALLOWED')
  }
  t.equal(idp.fetches, before)
})

t.test('JWT_ALGORITHMS narrows what a JWKS may verify', async (t) => {
  const idp = await startJwksServer(t, ['RS256', 'ES256'])
  const { app } = await buildAuthApp(t, jwksConfig(idp.url, { JWT_ALGORITHMS: 'ES256' }))
  t.equal((await whoami(app, await idp.keys[0]!.sign())).code, 'SWB_AUTH_ALGORITHM_NOT_ALLOWED')
  t.equal((await whoami(app, await idp.keys[1]!.sign())).status, 200)
  await t.rejects(buildAuthApp(t, jwksConfig(idp.url, { JWT_ALGORITHMS: 'HS256' })), /JWT_ALGORITHMS: HS256 cannot be used with JWT_JWKS_URL/)
})
