import t from 'tap'
import { grantFor } from '../../../plugins/auth/claims.js'
import type { Identity } from '../../../plugins/auth/types.js'
import { signTestToken } from '../../helpers/tokens.js'
import { buildAuthApp } from './app.js'

const base: Identity = { sub: 'alice', exp: 0 }

t.test('an identity without grants (ROOM_GRANTS=any) may join every room, with the global role', async (t) => {
  t.same(grantFor({ ...base, role: 'guest' }, 'any-room'), { room: 'any-room', role: 'guest' })
  t.same(grantFor(base, 'any-room'), { room: 'any-room' }, 'no role at all stays absent')
})

t.test('an empty rooms claim allows no room', async (t) => {
  t.equal(grantFor({ ...base, rooms: [] }, 'r1'), undefined)
})

t.test('exact grants, prefix grants and the * wildcard', async (t) => {
  const identity: Identity = {
    ...base,
    role: 'guest',
    rooms: [
      { room: 'clinic-42/*', role: 'host' },
      { room: 'clinic-42/triage', role: 'observer' },
      { room: 'clinic-42/icu/*', role: 'nurse' },
      { room: 'lobby' }
    ]
  }
  t.same(grantFor(identity, 'clinic-42/triage'), { room: 'clinic-42/triage', role: 'observer' }, 'exact wins over a prefix')
  t.same(grantFor(identity, 'clinic-42/room-7'), { room: 'clinic-42/*', role: 'host' }, 'prefix match')
  t.same(grantFor(identity, 'clinic-42/icu/bed-3'), { room: 'clinic-42/icu/*', role: 'nurse' }, 'the longer prefix wins')
  t.same(grantFor(identity, 'lobby'), { room: 'lobby', role: 'guest' }, 'a grant without a role takes the global role')
  t.equal(grantFor(identity, 'clinic-43/room-1'), undefined, 'another clinic is not granted')
  t.equal(grantFor(identity, 'clinic-42'), undefined, 'the prefix includes its separator')
  t.equal(grantFor(identity, 'lobby-2'), undefined, 'an exact grant is not a prefix')

  const anyRoom: Identity = { ...base, rooms: [{ room: '*', role: 'admin' }, { room: 'r1', role: 'guest' }] }
  t.same(grantFor(anyRoom, 'whatever'), { room: '*', role: 'admin' })
  t.same(grantFor(anyRoom, 'r1'), { room: 'r1', role: 'guest' }, 'exact still wins over *')
})

t.test('a prefix grant needs something after its prefix', async (t) => {
  const identity: Identity = { ...base, rooms: [{ room: 'clinic-42/*' }] }
  t.same(grantFor(identity, 'clinic-42/a'), { room: 'clinic-42/*' })
  t.equal(grantFor(identity, 'clinic-42/'), undefined, 'clinic-42/* does not match clinic-42/')
  t.equal(grantFor(identity, 'clinic-42'), undefined)
  t.same(grantFor(identity, 'clinic-42//'), { room: 'clinic-42/*' }, 'any character counts, a second slash too')
  const nested: Identity = { ...base, rooms: [{ room: 'clinic-42/*', role: 'host' }, { room: 'clinic-42/a/*', role: 'nurse' }] }
  t.same(grantFor(nested, 'clinic-42/a/'), { room: 'clinic-42/*', role: 'host' }, 'the longer prefix does not match its own prefix: the shorter one does')
  const star: Identity = { ...base, rooms: [{ room: '*' }] }
  t.same(grantFor(star, 'x'), { room: '*' }, '* matches any (non-empty) room')
  const exactSlash: Identity = { ...base, rooms: [{ room: 'clinic-42/' }] }
  t.same(grantFor(exactSlash, 'clinic-42/'), { room: 'clinic-42/' }, 'a room ending in / is granted by its exact name')
})

t.test('a * inside a name is literal; only a trailing * is a prefix', async (t) => {
  const identity: Identity = { ...base, rooms: [{ room: 'a*b' }] }
  t.same(grantFor(identity, 'a*b'), { room: 'a*b' })
  t.equal(grantFor(identity, 'axb'), undefined)
})

t.test('grants from a verified token feed grantFor', async (t) => {
  const { app } = await buildAuthApp(t)
  const identity = await app.auth.verify(await signTestToken({ role: 'guest', rooms: ['r1', { room: 'team/*', role: 'host' }] }))
  t.same(grantFor(identity, 'r1'), { room: 'r1', role: 'guest' })
  t.same(grantFor(identity, 'team/daily'), { room: 'team/*', role: 'host' })
  t.equal(grantFor(identity, 'r2'), undefined)
})
