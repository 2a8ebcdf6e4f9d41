import t from 'tap'
import { pino } from 'pino'
import { createSecretKey } from 'node:crypto'
import { SignJWT } from 'jose'
import { createVerifier } from '../../../plugins/auth/verifier.js'
import { createGrantReader } from '../../../plugins/auth/grants.js'
import { TOKEN_CACHE_TTL_MS, TokenCache } from '../../../plugins/auth/token-cache.js'

const SECRET = 'token-cache-test-secret-0123456789-abcdef'

async function token (claims: Record<string, unknown>, expSeconds: number): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime(expSeconds).sign(new TextEncoder().encode(SECRET))
}

t.test('a verified token is remembered until the cache TTL or its own expiry, whichever is first', async (t) => {
  let now = 1_000_000
  const cache = new TokenCache(5, () => now)
  const identity = { sub: 'alice', exp: now / 1000 + 30 }
  cache.set('long', identity)
  t.equal(cache.get('long'), identity)
  now += 30_000 + 4_999
  t.equal(cache.get('long'), identity, 'within exp + clock tolerance')
  now += 1
  t.equal(cache.get('long'), undefined, 'gone once the token itself has expired')

  const far = { sub: 'bob', exp: now / 1000 + 3600 }
  cache.set('far', far)
  now += TOKEN_CACHE_TTL_MS - 1
  t.equal(cache.get('far'), far)
  now += 1
  t.equal(cache.get('far'), undefined, 'verified again after the cache TTL (a withdrawn JWKS key stops counting)')

  cache.set('expired', { sub: 'carol', exp: now / 1000 - 10 })
  t.equal(cache.get('expired'), undefined, 'an already expired identity is not cached')
})

t.test('entries whose time is up are let go of as new tokens come, not kept until the count bound', async (t) => {
  let now = 1_000_000
  const cache = new TokenCache(0, () => now)
  const far = (sub: string): { sub: string, exp: number } => ({ sub, exp: now / 1000 + 3600 })
  for (let i = 0; i < 100; i++) cache.set(`early-${i}`, far('early'))
  now += TOKEN_CACHE_TTL_MS / 2
  cache.set('middle', far('middle'))
  t.equal(cache.size, 101, 'nothing is due yet')
  now += TOKEN_CACHE_TTL_MS / 2
  cache.set('late', far('late'))
  t.equal(cache.size, 2, 'the hundred entries whose TTL ran out went with the next set()')
  t.equal(cache.get('middle')?.sub, 'middle')
  t.equal(cache.get('late')?.sub, 'late')
  now += TOKEN_CACHE_TTL_MS
  cache.set('last', far('last'))
  t.equal(cache.size, 1, 'only the newest entry is left')
})

t.test('the verifier answers a repeated token from the cache, never a bad or expired one', async (t) => {
  const keys = { mode: 'secret' as const, secret: createSecretKey(Buffer.from(SECRET)), algorithms: ['HS256'] }
  const verify = createVerifier({ keys, clockToleranceSeconds: 0, grants: createGrantReader({ roomsClaim: 'rooms', mode: 'required' }), log: pino({ level: 'silent' }) } as Parameters<typeof createVerifier>[0])
  const nowSeconds = Math.floor(Date.now() / 1000)
  const good = await token({}, nowSeconds + 600)
  const first = await verify(good)
  t.equal(await verify(good), first, 'the second verification is the cached identity')

  const forged = good.slice(0, -2) + (good.endsWith('AA') ? 'BB' : 'AA')
  await t.rejects(verify(forged), { code: 'SWB_AUTH_BAD_SIGNATURE' }, 'a token differing in its signature is verified, and refused')
  await t.rejects(verify(forged), { code: 'SWB_AUTH_BAD_SIGNATURE' }, 'failures are not cached')

  const expired = await token({}, nowSeconds - 5)
  await t.rejects(verify(expired), { code: 'SWB_AUTH_TOKEN_EXPIRED' })
})
