import t from 'tap'
import { build } from '../../helpers/build.js'

t.test('GET /health/live answers ok', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/health/live' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'ok' })
  t.ok(res.headers['x-request-id'], 'every response carries its request id')
})

t.test('GET /health/ready reflects checks and draining', async (t) => {
  const app = await build(t)
  let ok = true
  app.health.addCheck('dep', () => ({ ok, detail: ok ? undefined : 'down' }))

  let res = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(res.statusCode, 200)
  t.equal(res.json().status, 'ready')

  ok = false
  res = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(res.statusCode, 503)
  t.same(res.json().checks.dep, { ok: false, detail: 'down' })

  ok = true
  app.health.startDraining()
  res = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(res.statusCode, 503, 'draining turns readiness off at once')
  t.equal(res.json().draining, true)
})

t.test('a check that hangs does not hang readiness', async (t) => {
  const app = await build(t)
  app.health.addCheck('stuck', () => new Promise(() => {}))
  const res = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(res.statusCode, 503)
  t.equal(res.json().checks.stuck.detail, 'check timed out')
})
