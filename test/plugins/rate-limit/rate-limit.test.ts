import t from 'tap'
import Fastify, { type FastifyRequest } from 'fastify'
import { build } from '../../helpers/build.js'
import { signTestToken } from '../../helpers/tokens.js'
import { testConfig } from '../../helpers/config.js'
import { installErrorHandlers } from '../../../src/error-handler.js'
import rateLimit, { identityOrIpKey, routeRateLimit } from '../../../plugins/rate-limit/index.js'
import auth from '../../../plugins/auth/index.js'
import turn from '../../../plugins/turn/index.js'

const URL = '/v1/turn/credentials'

t.test('TURN issuance is limited per user: 429 problem with Retry-After', async (t) => {
  const app = await build(t, { TURN_RATE_LIMIT_MAX: 3, TURN_RATE_LIMIT_WINDOW_SECONDS: 60 })
  const alice = { authorization: `Bearer ${await signTestToken({ sub: 'alice' })}` }
  const bob = { authorization: `Bearer ${await signTestToken({ sub: 'bob' })}` }
  for (let i = 1; i <= 3; i++) {
    const ok = await app.inject({ method: 'POST', url: URL, headers: alice })
    t.equal(ok.statusCode, 200, `request ${i} of 3`)
    t.equal(ok.headers['x-ratelimit-remaining'], String(3 - i))
  }
  const limited = await app.inject({ method: 'POST', url: URL, headers: alice })
  t.equal(limited.statusCode, 429)
  t.match(limited.headers['content-type'], /^application\/problem\+json/)
  t.match(limited.json(), { status: 429, code: 'SWB_RATE_LIMITED', title: 'Too Many Requests' })
  const retryAfter = Number(limited.headers['retry-after'])
  t.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After in seconds (${retryAfter})`)
  t.notOk('iceServers' in limited.json())

  const otherIp = await app.inject({ method: 'POST', url: URL, headers: alice, remoteAddress: '198.51.100.7' })
  t.equal(otherIp.statusCode, 429, 'the same user from another IP/device shares the budget')
  const bobRes = await app.inject({ method: 'POST', url: URL, headers: bob })
  t.equal(bobRes.statusCode, 200, 'another user on the same IP is not affected')

  const freshToken = { authorization: `Bearer ${await signTestToken({ sub: 'alice' })}` }
  t.equal((await app.inject({ method: 'POST', url: URL, headers: freshToken })).statusCode, 429, 'a new token for the same sub does not reset it')
})

t.test('unauthenticated requests are refused by auth before they are counted', async (t) => {
  const app = await build(t, { TURN_RATE_LIMIT_MAX: 1 })
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ method: 'POST', url: URL })).statusCode, 401)
  const alice = { authorization: `Bearer ${await signTestToken({ sub: 'alice' })}` }
  t.equal((await app.inject({ method: 'POST', url: URL, headers: alice })).statusCode, 200)
})

t.test('the budget comes back after the window', async (t) => {
  const app = await build(t, { TURN_RATE_LIMIT_MAX: 1, TURN_RATE_LIMIT_WINDOW_SECONDS: 1 })
  const alice = { authorization: `Bearer ${await signTestToken()}` }
  t.equal((await app.inject({ method: 'POST', url: URL, headers: alice })).statusCode, 200)
  t.equal((await app.inject({ method: 'POST', url: URL, headers: alice })).statusCode, 429)
  const deadline = Date.now() + 3000
  let status = 429
  while (status === 429 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    status = (await app.inject({ method: 'POST', url: URL, headers: alice })).statusCode
  }
  t.equal(status, 200, 'allowed again within ~1 s')
})

t.test('routes that do not opt in are not limited (global: false)', async (t) => {
  const app = await build(t, { TURN_RATE_LIMIT_MAX: 1 })
  for (let i = 0; i < 5; i++) t.equal((await app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200)
})

t.test('without an identity the key is the client IP (IPv6 folded to its /64)', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  installErrorHandlers(app)
  await app.register(rateLimit)
  app.get('/limited', { config: { rateLimit: routeRateLimit({ max: 1, windowSeconds: 60 }) } }, async () => ({ ok: true }))
  await app.ready()
  t.equal((await app.inject({ url: '/limited', remoteAddress: '192.0.2.1' })).statusCode, 200)
  const second = await app.inject({ url: '/limited', remoteAddress: '192.0.2.1' })
  t.equal(second.statusCode, 429)
  t.equal(second.json().code, 'SWB_RATE_LIMITED')
  t.ok(second.headers['retry-after'])
  t.equal((await app.inject({ url: '/limited', remoteAddress: '192.0.2.2' })).statusCode, 200, 'another IP has its own budget')
  t.equal((await app.inject({ url: '/limited', remoteAddress: '2001:db8:1:2::1' })).statusCode, 200)
  t.equal((await app.inject({ url: '/limited', remoteAddress: '2001:db8:1:2::ffff' })).statusCode, 429, 'same IPv6 /64 → same budget')

  t.equal(identityOrIpKey({ identity: null, ip: '203.0.113.9' } as unknown as FastifyRequest), 'ip:203.0.113.9')
  t.equal(identityOrIpKey({ identity: { sub: 'alice', exp: 0 }, ip: '203.0.113.9' } as unknown as FastifyRequest), 'sub:alice')
})

t.test('the TURN routes refuse to start without the rate-limit plugin (no silent unlimited issuance)', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.decorate('config', testConfig())
  await app.register(auth)
  await t.rejects(async () => { await app.register(turn, { prefix: '/v1/turn' }) }, /switchboard-rate-limit/)
})
