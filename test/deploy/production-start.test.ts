import t from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { buildLayout, parseDockerfile } from './dockerfile.js'

/*
 * The image's runtime, without Docker: the compiled output plus `npm ci --omit=dev` (the Dockerfile's own
 * install command) in a temp dir, started with the Dockerfile's CMD and NODE_ENV=production. Catches a
 * runtime import of a devDependency, a broken build layout, a server that ignores SIGTERM, and a bad
 * config that crashes with a stack trace instead of naming the variable.
 */

const REPO = join(import.meta.dirname, '..', '..')
const runtime = parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8')).at(-1)
const layout = buildLayout(REPO)

const JWT_SECRET = 'prod-start-jwt-secret-0123456789abcdef-XYZ'
const TURN_SECRET = 'prod-start-turn-secret-0123456789'
const PRODUCTION_ENV = {
  NODE_ENV: 'production',
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'info',
  SHUTDOWN_DRAIN_SECONDS: '1',
  JWT_SECRET,
  TURN_SECRET,
  TURN_URLS: 'turn:127.0.0.1:3478?transport=udp'
}

// A full compile and a production npm install come first: on a busy 2-core machine that alone can
// take most of the suite's default 120 s.
t.setTimeout(240_000)

const work = mkdtempSync(join(tmpdir(), 'swb-prod-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))

/** A minimal environment: nothing from this shell (or CI) leaks into the server's config. */
function cleanEnv (extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', ...extra }
}

function run (cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): void {
  const res = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 120_000 })
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${res.status ?? res.signal}):\n${res.stdout}\n${res.stderr}`)
}

/**
 * The image build without Docker, once for all tests: the runtime stage's COPY lines and its
 * `npm ci --omit=dev ...` exactly as the Dockerfile writes them, and the build stage's `npm run build`
 * into the temp dir. Returns the CMD argv.
 */
async function buildImageLayout (): Promise<string[]> {
  if (!runtime) throw new Error('Dockerfile has no stage')
  // The runtime stage's COPY lines from the build context (the one from the build stage is the tsc run below).
  for (const { args } of runtime.instructions.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from='))) {
    const parts = args.split(' ').filter((p) => !p.startsWith('--'))
    const dest = parts.pop() ?? '.'
    for (const src of parts) {
      const target = parts.length > 1 || dest.endsWith('/') ? join(work, dest, basename(src)) : join(work, dest)
      cpSync(join(REPO, src), target, { recursive: true })
    }
  }
  const install = runtime.instructions.find((i) => i.op === 'RUN' && /^npm ci\b/.test(i.args))?.args.split('&&')[0]?.trim()
  if (!install?.includes('--omit=dev')) throw new Error('the runtime stage has no `npm ci --omit=dev`')
  // --prefer-offline: the warm npm cache answers locally; a fresh CI machine reaches the registry.
  run('npm', [...install.split(' ').slice(1), '--prefer-offline'], work)
  run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(work, layout.outDir)], REPO)
  return JSON.parse(runtime.instructions.filter((i) => i.op === 'CMD').at(-1)?.args ?? '[]') as string[]
}
// A failed build fails every test below with its compiler or npm output.
const image = buildImageLayout()
image.catch(() => {})

interface Server { child: ChildProcess, stdout: () => string, stderr: () => string, exit: Promise<{ code: number | null, signal: string | null }> }

async function startServer (env: Record<string, string>): Promise<Server> {
  const cmd = await image
  // CMD is ["node", ...]: run the same argv with this node binary.
  const child = spawn(process.execPath, cmd.slice(1), { cwd: work, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout?.on('data', (c: Buffer) => { out += c.toString('utf8') })
  child.stderr?.on('data', (c: Buffer) => { err += c.toString('utf8') })
  const exit = new Promise<{ code: number | null, signal: string | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }))
  })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  return { child, stdout: () => out, stderr: () => err, exit }
}

/** Polls until the server logs its address (PORT=0 picks a free one), or fails if it exits first. */
async function listeningUrl (server: Server, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const url = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(server.stdout())?.[1]
    if (url) return url
    if (server.child.exitCode !== null) throw new Error(`server exited with ${server.child.exitCode}:\n${server.stderr()}${server.stdout()}`)
    if (Date.now() > deadline) throw new Error(`server did not listen within ${timeoutMs} ms:\n${server.stdout()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

function healthcheck (port: string): number | null {
  // The image's HEALTHCHECK command, with the image's environment.
  return spawnSync(process.execPath, ['healthcheck.mjs'], { cwd: work, env: cleanEnv({ PORT: port }), timeout: 10_000 }).status
}

async function withTimeout<T> (p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms) })
  try { return await Promise.race([p, timeout]) } finally { clearTimeout(timer) }
}

