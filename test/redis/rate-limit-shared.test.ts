import t from 'tap'
import { requireRedis, startRedis } from '../helpers/redis-server.js'
import { startInstances } from '../helpers/instances.js'
import { signTestToken } from '../helpers/tokens.js'

const skip = requireRedis(t)
const URL = '/v1/turn/credentials'

t.test('the HTTP rate limit is global across instances when Redis is configured, and fails open without Redis', skip, async (t) => {
  const redis = await startRedis(t)
  // A command timeout far longer than "at once" may take on a busy machine (see the no-hang check below).
  const commandTimeoutMs = 10_000
  const [a, b] = await startInstances(t, ['a', 'b'], { REDIS_URL: redis.url, TURN_RATE_LIMIT_MAX: 2, TURN_RATE_LIMIT_WINDOW_SECONDS: 60, REDIS_COMMAND_TIMEOUT_MS: commandTimeoutMs })
  if (!a || !b) throw new Error('instances')
  const alice = { authorization: `Bearer ${await signTestToken({ sub: 'alice' })}` }
  const bob = { authorization: `Bearer ${await signTestToken({ sub: 'bob' })}` }
  t.equal((await a.app.inject({ method: 'POST', url: URL, headers: alice })).statusCode, 200)
  t.equal((await b.app.inject({ method: 'POST', url: URL, headers: alice })).statusCode, 200)
  const limited = await a.app.inject({ method: 'POST', url: URL, headers: alice })
  t.equal(limited.statusCode, 429, 'the third request is refused, although A saw only one before')
  t.match(limited.json(), { code: 'SWB_RATE_LIMITED' })
  t.ok(Number(limited.headers['retry-after']) >= 1)
  t.equal((await b.app.inject({ method: 'POST', url: URL, headers: alice })).statusCode, 429, 'on B too')
  t.equal((await b.app.inject({ method: 'POST', url: URL, headers: bob })).statusCode, 200, 'other users are not affected')
  const keys = redis.cli('--scan', '--pattern', 'swb:ratelimit:*').split('\n').filter(Boolean)
  t.ok(keys.length >= 2, 'counters live in Redis under the key prefix')
  for (const key of keys) t.ok(Number(redis.cli('pttl', key).trim()) > 0, `${key} expires`)

  // Redis away: issuance goes on (the limiter fails open) and answers at once.
  await redis.kill()
  const started = Date.now()
  const res = await a.app.inject({ method: 'POST', url: URL, headers: bob })
  t.equal(res.statusCode, 200)
  t.ok(Date.now() - started < commandTimeoutMs / 4, `no hang (${Date.now() - started} ms; the command timeout is ${commandTimeoutMs} ms)`)
})
