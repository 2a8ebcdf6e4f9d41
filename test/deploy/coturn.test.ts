import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import dgram from 'node:dgram'
import { createServer } from 'node:net'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes, randomInt } from 'node:crypto'
import { CHART_DIR } from '../../deploy/chart-values.js'
import { turnRestCredential } from '../../plugins/turn/credentials.js'
import { requireBinaries, selfSignedCertificate, tlsFingerprint, turnAllocateTls } from '../helpers/turnserver.js'
import { copyFileSync } from 'node:fs'
import { stunBinding, turnAllocate, turnRealm } from '../helpers/turn-allocate.js'

/*
 * The chart's coturn option, run for real: files/coturn-entrypoint.sh (the container command) with
 * files/turnserver.conf (the ConfigMap) on a real turnserver, checked with credentials minted by the
 * service's own issuer from the same TURN_SECRET value the chart's Secret holds.
 */

const ENTRYPOINT = join(CHART_DIR, 'files', 'coturn-entrypoint.sh')
const BASE_CONFIG = join(CHART_DIR, 'files', 'turnserver.conf')

interface Coturn { child: ChildProcess, output: () => string, exit: Promise<number | null>, runDir: string }

interface Teardown { teardown (fn: () => unknown): void }

function startCoturn (t: Teardown, turnSecret: string | undefined, flags: string[], extraEnv: Record<string, string> = {}): Coturn {
  const dir = mkdtempSync(join(tmpdir(), 'swb-chart-coturn-'))
  const runDir = join(dir, 'run')
  mkdirSync(runDir)
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', COTURN_BASE_CONFIG: BASE_CONFIG, COTURN_RUN_DIR: runDir }
  if (turnSecret !== undefined) env.TURN_SECRET = turnSecret
  Object.assign(env, extraEnv)
  // `sh entrypoint.sh`, as the Deployment runs it (ConfigMap files are not executable).
  const child = spawn('sh', [ENTRYPOINT, ...flags], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const keep = (c: Buffer): void => { out = (out + c.toString('utf8')).slice(-20_000) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await exit
    }
    rmSync(dir, { recursive: true, force: true })
  })
  return { child, output: () => out, exit, runDir }
}

/**
 * A UDP+TCP port below the ephemeral range that nothing holds now. coturn binds with SO_REUSEPORT and
 * would share a busy port silently (the realm check below catches what slips through).
 */
async function freePort (): Promise<number> {
  const udpFree = async (port: number): Promise<boolean> => new Promise((resolve) => {
    const s = dgram.createSocket('udp4')
    s.once('error', () => { s.close(); resolve(false) })
    s.bind(port, '127.0.0.1', () => { s.close(); resolve(true) })
  })
  const tcpFree = async (port: number): Promise<boolean> => new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
  for (let i = 0; i < 50; i++) {
    const port = randomInt(20000, 32000)
    if (await udpFree(port) && await tcpFree(port)) return port
  }
  throw new Error('no free UDP+TCP port in 20000-31999')
}

async function ready (server: Coturn, port: number): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!(await stunBinding('127.0.0.1', port, 200)).ok) {
    if (server.child.exitCode !== null) throw new Error(`coturn exited with ${server.child.exitCode}:\n${server.output()}`)
    if (Date.now() > deadline) throw new Error(`coturn did not answer on ${port}:\n${server.output()}`)
  }
}

t.test('coturn started by the chart accepts every TURN_SECRET entry and nothing else', requireBinaries(t, 'turnserver'), async (t) => {

  // Rotation window as an operator would write it: the new secret first, blanks and characters that
  // mean something elsewhere (#, =, spaces) included.
  const current = `new#secret = ${randomBytes(6).toString('hex')}`
  const previous = `old-${randomBytes(6).toString('hex')}`
  const port = await freePort()
  const relay = randomInt(61000, 65000)
  const realm = `chart-${randomBytes(3).toString('hex')}.test`
  const server = startCoturn(t, ` ${current} , ${previous} ,`, [
    // What the Deployment passes (values), plus loopback-only addresses for the test.
    `--listening-port=${port}`, `--min-port=${relay}`, `--max-port=${relay + 20}`, `--realm=${realm}`, '--no-tls',
    '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1'
  ])
  await ready(server, port)
  t.equal(await turnRealm('127.0.0.1', port), realm, 'our coturn answered (not another on the same port)')

  for (const [name, secret] of [['current', current], ['previous', previous]] as Array<[string, string]>) {
    const c = turnRestCredential(secret, 'alice', 600)
    const res = await turnAllocate('127.0.0.1', port, c.username, c.credential)
    t.ok(res.ok, `a credential signed with the ${name} secret allocates a relay: ${JSON.stringify(res)}`)
  }
  const wrong = turnRestCredential('not-the-secret', 'alice', 600)
  t.match(await turnAllocate('127.0.0.1', port, wrong.username, wrong.credential), { ok: false, code: 401 }, 'a wrong secret is refused')
  const expired = turnRestCredential(current, 'alice', 1, Date.now() - 120_000)
  t.match(await turnAllocate('127.0.0.1', port, expired.username, expired.credential), { ok: false, code: 401 }, 'an expired credential is refused')

  // The secrets live in a private file, not on the command line.
  const cmdline = readFileSync(`/proc/${server.child.pid}/cmdline`, 'utf8').split('\0')
  t.equal(cmdline[0], 'turnserver', 'the shell exec()s turnserver: it is the process the kubelet signals')
  t.notOk(cmdline.join(' ').includes(current) || cmdline.join(' ').includes(previous), 'no secret in the process arguments')
  const environ = readFileSync(`/proc/${server.child.pid}/environ`, 'utf8')
  t.notOk(environ.includes('TURN_SECRET='), 'TURN_SECRET is unset before turnserver starts')
  const conf = join(server.runDir, 'turnserver.conf')
  t.equal(statSync(conf).mode & 0o777, 0o600, 'the generated config is private')
  t.match(readFileSync(conf, 'utf8'), `static-auth-secret=${current}\nstatic-auth-secret=${previous}\n`, 'both secrets, trimmed, in order')
  t.notMatch(server.output(), /Bad configuration format/, 'coturn accepted every line of files/turnserver.conf')

  server.child.kill('SIGTERM')
  const stopped = await Promise.race([server.exit.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 5000))])
  t.ok(stopped, 'turnserver stops on SIGTERM (the Recreate strategy waits for it)')
})

