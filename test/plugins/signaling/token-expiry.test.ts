import t from 'tap'
import { pair, signalingServer } from '../../helpers/signaling-harness.js'
import { WsPeer, until } from '../../helpers/ws-peer.js'

/** An `exp` two whole seconds ahead (JWT exp has one-second resolution). */
const soon = (): number => Math.floor(Date.now() / 1000) + 2

t.test('token-expiring, then close 4001 at exp; the session stays resumable with a new token', async (t) => {
  const h = await signalingServer(t, { TOKEN_EXPIRY_WARNING_SECONDS: 1, RESUME_GRACE_SECONDS: 3600 })
  // Everything else first: all that must happen before exp is this one connection and its join.
  const b = await h.joined('patient', 'r')
  const exp = soon()
  const a = h.track(await WsPeer.connect(h.base, await h.token('doctor', { expiresIn: exp })))
  t.equal(a.welcome.tokenExpiresAt, exp * 1000, 'welcome says when the token lapses')
  a.send({ type: 'join', room: 'r' })
  await a.next('joined')

  const warning = await a.next('token-expiring', 3000)
  t.match(warning, { type: 'token-expiring', tokenExpiresAt: exp * 1000 })
  t.ok(Date.now() >= exp * 1000 - 1000 - 100, 'not earlier than TOKEN_EXPIRY_WARNING_SECONDS before exp')
  t.equal(await a.waitClosed(3000), 4001, 'closed with 4001 (token expired)')
  t.ok(Date.now() >= exp * 1000 - 50, 'not before exp')

  // Not a goodbye: the peer stays in the room and the client resumes with a fresh token.
  const resumed = h.track(await WsPeer.resume(h.base, await h.token('doctor'), a))
  t.match(resumed.welcome, { resumed: true, peerId: a.peerId })
  await b.sync()
  t.same(b.ofType('peer-left'), [])
})

t.test('refresh with a new token for the same user keeps the connection past the old exp', async (t) => {
  // The warning window covers the token's whole life, so the warning comes right after the welcome and
  // the refresh has until exp (one to two seconds) to get through, not just the last second.
  const h = await signalingServer(t, { TOKEN_EXPIRY_WARNING_SECONDS: 2 })
  const exp = soon()
  const a = h.track(await WsPeer.connect(h.base, await h.token('doctor', { expiresIn: exp })))
  await a.next('token-expiring', 3000)

  const fresh = await h.token('doctor', { expiresIn: '1h' })
  a.send({ type: 'refresh', id: 'r1', token: fresh })
  const refreshed = await a.next('refreshed')
  t.ok((refreshed.tokenExpiresAt as number) > Date.now() + 3_500_000, 'the new expiry is announced')

  // Past the old exp ("already": waiting longer only makes it surer), then a round trip.
  await until(() => Date.now() > exp * 1000 + 300, 'the old token to lapse', 5000)
  t.ok(a.isOpen, 'still open after the old token lapsed')
  await a.sync()
  t.equal(a.ofType('token-expiring').length, 1, 'no new warning for the fresh token yet')
})

t.test("refresh with another user's token is SWB_REFRESH_REJECTED and does not extend the connection", async (t) => {
  const h = await signalingServer(t, { TOKEN_EXPIRY_WARNING_SECONDS: 1 })
  const exp = soon()
  const a = h.track(await WsPeer.connect(h.base, await h.token('doctor', { expiresIn: exp })))
  a.send({ type: 'refresh', id: 'steal', token: await h.token('someone-else', { expiresIn: '1h' }) })
  t.match(await a.errorFor('steal'), { code: 'SWB_REFRESH_REJECTED', message: /another user/ })
  t.equal(await a.waitClosed(3000), 4001, 'still closed at the original exp')
  t.same(a.ofType('refreshed'), [])
})

t.test('refresh with a bad, expired or wrongly signed token is SWB_REFRESH_REJECTED; the connection goes on', async (t) => {
  const h = await signalingServer(t)
  const a = await h.connect('doctor')
  const cases: Array<[string, string]> = [
    ['garbage', 'not-a-jwt'],
    ['expired', await h.token('doctor', { expiresIn: '-1h' })],
    ['wrong-key', await h.token('doctor', { secret: 'another-secret-that-is-long-enough-0123456789' })]
  ]
  for (const [id, token] of cases) a.send({ type: 'refresh', id, token })
  for (const [id] of cases) t.match(await a.errorFor(id), { code: 'SWB_REFRESH_REJECTED' }, id)
  t.ok(a.isOpen)
  await a.sync()
})

t.test('a refreshed token brings its room grants with it', async (t) => {
  const h = await signalingServer(t)
  const a = await h.connect({ sub: 'doctor', rooms: ['clinic-1/*'] })
  a.send({ type: 'join', id: 'before', room: 'clinic-2/a' })
  t.match(await a.errorFor('before'), { code: 'SWB_ROOM_FORBIDDEN' })
  a.send({ type: 'refresh', token: await h.token({ sub: 'doctor', rooms: ['clinic-2/*'] }) })
  await a.next('refreshed')
  a.send({ type: 'join', room: 'clinic-2/a' })
  t.match(await a.next('joined'), { room: 'clinic-2/a' })
  a.send({ type: 'join', id: 'old-grant', room: 'clinic-1/a' })
  t.match(await a.errorFor('old-grant'), { code: 'SWB_ROOM_FORBIDDEN' })
})

t.test('welcome and refresh do not echo the token anywhere', async (t) => {
  const h = await signalingServer(t)
  const token = await h.token('doctor')
  const [a] = await pair(h, 'r')
  a.send({ type: 'refresh', token })
  await a.next('refreshed')
  t.notOk(JSON.stringify(a.received).includes(token))
})
