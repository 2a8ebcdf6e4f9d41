import t from 'tap'
import { spawnSync } from 'node:child_process'
import { appendFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { Ajv } from 'ajv'
import { parse as parseYaml } from 'yaml'
import { ConfigSchema } from '../../src/config.js'
import {
  CHART_DIR, SECRET_KEYS, SECRET_NAME_PATTERN, generatedFiles, schemaKeys
} from '../../deploy/chart-values.js'
import { formatProblems, lintChart, loadChart } from './chart-lint.js'
import { binaryOnPath } from '../helpers/turnserver.js'

/*
 * Static tests of deploy/helm/switchboard. No helm binary exists on our machines, so the chart is
 * checked against ConfigSchema and its own values instead of being rendered.
 */

const REPO = join(import.meta.dirname, '..', '..')
const readYaml = (path: string): Record<string, unknown> => parseYaml(readFileSync(path, 'utf8')) as Record<string, unknown>
const values = readYaml(join(CHART_DIR, 'values.yaml'))
const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as Record<string, unknown>
const exampleFiles = readdirSync(join(CHART_DIR, 'examples')).filter((f) => f.endsWith('.yaml')).map((f) => join(CHART_DIR, 'examples', f))
const configKeys = Object.keys(ConfigSchema.properties)

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v)

/** Helm's coalescing: user maps merge into defaults, lists and scalars replace, null deletes. */
function helmMerge (base: Obj, over: Obj): Obj {
  const out: Obj = { ...base }
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k]
    else if (isObj(v) && isObj(out[k])) out[k] = helmMerge(out[k], v)
    else out[k] = v
  }
  return out
}

function validator (): (data: unknown) => string | undefined {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false })
  const validate = ajv.compile(schema)
  return (data) => validate(data) ? undefined : ajv.errorsText(validate.errors)
}

t.test('the generated parts of the chart match ConfigSchema', async (t) => {
  for (const f of generatedFiles()) {
    t.equal(f.current, f.expected, `${relative(REPO, f.path)} is in sync with src/config.ts (if not: npx tsx deploy/chart-values.ts)`)
  }
})

t.test('every ConfigSchema key is settable from values, in the right block', async (t) => {
  const config = values.config as Obj
  const secrets = values.secrets as Obj
  for (const key of configKeys) {
    const secret = SECRET_KEYS.includes(key)
    t.ok(key in (secret ? secrets : config), `${key} is in ${secret ? 'secrets' : 'config'}: of values.yaml`)
    t.notOk(key in (secret ? config : secrets), `${key} is not in ${secret ? 'config' : 'secrets'}:`)
  }
  for (const key of [...Object.keys(config), ...Object.keys(secrets)]) {
    t.ok(configKeys.includes(key), `values.yaml sets ${key}, which ConfigSchema declares`)
  }
})

t.test('a variable named like a secret is listed as one', async (t) => {
  const named = configKeys.filter((k) => SECRET_NAME_PATTERN.test(k))
  t.ok(named.length >= 6, 'the pattern finds the known secrets')
  for (const key of named) t.ok(SECRET_KEYS.includes(key), `${key} looks secret: list it in SECRET_KEYS (deploy/chart-values.ts)`)
})

t.test('values.yaml and every example validate against values.schema.json', async (t) => {
  const check = validator()
  t.equal(check(values), undefined, 'values.yaml')
  t.ok(exampleFiles.length >= 2, 'examples exist')
  for (const file of exampleFiles) {
    t.equal(check(helmMerge(values, readYaml(file))), undefined, relative(CHART_DIR, file))
  }
})

