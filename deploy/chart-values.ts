/**
 * The Helm chart's view of ConfigSchema: which variables are secret, and the generated parts of
 * values.yaml, values.schema.json and the chart README that list every variable.
 *
 * After adding a variable to src/config.ts run `npx tsx deploy/chart-values.ts` (and add its name to
 * SECRET_KEYS first if it is secret). test/deploy/chart.test.ts fails until the chart is in sync.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ConfigSchema } from '../src/config.js'

export const CHART_DIR = resolve(import.meta.dirname, 'helm/switchboard')

/**
 * THE list of secret variables: they go to the chart's Secret (`secrets:` in values.yaml), never to the
 * ConfigMap. Names not (yet) in ConfigSchema are allowed here so a variable announced as secret lands
 * in the right block the moment it is added to the schema.
 */
export const SECRET_KEYS: readonly string[] = [
  'JWT_SECRET',
  'TURN_SECRET',
  'TURN_STATIC_CREDENTIAL',
  'TURN_REST_API_KEYS',
  'CLOUDFLARE_TURN_API_TOKEN',
  'TWILIO_AUTH_TOKEN',
  'METRICS_TOKEN', // bearer token for /metrics on the public port (production safety, issue 12)
  'REDIS_URL', // may carry a password: redis://:pass@host:6379
  'REDIS_PASSWORD',
  'REDIS_SENTINEL_PASSWORD',
  'LOG_ROOM_NAMES_SECRET', // HMAC key of LOG_ROOM_NAMES=hash: with it, hashed room names could be guessed back
  'ADMIN_API_KEYS', // bearer keys of the admin API (/v1/admin/)
  'WEBHOOK_SECRET' // Standard Webhooks signing keys (whsec_…)
]

/** A variable whose name ends like this must be listed in SECRET_KEYS (the test enforces it). */
export const SECRET_NAME_PATTERN = /(SECRET|TOKEN|PASSWORD|CREDENTIAL|API_KEYS?|PRIVATE_KEY)$/

/** Where the chart's default deliberately differs from the service's own default. */
export const CHART_DEFAULTS: Readonly<Record<string, Scalar>> = {
  NODE_ENV: 'production'
}

/** Chart-specific advice shown next to a variable in values.yaml and the README. */
const CHART_NOTES: Readonly<Record<string, string>> = {
  NODE_ENV: 'production refuses to start without JWT settings and, for TURN_PROVIDER=hmac, TURN_SECRET and TURN_URLS.',
  PORT: 'Container port; the probes, the Service and the NetworkPolicy follow it.',
  HOST: 'Keep 0.0.0.0 so the kubelet probes and the Service can reach the pod.',
  TRUST_PROXY: 'Behind one Ingress controller hop set "1" (with networkPolicy.enabled so nobody bypasses it).',
  TLS_CERT_FILE: 'Usually empty: TLS ends at the Ingress. Mount the file with extraVolumes/extraVolumeMounts.',
  TLS_KEY_FILE: 'Set together with TLS_CERT_FILE.',
  INSTANCE_ID: 'Empty: each pod uses its own pod name (downward API).',
  REDIS_TLS_CA_FILE: 'Mount the file with extraVolumes/extraVolumeMounts.',
  AUDIT_LOG_FILE: 'The root filesystem is read-only: use a path under /tmp or a mounted volume (extraVolumes).',
  METRICS_ENABLED: 'serviceMonitor.enabled needs it on.',
  METRICS_PORT: 'Adds a `metrics` container and Service port; the ServiceMonitor scrapes it and the Ingress does not reach it.',
  SHUTDOWN_DRAIN_SECONDS: 'terminationGracePeriodSeconds must exceed preStopSleepSeconds + this + 5 (the chart checks).',
  JWT_PUBLIC_KEY: 'Not secret. Set only one of secrets.JWT_SECRET, JWT_PUBLIC_KEY, JWT_JWKS_URL.',
  ROOM_GRANTS: 'Breaking since grants became required: tokens without a rooms claim or room: scope join no room; "any" restores the old behaviour (docs/auth.md#room-grants).',
  STUN_URLS: 'Comma-separated stun: URLs. Filled in from coturn.publicHost when coturn.enabled and this is empty.',
  TURN_URLS: 'Comma-separated turn:/turns: URLs. Filled in from coturn.publicHost when coturn.enabled and this is empty.',
  WEBHOOK_URLS: 'The pods POST to these: with networkPolicy.enabled, allow the egress in networkPolicy.extraEgress.'
}

type Scalar = string | number | boolean

interface PropertySchema {
  type?: string
  description?: string
  default?: unknown
  minimum?: number
  maximum?: number
  minLength?: number
  pattern?: string
  anyOf?: Array<{ const?: unknown }>
}

const properties = ConfigSchema.properties as unknown as Record<string, PropertySchema>
const required = new Set<string>(ConfigSchema.required ?? [])

/** Every ConfigSchema key, in schema order. */
export function schemaKeys (): string[] {
  return Object.keys(properties)
}

export function isSecret (key: string): boolean {
  return SECRET_KEYS.includes(key)
}

/** The value values.yaml carries for a key: the chart default, else the schema default, else "" (unset). */
export function chartDefault (key: string): Scalar {
  const own = CHART_DEFAULTS[key]
  if (own !== undefined) return own
  const d = properties[key]?.default
  return typeof d === 'string' || typeof d === 'number' || typeof d === 'boolean' ? d : ''
}

