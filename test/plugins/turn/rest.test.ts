import t from 'tap'
import { createHmac } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { build, buildWithLogs } from '../../helpers/build.js'

const KEY = 'rest-api-key-0123456789abcdef'
const OTHER_KEY = 'second-rest-api-key-0123456789'
const TURN_SECRET = 'test-turn-secret-0123456789'
const KEYS = `${KEY},${OTHER_KEY}`

function hmac (username: string): string {
  return createHmac('sha1', TURN_SECRET).update(username).digest('base64')
}

t.test('GET with query parameters answers the draft shape', async (t) => {
  const app = await build(t, { TURN_REST_API_KEYS: KEYS })
  const res = await app.inject({ method: 'GET', url: `/v1/turn/rest?service=turn&username=mbzrxpgjys&key=${KEY}` })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  t.equal(res.headers['cache-control'], 'no-store')
  const body = res.json()
  t.same(Object.keys(body).sort(), ['password', 'ttl', 'uris', 'username'])
  t.match(body.username, /^\d{10}:mbzrxpgjys$/)
  t.equal(body.password, hmac(body.username))
  t.equal(body.ttl, 3600)
  t.same(body.uris, ['turn:127.0.0.1:3478?transport=udp', 'turn:127.0.0.1:3478?transport=tcp'], 'TURN URIs only, no STUN')
})

