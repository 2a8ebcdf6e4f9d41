import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '../../src/app.js'
import { requireRedis, startRedis, startSentinel } from '../helpers/redis-server.js'
import { FAST_LIVENESS, startInstances, type Instance } from '../helpers/instances.js'
import { testConfig } from '../helpers/config.js'
import { binaryOnPath } from '../helpers/turnserver.js'
import { signTestToken } from '../helpers/tokens.js'
import { WsPeer } from '../helpers/ws-peer.js'

const skip = requireRedis(t)

/** A peer on each instance in one room, then an offer one way and an answer the other. */
async function relayWorks (t: Test, a: Instance, b: Instance, room = 'r'): Promise<void> {
  const x = await WsPeer.connect(a.base, await signTestToken({ sub: 'x' }))
  const y = await WsPeer.connect(b.base, await signTestToken({ sub: 'y' }))
  t.teardown(() => { x.drop(); y.drop() })
  x.send({ type: 'join', room })
  await x.next('joined')
  y.send({ type: 'join', room })
  t.match(await y.next('joined'), { peers: [{ peerId: x.peerId }] })
  x.send({ type: 'offer', room, to: y.peerId, sdp: 'v=0 x' })
  t.match(await y.next('offer'), { from: x.peerId })
  y.send({ type: 'answer', room, to: x.peerId, sdp: 'v=0 y' })
  t.match(await x.next('answer'), { from: y.peerId })
}

const user = { name: 'switchboard', password: 'acl-pass-123' }

t.test('single server with an ACL user', skip, async (t) => {
  const redis = await startRedis(t, { user })
  const [a, b] = await startInstances(t, ['a', 'b'], { REDIS_URL: redis.url })
  if (!a || !b) throw new Error('instances')
  await relayWorks(t, a, b)

  // The same credentials may come from REDIS_USERNAME/REDIS_PASSWORD instead of the URL.
  const [c] = await startInstances(t, ['c'], { REDIS_URL: `redis://127.0.0.1:${redis.port}`, REDIS_USERNAME: user.name, REDIS_PASSWORD: user.password })
  t.equal((await fetch(`${c?.base ?? ''}/health/ready`)).status, 200)
})

t.test('the least-privilege ACL of docs/redis.md is enough (keys and channels under the prefix only)', skip, async (t) => {
  const redis = await startRedis(t, { user })
  redis.cli('acl', 'setuser', 'swb', 'on', '>swb-pass', 'resetkeys', '~swb:*', 'resetchannels', '&swb:*',
    '-@all', '+@read', '+@write', '+@scripting', '+@pubsub', '+@connection', '+info', '+time')
  const [a, b] = await startInstances(t, ['a', 'b'], { REDIS_URL: `redis://swb:swb-pass@127.0.0.1:${redis.port}` })
  if (!a || !b) throw new Error('instances')
  await relayWorks(t, a, b)
  const turn = await a.app.inject({ method: 'POST', url: '/v1/turn/credentials', headers: { authorization: `Bearer ${await signTestToken({ sub: 'x' })}` } })
  t.equal(turn.statusCode, 200, 'the rate limiter works with it too')
  t.equal(redis.cli('acl', 'log').trim(), '', 'Redis denied nothing')
  // The same user cannot work under another prefix: the ACL really restricts.
  const err = await buildApp(testConfig({ ...FAST_LIVENESS, REDIS_URL: `redis://swb:swb-pass@127.0.0.1:${redis.port}`, REDIS_KEY_PREFIX: 'other:' }))
    .then(async (app) => { await app.close(); return undefined }, (e: unknown) => e as Error)
  t.match(err?.message, /NOPERM|No permissions/)
})

t.test('a wrong password fails startup with a clear message that does not contain it', skip, async (t) => {
  const redis = await startRedis(t, { user })
  const config = testConfig({ ...FAST_LIVENESS, REDIS_URL: `redis://${user.name}:not-the-password@127.0.0.1:${redis.port}`, REDIS_CONNECT_TIMEOUT_MS: 1500 })
  const started = Date.now()
  const err = await buildApp(config).then(async (app) => { await app.close(); return undefined }, (e: unknown) => e as Error)
  t.ok(err, 'startup fails')
  t.match(err?.message, /Redis \(redis:\/\/127\.0\.0\.1:\d+\) not reachable within 1500 ms: .*(WRONGPASS|invalid username-password)/)
  t.notMatch(err?.message, /not-the-password/, 'the password is not in the message')
  t.ok(Date.now() - started < 5000, 'within the connect timeout')
})