/** A short type line from the schema: `integer 0..65535`, `one of: a | b`, `string matching ^https?://`. */
function describeType (p: PropertySchema): string {
  if (p.anyOf?.every((s) => s.const !== undefined)) return `one of: ${p.anyOf.map((s) => String(s.const)).join(' | ')}`
  const range = p.minimum !== undefined && p.maximum !== undefined
    ? ` ${p.minimum}..${p.maximum}`
    : p.minimum !== undefined ? ` >= ${p.minimum}` : p.maximum !== undefined ? ` <= ${p.maximum}` : ''
  const pattern = p.pattern ? ` matching ${p.pattern}` : ''
  return `${p.type ?? 'string'}${range}${pattern}`
}

/** One line describing a key: schema description, type, service default, chart note. */
export function describeKey (key: string): string {
  const p = properties[key] ?? {}
  const parts = [p.description, describeType(p)]
  if (!required.has(key)) parts.push('optional, empty = unset')
  if (CHART_DEFAULTS[key] !== undefined) parts.push(`service default: ${JSON.stringify(p.default)}`)
  if (CHART_NOTES[key]) parts.push(CHART_NOTES[key])
  return parts.filter(Boolean).map((s) => s!.replace(/\.$/, '')).join('. ') + '.'
}

function yamlScalar (v: Scalar): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v)
}

/** The body of the `config:` (secret=false) or `secrets:` (secret=true) block of values.yaml. */
export function valuesBlock (secret: boolean): string {
  return schemaKeys().filter((k) => isSecret(k) === secret).map((k) =>
    wrap(describeKey(k), 100).map((line) => `  # ${line}\n`).join('') +
    `  ${k}: ${secret ? '""' : yamlScalar(chartDefault(k))}\n`
  ).join('')
}

/** Greedy word wrap, so comments stay readable (and within yamllint's line length). */
function wrap (text: string, width: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else {
      line = line ? `${line} ${word}` : word
    }
  }
  if (line) lines.push(line)
  return lines
}

/** values.schema.json properties for `config` or `secrets`, derived from ConfigSchema. */
export function schemaBlock (secret: boolean): Record<string, unknown> {
  const keys = schemaKeys().filter((k) => isSecret(k) === secret)
  const props: Record<string, unknown> = {}
  for (const k of keys) {
    // JSON round trip drops TypeBox's symbol keys; defaults live in values.yaml, not here.
    const { default: _d, ...p } = JSON.parse(JSON.stringify(properties[k])) as PropertySchema
    // "" means "unset" in values.yaml, so an optional variable also accepts the empty string.
    props[k] = required.has(k) && !secret ? p : { anyOf: [{ const: '' }, p] }
  }
  return {
    type: 'object',
    additionalProperties: false,
    // A null in user values deletes the key; the templates need every key that has a default.
    ...(secret ? {} : { required: keys.filter((k) => required.has(k)) }),
    properties: props
  }
}

/** The README table rows for the config or secrets block. */
export function readmeTable (secret: boolean): string {
  const block = secret ? 'secrets' : 'config'
  const rows = schemaKeys().filter((k) => isSecret(k) === secret).map((k) => {
    const d = secret ? '`""`' : `\`${yamlScalar(chartDefault(k))}\``
    return `| \`${block}.${k}\` | ${d} | ${describeKey(k).replace(/\|/g, '\\|')} |`
  })
  return ['| Value | Default | Description |', '|---|---|---|', ...rows].join('\n') + '\n'
}

const MARK = {
  yamlBegin: (name: string) => `  # >>> generated by deploy/chart-values.ts from ConfigSchema (${name}); do not edit by hand\n`,
  yamlEnd: (name: string) => `  # <<< end of generated ${name}\n`,
  mdBegin: (name: string) => `<!-- >>> generated by deploy/chart-values.ts: ${name} -->\n`,
  mdEnd: (name: string) => `<!-- <<< end of generated ${name} -->\n`
}

function replaceBetween (text: string, begin: string, end: string, body: string, file: string): string {
  const a = text.indexOf(begin)
  const b = text.indexOf(end)
  if (a < 0 || b < a) throw new Error(`${file}: markers "${begin.trim()}" … "${end.trim()}" are missing`)
  return text.slice(0, a + begin.length) + body + text.slice(b)
}

export interface GeneratedFile { path: string, current: string, expected: string }

/** What values.yaml, values.schema.json and README.md should contain, next to what they contain now. */
export function generatedFiles (chartDir = CHART_DIR): GeneratedFile[] {
  const valuesPath = join(chartDir, 'values.yaml')
  const schemaPath = join(chartDir, 'values.schema.json')
  const readmePath = join(chartDir, 'README.md')
  const values = readFileSync(valuesPath, 'utf8')
  const schemaText = readFileSync(schemaPath, 'utf8')
  const readme = readFileSync(readmePath, 'utf8')

  let expectedValues = values
  let expectedReadme = readme
  for (const [name, secret] of [['config', false], ['secrets', true]] as const) {
    expectedValues = replaceBetween(expectedValues, MARK.yamlBegin(name), MARK.yamlEnd(name), valuesBlock(secret), valuesPath)
    expectedReadme = replaceBetween(expectedReadme, MARK.mdBegin(name), MARK.mdEnd(name), readmeTable(secret), readmePath)
  }
  const schema = JSON.parse(schemaText) as { properties: Record<string, unknown> }
  schema.properties.config = schemaBlock(false)
  schema.properties.secrets = schemaBlock(true)

  return [
    { path: valuesPath, current: values, expected: expectedValues },
    { path: schemaPath, current: schemaText, expected: JSON.stringify(schema, null, 2) + '\n' },
    { path: readmePath, current: readme, expected: expectedReadme }
  ]
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  for (const f of generatedFiles()) {
    if (f.current !== f.expected) {
      writeFileSync(f.path, f.expected)
      process.stdout.write(`updated ${f.path}\n`)
    }
  }
}
