import t from 'tap'
import { KeyObject, createHmac } from 'node:crypto'
import pino from 'pino'
import type { FastifyBaseLogger } from 'fastify'
import { SignJWT, jwtVerify } from 'jose'
import { resolveKeySetup, type KeySetup } from '../../../plugins/auth/keys.js'
import { createVerifier } from '../../../plugins/auth/verifier.js'
import { createGrantReader } from '../../../plugins/auth/grants.js'
import { isAuthError } from '../../../plugins/auth/errors.js'
import { testConfig, TEST_JWT_SECRET } from '../../helpers/config.js'
import { signTestToken } from '../../helpers/tokens.js'

const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger
const SECRET_BYTES = new TextEncoder().encode(TEST_JWT_SECRET)

function verifierFor (keys: KeySetup, extra: { issuer?: string, audience?: string[] } = {}): (token: string) => Promise<unknown> {
  return createVerifier({ keys, clockToleranceSeconds: 0, grants: createGrantReader({ roomsClaim: 'rooms', mode: 'required' }), log, ...extra })
}

/** Counts WebCrypto key imports (what jose does for a raw secret on every jwtVerify) while `fn` runs. */
async function countImports (t: { teardown: (fn: () => void) => void }, fn: () => Promise<void>): Promise<number> {
  const subtle = globalThis.crypto.subtle
  const original = subtle.importKey
  let calls = 0
  subtle.importKey = function (this: SubtleCrypto, ...args: Parameters<SubtleCrypto['importKey']>) {
    calls++
    return original.apply(this, args)
  } as SubtleCrypto['importKey']
  t.teardown(() => { subtle.importKey = original })
  try {
    await fn()
  } finally {
    subtle.importKey = original
  }
  return calls
}

async function outcome (verify: (token: string) => Promise<unknown>, token: string): Promise<string> {
  try {
    await verify(token)
    return 'ok'
  } catch (err) {
    return isAuthError(err) ? err.code : `unexpected ${(err as Error).name}`
  }
}

t.test('the HMAC secret is a KeyObject made once at start, in secret and development mode', async (t) => {
  const secret = resolveKeySetup(testConfig(), log)
  t.equal(secret.mode, 'secret')
  if (secret.mode !== 'secret') return
  t.ok(secret.secret instanceof KeyObject, 'a KeyObject, not bytes that jose would import per token')
  t.equal(secret.secret.type, 'secret')
  t.same(secret.secret.export(), Buffer.from(TEST_JWT_SECRET, 'utf8'), 'the secret is used as its UTF-8 bytes')

  const dev = resolveKeySetup(testConfig({ JWT_SECRET: undefined, NODE_ENV: 'development' }), log)
  t.equal(dev.mode, 'development')
  if (dev.mode === 'development') t.ok(dev.secret instanceof KeyObject)
})

t.test('verifying HS256/384/512 tokens imports no key per verification', async (t) => {
  const verify = verifierFor(resolveKeySetup(testConfig(), log))
  const tokens = await Promise.all(['HS256', 'HS384', 'HS512'].map(async (alg) => signTestToken({ sub: `u-${alg}` }, { alg })))
  const imports = await countImports(t, async () => {
    for (let i = 0; i < 30; i++) {
      for (const token of tokens) await verify(token)
    }
  })
  t.equal(imports, 0, '90 verifications, no importKey')

  // The spy itself works: jose given raw bytes imports the key on every call (what the verifier used to do).
  const joseImports = await countImports(t, async () => {
    for (let i = 0; i < 3; i++) await jwtVerify(tokens[0]!, SECRET_BYTES)
  })
  t.equal(joseImports, 3, 'the spy sees per-call imports when they happen')
})

t.test('a token with a crit header takes jose\'s path with a CryptoKey imported once per algorithm', async (t) => {
  const verify = verifierFor(resolveKeySetup(testConfig(), log))
  const token = await new SignJWT({ sub: 'crit-user' })
    .setProtectedHeader({ alg: 'HS256', b64: true, crit: ['b64'] })
    .setExpirationTime('1h')
    .sign(SECRET_BYTES)
  const imports = await countImports(t, async () => {
    for (let i = 0; i < 5; i++) t.match(await verify(token), { sub: 'crit-user' })
  })
  t.equal(imports, 1, 'imported on first use, then reused')
  const unknownCrit = await new SignJWT({ sub: 'x' })
    .setProtectedHeader({ alg: 'HS256', 'x-ext': 1, crit: ['x-ext'] })
    .setExpirationTime('1h')
    .sign(SECRET_BYTES, { crit: { 'x-ext': true } })
  t.equal(await outcome(verify, unknownCrit), 'SWB_AUTH_ALGORITHM_NOT_ALLOWED', 'an unknown critical extension is refused, as before')
})

