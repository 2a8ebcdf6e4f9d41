import t, { type Test } from 'tap'
import { build, buildWithLogs } from '../../helpers/build.js'
import { signTestToken } from '../../helpers/tokens.js'
import {
  FAKE_CLOUDFLARE_CREDENTIALS, FAKE_TWILIO_CREDENTIALS, startFakeCloudflare, startFakeTwilio, type FakeProvider
} from '../../helpers/fake-providers.js'
import type { Config } from '../../../src/config.js'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'

const CF = { keyId: 'cf-key-id-123', apiToken: 'cf-api-token-secret-value' }
const TW = { accountSid: 'AC0123456789abcdef0123456789abcdef', authToken: 'twilio-auth-token-secret' }
// Short, so the timeout case stays fast: two attempts ≈ 0.5 s. Only the case that waits for the timeout
// uses it: elsewhere a busy machine could make a healthy answer miss 250 ms and cause a retry.
const TIMEOUT_MS = 250

interface Setup { provider: 'cloudflare' | 'twilio', start: (t: Test) => Promise<FakeProvider>, config: (url: string) => Partial<Config> }

const setups: Setup[] = [
  {
    provider: 'cloudflare',
    start: async (t) => startFakeCloudflare(t, CF),
    config: (url) => ({ TURN_PROVIDER: 'cloudflare', CLOUDFLARE_API_URL: url, CLOUDFLARE_TURN_KEY_ID: CF.keyId, CLOUDFLARE_TURN_API_TOKEN: CF.apiToken })
  },
  {
    provider: 'twilio',
    start: async (t) => startFakeTwilio(t, TW),
    config: (url) => ({ TURN_PROVIDER: 'twilio', TWILIO_API_URL: url, TWILIO_ACCOUNT_SID: TW.accountSid, TWILIO_AUTH_TOKEN: TW.authToken })
  }
]

async function issue (app: FastifyInstance, ttl?: number): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: '/v1/turn/credentials',
    headers: { authorization: `Bearer ${await signTestToken()}` },
    ...(ttl === undefined ? {} : { payload: { ttl } })
  })
}

t.test('cloudflare: documented request, answer mapped, port-53 URLs dropped', async (t) => {
  const fake = await startFakeCloudflare(t, CF)
  const app = await build(t, { ...setups[0]!.config(fake.url), STUN_URLS: '' })
  const res = await issue(app, 600)
  t.equal(res.statusCode, 200)
  t.same(fake.requests.map((r) => ({ ...r })), [{
    method: 'POST',
    path: `/v1/turn/keys/${CF.keyId}/credentials/generate-ice-servers`,
    contentType: 'application/json',
    authorization: `Bearer ${CF.apiToken}`,
    body: '{"ttl":600}'
  }])
  const body = res.json()
  t.same(body.iceServers, [
    { urls: ['stun:stun.cloudflare.com:3478'] },
    {
      urls: [
        'turn:turn.cloudflare.com:3478?transport=udp',
        'turn:turn.cloudflare.com:3478?transport=tcp',
        'turn:turn.cloudflare.com:80?transport=tcp',
        'turns:turn.cloudflare.com:5349?transport=tcp',
        'turns:turn.cloudflare.com:443?transport=tcp'
      ],
      ...FAKE_CLOUDFLARE_CREDENTIALS
    }
  ])
  t.equal(body.ttl, 600)
  t.ok(Math.abs(Date.parse(body.expiresAt) - (Date.now() + 600_000)) < 2000)
})

t.test('cloudflare: the older single-object iceServers form is accepted', async (t) => {
  const fake = await startFakeCloudflare(t, { ...CF, legacyShape: true })
  const app = await build(t, { ...setups[0]!.config(fake.url), STUN_URLS: 'stun:stun.example.org' })
  const res = await issue(app)
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.same(body.iceServers[0], { urls: ['stun:stun.example.org'] }, 'configured STUN_URLS come first')
  t.equal(body.iceServers[1].username, FAKE_CLOUDFLARE_CREDENTIALS.username)
  t.notOk(body.iceServers[1].urls.some((u: string) => /:53(\?|$)/.test(u)), 'port 53 dropped')
  t.equal(JSON.parse(fake.requests[0]!.body).ttl, 3600, 'asks for TURN_TTL_SECONDS by default')
})

t.test('twilio: documented request, answer mapped, legacy url dropped, ttl from the answer', async (t) => {
  const fake = await startFakeTwilio(t, TW)
  const app = await build(t, { ...setups[1]!.config(fake.url), STUN_URLS: '' })
  const res = await issue(app, 900)
  t.equal(res.statusCode, 200)
  const [req] = fake.requests
  t.equal(req?.method, 'POST')
  t.equal(req?.path, `/2010-04-01/Accounts/${TW.accountSid}/Tokens.json`)
  t.equal(req?.authorization, `Basic ${Buffer.from(`${TW.accountSid}:${TW.authToken}`).toString('base64')}`)
  t.equal(req?.contentType, 'application/x-www-form-urlencoded')
  t.equal(req?.body, 'Ttl=900')
  const body = res.json()
  t.same(body.iceServers, [
    { urls: ['stun:global.stun.twilio.com:3478'] },
    { urls: ['turn:global.turn.twilio.com:3478?transport=udp'], ...FAKE_TWILIO_CREDENTIALS },
    { urls: ['turn:global.turn.twilio.com:3478?transport=tcp'], ...FAKE_TWILIO_CREDENTIALS },
    { urls: ['turn:global.turn.twilio.com:443?transport=tcp'], ...FAKE_TWILIO_CREDENTIALS }
  ], 'urls become arrays, `url` is gone, the port-53 entry is dropped')
  t.equal(body.ttl, 900, 'the ttl string of the answer, as a number')
})

