import t from 'tap'
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { TEST_JWT_SECRET } from '../../helpers/config.js'
import { signTestToken } from '../../helpers/tokens.js'
import { WsPeer, until } from '../../helpers/ws-peer.js'

const ROOT = join(import.meta.dirname, '..', '..', '..')
const DRAIN_SECONDS = 1

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

t.test('the real entry point drains on SIGTERM: reconnect, then 1001 at the deadline, then exit 0', async (t) => {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), ['src/server.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'test',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      JWT_SECRET: TEST_JWT_SECRET,
      SHUTDOWN_DRAIN_SECONDS: String(DRAIN_SECONDS),
      RECONNECT_JITTER_MS: '200'
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })

  // tsx compiles on start: poll readiness rather than guess a delay.
  await until(async () => {
    if (child.exitCode !== null) throw new Error(`server exited early (${child.exitCode}):\n${output}`)
    try {
      return (await fetch(`${base}/health/ready`)).status === 200
    } catch {
      return false
    }
  }, 'the server to be ready', 30_000)

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
    new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error(`no exit; output:\n${output}`)), DRAIN_SECONDS * 1000 + 5000))
  ])
  t.equal(code, 0, `exit code 0 (signal ${String(signal)})`)
  t.ok(Date.now() - signalled < DRAIN_SECONDS * 1000 + 5000, `exited ${Date.now() - signalled} ms after SIGTERM`)
  t.same(a.ofType('peer-left'), [], 'nobody was told a peer left: sessions are meant to resume elsewhere')
  t.notOk(output.includes(TEST_JWT_SECRET), 'the secret is not printed')
})