t.test('the coturn entrypoint refuses an unusable TURN_SECRET', requireBinaries(t, 'turnserver'), async (t) => {
  const cases: Array<[string, string | undefined, RegExp]> = [
    ['unset', undefined, /TURN_SECRET is empty/],
    ['empty', '', /TURN_SECRET is empty/],
    ['only separators', ' , ,', /holds no secret/],
    ['a line break that would inject config', 'abc\nallow-loopback-peers', /line break/]
  ]
  for (const [why, secret, message] of cases) {
    const server = startCoturn(t, secret, ['--listening-port=1', '--listening-ip=127.0.0.1'])
    t.equal(await server.exit, 64, `${why}: exit 64 before turnserver starts`)
    t.match(server.output(), message, `${why}: says why`)
  }
})

t.test('coturn started by the chart with TLS: turns: allocates, and a renewed certificate is picked up', requireBinaries(t, 'turnserver', 'openssl'), async (t) => {
  // The Secret mount, as the Deployment has it: tls.crt and tls.key in one directory.
  const first = await selfSignedCertificate(t, ['127.0.0.1'])
  const renewed = await selfSignedCertificate(t, ['127.0.0.1'])
  const mount = await selfSignedCertificate(t, ['127.0.0.1'])
  copyFileSync(first.certFile, mount.certFile)
  copyFileSync(first.keyFile, mount.keyFile)

  const secret = `tls-${randomBytes(8).toString('hex')}`
  const port = await freePort()
  let tlsPort = await freePort()
  while (tlsPort === port) tlsPort = await freePort()
  const relay = randomInt(61000, 65000)
  // The Deployment's TLS flags; a 1 s reload interval instead of an hour so the renewal shows quickly.
  const server = startCoturn(t, secret, [
    `--listening-port=${port}`, `--min-port=${relay}`, `--max-port=${relay + 20}`, '--realm=tls.chart.test',
    `--tls-listening-port=${tlsPort}`, `--cert=${mount.certFile}`, `--pkey=${mount.keyFile}`,
    '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1'
  ], { COTURN_TLS_RELOAD_SECONDS: '1' })
  await ready(server, port)

  const c = turnRestCredential(secret, 'alice', 600)
  const result = await turnAllocateTls('127.0.0.1', tlsPort, c.username, c.credential, first.pem)
  t.match(result, { ok: true, tls: { authorized: true, fingerprint256: first.fingerprint256 } }, `turns: allocation with the mounted certificate: ${JSON.stringify(result)}`)
  t.notMatch(server.output(), /Bad configuration format|cannot find certificate/i, 'coturn took the TLS settings')

  // cert-manager renews: the kubelet swaps the files in the mount. The start script's SIGUSR2 loop
  // makes coturn re-read them; wait (bounded) until a handshake presents the new certificate.
  copyFileSync(renewed.keyFile, mount.keyFile)
  copyFileSync(renewed.certFile, mount.certFile)
  const deadline = Date.now() + 10_000
  let seen = ''
  while ((seen = await tlsFingerprint('127.0.0.1', tlsPort)) !== renewed.fingerprint256 && Date.now() < deadline) {
    // Next log line (coturn logs each reload), or the deadline: never an unbounded wait.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))
      server.child.stdout?.once('data', () => { clearTimeout(timer); resolve() })
    })
  }
  t.equal(seen, renewed.fingerprint256, 'the renewed certificate is served without a restart')
  t.match(server.output(), /Reloading TLS certificates/, 'coturn says it reloaded them')
  const again = await turnAllocateTls('127.0.0.1', tlsPort, c.username, c.credential, renewed.pem)
  t.equal(again.ok, true, 'and turns: allocations go on with it')
})

t.test('the coturn entrypoint refuses a reload interval that is not a number', requireBinaries(t, 'turnserver'), async (t) => {
  const server = startCoturn(t, 'a-secret', ['--listening-port=1', '--listening-ip=127.0.0.1'], { COTURN_TLS_RELOAD_SECONDS: '1h' })
  t.equal(await server.exit, 64)
  t.match(server.output(), /COTURN_TLS_RELOAD_SECONDS must be a whole number/)
})
