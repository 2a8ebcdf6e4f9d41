import t from 'tap'
import { loadConfig } from '../../../src/config.js'
import { parseHostPorts, redisMode } from '../../../plugins/registry/redis-config.js'
import { describeRedis } from '../../../plugins/registry/redis-connection.js'
import { TEST_JWT_SECRET } from '../../helpers/config.js'

const base = { JWT_SECRET: TEST_JWT_SECRET }

t.test('Redis settings: each mode is recognised, none means the in-memory registry', async (t) => {
  t.equal(redisMode(loadConfig(base)), undefined)
  t.same(redisMode(loadConfig({ ...base, REDIS_URL: 'rediss://user:pw@redis.internal:6380/0' })), { kind: 'url', url: 'rediss://user:pw@redis.internal:6380/0' })
  t.same(redisMode(loadConfig({ ...base, REDIS_SENTINELS: 's1:26379, s2:26379', REDIS_SENTINEL_NAME: 'mymaster' })),
    { kind: 'sentinel', name: 'mymaster', sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }] })
  t.same(redisMode(loadConfig({ ...base, REDIS_CLUSTER_NODES: '10.0.0.1:7000,[::1]:7001' })),
    { kind: 'cluster', nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '::1', port: 7001 }] })
  const defaults = loadConfig(base)
  t.match(defaults, { REDIS_KEY_PREFIX: 'swb:', REDIS_INSTANCE_TTL_SECONDS: 5, REDIS_REAP_INTERVAL_SECONDS: 2, REDIS_COMMAND_TIMEOUT_MS: 1000, REDIS_TLS: false })
})

t.test('where Redis is, for logs, never carries credentials', async (t) => {
  t.equal(describeRedis({ kind: 'url', url: 'rediss://admin:s3cret@redis.internal:6380/2' }), 'rediss://redis.internal:6380')
  t.equal(describeRedis({ kind: 'cluster', nodes: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }] }), 'cluster a:1,b:2')
  t.equal(describeRedis({ kind: 'sentinel', name: 'm', sentinels: [{ host: 's', port: 26379 }] }), 'sentinel m via s:26379')
})

t.test('bad Redis settings are refused at startup, naming the variables', async (t) => {
  const refusals: Array<[Record<string, string>, RegExp]> = [
    [{ REDIS_URL: 'http://redis:6379' }, /REDIS_URL/],
    [{ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'b:7000' }, /REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES are exclusive/],
    [{ REDIS_SENTINELS: 's:26379' }, /REDIS_SENTINELS needs REDIS_SENTINEL_NAME/],
    [{ REDIS_SENTINEL_NAME: 'm' }, /REDIS_SENTINEL_NAME is set but REDIS_SENTINELS is not/],
    [{ REDIS_URL: 'redis://a:6379', REDIS_SENTINEL_PASSWORD: 'x' }, /REDIS_SENTINEL_PASSWORD is set but REDIS_SENTINELS is not/],
    [{ REDIS_SENTINELS: 's', REDIS_SENTINEL_NAME: 'm' }, /REDIS_SENTINELS must be a comma-separated list of host:port/],
    [{ REDIS_CLUSTER_NODES: 'a:7000,b:99999' }, /REDIS_CLUSTER_NODES must be a comma-separated list of host:port/],
    [{ REDIS_PASSWORD: 'pw' }, /REDIS_PASSWORD set without REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES/],
    [{ REDIS_TLS: 'true' }, /REDIS_TLS set without/],
    [{ REDIS_URL: 'redis://a:6379', REDIS_TLS: 'true' }, /REDIS_TLS does not apply to REDIS_URL: use a rediss:\/\/ URL/],
    [{ REDIS_URL: 'redis://a:6379', REDIS_TLS_CA_FILE: '/ca.pem' }, /REDIS_TLS_CA_FILE needs TLS/],
    [{ REDIS_URL: 'redis://a:6379', REDIS_INSTANCE_TTL_SECONDS: '1', REDIS_REAP_INTERVAL_SECONDS: '2' }, /REDIS_REAP_INTERVAL_SECONDS must not exceed REDIS_INSTANCE_TTL_SECONDS/],
    [{ REDIS_KEY_PREFIX: 'a{b}:' }, /REDIS_KEY_PREFIX/],
    [{ INSTANCE_ID: 'pod 1' }, /INSTANCE_ID/],
    [{ REDIS_INSTANCE_TTL_SECONDS: '0.1' }, /REDIS_INSTANCE_TTL_SECONDS/],
    [{ REDIS_COMMAND_TIMEOUT_MS: '10' }, /REDIS_COMMAND_TIMEOUT_MS/]
  ]
  for (const [env, message] of refusals) {
    t.throws(() => loadConfig({ ...base, ...env }), { name: 'ConfigError', message }, JSON.stringify(env))
  }
  t.doesNotThrow(() => loadConfig({ ...base, REDIS_URL: 'rediss://a:6380', REDIS_TLS_CA_FILE: '/ca.pem' }))
  t.doesNotThrow(() => loadConfig({ ...base, REDIS_CLUSTER_NODES: 'a:7000', REDIS_TLS: 'true', REDIS_PASSWORD: 'pw', REDIS_USERNAME: 'u' }))
})

t.test('host:port lists', async (t) => {
  t.same(parseHostPorts('a:1'), [{ host: 'a', port: 1 }])
  for (const bad of ['', 'a', ':1', 'a:0', 'a:b', 'a:1,', 'a b:1']) {
    if (bad === 'a:1,') t.same(parseHostPorts(bad), [{ host: 'a', port: 1 }], 'a trailing comma is tolerated')
    else t.equal(parseHostPorts(bad), undefined, JSON.stringify(bad))
  }
})
