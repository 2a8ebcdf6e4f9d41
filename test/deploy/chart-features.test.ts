import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { CHART_DIR } from '../../deploy/chart-values.js'
import { createMetrics } from '../../plugins/metrics/definitions.js'

/*
 * Static checks of the chart's operational parts (no helm binary here: see chart.test.ts): TLS for the
 * bundled coturn, its network modes, the bundled Redis, NetworkPolicy egress to the JWKS, the HPA's
 * custom metric, the PrometheusRule and the Grafana dashboard. Metric names are checked against the
 * registry the service really builds, so an alert can never watch a metric that does not exist.
 */

const read = (path: string): string => readFileSync(join(CHART_DIR, path), 'utf8')
const values = parseYaml(read('values.yaml')) as Record<string, any>
const helpers = read('templates/_helpers.tpl')

/** Every series name the service exports: counters, gauges, histogram _bucket/_sum/_count, default metrics. */
async function exportedSeries (): Promise<Set<string>> {
  const metrics = createMetrics()
  const text = await metrics.registry.metrics()
  return new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name = '', type]) =>
    type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name]))
}

/** Metric names used in PromQL text: identifiers followed by `{`, `[` or `)`, that are not functions. */
function promqlMetrics (expr: string): string[] {
  const functions = new Set(['sum', 'max', 'min', 'rate', 'increase', 'histogram_quantile', 'by', 'label_values', 'avg', 'count'])
  return [...expr.matchAll(/\b([a-z_:][a-z0-9_:]*)\s*[{[(]/g)].map((m) => m[1] ?? '').filter((n) => !functions.has(n))
}

t.test('coturn TLS: listener, certificate Secret, cert-manager, turns: URL', async (t) => {
  const deployment = read('templates/coturn-deployment.yaml')
  t.match(deployment, /\{\{- if \$c\.tls\.enabled \}\}[\s\S]*"--tls-listening-port=\{\{ \$c\.tls\.port \}\}"\s+- "--cert=\/etc\/switchboard-coturn-tls\/tls\.crt"\s+- "--pkey=\/etc\/switchboard-coturn-tls\/tls\.key"\s+\{\{- else \}\}\s+- "--no-tls"/,
    'TLS flags with the mounted certificate, --no-tls otherwise')
  t.match(deployment, /- name: tls\s+secret:\s+secretName: \{\{ include "switchboard\.coturnTlsSecretName" \. \}\}/, 'the Secret is mounted whole (no subPath), so renewals reach the files')
  t.notMatch(deployment, /subPath:/, 'no subPath mounts')
  t.match(deployment, /fsGroup: 65534/, 'the key is readable by coturn\'s group')
  t.match(deployment, /- name: turns-tcp\s+containerPort: \{\{ \$c\.tls\.port \}\}\s+protocol: TCP/)
  t.match(deployment, /- name: COTURN_TLS_RELOAD_SECONDS\s+value: \{\{ \$c\.tls\.reloadIntervalSeconds \| quote \}\}/)
  t.match(read('templates/coturn-service.yaml'), /- name: turns-tcp\s+port: \{\{ \$c\.tls\.port \}\}\s+targetPort: turns-tcp\s+protocol: TCP/, 'the loadBalancer Service carries turns:')

  const conf = read('files/turnserver.conf').split('\n')
  t.notOk(conf.includes('no-tls'), 'files/turnserver.conf no longer hard-codes no-tls')
  t.ok(conf.includes('no-dtls') && conf.includes('no-tlsv1') && conf.includes('no-tlsv1_1'), 'DTLS off, TLS 1.2+ only')

  const certificate = read('templates/coturn-certificate.yaml')
  t.match(certificate, /^\{\{- if and \.Values\.coturn\.enabled \.Values\.coturn\.tls\.enabled \.Values\.coturn\.tls\.certManager\.enabled \}\}/, 'optional')
  t.match(certificate, /apiVersion: cert-manager\.io\/v1\nkind: Certificate/)
  t.match(certificate, /secretName: \{\{ include "switchboard\.coturnTlsSecretName" \. \}\}/, 'writes the Secret the pod mounts')
  t.match(certificate, /dnsNames:\s+- \{\{ \.Values\.coturn\.publicHost \| quote \}\}/, 'for the host in the turns: URL')

  t.match(read('templates/configmap.yaml'), /TURN_URLS: \{\{ include "switchboard\.coturnTurnUrls" \. \| quote \}\}/)
  t.match(helpers, /printf "turn:%s:%d\?transport=udp" \$host \$port\) \(printf "turn:%s:%d\?transport=tcp" \$host \$port\)/, 'UDP and TCP always')
  t.match(helpers, /\{\{- if \.Values\.coturn\.tls\.enabled \}\}\s+\{\{- \$urls = append \$urls \(printf "turns:%s:%d\?transport=tcp" \$host \(int \.Values\.coturn\.tls\.port\)\) \}\}/, 'turns: with TLS')
  for (const rule of ['coturn.tls.enabled needs coturn.publicHost', 'coturn.tls.port must differ', 'coturn.tls.enabled needs coturn.tls.secretName', 'certManager.enabled needs coturn.tls.certManager.issuerRef.name']) {
    t.ok(helpers.includes(rule), `validated: ${rule}`)
  }
  t.equal(values.coturn.tls.enabled, false)
  t.equal(values.coturn.tls.port, 5349, 'the standard turns: port by default')
})

t.test('coturn network modes: host networking by default, a Service only for loadBalancer', async (t) => {
  t.equal(values.coturn.networkMode, 'hostNetwork')
  t.same([values.coturn.minPort, values.coturn.maxPort], [49152, 65535], 'the whole relay range by default')
  const deployment = read('templates/coturn-deployment.yaml')
  t.match(deployment, /\$hostNetwork := eq \$c\.networkMode "hostNetwork"/)
  t.match(deployment, /\{\{- if \$hostNetwork \}\}[\s\S]*?hostNetwork: true\s+dnsPolicy: ClusterFirstWithHostNet/)
  t.match(read('templates/coturn-service.yaml'), /\{\{- if and \.Values\.coturn\.enabled \(eq \.Values\.coturn\.networkMode "loadBalancer"\) \}\}/)
  t.match(helpers, /\{\{- if and \$lb \(gt \(sub \(int \.Values\.coturn\.maxPort\) \(int \.Values\.coturn\.minPort\)\) 199\) \}\}/, 'the 200-port limit applies to loadBalancer only')
  t.match(helpers, /\{\{- if and \$lb \(not \.Values\.coturn\.externalIP\) \}\}/)
  t.notMatch(read('templates/coturn-deployment.yaml') + helpers, /coturn\.hostNetwork/, 'the old switch is gone everywhere')
})

t.test('Redis: bring-your-own by default, a minimal official-image Redis as the option', async (t) => {
  const redis = read('templates/redis.yaml')
  t.match(redis, /^\{\{- \/\*[\s\S]*?\*\/\}\}\n\{\{- if \.Values\.redis\.enabled \}\}/)
  t.match(redis, /image: "\{\{ \$r\.image\.repository \}\}:\{\{ \$r\.image\.tag \}\}"/)
  t.equal(values.redis.image.repository, 'redis')
  t.match(redis, /- name: REDIS_PASSWORD\s+valueFrom:\s+secretKeyRef:\s+name: \{\{ include "switchboard\.secretName" \. \}\}\s+key: REDIS_PASSWORD/, 'the password the service reads')
  t.match(redis, /readOnlyRootFilesystem: true/)
  t.match(redis, /kind: NetworkPolicy[\s\S]*from:\s+- podSelector:\s+matchLabels:\s+\{\{- include "switchboard\.selectorLabels"/, 'only the service may connect')
  t.match(read('templates/deployment.yaml'), /- name: REDIS_URL\s+value: "redis:\/\/\{\{ include "switchboard\.redisFullname" \. \}\}:6379"/)
  t.notMatch(Object.values({ d: read('templates/deployment.yaml'), h: helpers, v: read('values.yaml') }).join('\n'), /bitnami|redis-master|existingSecretPasswordKey/i, 'nothing Bitnami is left')
  t.match(helpers, /redis\.enabled needs secrets\.REDIS_PASSWORD/)
  const conf = read('files/redis.conf')
  t.match(conf, /^maxmemory-policy noeviction$/m)
  t.match(conf, /^save ""$/m)
})

t.test('NetworkPolicy: egress to the JWKS on the URL\'s own port', async (t) => {
  const policy = read('templates/networkpolicy.yaml')
  t.match(policy, /\{\{- with \.Values\.config\.JWT_JWKS_URL \}\}\s+[\s\S]*?\$url := urlParse \./)
  t.match(policy, /\$port := trimPrefix ":" \(regexFind ":\[0-9\]\+\$" \$url\.host\)/, 'an explicit port is taken from the URL')
  t.match(policy, /ternary "443" "80" \(eq \$url\.scheme "https"\)/, 'else the scheme\'s default')
  t.match(policy, /range \$\.Values\.networkPolicy\.jwks\.extraPorts/)
  t.match(policy, /with \$\.Values\.networkPolicy\.jwks\.to/)
  t.same(values.networkPolicy.jwks, { extraPorts: [], to: [] })
})

t.test('HPA: connections per pod from the Prometheus adapter, CPU as the fallback', async (t) => {
  const hpa = read('templates/hpa.yaml')
  t.match(hpa, /- type: Pods\s+pods:\s+metric:\s+name: \{\{ \.metricName \}\}\s+target:\s+type: AverageValue\s+averageValue: \{\{ \.averageValue \| quote \}\}/)
  t.match(hpa, /- type: Resource\s+resource:\s+name: cpu/, 'CPU is always listed')
  t.match(hpa, /\{\{- end \}\}\s+\{\{- end \}\}\s+- type: Resource/, 'after the connections block closes, so CPU is unconditional')
  const metrics = createMetrics()
  const gauge = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === values.autoscaling.connectionsPerPod.metricName)
  t.equal(gauge?.type, 'gauge', `${String(values.autoscaling.connectionsPerPod.metricName)} is a gauge the service exports (per pod)`)
})

t.test('PrometheusRule: the alerts watch metrics the service exports', async (t) => {
  const rule = read('templates/prometheusrule.yaml')
  t.match(rule, /^\{\{- if \.Values\.prometheusRule\.enabled \}\}/, 'optional')
  t.match(rule, /kind: PrometheusRule/)
  const series = await exportedSeries()
  // kube-state-metrics and Prometheus's own series.
  const external = new Set(['kube_pod_status_ready', 'up'])
  const alerts = [...rule.matchAll(/- alert: (\w+)\s+expr: \|\n([\s\S]*?)\n\s+for:/g)].map((m) => ({ name: m[1] ?? '', expr: m[2] ?? '' }))
  t.same(alerts.map((a) => a.name), [
    'SwitchboardInstanceNotReady', 'SwitchboardScrapeDown', 'SwitchboardRedisUnavailable',
    'SwitchboardMessagesRefused', 'SwitchboardSlowConsumerDisconnects', 'SwitchboardWebhookDeliveriesFailing'
  ])
  for (const alert of alerts) {
    const used = promqlMetrics(alert.expr.replace(/\{\{[\s\S]*?\}\}/g, ''))
    t.ok(used.length > 0, `${alert.name} reads a metric`)
    for (const name of used) t.ok(series.has(name) || external.has(name), `${alert.name}: ${name} exists`)
  }
  t.match(rule, /switchboard_webhook_deliveries_total\{.*, outcome=~"failed\|dropped\|overflow"\}\[10m\]/, 'the webhook alert counts failures, drops and overflows')
  t.equal(values.prometheusRule.webhookFailureRatio, 0.5)
  t.match(helpers, /prometheusRule\.enabled needs serviceMonitor\.enabled/)
})

t.test('ServiceMonitor: scrapes what production serves (METRICS_PORT, or the main port with METRICS_TOKEN)', async (t) => {
  const monitor = read('templates/servicemonitor.yaml')
  t.match(monitor, /\{\{- if \.Values\.config\.METRICS_PORT \}\}\s+- port: metrics\s+path: \/metrics\s+\{\{- else \}\}\s+- port: http/, 'the metrics port when set, else http')
  t.match(monitor, /\{\{- if eq \.Values\.config\.NODE_ENV "production" \}\}\s+authorization:\s+type: Bearer\s+credentials:\s+name: \{\{ include "switchboard\.secretName" \. \}\}\s+key: METRICS_TOKEN/,
    'on the main port in production: the bearer token from the Secret the pod reads')
  t.match(helpers, /serviceMonitor\.enabled in production needs config\.METRICS_PORT or secrets\.METRICS_TOKEN/, 'and no ServiceMonitor that could only scrape 404s')
  t.ok(helpers.includes('(not $c.METRICS_PORT) (not .Values.secrets.METRICS_TOKEN) (not .Values.existingSecret)'), 'refused only when neither is there')
})

t.test('Grafana dashboard: valid JSON whose queries use exported metrics', async (t) => {
  t.match(read('templates/grafana-dashboard.yaml'), /^\{\{- if \.Values\.grafanaDashboard\.enabled \}\}[\s\S]*\.Files\.Get "files\/grafana-dashboard\.json"/)
  const dashboard = JSON.parse(read('files/grafana-dashboard.json')) as { uid: string, panels: Array<{ title: string, targets: Array<{ expr: string }> }>, templating: { list: Array<{ name: string }> } }
  t.equal(dashboard.uid, 'switchboard')
  t.same(dashboard.templating.list.map((v) => v.name), ['datasource', 'namespace', 'job'])
  const series = await exportedSeries()
  const used = new Set<string>()
  for (const panel of dashboard.panels) {
    t.ok(panel.targets.length > 0, `${panel.title} has queries`)
    for (const target of panel.targets) {
      t.match(target.expr, /namespace="\$namespace", job="\$job"/, `${panel.title}: scoped to the release`)
      for (const name of promqlMetrics(target.expr)) { used.add(name); t.ok(series.has(name), `${panel.title}: ${name} exists`) }
    }
  }
  t.ok(used.has('switchboard_ws_connections') && used.has('switchboard_messages_refused_total') && used.has('switchboard_redis_command_errors_total'), 'the alerting metrics are on the dashboard')
})