t.test('the node:crypto HMAC path judges tokens exactly as jose does', async (t) => {
  const verify = verifierFor(resolveKeySetup(testConfig(), log), { issuer: 'https://idp.test', audience: ['switchboard'] })
  const now = Math.floor(Date.now() / 1000)
  const good = { iss: 'https://idp.test', aud: 'switchboard' }
  const valid = await signTestToken(good)
  const [h, p, s] = valid.split('.') as [string, string, string]
  const flip = (seg: string): string => (seg[0] === 'A' ? 'B' : 'A') + seg.slice(1)
  const cases: Array<[string, string, string]> = [
    ['valid HS256', valid, 'ok'],
    ['valid HS512', await signTestToken(good, { alg: 'HS512' }), 'ok'],
    ['expired', await signTestToken({ ...good, exp: now - 60 }), 'SWB_AUTH_TOKEN_EXPIRED'],
    ['not yet valid', await signTestToken({ ...good, nbf: now + 600 }), 'SWB_AUTH_TOKEN_NOT_YET_VALID'],
    ['wrong issuer', await signTestToken({ ...good, iss: 'https://evil.test' }), 'SWB_AUTH_WRONG_ISSUER'],
    ['wrong audience', await signTestToken({ ...good, aud: 'other' }), 'SWB_AUTH_WRONG_AUDIENCE'],
    ['no sub', await signTestToken({ ...good, sub: undefined }), 'SWB_AUTH_CLAIMS_INVALID'],
    ['exp not a number', await signTestToken({ ...good, exp: 'tomorrow' }), 'SWB_AUTH_CLAIMS_INVALID'],
    ['other secret', await signTestToken(good, { secret: 'another-secret-that-is-long-enough-000' }), 'SWB_AUTH_BAD_SIGNATURE'],
    ['tampered signature', `${h}.${p}.${flip(s)}`, 'SWB_AUTH_BAD_SIGNATURE'],
    ['tampered payload', `${h}.${flip(p)}.${s}`, 'SWB_AUTH_BAD_SIGNATURE'],
    ['truncated signature', `${h}.${p}.${s.slice(0, -4)}`, 'SWB_AUTH_BAD_SIGNATURE'],
    ['empty signature', `${h}.${p}.`, 'SWB_AUTH_BAD_SIGNATURE'],
    ['signature one byte too long', `${h}.${p}.${s}A`, 'SWB_AUTH_BAD_SIGNATURE'],
    ['undecodable signature (4n+1 chars)', `${h}.${p}.${s}AA`, 'SWB_AUTH_MALFORMED_TOKEN']
  ]
  // Payloads that are not a JSON object, correctly signed, so only the payload check can refuse them.
  for (const [name, json] of [['payload not JSON', 'not json'], ['payload an array', '[1]']] as const) {
    const signed = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).sign(SECRET_BYTES)
    const [sh] = signed.split('.') as [string]
    const body = Buffer.from(json).toString('base64url')
    const sig = createHmac('sha256', SECRET_BYTES).update(`${sh}.${body}`).digest('base64url')
    cases.push([name, `${sh}.${body}.${sig}`, 'SWB_AUTH_MALFORMED_TOKEN'])
  }
  for (const [name, token, expected] of cases) {
    t.equal(await outcome(verify, token), expected, name)
    // Same verdict from jose's own jwtVerify (signature and claims) with the same options.
    const joseAccepts = await jwtVerify(token, SECRET_BYTES, {
      algorithms: ['HS256', 'HS384', 'HS512'], issuer: 'https://idp.test', audience: ['switchboard'], requiredClaims: ['exp', 'sub']
    }).then(() => true, () => false)
    if (expected !== 'SWB_AUTH_CLAIMS_INVALID') t.equal(joseAccepts, expected === 'ok', `${name}: jose agrees`)
  }
})
