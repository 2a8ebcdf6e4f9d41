import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomInt } from 'node:crypto'
import { Redis } from 'ioredis'
import { CHART_DIR } from '../../deploy/chart-values.js'
import { binaryOnPath } from '../helpers/turnserver.js'
import { exited, tcpPortFree } from '../helpers/processes.js'

/*
 * The chart's bundled Redis, run for real: files/redis-entrypoint.sh (the container command) with
 * files/redis.conf (the ConfigMap) on a real redis-server, with a password full of characters that
 * mean something in a Redis config file.
 */

function needRedis (): { skip: string | false } {
  if (binaryOnPath('redis-server')) return { skip: false }
  const reason = 'redis-server not found on PATH (apt-get install redis-server)'
  if (process.env.CI === 'true') t.fail(`CI=true: ${reason}; the bundled Redis test cannot be skipped in CI`)
  else t.comment(`!!! SKIPPING bundled Redis test: ${reason} !!!`)
  return { skip: reason }
}

function start (t: { teardown (fn: () => unknown): void }, password: string | undefined, flags: string[]): { child: ReturnType<typeof spawn>, output: () => string, runDir: string } {
  const runDir = mkdtempSync(join(tmpdir(), 'swb-chart-redis-'))
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', REDIS_BASE_CONFIG: join(CHART_DIR, 'files', 'redis.conf'), REDIS_RUN_DIR: runDir }
  if (password !== undefined) env.REDIS_PASSWORD = password
  const child = spawn('sh', [join(CHART_DIR, 'files', 'redis-entrypoint.sh'), ...flags], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => { out += c.toString('utf8') })
  child.stderr?.on('data', (c: Buffer) => { out += c.toString('utf8') })
  t.teardown(async () => {
    if (!await exited(child, 0)) { child.kill('SIGTERM'); await exited(child, 5000) }
    rmSync(runDir, { recursive: true, force: true })
  })
  return { child, output: () => out, runDir }
}

t.test('the bundled Redis requires the password from REDIS_PASSWORD and nothing else', needRedis(), async (t) => {
  const password = 'p a"s\\s#w$o\'rd-' + String(randomInt(1e9))
  let port = 0
  for (let i = 0; i < 50 && port === 0; i++) { const p = randomInt(20000, 32000); if (await tcpPortFree(p)) port = p }
  const server = start(t, password, ['--port', String(port), '--bind', '127.0.0.1', '--maxmemory', '50mb'])

  // Ready when redis-server says so on its log (an event, not a sleep), or it exits.
  await new Promise<void>((resolve, reject) => {
    const check = (): void => { if (/Ready to accept connections/.test(server.output())) resolve() }
    server.child.stdout?.on('data', check)
    server.child.once('exit', (code) => reject(new Error(`redis-server exited with ${String(code)}:\n${server.output()}`)))
    check()
  })
  const good = new Redis({ host: '127.0.0.1', port, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  t.teardown(() => good.disconnect())
  await good.connect()
  t.equal(await good.ping(), 'PONG', 'the exact password (quotes, backslash, #, $, spaces) authenticates')
  t.same(await good.config('GET', 'maxmemory-policy'), ['maxmemory-policy', 'noeviction'], 'files/redis.conf is in effect')
  t.same(await good.config('GET', 'save'), ['save', ''], 'no snapshots')
  await t.rejects(good.call('FLUSHALL'), /unknown command/, 'FLUSHALL is renamed away')

  const anonymous = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null })
  t.teardown(() => anonymous.disconnect())
  await anonymous.connect()
  await t.rejects(anonymous.ping(), /NOAUTH/, 'without the password nothing runs')
  await t.rejects(anonymous.call('AUTH', 'wrong'), /WRONGPASS/, 'a wrong password is refused')

  const cmdline = readFileSync(`/proc/${String(server.child.pid)}/cmdline`, 'utf8')
  t.match(cmdline, /^redis-server/, 'the shell exec()s redis-server')
  t.notOk(cmdline.includes(password), 'the password is not on the command line')
  t.notOk(readFileSync(`/proc/${String(server.child.pid)}/environ`, 'utf8').includes('REDIS_PASSWORD='), 'nor in its environment')
  t.equal(statSync(join(server.runDir, 'redis.conf')).mode & 0o777, 0o600, 'the generated config is private')
})

t.test('the Redis entrypoint refuses a missing or multi-line password', needRedis(), async (t) => {
  for (const [why, password, message] of [['unset', undefined, /REDIS_PASSWORD is empty/], ['a line break', 'a\nrequirepass x', /line break/]] as const) {
    const server = start(t, password, ['--port', '1'])
    await exited(server.child, 10_000)
    t.equal(server.child.exitCode, 64, `${why}: exit 64`)
    t.match(server.output(), message, `${why}: says why`)
  }
})