t.test('values.schema.json rejects bad values', async (t) => {
  const check = validator()
  const bad: Array<[string, Obj]> = [
    ['a port out of range', { config: { PORT: 70000 } }],
    ['a string where the schema wants an integer', { config: { TURN_TTL_SECONDS: '3600' } }],
    ['an unknown NODE_ENV', { config: { NODE_ENV: 'staging' } }],
    ['a secret in the ConfigMap block', { config: { JWT_SECRET: 'x'.repeat(40) } }],
    ['a variable the service does not read', { config: { NOT_A_SETTING: '1' } }],
    ['a JWT secret shorter than ConfigSchema allows', { secrets: { JWT_SECRET: 'short' } }],
    ['a JWKS URL that is not http(s)', { config: { JWT_JWKS_URL: 'ftp://keys' } }],
    ['a typo at the top level', { replicas: 3 }],
    ['a bad pull policy', { image: { pullPolicy: 'Sometimes' } }],
    ['an ingress path without a leading slash', { ingress: { hosts: [{ host: 'a.example', paths: [{ path: 'v1' }] }] } }],
    ['a coturn flag that is not a flag', { coturn: { extraArgs: ['total-quota=5'] } }],
    ['an unknown coturn network mode', { coturn: { networkMode: 'nodePort' } }],
    ['the removed coturn.hostNetwork switch', { coturn: { hostNetwork: true } }],
    ['turns: on port 53, which browsers block', { coturn: { tls: { port: 53 } } }],
    ['a Bitnami Redis setting', { redis: { architecture: 'replication' } }],
    ['a JWKS egress port out of range', { networkPolicy: { jwks: { extraPorts: [70000] } } }],
    ['an HPA metric name Prometheus cannot have', { autoscaling: { connectionsPerPod: { metricName: 'switchboard-ws' } } }],
    ['a PrometheusRule duration without a unit', { prometheusRule: { notReadyFor: '5' } }],
    ['a negative preStop sleep', { preStopSleepSeconds: -1 }]
  ]
  for (const [why, override] of bad) {
    t.type(check(helmMerge(values, override)), 'string', `rejected: ${why}`)
  }
  // The removal of a key the templates need (a null in user values) is caught too.
  t.type(check(helmMerge(values, { config: { PORT: null } })), 'string', 'rejected: config.PORT removed')
  // Control: a good override of the same fields passes, so the rejections above are about the values.
  t.equal(check(helmMerge(values, {
    config: { PORT: 9000, TURN_TTL_SECONDS: 600, JWT_JWKS_URL: 'https://auth.example/jwks' },
    secrets: { TURN_SECRET: 'a-turn-secret' },
    coturn: { extraArgs: ['--total-quota=5'] }
  })), undefined, 'a valid override passes')
})

t.test('the templates use only values that exist and only variables the service reads', async (t) => {
  const problems = lintChart(CHART_DIR)
  t.same(problems, [], formatProblems(problems) || 'no problems')
  t.ok(loadChart(CHART_DIR).templates.size >= 14, 'all templates were read')
})

