import t from 'tap'
import { startServer } from './server-process.js'

/*
 * Production refuses secrets that are too short, as a real process: exit 78 (EX_CONFIG) and one
 * line naming the variable. (test/deploy/production-start.test.ts does the same for the built image.)
 */

const STRONG_JWT = 'production-jwt-secret-0123456789-abcdef'
const STRONG_TURN = 'production-turn-secret-0123456789-abcdef'
const PRODUCTION = {
  NODE_ENV: 'production',
  HOST: '127.0.0.1',
  PORT: '0',
  JWT_SECRET: STRONG_JWT,
  TURN_SECRET: STRONG_TURN,
  TURN_URLS: 'turn:127.0.0.1:3478?transport=udp'
}

t.test('short secrets in production: exit 78 with one line naming the variable', async (t) => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['a 9-character TURN_SECRET', { ...PRODUCTION, TURN_SECRET: 'ninechars' }, /invalid configuration: TURN_SECRET: .*32 bytes/],
    ['one short entry among TURN_SECRET rotations', { ...PRODUCTION, TURN_SECRET: `${STRONG_TURN},old-short` }, /invalid configuration: TURN_SECRET: /],
    ['a 31-character JWT_SECRET', { ...PRODUCTION, JWT_SECRET: 'j'.repeat(31) }, /invalid configuration: .*JWT_SECRET/]
  ]
  // Side by side: each is a separate short-lived process.
  const results = await Promise.all(cases.map(async ([why, env, pattern]) => {
    const server = startServer(t, env)
    return { why, pattern, ...(await server.exit), stderr: server.stderr(), stdout: server.stdout() }
  }))
  for (const { why, pattern, code, stderr, stdout } of results) {
    t.equal(code, 78, `${why}: EX_CONFIG`)
    t.match(stderr, pattern, `${why}: names the variable`)
    t.equal(stderr.trim().split('\n').length, 1, `${why}: one line`)
    t.notOk(stderr.includes(STRONG_TURN) || stdout.includes(STRONG_TURN), `${why}: no secret echoed`)
  }
})

t.test('32-byte secrets start, and the same short TURN secret is fine in development', async (t) => {
  const prod = startServer(t, PRODUCTION)
  await prod.waitForLine('listening', (l) => String(l.msg).startsWith('Server listening at '))
  prod.child.kill('SIGTERM')
  t.equal((await prod.exit).code, 0, 'production with 32+ byte secrets runs')

  const dev = startServer(t, { NODE_ENV: 'development', HOST: '127.0.0.1', PORT: '0', TURN_SECRET: 'devsecret', DEMO_ENABLED: 'false' })
  await dev.waitForLine('listening', (l) => String(l.msg).startsWith('Server listening at '))
  dev.child.kill('SIGTERM')
  t.equal((await dev.exit).code, 0, 'the README quick start (TURN_SECRET=devsecret) still works')
})
