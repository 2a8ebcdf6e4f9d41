import t from 'tap'
import { TEST_JWT_SECRET } from '../../helpers/config.js'
import { spawnInstance } from '../../helpers/instances.js'
import { signTestToken } from '../../helpers/tokens.js'
import { WsPeer } from '../../helpers/ws-peer.js'

const DRAIN_SECONDS = 1

t.test('the real entry point drains on SIGTERM: reconnect, then 1001 at the deadline, then exit 0', async (t) => {
  const { base, child, output, exited } = await spawnInstance(t, {
    LOG_LEVEL: 'info',
    SHUTDOWN_DRAIN_SECONDS: String(DRAIN_SECONDS),
    RECONNECT_JITTER_MS: '200'
  })

  const a = await WsPeer.connect(base, await signTestToken({ sub: 'doctor' }))
  const b = await WsPeer.connect(base, await signTestToken({ sub: 'patient' }))
  t.teardown(() => { a.drop(); b.drop() })
  a.send({ type: 'join', room: 'r' })
  await a.next('joined')
  b.send({ type: 'join', room: 'r' })
  await b.next('joined')

  const signalled = Date.now()
  child.kill('SIGTERM')
  t.match(await a.next('reconnect', 2000), { reason: 'draining', afterMs: Number })
  t.match(await b.next('reconnect', 2000), { reason: 'draining' })
  const ready = await fetch(`${base}/health/ready`)
  t.equal(ready.status, 503, 'not ready while draining')

  t.equal(await a.waitClosed(DRAIN_SECONDS * 1000 + 2000), 1001)
  t.equal(await b.waitClosed(1000), 1001)
  t.ok(Date.now() - signalled >= DRAIN_SECONDS * 1000 - 100, 'sockets were kept until the drain deadline')
  const { code, signal } = await Promise.race([
    exited,
    new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error(`no exit; output:\n${output()}`)), DRAIN_SECONDS * 1000 + 5000))
  ])
  t.equal(code, 0, `exit code 0 (signal ${String(signal)})`)
  t.ok(Date.now() - signalled < DRAIN_SECONDS * 1000 + 5000, `exited ${Date.now() - signalled} ms after SIGTERM`)
  t.same(a.ofType('peer-left'), [], 'nobody was told a peer left: sessions are meant to resume elsewhere')
  t.notOk(output().includes(TEST_JWT_SECRET), 'the secret is not printed')
})