t.test('the template checks fail on a broken chart', async (t) => {
  // Proof that the check above can fail: a copy of the chart with one mistake of each kind.
  const dir = mkdtempSync(join(tmpdir(), 'swb-chart-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(CHART_DIR, dir, { recursive: true })
  writeFileSync(join(dir, 'templates', 'broken.yaml'), [
    'apiVersion: v1',
    'kind: ConfigMap',
    'data:',
    '  replicas: {{ .Values.replicaCont }}',
    '  {{- with .Values.coturn }}',
    '  port: {{ .listeningPrt }}',
    '  {{- end }}',
    '  {{- $c := .Values.ingress }}',
    '  class: {{ $c.classname }}',
    '  SWITCHBOARD_TYPO: "1"',
    '  {{- if .Values.coturn.enabled }}',
    ''
  ].join('\n'))
  appendFileSync(join(dir, 'templates', 'configmap.yaml'), '  JWT_SECRET: {{ .Values.secrets.JWT_SECRET | quote }}\n')

  const messages = lintChart(dir).map((p) => `${p.file}: ${p.message}`)
  const expectProblem = (pattern: RegExp, why: string): void => {
    t.ok(messages.some((m) => pattern.test(m)), `${why}: ${pattern}`)
  }
  expectProblem(/broken\.yaml: \.Values\.replicaCont is not in values\.yaml/, 'a misspelt value')
  expectProblem(/broken\.yaml: \.Values\.coturn\.listeningPrt is not in values\.yaml/, 'a misspelt value inside `with`')
  expectProblem(/broken\.yaml: \.Values\.ingress\.classname is not in values\.yaml/, 'a misspelt value through a variable')
  expectProblem(/broken\.yaml: SWITCHBOARD_TYPO is not a ConfigSchema key/, 'an unknown environment variable')
  expectProblem(/broken\.yaml: \{\{ if \}\} is never closed/, 'an unbalanced block')
  expectProblem(/configmap\.yaml: secret JWT_SECRET is written into the ConfigMap/, 'a secret in the ConfigMap')
  expectProblem(/configmap\.yaml: the ConfigMap reads secret values/, 'the ConfigMap reading secrets')
  t.equal(messages.length, 7, `exactly the planted mistakes:\n${messages.join('\n')}`)
})

t.test('Chart.yaml', async (t) => {
  const chart = readYaml(join(CHART_DIR, 'Chart.yaml'))
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }
  t.equal(chart.apiVersion, 'v2')
  t.equal(chart.type, 'application')
  t.equal(chart.name, 'switchboard')
  t.equal(chart.appVersion, pkg.version, 'appVersion (the default image tag) follows package.json')
  // The Bitnami Redis chart pulled images that are no longer published freely; the optional Redis
  // is now a template on the official image, so installing needs no `helm dependency build`.
  t.equal(chart.dependencies, undefined, 'no chart dependencies')
  t.equal((values.redis as Obj).enabled, false, 'bring-your-own Redis is the default')
  t.equal(((values.redis as Obj).image as Obj).repository, 'redis', 'the bundled Redis is the official image')
  t.equal((values.coturn as Obj).enabled, false, 'coturn is off by default')
})

t.test('shipped values give WebSocket clients time to drain', async (t) => {
  for (const [name, v] of [['values.yaml', values], ...exampleFiles.map((f) => [relative(CHART_DIR, f), helmMerge(values, readYaml(f))] as const)] as Array<[string, Obj]>) {
    const drain = Number((v.config as Obj).SHUTDOWN_DRAIN_SECONDS)
    const grace = Number(v.terminationGracePeriodSeconds)
    const preStop = Number(v.preStopSleepSeconds)
    t.ok(preStop >= 1, `${name}: a preStop sleep lets endpoints drop the pod first`)
    t.ok(grace > preStop + drain + 5, `${name}: terminationGracePeriodSeconds ${grace} > preStop ${preStop} + drain ${drain} + 5`)
  }
})

t.test('the Deployment keeps its production guarantees', async (t) => {
  const deployment = readFileSync(join(CHART_DIR, 'templates', 'deployment.yaml'), 'utf8')
  t.match(deployment, /livenessProbe:\s+httpGet:\s+path: \/health\/live\s+port: http/, 'liveness on /health/live')
  t.match(deployment, /readinessProbe:\s+httpGet:\s+path: \/health\/ready\s+port: http/, 'readiness on /health/ready')
  t.match(deployment, /preStop:\s+#[^\n]*\n\s+exec:\s+command: \["sleep", "\{\{ \.Values\.preStopSleepSeconds \}\}"\]/, 'preStop sleep')
  t.match(deployment, /terminationGracePeriodSeconds: \{\{ \.Values\.terminationGracePeriodSeconds \}\}/)
  t.match(deployment, /checksum\/config: \{\{ include \(print \$\.Template\.BasePath "\/configmap\.yaml"\) \. \| sha256sum \}\}/)
  t.match(deployment, /checksum\/secret: \{\{ include \(print \$\.Template\.BasePath "\/secret\.yaml"\) \. \| sha256sum \}\}/)
  t.notMatch(deployment.split('checksum/config')[0], /\{\{-? if[^}]*\}\}\s*checksum/, 'the checksums are unconditional')
  t.match(deployment, /configMapRef:\s+name: \{\{ include "switchboard\.fullname" \. \}\}/, 'envFrom the ConfigMap')
  t.match(deployment, /secretRef:\s+name: \{\{ include "switchboard\.secretName" \. \}\}/, 'envFrom the Secret or existingSecret')
  t.match(deployment, /- name: tmp\s+mountPath: \/tmp/, 'a writable /tmp')
  t.match(deployment, /automountServiceAccountToken: false/)

  const pod = values.podSecurityContext as Obj
  const container = values.securityContext as Obj
  t.equal(pod.runAsNonRoot, true)
  t.not(pod.runAsUser, 0)
  t.equal(container.readOnlyRootFilesystem, true)
  t.equal(container.allowPrivilegeEscalation, false)
  t.same((container.capabilities as Obj).drop, ['ALL'])

  const secret = readFileSync(join(CHART_DIR, 'templates', 'secret.yaml'), 'utf8')
  t.match(secret, /^\{\{- if not \.Values\.existingSecret \}\}/, 'no chart Secret when existingSecret is set')
  const ingressAnnotations = (values.ingress as Obj).annotations as Obj
  t.equal(ingressAnnotations['nginx.ingress.kubernetes.io/proxy-read-timeout'], '3600')
  t.equal(ingressAnnotations['nginx.ingress.kubernetes.io/proxy-send-timeout'], '3600')
})

t.test('the README documents every value', async (t) => {
  const readme = readFileSync(join(CHART_DIR, 'README.md'), 'utf8')
  const documented = new Set([...readme.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]))
  // A leaf is documented by its own row or by a row for an enclosing map (e.g. `podSecurityContext`).
  const leaves = (node: unknown, prefix: string[]): string[][] =>
    isObj(node) && Object.keys(node).length > 0
      ? Object.entries(node).flatMap(([k, v]) => leaves(v, [...prefix, k]))
      : [prefix]
  for (const path of leaves(values, [])) {
    const covered = path.some((_, i) => documented.has(path.slice(0, i + 1).join('.')))
    t.ok(covered, `README.md documents ${path.join('.')}`)
  }
  t.match(readme, /no `helm` binary/, 'says plainly the chart is tested statically')
  for (const key of schemaKeys()) t.ok(documented.has(`${SECRET_KEYS.includes(key) ? 'secrets' : 'config'}.${key}`), `README.md lists ${key}`)
})

