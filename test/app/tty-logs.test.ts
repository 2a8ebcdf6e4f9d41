import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'

/*
 * On a terminal the log is pino-pretty. `script` gives the server a pseudo-terminal as stdout; the
 * non-terminal (JSON) path is covered by dev-mode.test.ts.
 */

const REPO = join(import.meta.dirname, '..', '..')
const hasScript = spawnSync('script', ['--version']).status === 0

t.test('stdout on a terminal: readable lines, not JSON', { skip: hasScript ? false : 'no `script` (util-linux) to make a pseudo-terminal' }, async (t) => {
  const child = spawn('script', ['-qfec', `${process.execPath} --import tsx src/server.ts`, '/dev/null'], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_ENV: 'development', PORT: '0', DEMO_ENABLED: 'false' },
    stdio: ['pipe', 'pipe', 'pipe']
  })
  const exit = new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  // Resolved by the output itself: the listening line, in pino-pretty's "INFO ... Server listening" form.
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8')
      if (/Server listening at http:\/\/127\.0\.0\.1:\d+/.test(out)) resolve()
    })
    child.once('exit', (code) => reject(new Error(`exited ${code} before listening:\n${out}`)))
  })
  const line = out.split(/\r?\n/).find((l) => l.includes('Server listening at')) ?? ''
  t.match(line, /INFO/, 'a level name, as pino-pretty writes it')
  t.notOk(line.trimStart().startsWith('{'), `not a JSON object: ${line}`)
  // script forwards signals poorly; end the server through its process group instead.
  child.kill('SIGTERM')
  await exit
})