t.test('the production build starts with production dependencies only and stops cleanly on SIGTERM', async (t) => {
  const server = await startServer(PRODUCTION_ENV)
  const url = await listeningUrl(server)
  const port = new URL(url).port

  const live = await fetch(`${url}/health/live`)
  t.equal(live.status, 200, '/health/live')
  t.same(await live.json(), { status: 'ok' })
  const ready = await fetch(`${url}/health/ready`)
  t.equal(ready.status, 200, '/health/ready')
  t.equal(((await ready.json()) as { status: string }).status, 'ready')

  t.equal(healthcheck(port), 0, 'the HEALTHCHECK script passes against the live server')

  server.child.kill('SIGTERM')
  const { code, signal } = await withTimeout(server.exit, 15_000, 'shutdown after SIGTERM')
  t.equal(signal, null, 'exited by itself, not killed by the signal')
  t.equal(code, 0, 'exit code 0 after a graceful shutdown')
  t.match(server.stdout(), /"signal":"SIGTERM"/, 'the shutdown was logged')
  t.equal(healthcheck(port), 1, 'the HEALTHCHECK script fails once the server is gone')

  const logs = server.stdout() + server.stderr()
  t.notOk(logs.includes(JWT_SECRET), 'the JWT secret is never logged')
  t.notOk(logs.includes(TURN_SECRET), 'the TURN secret is never logged')
})

t.test('a bad production config exits non-zero with one line naming the variable', async (t) => {
  const { JWT_SECRET: _jwt, ...withoutJwt } = PRODUCTION_ENV
  const { TURN_SECRET: _turn, ...withoutTurn } = PRODUCTION_ENV
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['no JWT settings', withoutJwt, /JWT_SECRET/],
    ['TURN_PROVIDER=hmac without TURN_SECRET', withoutTurn, /TURN_SECRET/],
    ['a port out of range', { ...PRODUCTION_ENV, PORT: '99999' }, /PORT/]
  ]
  // Side by side: each is a separate short-lived process.
  const results = await Promise.all(cases.map(async ([why, env, names]) => {
    const server = await startServer(env)
    const { code } = await withTimeout(server.exit, 30_000, `exit on ${why}`)
    return { why, names, code, stderr: server.stderr() }
  }))
  for (const { why, names, code, stderr } of results) {
    t.not(code, 0, `${why}: non-zero exit`)
    t.not(code, null, `${why}: exited by itself`)
    t.match(stderr, names, `${why}: the message names the variable`)
    t.notMatch(stderr, /^\s+at /m, `${why}: no stack trace`)
    t.equal(stderr.trim().split('\n').length, 1, `${why}: a single line`)
  }
})

t.test('the image serves the demo page when DEMO_ENABLED=true (sources and esbuild are in the image)', async (t) => {
  const server = await startServer({ ...PRODUCTION_ENV, DEMO_ENABLED: 'true' })
  const url = await listeningUrl(server)
  const page = await fetch(`${url}/demo/`)
  t.equal(page.status, 200, 'GET /demo/')
  const script = await fetch(`${url}/demo/demo.js`)
  t.equal(script.status, 200, 'GET /demo/demo.js is bundled with the production dependencies only')
  t.match(await script.text(), /SwitchboardClient|WebSocket/, 'and is the bundled client')
  server.child.kill('SIGTERM')
  t.equal((await withTimeout(server.exit, 15_000, 'shutdown')).code, 0)
})