/** Runs with yamllint; without it a loud skip locally and a failure under CI=true. */
function needYamllint (): { skip: string | false } {
  if (binaryOnPath('yamllint')) return { skip: false }
  const reason = 'yamllint not found on PATH (apt-get install yamllint)'
  if (process.env.CI === 'true') t.fail(`CI=true: ${reason}; the chart's YAML lint cannot be skipped in CI`)
  else t.comment(`!!! SKIPPING yamllint: ${reason} !!!`)
  return { skip: reason }
}

t.test('the plain YAML passes yamllint', needYamllint(), async (t) => {
  const files = [join(CHART_DIR, 'Chart.yaml'), join(CHART_DIR, 'values.yaml'), ...exampleFiles]
  const run = spawnSync('yamllint', ['-c', join(REPO, 'deploy', '.yamllint'), '-f', 'parsable', '--strict', ...files], { encoding: 'utf8' })
  t.equal(run.status, 0, `yamllint is clean:\n${run.stdout}${run.stderr}`)

  // And it does catch mistakes with this config: a duplicated key.
  const dir = mkdtempSync(join(tmpdir(), 'swb-yamllint-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const bad = join(dir, 'values.yaml')
  writeFileSync(bad, 'replicaCount: 1\nreplicaCount: 2\n')
  const failing = spawnSync('yamllint', ['-c', join(REPO, 'deploy', '.yamllint'), '-f', 'parsable', bad], { encoding: 'utf8' })
  t.not(failing.status, 0, 'a duplicated key fails yamllint')
  t.match(failing.stdout, /duplication of key "replicaCount"/)
})
