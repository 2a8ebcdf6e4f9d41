import { randomInt } from 'node:crypto'
import { parseArgs } from 'node:util'
import { formatSummary, runFuzz } from '../test/fuzz/fuzzer.js'

/**
 * npm run fuzz -- --runs <frames> [--seed <n>] [--batch <templates>] [--redis <url>]
 *
 * Long fuzz runs against a fresh instance (test/fuzz/fuzzer.ts says what is checked), on the in-memory
 * registry or, with `--redis redis://...`, on that Redis (use a scratch one: the run leaves its keys). `--runs` is the
 * number of frames to send. Prints a summary; exits 1 with the failing seed and batch when a property
 * breaks. The same seed generates the same frames (timing may still differ from run to run).
 */
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '100000' },
    seed: { type: 'string' },
    batch: { type: 'string', default: '256' },
    redis: { type: 'string' }
  }
})
const frames = Number(values.runs)
const seed = values.seed === undefined ? randomInt(2 ** 31) : Number(values.seed)
const batchSize = Number(values.batch)
if (!Number.isInteger(frames) || frames <= 0 || !Number.isInteger(seed) || !Number.isInteger(batchSize) || batchSize <= 0) {
  console.error('usage: npm run fuzz -- --runs <frames> [--seed <integer>] [--batch <templates per batch>] [--redis <url>]')
  process.exit(2)
}
const redis = values.redis === undefined ? '' : ` --redis ${values.redis}`
console.log(`fuzzing: ${frames} frames, seed ${seed}${redis === '' ? '' : ', registry on Redis'}`)
const config = values.redis === undefined ? undefined : { REDIS_URL: values.redis }
const { summary, failure } = await runFuzz({ frames, seed, batchSize, progress: (line) => console.log(line), ...(config && { config }) })
console.log(formatSummary(summary))
if (failure !== undefined) {
  console.error(`FAILED (reproduce with: npm run fuzz -- --runs ${frames} --seed ${seed}${redis})\n${failure}`)
  process.exit(1)
}
console.log('no property broken')
