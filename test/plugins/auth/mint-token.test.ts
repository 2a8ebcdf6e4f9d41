import t from 'tap'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseRequest, UsageError } from '../../../scripts/mint-token.js'
import { listen } from '../../helpers/build.js'
import { TEST_JWT_SECRET } from '../../helpers/config.js'
import { buildAuthApp, nowSeconds } from './app.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const tsx = `${root}node_modules/.bin/tsx`

interface Run { code: number, stdout: string, stderr: string }

/** Runs scripts/mint-token.ts as `npm run token` does, with a clean JWT_* / SWITCHBOARD_URL environment. */
async function mint (args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('JWT_') && k !== 'SWITCHBOARD_URL'))
  return new Promise((resolve) => {
    execFile(tsx, ['scripts/mint-token.ts', ...args], { cwd: root, env: { ...base, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
    })
  })
}

t.test('with JWT_SECRET it signs locally; the token verifies and stdout holds only the token', async (t) => {
  const settings = { JWT_ISSUER: 'https://idp.test/', JWT_AUDIENCE: 'switchboard', JWT_ALGORITHMS: 'HS512' }
  const { app } = await buildAuthApp(t, settings) // JWT_SECRET = TEST_JWT_SECRET
  const run = await mint(
    ['--sub', 'alice', '--room', 'r1', '--room', 'clinic-42/*=host', '--role', 'guest', '--ttl', '600'],
    { JWT_SECRET: TEST_JWT_SECRET, ...settings }
  )
  t.equal(run.code, 0, run.stderr)
  t.match(run.stdout, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/, 'one line: the token')
  const identity = await app.auth.verify(run.stdout.trim()) // checks iss, aud and HS512 too
  t.equal(identity.sub, 'alice')
  t.equal(identity.role, 'guest')
  t.same(identity.rooms, [{ room: 'r1' }, { room: 'clinic-42/*', role: 'host' }])
  t.ok(Math.abs(identity.exp - (nowSeconds() + 600)) <= 5)
})

t.test('without JWT_SECRET it asks the development server at SWITCHBOARD_URL', async (t) => {
  const { app } = await buildAuthApp(t, { JWT_SECRET: undefined, NODE_ENV: 'development' })
  const run = await mint(['--sub', 'carol', '--ttl', '120'], { SWITCHBOARD_URL: await listen(app) })
  t.equal(run.code, 0, run.stderr)
  const identity = await app.auth.verify(run.stdout.trim())
  t.equal(identity.sub, 'carol')
  t.ok(Math.abs(identity.exp - (nowSeconds() + 120)) <= 5)
  t.same(identity.rooms, [{ room: '*' }], 'without --room the token grants every room')
})

t.test('failures exit non-zero, say why on stderr, and print no token', async (t) => {
  const { app } = await buildAuthApp(t) // has JWT_SECRET, so no /v1/dev/token
  const [noRoute, badArgs] = await Promise.all([
    mint(['--sub', 'dave'], { SWITCHBOARD_URL: await listen(app) }),
    mint(['--ttl', '10'], { JWT_SECRET: TEST_JWT_SECRET })
  ])
  t.equal(noRoute.code, 1)
  t.equal(noRoute.stdout, '')
  t.match(noRoute.stderr, /has no \/v1\/dev\/token/)
  t.equal(badArgs.code, 2, 'usage errors exit 2')
  t.equal(badArgs.stdout, '')
  t.match(badArgs.stderr, /--ttl: Expected integer to be greater or equal to 60[\s\S]*usage: npm run token/)
})

t.test('argument parsing (in process)', async (t) => {
  t.same(parseRequest([]), { rooms: ['*'], ttl: 3600 }, 'every room unless --room says otherwise')
  t.same(parseRequest(['--sub', 'a', '--name', 'A', '--room', 'r=host', '--room', 'x']), {
    sub: 'a', name: 'A', rooms: [{ room: 'r', role: 'host' }, 'x'], ttl: 3600
  })
  t.equal(parseRequest(['--help']), 'help')
  const bad: Array<[string[], RegExp]> = [
    [['--ttl', 'abc'], /--ttl must be a whole number/],
    [['--ttl', '86401'], /--ttl: Expected integer to be less or equal to 86400/],
    [['--sub', ''], /--sub/],
    [['--sub', 'x'.repeat(129)], /--sub/],
    [['--room', '=host'], /names no room/],
    [['--room', 'r1='], /--rooms/],
    [['--frobnicate'], /Unknown option '--frobnicate'/],
    [['positional'], /positional/]
  ]
  for (const [args, message] of bad) t.throws(() => parseRequest(args), { constructor: UsageError, message }, args.join(' '))
})
