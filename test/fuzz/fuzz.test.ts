import { randomInt } from 'node:crypto'
import t from 'tap'
import { formatSummary, runFuzz, startFuzzTarget } from './fuzzer.js'
import { requireRedis, startRedis } from '../helpers/redis-server.js'

// A short run of the protocol fuzzer (test/fuzz/fuzzer.ts); long runs are `npm run fuzz -- --runs <n>`.
const FRAMES = 800
// A short run accumulates little (replay buffers fill over longer runs): a tighter bound than the default.
const HEAP_BUDGET = 16 * 1024 * 1024

t.test('the protocol fuzzer: a fixed seed, then a random one, against one instance', async (t) => {
  const target = await startFuzzTarget()
  t.teardown(async () => target.stop())

  // The same seed generates the same frames in every run of the suite.
  const fixed = await runFuzz({ frames: FRAMES, seed: 20261127, heapBudgetBytes: HEAP_BUDGET, target })
  t.comment(formatSummary(fixed.summary))
  t.equal(fixed.failure, undefined, 'no property broken')
  t.ok(fixed.summary.frames >= FRAMES, `${fixed.summary.frames} frames sent`)
  // The run reached what it is meant to exercise: every kind of frame, relays delivered, refusals and closes.
  for (const kind of ['valid', 'mutated', 'raw', 'deep', 'proto', 'size', 'binary', 'bad-utf8', 'flood', 'churn']) {
    t.ok((fixed.summary.framesByKind[kind] ?? 0) > 0, `${kind} frames sent`)
  }
  t.ok((fixed.summary.outcomes.delivered ?? 0) > 0, 'relays delivered')
  for (const code of ['SWB_INVALID_MESSAGE', 'SWB_MALFORMED_JSON', 'SWB_UNKNOWN_TYPE', 'SWB_NOT_IN_ROOM', 'SWB_PEER_NOT_IN_ROOM']) {
    t.ok((fixed.summary.outcomes[code] ?? 0) > 0, `${code} seen`)
  }
  t.ok((fixed.summary.closes[1009] ?? 0) > 0 && (fixed.summary.closes[1007] ?? 0) > 0, 'too-big and invalid UTF-8 frames closed their sockets')

  // New frames every time; the seed is in the output to replay a failure.
  const seed = randomInt(2 ** 31)
  t.comment(`random seed ${seed}: reproduce with npm run fuzz -- --runs ${FRAMES} --seed ${seed}`)
  const random = await runFuzz({ frames: FRAMES, seed, heapBudgetBytes: HEAP_BUDGET, target })
  t.comment(formatSummary(random.summary))
  t.equal(random.failure, undefined, `no property broken (seed ${seed})`)
  t.ok(random.summary.frames >= FRAMES, `${random.summary.frames} frames sent`)
})

t.test('the protocol fuzzer against an instance on a real Redis', async (t) => {
  const { skip } = requireRedis(t)
  if (skip !== false) return
  const redis = await startRedis(t)
  const config = { REDIS_URL: redis.url }
  const target = await startFuzzTarget(config)
  t.teardown(async () => target.stop())
  const seed = randomInt(2 ** 31)
  t.comment(`random seed ${seed}: reproduce with npm run fuzz -- --runs ${FRAMES} --seed ${seed} --redis <url of a scratch Redis>`)
  const run = await runFuzz({ frames: FRAMES, seed, heapBudgetBytes: HEAP_BUDGET, target, config })
  t.comment(formatSummary(run.summary))
  t.equal(run.failure, undefined, `no property broken (seed ${seed})`)
  t.ok(run.summary.frames >= FRAMES, `${run.summary.frames} frames sent`)
  t.ok((run.summary.outcomes.delivered ?? 0) > 0, 'relays delivered through Redis')
})
