import t from 'tap'
import { createHmac } from 'node:crypto'
import { effectiveTtl, isoFromSeconds, refreshAtSeconds, turnRestCredential, turnUserId } from '../../../plugins/turn/credentials.js'

t.test('HMAC credential matches the recipe test vector (coturn use-auth-secret)', async (t) => {
  // Recipe §7: secret lab-secret-current, username 1795245880:alice → QblFnq+a1d/Zh/PwaBP1MUlWf+U=
  const nowMs = (1795245880 - 600) * 1000
  const c = turnRestCredential('lab-secret-current', 'alice', 600, nowMs)
  t.equal(c.username, '1795245880:alice')
  t.equal(c.credential, 'QblFnq+a1d/Zh/PwaBP1MUlWf+U=')
  t.equal(c.expiresAtSeconds, 1795245880)
})

t.test('the expiry is whole seconds, floored (fractions are a silent 401 in coturn)', async (t) => {
  const c = turnRestCredential('s', 'bob', 60, 1_700_000_000_999)
  t.equal(c.username, '1700000060:bob')
  t.match(c.credential, /^[A-Za-z0-9+/]{27}=$/, 'padded standard base64 of a 20-byte SHA-1 MAC')
  t.equal(c.credential, createHmac('sha1', 's').update('1700000060:bob').digest('base64'))
})

t.test('a credential without a user id is the timestamp alone', async (t) => {
  t.equal(turnRestCredential('s', undefined, 100, 1_000_000).username, '1100')
})

t.test('bad inputs are refused', async (t) => {
  t.throws(() => turnRestCredential('s', 'a:b', 60), RangeError, 'a ":" would move the timestamp')
  t.throws(() => turnRestCredential('s', 'a', 0), RangeError)
  t.throws(() => turnRestCredential('s', 'a', 1.5), RangeError)
})

t.test('turnUserId keeps safe subs and maps the rest to a stable opaque id', async (t) => {
  t.equal(turnUserId('alice'), 'alice')
  t.equal(turnUserId('user_42-A'), 'user_42-A')
  const mapped = turnUserId('alice@example.com')
  t.match(mapped, /^~[A-Za-z0-9_-]{22}$/)
  t.equal(turnUserId('alice@example.com'), mapped, 'stable')
  t.not(turnUserId('bob@example.com'), mapped)
  t.notOk(turnUserId('tenant:alice').includes(':'))
  t.match(turnUserId('x'.repeat(65)), /^~/, 'too long for the username → mapped')
  t.match(turnUserId(''), /^~/, 'empty → mapped, never an empty user part')
  t.not(turnUserId(mapped), mapped, 'a mapped id given as a sub is mapped again: no way to impersonate')
})

t.test('ttl clamping and the refresh hint', async (t) => {
  t.equal(effectiveTtl(undefined, 3600), 3600)
  t.equal(effectiveTtl(600, 3600), 600)
  t.equal(effectiveTtl(86400, 3600), 3600, 'never more than configured')
  t.equal(refreshAtSeconds(1000, 3600), 1000 + 2880)
  t.equal(refreshAtSeconds(1000, 61), 1000 + 48)
  t.equal(isoFromSeconds(1795245880), '2026-11-21T07:24:40.000Z')
})