t.test('nothing listening: startup fails within REDIS_CONNECT_TIMEOUT_MS', skip, async (t) => {
  const redis = await startRedis(t)
  await redis.kill()
  const err = await buildApp(testConfig({ ...FAST_LIVENESS, REDIS_URL: redis.url, REDIS_CONNECT_TIMEOUT_MS: 500 }))
    .then(async (app) => { await app.close(); return undefined }, (e: unknown) => e as Error)
  t.match(err?.message, /not reachable within 500 ms/)
})

t.test('rediss:// with a private CA (REDIS_TLS_CA_FILE) and an ACL user', skip, async (t) => {
  if (binaryOnPath('openssl') === undefined) {
    if (process.env.CI === 'true') t.fail('CI=true: openssl not found; the TLS test cannot be skipped in CI')
    else t.comment('!!! SKIPPING TLS test: openssl not found !!!')
    return
  }
  const dir = mkdtempSync(join(tmpdir(), 'swb-redis-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const run = (...args: string[]): void => {
    const res = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' })
    if (res.status !== 0) throw new Error(`openssl ${args[0]} failed: ${res.stderr}`)
  }
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=switchboard-test-ca')
  run('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1')
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n')
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'san.ext')
  const caFile = join(dir, 'ca.crt')
  const redis = await startRedis(t, { user, tls: { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key'), caFile } })
  const [a, b] = await startInstances(t, ['a', 'b'], { REDIS_URL: redis.tlsUrl, REDIS_TLS_CA_FILE: caFile })
  if (!a || !b) throw new Error('instances')
  await relayWorks(t, a, b)

  // Without the CA the server certificate is not trusted: startup fails instead of going unencrypted.
  const err = await buildApp(testConfig({ ...FAST_LIVENESS, REDIS_URL: redis.tlsUrl, REDIS_CONNECT_TIMEOUT_MS: 1000 }))
    .then(async (app) => { await app.close(); return undefined }, (e: unknown) => e as Error)
  t.match(err?.message, /not reachable/)
})

t.test('Sentinel: instances find the master through REDIS_SENTINELS', skip, async (t) => {
  const master = await startRedis(t)
  const sentinel = await startSentinel(t, master)
  const [a, b] = await startInstances(t, ['a', 'b'], { REDIS_SENTINELS: sentinel.address, REDIS_SENTINEL_NAME: sentinel.masterName })
  if (!a || !b) throw new Error('instances')
  t.equal(a.app.registry.kind, 'redis')
  await relayWorks(t, a, b)
  t.ok(Number(master.cli('dbsize').trim()) > 0, 'the state is on the master')
})

t.test('REDIS_KEY_PREFIX: two deployments share one Redis without seeing each other', skip, async (t) => {
  const redis = await startRedis(t)
  const [blue] = await startInstances(t, ['blue'], { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'blue:', ROOM_CAPACITY: 1 })
  const [green] = await startInstances(t, ['green'], { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'green:', ROOM_CAPACITY: 1 })
  if (!blue || !green) throw new Error('instances')
  const x = await WsPeer.connect(blue.base, await signTestToken({ sub: 'x' }))
  const y = await WsPeer.connect(green.base, await signTestToken({ sub: 'x' }))
  t.teardown(() => { x.drop(); y.drop() })
  x.send({ type: 'join', room: 'same-name' })
  t.match(await x.next('joined'), { peers: [] })
  y.send({ type: 'join', room: 'same-name' })
  t.match(await y.next('joined'), { peers: [] }, 'a room of capacity 1 in each deployment, not one shared room')
  const keys = redis.cli('--scan', '--pattern', '*').split('\n').filter(Boolean)
  t.ok(keys.every((k) => k.startsWith('blue:') || k.startsWith('green:')), 'every key carries its deployment prefix')
  t.ok(keys.includes('blue:room:{r:same-name}') && keys.includes('green:room:{r:same-name}'))
})
