import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { ConfigSchema, checkConfig, loadConfig } from '../../src/config.js'
import { turnConfigProblem } from '../../plugins/turn/config.js'
import { testConfig } from '../helpers/config.js'

/*
 * src/config.ts composes the plugins' own config pieces (plugins/<name>/config.ts). The pieces must
 * not import src/config.ts back, and a rule that already passed is not run again by the plugin.
 */

const REPO = join(import.meta.dirname, '..', '..')
const pieces = readdirSync(join(REPO, 'plugins')).map((name) => join(REPO, 'plugins', name, 'config.ts'))
  .filter((file) => { try { readFileSync(file); return true } catch { return false } })

/** Relative .js imports of a TypeScript file, as the .ts files they name (type-only imports too). */
function imports (file: string): string[] {
  const source = readFileSync(file, 'utf8')
  return [...source.matchAll(/^import[^'"]*['"](\.[^'"]+)\.js['"]/gm)].map((m) => resolve(dirname(file), `${m[1] ?? ''}.ts`))
}

t.test('no plugin config piece reaches src/config.ts, directly or through what it imports', async (t) => {
  t.ok(pieces.length >= 6, `found the pieces: ${pieces.map((p) => relative(REPO, p)).join(', ')}`)
  const target = join(REPO, 'src', 'config.ts')
  for (const piece of pieces) {
    const seen = new Set<string>()
    const queue = [piece]
    while (queue.length > 0) {
      const file = queue.pop() as string
      if (seen.has(file)) continue
      seen.add(file)
      queue.push(...imports(file))
    }
    t.notOk(seen.has(target), `${relative(REPO, piece)} does not import src/config.ts`)
  }
})

t.test('every variable comes from exactly one piece', async (t) => {
  const declared = new Map<string, string[]>()
  for (const piece of pieces) {
    for (const m of readFileSync(piece, 'utf8').matchAll(/^ {2}([A-Z][A-Z0-9_]+): Type\./gm)) {
      const name = m[1] as string
      declared.set(name, [...(declared.get(name) ?? []), relative(REPO, piece)])
    }
  }
  for (const [name, where] of declared) t.equal(where.length, 1, `${name} is declared once (${where.join(', ')})`)
  for (const name of declared.keys()) t.ok(name in ConfigSchema.properties, `${name} is in the composed ConfigSchema`)
})

t.test('a rule that passed in checkConfig is not run a second time by the plugin', async (t) => {
  const config = testConfig()
  checkConfig(config)
  // Spoil the checked object: a second run would see the bad URL; the recorded verdict does not.
  config.TURN_URLS = 'http://not-a-turn-url'
  t.equal(turnConfigProblem(config), undefined, 'answered from the verdict of the first run')
  t.match(turnConfigProblem({ ...config }), /TURN_URLS/, 'a new config object is checked')
  t.throws(() => loadConfig({ TURN_URLS: 'http://not-a-turn-url' }), /TURN_URLS/)
})
