import t from 'tap'
import { startJwksServer, type TestKey } from '../../helpers/jwks-server.js'
import { buildAuthApp, jwksConfig, unknownKidToken, until, whoami } from './app.js'

// What happens when the IdP's JWKS endpoint is down, hangs or fails: bounded waits, no fetch storms,
// and keys already seen keep working.

t.test('JWKS unreachable and nothing cached: 503 SWB_AUTH_JWKS_UNAVAILABLE at once', async (t) => {
  const idp = await startJwksServer(t, ['RS256'])
  const [key] = idp.keys as [TestKey]
  await idp.close() // nothing listens on that port any more
  // A fetch timeout far longer than "at once" may take on a busy machine: a refused connection is then
  // told apart from a fetch that waited for the timeout by a margin that load does not eat.
  const timeoutMs = 20_000
  const { app } = await buildAuthApp(t, jwksConfig(idp.url, { JWT_JWKS_TIMEOUT_MS: timeoutMs }))
  const started = Date.now()
  const res = await whoami(app, await key.sign())
  t.equal(res.status, 503)
  t.equal(res.code, 'SWB_AUTH_JWKS_UNAVAILABLE')
  t.equal(res.headers['retry-after'], '5')
  t.notOk(res.headers['www-authenticate'], 'not the client token\'s fault: no Bearer challenge')
  t.ok(Date.now() - started < timeoutMs / 4, `no hang (${Date.now() - started} ms; the fetch timeout is ${timeoutMs} ms)`)
})

t.test('a hanging JWKS endpoint is cut off by JWT_JWKS_TIMEOUT_MS', async (t) => {
  const idp = await startJwksServer(t, ['RS256'])
  idp.setMode('hang')
  const { app } = await buildAuthApp(t, jwksConfig(idp.url, { JWT_JWKS_TIMEOUT_MS: 1000 }))
  const token = await idp.keys[0]!.sign()
  const started = Date.now()
  const res = await whoami(app, token)
  const elapsed = Date.now() - started
  t.equal(res.status, 503)
  t.equal(res.code, 'SWB_AUTH_JWKS_UNAVAILABLE')
  t.ok(elapsed < 3000, `answered in ${elapsed} ms (timeout 1000 ms)`)

  // Inside the failure backoff, further requests fail fast without waiting on the IdP again.
  // Proved by the IdP's count, not a stopwatch: a request could only wait for the timeout on a fetch of
  // its own, and one that did would have reached the (hanging) IdP long before it answered.
  const fetches = idp.fetches
  const more = await Promise.all(Array.from({ length: 10 }, async () => whoami(app, token)))
  t.ok(more.every((r) => r.code === 'SWB_AUTH_JWKS_UNAVAILABLE'))
  t.equal(idp.fetches, fetches, 'none reached the IdP, so none waited for the 1000 ms timeout')
})

t.test('an IdP outage is not amplified, and recovery needs no restart', async (t) => {
  const idp = await startJwksServer(t, ['RS256'])
  idp.setMode('error')
  const { app } = await buildAuthApp(t, jwksConfig(idp.url, { JWT_JWKS_COOLDOWN_SECONDS: 1 }))
  const token = await idp.keys[0]!.sign()
  const flood = await Promise.all(Array.from({ length: 30 }, async () => whoami(app, token)))
  t.ok(flood.every((r) => r.status === 503 && r.code === 'SWB_AUTH_JWKS_UNAVAILABLE'))
  t.ok(idp.fetches <= 2, `30 requests during the outage made ${idp.fetches} fetches`)

  idp.setMode('ok')
  await until('service to recover once the IdP answers', async () => (await whoami(app, token)).status === 200)
  t.pass('recovered')
})

t.test('stale keys keep verifying while the IdP is down; unseen kids get 503, not 401', async (t) => {
  const idp = await startJwksServer(t, ['RS256'])
  const { app, logs } = await buildAuthApp(t, jwksConfig(idp.url, { JWT_JWKS_CACHE_SECONDS: 1, JWT_JWKS_COOLDOWN_SECONDS: 0 }))
  const token = await idp.keys[0]!.sign({ sub: 'still-here' })
  t.equal((await whoami(app, token)).status, 200)
  idp.setMode('error')
  const fetches = idp.fetches
  // Keep verifying until the cached set is past JWT_JWKS_CACHE_SECONDS and a refresh was tried (and failed).
  await until('a refresh attempt', async () => {
    const res = await whoami(app, token)
    t.equal(res.status, 200, 'the last known keys verify throughout')
    return idp.fetches > fetches
  })
  const res = await whoami(app, token)
  t.equal(res.status, 200, 'and still after the failed refresh')
  t.equal(res.sub, 'still-here')
  const unseen = await whoami(app, await unknownKidToken())
  t.equal(unseen.status, 503, 'a kid we never saw may exist at the IdP: unavailable, not a bad signature')
  t.equal(unseen.code, 'SWB_AUTH_JWKS_UNAVAILABLE')
  const warning = logs.lines.find((l) => l.msg === 'JWKS fetch failed')
  t.ok(warning, 'the failed fetch is logged')
  t.equal(warning?.usingCachedKeys, true)
})
