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