t.test('Janus turn_rest_api: POST with service/api/key/username in the query AND a form body', async (t) => {
  const app = await build(t, { TURN_REST_API_KEYS: KEYS })
  // What janus-gateway src/turnrest.c sends: the same query string in the URL and as POSTFIELDS.
  const query = `service=turn&api=${encodeURIComponent(OTHER_KEY)}&key=${encodeURIComponent(OTHER_KEY)}&username=janus-handle-1`
  const res = await app.inject({ method: 'POST', url: `/v1/turn/rest?${query}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: query })
  t.equal(res.statusCode, 200)
  t.match(res.json().username, /^\d{10}:janus-handle-1$/)
  t.type(res.json().ttl, 'number', 'Janus requires an integer ttl')

  const get = await app.inject({ method: 'GET', url: `/v1/turn/rest?${query}` })
  t.equal(get.statusCode, 200, 'turn_rest_api_method = "GET" works too')
})

t.test('other ways to pass the parameters', async (t) => {
  const app = await build(t, { TURN_REST_API_KEYS: KEYS })
  const header = await app.inject({ method: 'GET', url: '/v1/turn/rest?service=turn&username=u1', headers: { 'x-api-key': KEY } })
  t.equal(header.statusCode, 200, 'X-API-Key header')
  const apiOnly = await app.inject({ method: 'GET', url: `/v1/turn/rest?service=turn&api=${KEY}` })
  t.equal(apiOnly.statusCode, 200, 'api= alone (older Janus)')
  t.match(apiOnly.json().username, /^\d{10}$/, 'no username: the timestamp alone (coturn accepts it)')
  const json = await app.inject({ method: 'POST', url: '/v1/turn/rest', payload: { service: 'turn', username: 'u2', key: KEY } })
  t.equal(json.statusCode, 200, 'JSON body')
  t.match(json.json().username, /:u2$/)
  const form = await app.inject({ method: 'POST', url: '/v1/turn/rest', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `service=turn&username=a%40b.example&key=${KEY}` })
  t.equal(form.statusCode, 200, 'form body only')
  t.match(form.json().username, /^\d{10}:~[A-Za-z0-9_-]{22}$/, 'an unsafe username is mapped like a JWT sub')
  const bare = await app.inject({ method: 'POST', url: `/v1/turn/rest?service=turn&key=${KEY}` })
  t.equal(bare.statusCode, 200, 'POST without a body')
})

t.test('bad requests', async (t) => {
  const app = await build(t, { TURN_REST_API_KEYS: KEYS, TURN_RATE_LIMIT_MAX: 1000 })
  const cases: Array<[string, string, number, string]> = [
    ['missing service', `/v1/turn/rest?username=u&key=${KEY}`, 400, 'SWB_VALIDATION'],
    ['wrong service', `/v1/turn/rest?service=stun&key=${KEY}`, 400, 'SWB_VALIDATION'],
    ['missing key', '/v1/turn/rest?service=turn', 401, 'SWB_TURN_REST_API_KEY_INVALID'],
    ['wrong key', '/v1/turn/rest?service=turn&key=rest-api-key-0123456789abcdeX', 401, 'SWB_TURN_REST_API_KEY_INVALID'],
    ['key prefix', `/v1/turn/rest?service=turn&key=${KEY.slice(0, -1)}`, 401, 'SWB_TURN_REST_API_KEY_INVALID'],
    ['empty key', '/v1/turn/rest?service=turn&key=', 401, 'SWB_TURN_REST_API_KEY_INVALID'],
    ['username too long', `/v1/turn/rest?service=turn&key=${KEY}&username=${'u'.repeat(300)}`, 400, 'SWB_VALIDATION']
  ]
  for (const [name, url, status, code] of cases) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, status, name)
    t.match(res.headers['content-type'], /^application\/problem\+json/, name)
    t.equal(res.json().code, code, name)
    if (status === 401) t.match(res.headers['www-authenticate'], /^ApiKey/, `${name}: challenge header`)
  }
  const wrongHeader = await app.inject({ method: 'GET', url: `/v1/turn/rest?service=turn&key=${KEY}`, headers: { 'x-api-key': 'wrong-wrong-wrong-wrong' } })
  t.equal(wrongHeader.statusCode, 401, 'the header wins over the query: a wrong header key is refused')
  const malformed = await app.inject({ method: 'POST', url: '/v1/turn/rest', headers: { 'content-type': 'application/json' }, payload: '{"service":' })
  t.equal(malformed.statusCode, 400)
  t.equal(malformed.json().code, 'SWB_MALFORMED_JSON')
})

t.test('with no TURN_REST_API_KEYS the endpoint is disabled (403)', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/v1/turn/rest?service=turn&key=anything-anything-anything' })
  t.equal(res.statusCode, 403)
  t.equal(res.json().code, 'SWB_TURN_REST_DISABLED')
})

t.test('no TURN server configured: 503 instead of an answer Janus would reject', async (t) => {
  const app = await build(t, { TURN_REST_API_KEYS: KEY, TURN_URLS: '' })
  const res = await app.inject({ method: 'GET', url: `/v1/turn/rest?service=turn&key=${KEY}` })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'SWB_TURN_NOT_CONFIGURED')
})

t.test('the API key (key=, api=, X-API-Key) and the password never reach the logs', async (t) => {
  const { app, logs } = await buildWithLogs(t, { TURN_REST_API_KEYS: KEYS })
  const ok = await app.inject({ method: 'GET', url: `/v1/turn/rest?service=turn&username=u&api=${KEY}&key=${KEY}` })
  t.equal(ok.statusCode, 200)
  await app.inject({ method: 'GET', url: '/v1/turn/rest?service=turn', headers: { 'x-api-key': OTHER_KEY } })
  await app.inject({ method: 'GET', url: '/v1/turn/rest?service=turn&key=guessed-key-guessed-key' })
  const text = logs.text()
  t.ok(text.includes('/v1/turn/rest?service=turn'), 'the request URL is logged')
  t.ok(text.includes('api=%5BREDACTED%5D&key=%5BREDACTED%5D'), 'with the key values redacted')
  t.notOk(text.includes(KEY), 'no configured key')
  t.notOk(text.includes(OTHER_KEY), 'no key from the header')
  t.notOk(text.includes('guessed-key-guessed-key'), 'no wrong key either')
  t.notOk(text.includes(ok.json().password), 'no TURN password')
})

t.test('rate limited per requested username, after the key check', async (t) => {
  const app = await build(t, { TURN_REST_API_KEYS: KEY, TURN_RATE_LIMIT_MAX: 2 })
  const get = async (q: string): Promise<LightMyRequestResponse> => app.inject({ method: 'GET', url: `/v1/turn/rest?service=turn&${q}` })
  for (let i = 0; i < 3; i++) t.equal((await get('username=x&key=bad-bad-bad-bad-bad-bad')).statusCode, 401, 'bad keys are refused, not counted')
  t.equal((await get(`username=a&key=${KEY}`)).statusCode, 200)
  t.equal((await get(`username=a&key=${KEY}`)).statusCode, 200)
  const limited = await get(`username=a&key=${KEY}`)
  t.equal(limited.statusCode, 429)
  t.equal(limited.json().code, 'SWB_RATE_LIMITED')
  t.match(limited.headers['retry-after'], /^\d+$/)
  const post = await app.inject({ method: 'POST', url: '/v1/turn/rest', payload: { service: 'turn', username: 'a', key: KEY } })
  t.equal(post.statusCode, 429, 'GET and POST share one budget')
  t.equal((await get(`username=b&key=${KEY}`)).statusCode, 200, 'another user of the same Janus server is not affected')
  const head = await app.inject({ method: 'HEAD', url: `/v1/turn/rest?service=turn&username=c&key=${KEY}` })
  t.equal(head.statusCode, 404, 'no HEAD route: it would issue a credential and drop it')
})
