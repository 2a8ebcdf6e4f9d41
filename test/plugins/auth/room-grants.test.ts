import t from 'tap'
import { claimReader } from '../../../plugins/auth/claim-path.js'
import { grantFor } from '../../../plugins/auth/claims.js'
import { signTestToken } from '../../helpers/tokens.js'
import { buildAuthApp } from './app.js'

t.test('ROOM_GRANTS=required (the default): a token without any grant grants no room', async (t) => {
  const { app } = await buildAuthApp(t)
  t.equal(app.config.ROOM_GRANTS, 'required')
  const identity = await app.auth.verify(await signTestToken({ rooms: undefined }))
  t.same(identity.rooms, [])
  t.equal(grantFor(identity, 'r1'), undefined)
  const scoped = await app.auth.verify(await signTestToken({ rooms: undefined, scope: 'openid profile' }))
  t.same(scoped.rooms, [], 'scopes that are not room: grant nothing')
})

t.test('ROOM_GRANTS=any: a token without any grant grants every room; one with grants only those', async (t) => {
  const { app } = await buildAuthApp(t, { ROOM_GRANTS: 'any' })
  const open = await app.auth.verify(await signTestToken({ rooms: undefined, role: 'guest', scope: 'openid' }))
  t.equal(open.rooms, undefined)
  t.same(grantFor(open, 'anything'), { room: 'anything', role: 'guest' })
  const narrow = await app.auth.verify(await signTestToken({ rooms: undefined, scope: 'room:r1' }))
  t.equal(grantFor(narrow, 'r2'), undefined, 'a room scope restricts the token, as a rooms claim does')
  const none = await app.auth.verify(await signTestToken({ rooms: [] }))
  t.equal(grantFor(none, 'r1'), undefined, 'an explicit empty rooms claim still grants nothing')
})

t.test('room scopes: space-separated string or array, with and without a role', async (t) => {
  const { app } = await buildAuthApp(t)
  const fromString = await app.auth.verify(await signTestToken({
    rooms: undefined,
    role: 'guest',
    scope: 'openid room:waiting-room  room:clinic-42/*:host offline_access room:a:b:observer'
  }))
  t.same(fromString.rooms, [{ room: 'waiting-room' }, { room: 'clinic-42/*', role: 'host' }, { room: 'a:b', role: 'observer' }])
  t.same(grantFor(fromString, 'clinic-42/x'), { room: 'clinic-42/*', role: 'host' })
  t.same(grantFor(fromString, 'waiting-room'), { room: 'waiting-room', role: 'guest' }, 'no role in the scope: the global role')
  t.same(grantFor(fromString, 'a:b'), { room: 'a:b', role: 'observer' }, 'the role follows the last colon')

  const fromArray = await app.auth.verify(await signTestToken({ rooms: undefined, scope: ['openid', 'room:r1:host', 'room:r2', 42] }))
  t.same(fromArray.rooms, [{ room: 'r1', role: 'host' }, { room: 'r2' }], 'an array of scopes works too; non-strings are skipped')

  const both = await app.auth.verify(await signTestToken({ rooms: [{ room: 'r1', role: 'host' }], scope: 'room:r1:guest room:r3' }))
  t.same(grantFor(both, 'r1'), { room: 'r1', role: 'host' }, 'the rooms claim comes first: its role wins for the same room')
  t.same(grantFor(both, 'r3'), { room: 'r3' }, 'scopes add to the claim')
})

t.test('a malformed room scope or rooms claim refuses the token', async (t) => {
  const { app } = await buildAuthApp(t)
  for (const scope of ['room:', 'room::host', 'room:r1:', ['room:r1\u0001'], `room:${'x'.repeat(129)}`]) {
    await t.rejects(app.auth.verify(await signTestToken({ rooms: undefined, scope })), { code: 'SWB_AUTH_CLAIMS_INVALID' }, JSON.stringify(scope))
  }
  await t.rejects(app.auth.verify(await signTestToken({ rooms: 'r1' })), { code: 'SWB_AUTH_CLAIMS_INVALID' }, 'rooms must be an array')
  const many = Array.from({ length: 257 }, (_, i) => `room:r${i}`).join(' ')
  await t.rejects(app.auth.verify(await signTestToken({ rooms: undefined, scope: many })), { code: 'SWB_AUTH_CLAIMS_INVALID' }, 'at most 256 room scopes')
  t.ok(await app.auth.verify(await signTestToken({ rooms: undefined, scope: 42 })), 'a scope of another shape grants nothing and refuses nothing')
})

t.test('JWT_ROOMS_CLAIM: a dotted path; at each level the longest key present wins', async (t) => {
  const read = claimReader('https://example.com/claims.rooms')
  t.same(read({ 'https://example.com/claims': { rooms: ['r1'] } }), ['r1'], 'a namespaced claim whose name holds dots')
  t.same(read({ 'https://example.com/claims.rooms': ['flat'] }), ['flat'], 'the whole path as one claim name')
  t.equal(read({ https: { '//example': { 'com/claims': { rooms: ['x'] } } } }), undefined, 'a key is a whole run of path segments, never part of one')
  const app = claimReader('app.rooms')
  t.same(app({ app: { rooms: ['nested'] } }), ['nested'])
  t.same(app({ 'app.rooms': ['flat'], app: { rooms: ['nested'] } }), ['flat'], 'the longer key wins')
  t.equal(app({ app: ['not an object'] }), undefined)
  t.equal(app({ app: null }), undefined)
  t.equal(app({}), undefined)
  t.equal(claimReader('a.b.c')({ a: { 'b.c': 1, b: { c: 2 } } }), 1)
  t.equal(claimReader('a.b.c')({ 'a.b': { x: 1 }, a: { b: { c: 2 } } }), undefined, 'no backtracking: once a.b matched, c is looked up below it only')
  t.equal(claimReader('__proto__')({}), undefined, 'inherited properties are never read')
})

t.test('JWT_ROOMS_CLAIM through the verifier: only the configured claim grants', async (t) => {
  const { app } = await buildAuthApp(t, { JWT_ROOMS_CLAIM: 'https://example.com/claims.rooms' })
  const identity = await app.auth.verify(await signTestToken({
    rooms: 'an unrelated claim of another shape',
    'https://example.com/claims': { rooms: [{ room: 'clinic-42/*', role: 'host' }], tenant: 'c42' }
  }))
  t.same(identity.rooms, [{ room: 'clinic-42/*', role: 'host' }], 'the rooms claim is ignored when another claim is configured')
  const without = await app.auth.verify(await signTestToken({ rooms: ['r1'] }))
  t.same(without.rooms, [], 'a rooms claim at the default name grants nothing here')
  await t.rejects(app.auth.verify(await signTestToken({ 'https://example.com/claims': { rooms: [{ role: 'host' }] } })), { code: 'SWB_AUTH_CLAIMS_INVALID' })
})
