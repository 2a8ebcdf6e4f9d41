import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from '../../bench/lib/net.js'
import { startService } from '../../bench/lib/service.js'

/**
 * The benchmark stops each server with one SIGTERM to the server's own process. Sent to tsx's CLI
 * instead, the signal is relayed and, when the server does not confirm it within 30 ms (busy: at
 * N = 10,000 it was closing every socket), tsx kills it with SIGKILL: no graceful exit, and no CPU
 * profile (BENCH_CPU_PROF_DIR) from any run at N = 10,000.
 */
t.test('a busy server gets the SIGTERM itself and exits through its handler', async (t) => {
  const port = await freePort()
  const mark = join(t.testdir(), 'stopped')
  const service = await startService({
    name: 'busy',
    run: { script: 'test/bench/fixtures/busy-server.ts' },
    port,
    ready: { httpPath: '/' },
    env: { PORT: String(port), MARK_FILE: mark }
  })
  t.teardown(() => service.stop())
  await service.stop()
  t.ok(existsSync(mark), 'its SIGTERM handler ran (it was not killed)')
})
