import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { requireRedis } from './redis-server.js'
import { TEST_REGISTRY_ENV } from './test-registry.js'

const SUITE = join(import.meta.dirname, '..', 'plugins', 'signaling')

/**
 * Runs the signaling scenario suite (test/plugins/signaling) again with the Redis registry: each file
 * in a child process with SWB_TEST_REGISTRY=redis, its TAP output a subtest here. The files are cut
 * into `shards` so that no single test file runs past tap's per-file timeout.
 */
export function runSignalingSuiteOnRedis (t: Test, shard: number, shards: number): void {
  const { skip } = requireRedis(t)
  if (skip !== false) return
  // A part runs several files one after the other: more than tap's per-file default.
  t.setTimeout(300_000)
  const files = readdirSync(SUITE).filter((f) => f.endsWith('.test.ts')).sort()
  for (const [i, file] of files.entries()) {
    if (i % shards !== shard) continue
    // The child gets the loaders tap gave this process (TypeScript, source maps).
    t.spawn(process.execPath, [...process.execArgv, join(SUITE, file)], {
      env: { ...process.env, [TEST_REGISTRY_ENV]: 'redis' }
    }, `${file} on the Redis registry`)
  }
}
