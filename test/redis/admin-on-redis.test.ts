import t from 'tap'
import { join } from 'node:path'
import { requireRedis } from '../helpers/redis-server.js'
import { TEST_REGISTRY_ENV } from '../helpers/test-registry.js'

// The admin API suite (test/plugins/admin/admin.test.ts) again, with the Redis registry under one instance;
// test/redis/admin-cross-instance.test.ts has the calls made on one instance for peers on another.
const { skip } = requireRedis(t)
if (skip === false) {
  t.spawn(process.execPath, [...process.execArgv, join(import.meta.dirname, '..', 'plugins', 'admin', 'admin.test.ts')], {
    env: { ...process.env, [TEST_REGISTRY_ENV]: 'redis' }
  }, 'admin.test.ts on the Redis registry')
}
