import t from 'tap'
import { signTestToken } from '../../helpers/tokens.js'
import { bearer, buildAuthApp } from './app.js'

const UPGRADE = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }

t.test('tokens and claims never reach the logs; failures are logged as events', async (t) => {
  const { app, logs } = await buildAuthApp(t) // LOG_LEVEL trace: the most verbose setting
  const claims = { sub: 'patient-17', name: 'Jane Q. Patient', rooms: ['oncology-room-3'] }
  const valid = await signTestToken(claims)
  const expired = await signTestToken(claims, { expiresIn: '-1h' })
  const forged = await signTestToken({ sub: 'mallory-forged' }, { secret: 'not-the-server-secret-but-long-enough-123456' })
  const tokens = [valid, expired, forged]

  const sent = [
    await app.inject({ url: '/whoami', headers: bearer(valid) }),
    await app.inject({ url: '/whoami', headers: bearer(expired) }),
    await app.inject({ url: '/whoami', headers: bearer(forged) }),
    await app.inject({ url: `/whoami?access_token=${valid}`, headers: UPGRADE }),
    await app.inject({ url: `/whoami?access_token=${expired}`, headers: UPGRADE }),
    await app.inject({ url: '/whoami', headers: { ...UPGRADE, 'sec-websocket-protocol': `switchboard.v1, bearer.${valid}` } }),
    await app.inject({ url: '/whoami', headers: bearer('not-a-jwt') })
  ]
  t.same(sent.map((r) => r.statusCode), [200, 401, 401, 200, 401, 200, 401])

  const text = logs.text()
  t.ok(text.length > 0, 'something was logged')
  for (const token of tokens) {
    for (const segment of token.split('.')) t.notOk(text.includes(segment), 'no token segment in the logs')
  }
  t.notOk(text.includes('not-a-jwt'), 'not even a malformed token')
  t.notOk(text.includes('Jane Q. Patient'), 'no display name')
  t.notOk(text.includes('oncology-room-3'), 'no room names from the token')
  t.notOk(text.includes('mallory-forged'), 'no sub from an unverified token')

  const failures = logs.lines.filter((l) => l.event === 'auth_failed')
  t.same(failures.map((l) => l.code), ['SWB_AUTH_TOKEN_EXPIRED', 'SWB_AUTH_BAD_SIGNATURE', 'SWB_AUTH_TOKEN_EXPIRED', 'SWB_AUTH_MALFORMED_TOKEN'])
  t.ok(failures.every((l) => typeof l.reqId === 'string' && l.reqId.length > 0), 'each event carries the request id')
  t.equal(failures[0]!.sub, 'patient-17', 'an expired but genuine token may name its sub')
  t.notOk('sub' in failures[1]!, 'a forged token names nobody')
})