for (const setup of setups) {
  t.test(`${setup.provider}: failure modes map to exact problems, never a hang`, async (t) => {
    const fake = await setup.start(t)
    const app = await build(t, { ...setup.config(fake.url), TURN_RATE_LIMIT_MAX: 1000 })

    fake.mode = 'fail-once'
    let res = await issue(app)
    t.equal(res.statusCode, 200, '5xx once then ok: the one retry succeeds')
    t.equal(fake.requests.length, 2)

    fake.mode = 'always-5xx'
    fake.requests.length = 0
    res = await issue(app)
    t.equal(res.statusCode, 503, 'always 5xx → unavailable')
    t.equal(res.json().code, 'SWB_TURN_UPSTREAM_UNAVAILABLE')
    t.equal(fake.requests.length, 2, 'exactly one retry')

    fake.mode = 'html'
    fake.requests.length = 0
    res = await issue(app)
    t.equal(res.statusCode, 502, 'HTML answer → bad response')
    t.equal(res.json().code, 'SWB_TURN_UPSTREAM_BAD_RESPONSE')
    t.equal(fake.requests.length, 1, 'a bad answer is not retried')

    fake.mode = 'wrong-json'
    res = await issue(app)
    t.equal(res.statusCode, 502, 'JSON of the wrong shape → bad response')
    t.equal(res.json().code, 'SWB_TURN_UPSTREAM_BAD_RESPONSE')
    t.notOk(JSON.stringify(res.json()).includes('servers'), 'the problem does not echo the upstream answer')

    fake.mode = 'slow'
    fake.requests.length = 0
    const impatient = await build(t, { ...setup.config(fake.url), TURN_UPSTREAM_TIMEOUT_MS: TIMEOUT_MS })
    const started = Date.now()
    res = await issue(impatient)
    const elapsed = Date.now() - started
    t.equal(res.statusCode, 503, 'no answer → unavailable after the timeout and one retry')
    t.equal(res.json().code, 'SWB_TURN_UPSTREAM_UNAVAILABLE')
    t.match(res.json().detail, /timeout/)
    t.equal(fake.requests.length, 2)
    // The upper bound leaves room for a busy machine; what it rules out is waiting on the upstream.
    t.ok(elapsed >= 2 * TIMEOUT_MS - 20 && elapsed < 2 * TIMEOUT_MS + 2000, `bounded by 2 × TURN_UPSTREAM_TIMEOUT_MS (took ${elapsed} ms)`)

    await fake.goDown()
    res = await issue(app)
    t.equal(res.statusCode, 503, 'connection refused → unavailable')
    t.equal(res.json().code, 'SWB_TURN_UPSTREAM_UNAVAILABLE')
    t.match(res.json().detail, /connection failed/)
  })

  t.test(`${setup.provider}: a 4xx from upstream (wrong API credentials) is a 502, not retried`, async (t) => {
    const fake = await setup.start(t)
    const config = setup.config(fake.url)
    const wrong: Partial<Config> = setup.provider === 'cloudflare'
      ? { ...config, CLOUDFLARE_TURN_API_TOKEN: 'wrong-token' }
      : { ...config, TWILIO_AUTH_TOKEN: 'wrong-token' }
    const app = await build(t, wrong)
    const res = await issue(app)
    t.equal(res.statusCode, 502)
    t.equal(res.json().code, 'SWB_TURN_UPSTREAM_BAD_RESPONSE')
    t.match(res.json().detail, /HTTP 401/)
    t.equal(fake.requests.length, 1)
  })

  t.test(`${setup.provider}: the API token and returned credentials never reach the logs`, async (t) => {
    const fake = await setup.start(t)
    const { app, logs } = await buildWithLogs(t, setup.config(fake.url))
    fake.mode = 'fail-once'
    const res = await issue(app)
    t.equal(res.statusCode, 200)
    const text = logs.text()
    t.ok(text.includes('TURN provider call failed'), 'the failed first attempt is logged')
    const secret = setup.provider === 'cloudflare' ? CF.apiToken : TW.authToken
    const basic = Buffer.from(`${TW.accountSid}:${TW.authToken}`).toString('base64')
    t.notOk(text.includes(secret), 'no API token')
    t.notOk(text.includes(basic), 'no Basic credentials')
    t.notOk(text.includes(FAKE_CLOUDFLARE_CREDENTIALS.credential) || text.includes(FAKE_TWILIO_CREDENTIALS.credential), 'no TURN credential')
  })

  t.test(`${setup.provider}: the compat endpoint maps the first TURN server`, async (t) => {
    const fake = await setup.start(t)
    const key = 'rest-api-key-0123456789abcdef'
    const app = await build(t, { ...setup.config(fake.url), TURN_REST_API_KEYS: key })
    const res = await app.inject({ method: 'GET', url: `/v1/turn/rest?service=turn&username=u&key=${key}` })
    t.equal(res.statusCode, 200)
    const body = res.json()
    const expected = setup.provider === 'cloudflare' ? FAKE_CLOUDFLARE_CREDENTIALS : FAKE_TWILIO_CREDENTIALS
    t.equal(body.username, expected.username)
    t.equal(body.password, expected.credential)
    t.ok(body.uris.length > 0 && body.uris.every((u: string) => /^turns?:/.test(u)), 'TURN URIs only')
  })
}
