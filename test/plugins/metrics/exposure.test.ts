import t from 'tap'
import { build, listen } from '../../helpers/build.js'

/*
 * /metrics on the public port in production is an explicit choice: METRICS_PORT (tested in
 * metrics.test.ts) or METRICS_TOKEN. Without either it is not served there.
 */

const PRODUCTION = { NODE_ENV: 'production', TURN_SECRET: 'metrics-test-turn-secret-0123456789-abc' } as const
const TOKEN = 'scrape-token-0123456789-abcdefghij'

t.test('production without METRICS_PORT or METRICS_TOKEN: /metrics is a 404 problem, not an open endpoint', async (t) => {
  const app = await build(t, PRODUCTION)
  const url = await listen(app)
  const res = await fetch(`${url}/metrics`)
  t.equal(res.status, 404)
  t.match(res.headers.get('content-type'), /^application\/problem\+json/)
  t.match(await res.json(), { code: 'SWB_NOT_FOUND' })
  const doc = await app.inject({ url: '/docs/json' })
  t.notOk((doc.json() as { paths: Record<string, unknown> }).paths['/metrics'], 'and it is not in the OpenAPI document')
})

t.test('METRICS_TOKEN: Authorization: Bearer <token> or a 401 problem', async (t) => {
  const app = await build(t, { ...PRODUCTION, METRICS_TOKEN: TOKEN })
  const url = await listen(app)
  const scrape = async (authorization?: string): Promise<Response> =>
    fetch(`${url}/metrics`, authorization === undefined ? {} : { headers: { authorization } })

  const good = await scrape(`Bearer ${TOKEN}`)
  t.equal(good.status, 200)
  t.match(await good.text(), /switchboard_ws_connections/)

  for (const [why, header] of [
    ['no Authorization', undefined],
    ['a wrong token', 'Bearer scrape-token-0123456789-abcdefghiX'],
    ['a prefix of the token', `Bearer ${TOKEN.slice(0, -1)}`],
    ['the token with another scheme', `Basic ${TOKEN}`],
    ['an empty bearer', 'Bearer ']
  ] as const) {
    const res = await scrape(header)
    t.equal(res.status, 401, why)
    t.match(res.headers.get('content-type'), /^application\/problem\+json/, `${why}: problem+json`)
    t.match(res.headers.get('www-authenticate'), /^Bearer/, `${why}: says which scheme`)
    const body = await res.text()
    t.match(JSON.parse(body), { status: 401, code: 'SWB_METRICS_UNAUTHORIZED' }, why)
    t.notOk(body.includes(TOKEN), `${why}: the token is not echoed`)
  }
})

t.test('the token applies in development too; without one development serves /metrics openly', async (t) => {
  const guarded = await build(t, { NODE_ENV: 'development', METRICS_TOKEN: TOKEN })
  t.equal((await guarded.inject({ url: '/metrics' })).statusCode, 401)
  t.equal((await guarded.inject({ url: '/metrics', headers: { authorization: `bearer ${TOKEN}` } })).statusCode, 200, 'the scheme is case-insensitive')
  const open = await build(t, { NODE_ENV: 'development' })
  t.equal((await open.inject({ url: '/metrics' })).statusCode, 200)
})
