import t from 'tap'
import { spawn } from 'node:child_process'
import { ConfigError, loadConfig } from '../../src/config.js'

const base = { JWT_SECRET: 'x'.repeat(40) }
/** A production config that passes every rule; cases change one variable of it. */
const prod = { ...base, TURN_SECRET: 'turn-secret-0123456789-0123456789', TURN_URLS: 'turn:turn.example.com:3478?transport=udp' }

t.test('defaults give the embedded development setup', async (t) => {
  const config = loadConfig({})
  t.match(config, { NODE_ENV: 'development', PORT: 8080, TURN_PROVIDER: 'hmac', ROOM_CAPACITY: 2 })
  t.equal(config.HOST, undefined, 'the listen address follows the mode (src/listen.ts)')
  t.equal(config.REDIS_URL, undefined, 'no Redis unless asked for')
})

t.test('a bad or missing value names the variable', async (t) => {
  const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
    [{ PORT: '99999' }, /PORT/],
    [{ PORT: 'eighty' }, /PORT/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ TURN_PROVIDER: 'carrier-pigeon' }, /TURN_PROVIDER/],
    [{ JWT_SECRET: 'short' }, /JWT_SECRET/],
    [{ ROOM_CAPACITY: '0' }, /ROOM_CAPACITY/],
    [{ JWT_SECRET: 'x'.repeat(40), JWT_JWKS_URL: 'https://idp.example/jwks' }, /JWT_SECRET.*JWT_JWKS_URL|JWT_JWKS_URL.*JWT_SECRET/],
    [{ TLS_CERT_FILE: '/tmp/cert.pem' }, /TLS_CERT_FILE and TLS_KEY_FILE/],
    [{ NODE_ENV: 'production' }, /JWT_SECRET/],
    [{ NODE_ENV: 'production', ...base }, /TURN_SECRET/],
    [{ TURN_PROVIDER: 'static' }, /TURN_STATIC_USERNAME/],
    [{ TURN_PROVIDER: 'cloudflare' }, /CLOUDFLARE_TURN_KEY_ID/],
    [{ TURN_PROVIDER: 'twilio' }, /TWILIO_ACCOUNT_SID/],
    [{ TURN_URLS: 'http://turn.example.com' }, /TURN_URLS/],
    [{ NODE_ENV: 'production', ...prod, TURN_SECRET: 'nine-char' }, /^TURN_SECRET: .*32 bytes/],
    [{ NODE_ENV: 'production', ...prod, TURN_SECRET: `${'s'.repeat(40)}, old-short-secret` }, /^TURN_SECRET: .*every/],
    [{ METRICS_PORT: '9090', METRICS_TOKEN: 'm'.repeat(32) }, /METRICS_PORT and METRICS_TOKEN/],
    [{ METRICS_PORT: '8080' }, /METRICS_PORT must differ from PORT/],
    [{ METRICS_ENABLED: 'false', METRICS_TOKEN: 'm'.repeat(32) }, /METRICS_TOKEN is set but METRICS_ENABLED=false/],
    [{ METRICS_TOKEN: 'short' }, /METRICS_TOKEN/]
  ]
  for (const [env, pattern] of cases) {
    t.throws(() => loadConfig(env), pattern, `${JSON.stringify(env)} → ${String(pattern)}`)
    try { loadConfig(env) } catch (err) { t.type(err, ConfigError) }
  }
})

t.test('production starts with real JWT and TURN settings', async (t) => {
  const config = loadConfig({ NODE_ENV: 'production', ...prod })
  t.equal(config.NODE_ENV, 'production')
  // Bytes, not characters: 11 three-byte characters are 33 bytes.
  t.ok(loadConfig({ NODE_ENV: 'production', ...prod, TURN_SECRET: '秘'.repeat(11) }), 'a multi-byte secret counts in UTF-8 bytes')
  t.ok(loadConfig({ TURN_SECRET: 'short' }), 'development accepts a short TURN secret (coturn on a laptop)')
})

t.test('the entry point exits non-zero with one line naming the variable, no stack trace', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { PATH: process.env.PATH, PORT: 'not-a-port' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  t.equal(code, 78, 'EX_CONFIG')
  t.match(stderr, /invalid configuration: .*PORT/)
  t.notMatch(stderr, /\n\s+at /, 'no stack trace')
  t.equal(stderr.trim().split('\n').length, 1, 'one line')
})
