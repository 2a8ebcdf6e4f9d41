import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { decodeProtectedHeader } from 'jose'
import type { Config } from '../../../src/config.js'
import { build, listen } from '../../helpers/build.js'
import { startOidcProvider, SWITCHBOARD_AUDIENCE, type TestOidcProvider } from '../../helpers/oidc-provider.js'
import { WsPeer } from '../../helpers/ws-peer.js'

/** 2 s rather than 1 s: the "inside the cooldown" window must not race a loaded CI machine. */
const COOLDOWN_SECONDS = 2

const SCOPES = 'room:clinic-42/*:host room:clinic-42/*:guest room:waiting-room'

function idpConfig (idp: TestOidcProvider): Partial<Config> {
  return {
    JWT_SECRET: undefined,
    JWT_JWKS_URL: idp.jwksUrl,
    JWT_ISSUER: idp.issuer,
    JWT_AUDIENCE: SWITCHBOARD_AUDIENCE,
    JWT_JWKS_COOLDOWN_SECONDS: COOLDOWN_SECONDS
  }
}

interface Attempt { status: number, code?: string, retryAfter?: number }

/**
 * Connects as a well-behaved client does: a refusal with Retry-After is retried after that long, any
 * other refusal is final. Returns the peer and every refusal it met on the way.
 */
async function connectRetrying (base: string, token: string, maxAttempts = 5): Promise<{ peer?: WsPeer, refusals: Attempt[] }> {
  const refusals: Attempt[] = []
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    try {
      return { peer: await WsPeer.connect(base, token), refusals }
    } catch (err) {
      const { statusCode, headers } = err as { statusCode?: number, headers?: Record<string, string> }
      if (statusCode === undefined) throw err
      const retryAfter = headers?.['retry-after'] === undefined ? undefined : Number(headers['retry-after'])
      refusals.push({ status: statusCode, ...(retryAfter !== undefined && { retryAfter }) })
      if (retryAfter === undefined) return { refusals }
      await sleep(retryAfter * 1000)
    }
  }
  return { refusals }
}

async function joinRoom (peer: WsPeer, room: string): Promise<Record<string, unknown>> {
  peer.send({ type: 'join', id: room, room })
  return peer.next((m) => (m.type === 'joined' && m.room === room) || (m.type === 'error' && m.ref === room))
}

t.test('JWT access tokens from a real OpenID Connect provider: room scopes grant rooms and roles', async (t) => {
  const idp = await startOidcProvider(t, { scopes: SCOPES, clients: ['dr-alice', 'patient-bob'] })
  const app = await build(t, idpConfig(idp))
  const base = await listen(app)

  const alice = await WsPeer.connect(base, await idp.token('dr-alice', 'room:clinic-42/*:host'))
  t.teardown(() => alice.drop())
  t.match(alice.welcome, { userId: 'dr-alice' }, 'sub is the client id')
  t.match(await joinRoom(alice, 'clinic-42/consult-7'), { type: 'joined', role: 'host' })

  const bob = await WsPeer.connect(base, await idp.token('patient-bob', 'room:clinic-42/*:guest'))
  t.teardown(() => bob.drop())
  t.match(await joinRoom(bob, 'clinic-42/consult-7'), { type: 'joined', role: 'guest' })
  t.match(await joinRoom(bob, 'waiting-room'), { type: 'error', code: 'SWB_ROOM_FORBIDDEN' }, 'a scope the token was not issued is no grant')
  t.match(await alice.next('peer-joined'), { peer: { userId: 'patient-bob', role: 'guest' } })
})

t.test('the IdP rotates its signing key while clients connect: each gets in, none gets a final 401', async (t) => {
  const clients = Array.from({ length: 6 }, (_, i) => `device-${i}`)
  const idp = await startOidcProvider(t, { scopes: SCOPES, clients: ['first', ...clients] })
  const app = await build(t, idpConfig(idp))
  const base = await listen(app)

  // Switchboard knows the first key (and has just fetched the set).
  const oldKid = idp.signingKid
  const first = await WsPeer.connect(base, await idp.token('first', 'room:waiting-room'))
  t.teardown(() => first.drop())
  t.equal(idp.jwksFetches, 1)

  // Half the devices hold tokens signed before the rotation, half after it.
  const before = await Promise.all(clients.slice(0, 3).map(async (c) => idp.token(c, 'room:clinic-42/*:guest')))
  const newKid = await idp.rotate()
  const after = await Promise.all(clients.slice(3).map(async (c) => idp.token(c, 'room:clinic-42/*:guest')))
  t.ok(before.every((tok) => decodeProtectedHeader(tok).kid === oldKid) && after.every((tok) => decodeProtectedHeader(tok).kid === newKid), 'the IdP signs with the new key at once')

  const connectingAt = Date.now()
  const insideCooldown = connectingAt - idp.lastJwksFetchAt < COOLDOWN_SECONDS * 1000 - 500
  const results = await Promise.all([...before, ...after].map(async (token) => connectRetrying(base, token)))
  for (const r of results) if (r.peer) t.teardown(() => r.peer?.drop())

  t.ok(results.every((r) => r.peer !== undefined), 'every device got in')
  const refusals = results.flatMap((r) => r.refusals)
  t.same(refusals.filter((r) => r.status !== 503), [], 'no refusal but the retryable 503: never a 401')
  t.ok(refusals.every((r) => r.retryAfter !== undefined && r.retryAfter >= 1 && r.retryAfter <= COOLDOWN_SECONDS + 1), 'each 503 said when to retry: the end of the cooldown')
  t.same(results.slice(0, 3).map((r) => r.refusals.length), [0, 0, 0], 'tokens of the previous key, still published, were never refused')
  if (insideCooldown) t.ok(results.slice(3).every((r) => r.refusals.length > 0), 'inside the cooldown the new kid was answered with the retryable 503 first')
  t.equal(idp.jwksFetches, 2, 'one refetch for the rotation, however many devices waited for it')

  // Everybody can work: the rotated-key devices join like the others.
  for (const [i, r] of results.entries()) t.match(await joinRoom(r.peer!, `clinic-42/device-${i}`), { type: 'joined', role: 'guest' })
})
