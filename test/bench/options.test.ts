import t from 'tap'
import { parseOptions, UsageError, type Options } from '../../bench/lib/options.js'

const parse = (env: NodeJS.ProcessEnv): Options => parseOptions(['--quick'], env) as Options

t.test('BENCH_SWITCHBOARD_ENV: variables for every Switchboard server, or a usage error that names it', async (t) => {
  t.strictSame(parse({}).switchboardEnv, {}, 'unset: nothing')
  t.strictSame(parse({ BENCH_SWITCHBOARD_ENV: ' ' }).switchboardEnv, {}, 'blank: nothing')
  t.strictSame(parse({ BENCH_SWITCHBOARD_ENV: '{"WS_HEARTBEAT_INTERVAL_MS":"300000"}' }).switchboardEnv, { WS_HEARTBEAT_INTERVAL_MS: '300000' })
  for (const bad of ['WS_HEARTBEAT_INTERVAL_MS=300000', '["a"]', 'null', '{"WS_HEARTBEAT_INTERVAL_MS":300000}']) {
    let error: unknown
    try {
      parse({ BENCH_SWITCHBOARD_ENV: bad })
    } catch (err) {
      error = err
    }
    t.ok(error instanceof UsageError, `${bad}: a usage error`)
    t.match((error as Error | undefined)?.message, /^BENCH_SWITCHBOARD_ENV must be a JSON object of strings/, `${bad}: it names the variable`)
  }
})

t.test('--timeout: by default it grows with the rounds asked for; given explicitly, it wins', async (t) => {
  const timeout = (...argv: string[]): number => (parseOptions(argv, {}) as Options).timeoutMs / 1000
  t.equal(timeout(), 1200, '3 rounds: 1200 s')
  t.equal(timeout('--rounds', '1'), 1200, 'never below 1200 s')
  t.equal(timeout('--rounds', '5'), 2000, '5 rounds: 400 s each')
  t.equal(timeout('--quick'), 120, '--quick: 120 s per round')
  t.equal(timeout('--quick', '--rounds', '3'), 360)
  t.equal(timeout('--rounds', '5', '--timeout', '900'), 900, 'an explicit --timeout wins')
  t.equal(timeout('--rounds', '20'), 7200, '20 rounds: capped at the largest --timeout accepted, not a usage error')
})

t.test('--phase-warm-up: 2 s of unmeasured load before each phase by default, 0.2 s with --quick, 0 for none', async (t) => {
  const warmUp = (...argv: string[]): number => (parseOptions(argv, {}) as Options).phaseWarmUpMs
  t.equal(warmUp(), 2000)
  t.equal(warmUp('--quick'), 200)
  t.equal(warmUp('--phase-warm-up', '0'), 0)
  t.equal(warmUp('--quick', '--phase-warm-up', '1.5'), 1500, 'given explicitly, it wins')
  for (const bad of ['-1', 'soon', '61']) {
    let error: unknown
    try {
      warmUp(`--phase-warm-up=${bad}`)
    } catch (err) {
      error = err
    }
    t.ok(error instanceof UsageError, `${bad}: a usage error`)
    t.match((error as Error | undefined)?.message, /^--phase-warm-up must be a number of seconds/, `${bad}: it names the option`)
  }
})
