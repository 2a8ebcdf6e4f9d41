import { ConfigSchema } from '../src/config.js'

/**
 * Prints the README's configuration table from ConfigSchema, so the documentation cannot drift from
 * what the service reads (test/docs/readme.test.ts checks the README contains exactly this table).
 */
export function configTable (): string {
  const rows = Object.entries(ConfigSchema.properties).map(([name, schema]) => {
    const s = schema as { default?: unknown, description?: string, anyOf?: Array<{ const?: unknown }>, type?: string }
    const choices = s.anyOf?.map((a) => a.const).filter((c) => c !== undefined)
    const def = s.default === undefined ? '' : s.default === '' ? '(empty)' : `\`${String(s.default)}\``
    const kind = choices && choices.length > 0 ? choices.map((c) => `\`${String(c)}\``).join(' \\| ') : (s.type ?? '')
    return `| \`${name}\` | ${kind} | ${def} | ${(s.description ?? '').replace(/\|/g, '\\|')} |`
  })
  return ['| Variable | Type | Default | Meaning |', '| --- | --- | --- | --- |', ...rows].join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(configTable() + '\n')
