import t from 'tap'
import { randomBytes } from 'node:crypto'
import { connect, type AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import { signalingServer, signalingServerWithLogs } from '../../helpers/signaling-harness.js'
import { WebSocket } from 'ws'
import { WsPeer } from '../../helpers/ws-peer.js'

const OTHER_SECRET = 'a-different-secret-that-is-long-enough-0123456789'

t.test('upgrades without a valid token are refused with HTTP 401 problems, never an opened socket', async (t) => {
  const h = await signalingServer(t)
  const cases: Array<[string, string | undefined, string]> = [
    ['no token', undefined, 'SWB_AUTH_TOKEN_MISSING'],
    ['garbage', 'not.a.jwt!', 'SWB_AUTH_MALFORMED_TOKEN'],
    ['wrong key', await h.token('mallory', { secret: OTHER_SECRET }), 'SWB_AUTH_BAD_SIGNATURE'],
    ['expired', await h.token('doctor', { expiresIn: '-1h' }), 'SWB_AUTH_TOKEN_EXPIRED'],
    ['no sub', await h.token({ sub: undefined }), 'SWB_AUTH_CLAIMS_INVALID']
  ]
  for (const [what, token, code] of cases) {
    const refusal = await WsPeer.refusal(h.base, token)
    t.equal(refusal.status, 401, what)
    t.match(refusal.headers['content-type'], /application\/problem\+json/, what)
    t.match(refusal.headers['www-authenticate'], /^Bearer realm="switchboard"/, what)
    t.match(refusal.body, { status: 401, code, instance: '/v1/signal' }, what)
    t.equal(refusal.headers['x-content-type-options'], 'nosniff', `${what}: the security headers`)
  }
  // The same refusals for tokens in the query and in the subprotocol.
  t.match((await WsPeer.refusal(h.base, undefined, { query: { access_token: 'garbage' } })).body, { code: 'SWB_AUTH_MALFORMED_TOKEN' })
  t.match((await WsPeer.refusal(h.base, undefined, { protocols: ['switchboard.v1', `bearer.${cases[2]?.[1] ?? ''}`] })).body, { code: 'SWB_AUTH_BAD_SIGNATURE' })
  t.equal(h.app.signaling.hub.connections.size, 0, 'no connection was ever set up')
})

t.test('Origin: absent, same-origin and listed origins are admitted; any other is refused with 403', async (t) => {
  const h = await signalingServer(t, { CORS_ORIGINS: 'https://app.example.com, https://admin.example.com' })
  const token = await h.token('doctor')
  for (const origin of ['https://evil.example.com', 'null', 'https://app.example.com.evil.io', 'http://app.example.com', 'not a url']) {
    const refusal = await WsPeer.refusal(h.base, token, { headers: { origin } })
    t.equal(refusal.status, 403, origin)
    t.match(refusal.body, { code: 'SWB_ORIGIN_FORBIDDEN' }, origin)
  }
  // A bad origin is refused even before the token is looked at.
  t.equal((await WsPeer.refusal(h.base, undefined, { headers: { origin: 'https://evil.example.com' } })).status, 403)

  for (const origin of ['https://app.example.com', 'https://admin.example.com', h.base]) {
    const p = h.track(await WsPeer.connect(h.base, token, { headers: { origin } }))
    t.equal(p.welcome.type, 'welcome', `${origin} admitted`)
  }
  const noOrigin = h.track(await WsPeer.connect(h.base, token))
  t.equal(noOrigin.welcome.type, 'welcome', 'native clients send no Origin')
})

t.test('CORS_ORIGINS=* admits any origin', async (t) => {
  const h = await signalingServer(t, { CORS_ORIGINS: '*' })
  const p = h.track(await WsPeer.connect(h.base, await h.token('x'), { headers: { origin: 'https://anywhere.example' } }))
  t.equal(p.welcome.type, 'welcome')
})

t.test('token via the bearer.<jwt> subprotocol works, and the server selects switchboard.v1 (never the bearer entry)', async (t) => {
  const h = await signalingServer(t)
  const token = await h.token('browser-user')
  for (const protocols of [['switchboard.v1', `bearer.${token}`], [`bearer.${token}`, 'switchboard.v1']]) {
    const p = h.track(await WsPeer.connect(h.base, undefined, { protocols }))
    t.equal(p.socket.protocol, 'switchboard.v1', protocols.join(','))
    t.equal(p.welcome.userId, 'browser-user')
  }
  // Without switchboard.v1 nothing is selected, and a client that offered subprotocols must fail the
  // handshake (RFC 6455 §4.1): the bearer entry is never echoed back.
  const refused = WsPeer.open(h.base, undefined, { protocols: [`bearer.${token}`] })
  await t.rejects(refused, /no subprotocol/i)
})

t.test('token via the access_token query works, and never reaches the logs', async (t) => {
  const h = await signalingServerWithLogs(t)
  const token = await h.token('query-user')
  const p = h.track(await WsPeer.connect(h.base, undefined, { query: { access_token: token } }))
  t.equal(p.welcome.userId, 'query-user')
  const bad = await h.token('query-user', { expiresIn: '-1h' })
  t.equal((await WsPeer.refusal(h.base, undefined, { query: { access_token: bad } })).status, 401)
  p.close(1000)
  await p.closed

  const text = h.logs.text()
  t.ok(text.includes('/v1/signal'), 'the upgrades were logged')
  t.ok(text.includes('access_token=%5BREDACTED%5D') || text.includes('access_token=[REDACTED]'), 'the parameter is logged redacted')
  t.notOk(text.includes(token), 'the good token is not in the logs')
  t.notOk(text.includes(bad), 'the refused token is not in the logs')
  t.notOk(text.includes(token.split('.')[2] ?? '!'), 'not even its signature')
})

t.test('the Authorization header wins over a query token', async (t) => {
  const h = await signalingServer(t)
  const p = h.track(await WsPeer.connect(h.base, await h.token('header-user'), { query: { access_token: await h.token('query-user') } }))
  t.equal(p.welcome.userId, 'header-user')
})

t.test('welcome describes the connection and its limits', async (t) => {
  const h = await signalingServer(t, { ROOM_CAPACITY: 3, MAX_ROOMS_PER_PEER: 5, WS_MESSAGES_PER_SECOND: 12.5 })
  const p = await h.connect('doctor')
  t.match(p.welcome, {
    type: 'welcome',
    seq: 0,
    userId: 'doctor',
    resumed: false,
    rooms: [],
    peerId: /^[A-Za-z0-9_-]+$/,
    resumeToken: /^[A-Za-z0-9_-]{40,}$/,
    heartbeatIntervalMs: 15000,
    limits: { roomCapacity: 3, maxRoomsPerPeer: 5, messagesPerSecond: 12.5, maxMessageBytes: 65536 }
  })
})

t.test('preflight answers why an upgrade would be refused', async (t) => {
  const h = await signalingServer(t, { CORS_ORIGINS: 'https://app.example.com' })
  const token = await h.token('doctor')
  const ok = await h.app.inject({ url: '/v1/signal/preflight', headers: { authorization: `Bearer ${token}` } })
  t.equal(ok.statusCode, 200)
  t.match(ok.json(), { ok: true, userId: 'doctor', connections: 0, tokenExpiresAt: Number })

  const missing = await h.app.inject({ url: '/v1/signal/preflight' })
  t.equal(missing.statusCode, 401)
  t.match(missing.json(), { code: 'SWB_AUTH_TOKEN_MISSING' })
  const viaQuery = await h.app.inject({ url: `/v1/signal/preflight?access_token=${token}` })
  t.equal(viaQuery.statusCode, 200, 'the query token counts here too (browsers call preflight with what they will upgrade with)')
  const origin = await h.app.inject({ url: '/v1/signal/preflight', headers: { authorization: `Bearer ${token}`, origin: 'https://evil.example.com' } })
  t.equal(origin.statusCode, 403)
  t.match(origin.json(), { code: 'SWB_ORIGIN_FORBIDDEN' })
  const badResume = await h.app.inject({ url: '/v1/signal/preflight?resume=abc', headers: { authorization: `Bearer ${token}` } })
  t.equal(badResume.statusCode, 400)
})

t.test('a plain GET (no upgrade) gets 426 problem+json, with the security headers', async (t) => {
  const h = await signalingServer(t)
  const res = await fetch(`${h.base}/v1/signal`, { headers: { authorization: `Bearer ${await h.token('curl-user')}` } })
  t.equal(res.status, 426)
  t.equal(res.headers.get('upgrade'), 'websocket')
  t.match(res.headers.get('content-type'), /application\/problem\+json/)
  t.equal(res.headers.get('x-content-type-options'), 'nosniff')
  t.ok(res.headers.get('content-security-policy'), 'helmet applied its headers')
  t.match(await res.json(), { status: 426, code: 'SWB_UPGRADE_REQUIRED' })
})

t.test('an upgrade to the preflight route (no WebSocket there) is closed at once, not left hanging', async (t) => {
  const h = await signalingServer(t)
  const ws = new WebSocket(`${h.base.replace(/^http/, 'ws')}/v1/signal/preflight`, { headers: { authorization: `Bearer ${await h.token('x')}` } })
  t.teardown(() => ws.terminate())
  const outcome = await new Promise<string>((resolve) => {
    ws.on('close', (code) => resolve(`closed ${code}`))
    ws.on('error', (err) => resolve(`error ${err.message}`))
    // The only bound: the 101 and the close frame come within milliseconds; a corked socket never sends them.
    setTimeout(() => resolve('no answer within 5 s'), 5000).unref()
  })
  t.equal(outcome, 'closed 1005')
})

t.test('an upgrade request to a route that is no WebSocket gets its HTTP answer, then the server closes the connection', async (t) => {
  const h = await signalingServer(t)
  const { port } = h.app.server.address() as AddressInfo
  const openConnections = async (): Promise<number> => promisify(h.app.server.getConnections.bind(h.app.server))()
  for (const [path, status] of [['/health/live', 200], ['/no-such-path', 404], ['/v1/turn/%E0%A4%A', 400]] as const) {
    const socket = connect(port, '127.0.0.1')
    t.teardown(() => socket.destroy())
    socket.setEncoding('utf8')
    let answer = ''
    socket.on('data', (chunk: string) => { answer += chunk })
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`)
    const ended = await new Promise<boolean>((resolve) => {
      // Bounded: a connection the server forgot stays open until the client hangs up.
      const timer = setTimeout(() => resolve(false), 5000)
      socket.once('end', () => { clearTimeout(timer); resolve(true) })
    })
    t.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), `${path}: answered over HTTP`)
    t.ok(ended, `${path}: the server closed the connection (a client that hangs up would otherwise leave it half open for good)`)
    socket.destroy()
    const deadline = Date.now() + 5000
    while (await openConnections() > 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve))
    t.equal(await openConnections(), 0, `${path}: no connection left on the server`)
  }
})
