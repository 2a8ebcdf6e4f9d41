import t from 'tap'
import { readFileSync } from 'node:fs'
import { configTable } from '../../scripts/config-table.js'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

t.test('the README configuration table is the one generated from ConfigSchema', async (t) => {
  t.ok(readme.includes(configTable()), 'run `npx tsx scripts/config-table.ts` and paste its output into the README')
})

t.test('the README names the two commands and .ci/run calls the test command', async (t) => {
  t.match(readme, /npm ci && npm start/)
  t.match(readme, /npm test/)
  const ci = readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8')
  t.match(ci, /^npm test/m)
})
