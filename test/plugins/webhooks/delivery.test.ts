import t from 'tap'
import { retryDelayMs } from '../../../plugins/webhooks/delivery.js'
import { webhooksConfigProblem } from '../../../plugins/webhooks/config.js'
import { testConfig } from '../../helpers/config.js'

t.test('the default schedule: 8 attempts over about an hour, doubling, with bounded jitter', async (t) => {
  const { WEBHOOK_MAX_ATTEMPTS: attempts, WEBHOOK_RETRY_BASE_SECONDS: base } = testConfig()
  t.equal(attempts, 8)
  const retries = Array.from({ length: attempts - 1 }, (_, i) => i + 1)
  const total = (random: number): number => retries.reduce((sum, n) => sum + retryDelayMs(n, base * 1000, () => random), 0) / 60_000
  t.ok(total(0.5) > 55 && total(0.5) < 70, `about an hour without jitter (${total(0.5).toFixed(1)} min)`)
  t.ok(total(0) >= 0.75 * total(0.5) && total(1) <= 1.25 * total(0.5), 'jitter stays within ±25 %')
  t.same(retries.map((n) => retryDelayMs(n, 1000, () => 0.5) / 1000), [1, 2, 4, 8, 16, 32, 64], 'each retry waits twice as long')
})

t.test('the config rule accepts the documented forms only', async (t) => {
  const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`
  t.equal(webhooksConfigProblem(testConfig({ WEBHOOK_URLS: 'https://hooks.example/a', WEBHOOK_SECRET: secret })), undefined)
  t.equal(webhooksConfigProblem(testConfig()), undefined, 'off by default')
  t.match(webhooksConfigProblem(testConfig({ WEBHOOK_URLS: 'https://user:pw@hooks.example/a,nope', WEBHOOK_SECRET: secret })), /entry 2/)
  t.notMatch(webhooksConfigProblem(testConfig({ WEBHOOK_URLS: 'https://user:pw@hooks.example/a,nope', WEBHOOK_SECRET: secret })), /pw/, 'never echoes a URL (it may carry a credential)')
  t.match(webhooksConfigProblem(testConfig({ WEBHOOK_SECRET: `whsec_${Buffer.alloc(16).toString('base64')}` })), /WEBHOOK_SECRET/, 'too short a key')
  t.match(webhooksConfigProblem(testConfig({ WEBHOOK_SECRET: Buffer.alloc(32).toString('base64') })), /WEBHOOK_SECRET/, 'no whsec_ prefix')
})
