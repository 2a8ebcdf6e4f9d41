{{/* Names and labels, in the usual `helm create` shape. */}}
{{- define "switchboard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchboard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "switchboard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "switchboard.labels" -}}
helm.sh/chart: {{ include "switchboard.chart" . }}
{{ include "switchboard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "switchboard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "switchboard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "switchboard.image" -}}
{{- $repo := required "image.repository is required: build the repository's Dockerfile and push it to your registry" .Values.image.repository }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret the pods read: yours (existingSecret) or the chart's. */}}
{{- define "switchboard.secretName" -}}
{{- default (include "switchboard.fullname" .) .Values.existingSecret }}
{{- end }}

{{/*
An env value as text. Helm reads every YAML number as a float64, which prints 1000000 as "1e+06";
whole numbers are printed as integers instead.
*/}}
{{- define "switchboard.envValue" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) }}
{{- int64 . }}
{{- else }}
{{- . }}
{{- end }}
{{- end }}

{{/* Whether the service gets a Redis (the three ways ConfigSchema offers, or the bundled one), so replicas share rooms. */}}
{{- define "switchboard.hasRedis" -}}
{{- if or .Values.redis.enabled .Values.existingSecret .Values.secrets.REDIS_URL .Values.config.REDIS_SENTINELS .Values.config.REDIS_CLUSTER_NODES }}true{{ end }}
{{- end }}

{{/* The bundled Redis (redis.enabled): its Deployment, Service and ConfigMap name. */}}
{{- define "switchboard.redisFullname" -}}
{{- printf "%s-redis" (include "switchboard.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchboard.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" . }}-redis
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Redis's own labels: the service's selectors must not match them (as with coturn). */}}
{{- define "switchboard.redisLabels" -}}
helm.sh/chart: {{ include "switchboard.chart" . }}
{{ include "switchboard.redisSelectorLabels" . }}
app.kubernetes.io/component: redis
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "switchboard.coturnFullname" -}}
{{- printf "%s-coturn" (include "switchboard.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchboard.coturnSelectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" . }}-coturn
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* coturn's own labels: the service's selectors (Deployment, Service, ServiceMonitor, PDB) must not match them. */}}
{{- define "switchboard.coturnLabels" -}}
helm.sh/chart: {{ include "switchboard.chart" . }}
{{ include "switchboard.coturnSelectorLabels" . }}
app.kubernetes.io/component: turn
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "switchboard.coturnPublicHost" -}}
{{- default .Values.coturn.externalIP .Values.coturn.publicHost }}
{{- end }}

{{/* The kubernetes.io/tls Secret coturn reads its certificate from (yours, or the cert-manager one). */}}
{{- define "switchboard.coturnTlsSecretName" -}}
{{- default (printf "%s-tls" (include "switchboard.coturnFullname" .)) .Values.coturn.tls.secretName }}
{{- end }}

{{/* The ICE URLs of the bundled coturn: UDP and TCP on listeningPort, and turns: when TLS is on. */}}
{{- define "switchboard.coturnTurnUrls" -}}
{{- $host := include "switchboard.coturnPublicHost" . }}
{{- $port := int .Values.coturn.listeningPort }}
{{- $urls := list (printf "turn:%s:%d?transport=udp" $host $port) (printf "turn:%s:%d?transport=tcp" $host $port) }}
{{- if .Values.coturn.tls.enabled }}
{{- $urls = append $urls (printf "turns:%s:%d?transport=tcp" $host (int .Values.coturn.tls.port)) }}
{{- end }}
{{- join "," $urls }}
{{- end }}

{{/*
Cross-value rules that values.schema.json cannot express. Each message names the values to change.
Included by deployment.yaml, so `helm template` and `helm install` stop before anything is applied.
*/}}
{{- define "switchboard.validate" -}}
{{- $c := .Values.config }}
{{- $s := .Values.secrets }}
{{- $secretsSet := list }}
{{- range $k, $v := $s }}{{ if $v }}{{ $secretsSet = append $secretsSet $k }}{{ end }}{{ end }}
{{- if and .Values.existingSecret $secretsSet }}
{{- fail (printf "existingSecret is set, so secrets.* must be empty (found %s): put them in that Secret instead" (join ", " $secretsSet)) }}
{{- end }}
{{- if lt (int $c.PORT) 1024 }}
{{- fail "config.PORT must be 1024 or above: the container runs as a non-root user without capabilities" }}
{{- end }}
{{- $need := addf .Values.preStopSleepSeconds $c.SHUTDOWN_DRAIN_SECONDS 5 }}
{{- if le (float64 .Values.terminationGracePeriodSeconds) (float64 $need) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed preStopSleepSeconds + config.SHUTDOWN_DRAIN_SECONDS + 5 (%v), or WebSocket clients are cut off mid-drain" .Values.terminationGracePeriodSeconds $need) }}
{{- end }}
{{- if and (eq $c.NODE_ENV "production") (not .Values.existingSecret) }}
{{- if not (or $s.JWT_SECRET $c.JWT_PUBLIC_KEY $c.JWT_JWKS_URL) }}
{{- fail "config.NODE_ENV=production needs secrets.JWT_SECRET, config.JWT_PUBLIC_KEY or config.JWT_JWKS_URL (or existingSecret)" }}
{{- end }}
{{- if and (eq $c.TURN_PROVIDER "hmac") (not $s.TURN_SECRET) }}
{{- fail "config.TURN_PROVIDER=hmac in production needs secrets.TURN_SECRET (or existingSecret)" }}
{{- end }}
{{- end }}
{{- if and (eq $c.NODE_ENV "production") (eq $c.TURN_PROVIDER "hmac") (not $c.TURN_URLS) (not .Values.coturn.enabled) }}
{{- fail "config.TURN_PROVIDER=hmac in production needs config.TURN_URLS (or coturn.enabled)" }}
{{- end }}
{{- if and (or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled) (not (include "switchboard.hasRedis" .)) }}
{{- fail "several replicas need Redis to share rooms: set redis.enabled, secrets.REDIS_URL, config.REDIS_SENTINELS, config.REDIS_CLUSTER_NODES or existingSecret" }}
{{- end }}
{{- if and .Values.redis.enabled (or $s.REDIS_URL $c.REDIS_SENTINELS $c.REDIS_CLUSTER_NODES) }}
{{- fail "redis.enabled deploys a Redis for the service: leave secrets.REDIS_URL, config.REDIS_SENTINELS and config.REDIS_CLUSTER_NODES empty" }}
{{- end }}
{{- if and .Values.redis.enabled (not .Values.existingSecret) (not $s.REDIS_PASSWORD) }}
{{- fail "redis.enabled needs secrets.REDIS_PASSWORD (or existingSecret with a REDIS_PASSWORD key): the bundled Redis and the service share it" }}
{{- end }}
{{- if and .Values.autoscaling.enabled .Values.autoscaling.connectionsPerPod.enabled (not $c.METRICS_ENABLED) }}
{{- fail "autoscaling.connectionsPerPod needs config.METRICS_ENABLED=true (the adapter reads switchboard_ws_connections from Prometheus)" }}
{{- end }}
{{- if and $c.WEBHOOK_URLS (not .Values.existingSecret) (not $s.WEBHOOK_SECRET) }}
{{- fail "config.WEBHOOK_URLS needs secrets.WEBHOOK_SECRET (or existingSecret with a WEBHOOK_SECRET key): every webhook is signed" }}
{{- end }}
{{- if and .Values.prometheusRule.enabled (not .Values.serviceMonitor.enabled) }}
{{- fail "prometheusRule.enabled needs serviceMonitor.enabled: the alerts read the metrics it scrapes" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not $c.METRICS_ENABLED) }}
{{- fail "serviceMonitor.enabled needs config.METRICS_ENABLED=true" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (eq $c.NODE_ENV "production") (not $c.METRICS_PORT) (not .Values.secrets.METRICS_TOKEN) (not .Values.existingSecret) }}
{{- fail "serviceMonitor.enabled in production needs config.METRICS_PORT or secrets.METRICS_TOKEN (or existingSecret with a METRICS_TOKEN key): /metrics on the main port is 404 without either" }}
{{- end }}
{{- if .Values.coturn.enabled }}
{{- if ne $c.TURN_PROVIDER "hmac" }}
{{- fail "coturn.enabled needs config.TURN_PROVIDER=hmac (coturn checks the service's HMAC credentials)" }}
{{- end }}
{{- if and (not .Values.existingSecret) (not $s.TURN_SECRET) }}
{{- fail "coturn.enabled needs secrets.TURN_SECRET (or existingSecret with a TURN_SECRET key): coturn and the service share it" }}
{{- end }}
{{- if not (include "switchboard.coturnPublicHost" .) }}
{{- fail "coturn.enabled needs coturn.publicHost (or coturn.externalIP): the address browsers use for TURN" }}
{{- end }}
{{- $lb := eq .Values.coturn.networkMode "loadBalancer" }}
{{- if and $lb (not .Values.coturn.externalIP) }}
{{- fail "coturn.networkMode=loadBalancer needs coturn.externalIP (the LoadBalancer's public IP) for its relay addresses" }}
{{- end }}
{{- if gt (int .Values.coturn.minPort) (int .Values.coturn.maxPort) }}
{{- fail "coturn.minPort must not exceed coturn.maxPort" }}
{{- end }}
{{- if and $lb (gt (sub (int .Values.coturn.maxPort) (int .Values.coturn.minPort)) 199) }}
{{- fail "coturn relay range over 200 ports: each one is a Service port with networkMode=loadBalancer; narrow it or use networkMode=hostNetwork" }}
{{- end }}
{{- $t := .Values.coturn.tls }}
{{- if $t.enabled }}
{{- if not .Values.coturn.publicHost }}
{{- fail "coturn.tls.enabled needs coturn.publicHost: the name in the turns: URL that the certificate must carry" }}
{{- end }}
{{- if eq (int $t.port) (int .Values.coturn.listeningPort) }}
{{- fail "coturn.tls.port must differ from coturn.listeningPort" }}
{{- end }}
{{- if and (not $t.secretName) (not $t.certManager.enabled) }}
{{- fail "coturn.tls.enabled needs coturn.tls.secretName (a kubernetes.io/tls Secret) or coturn.tls.certManager.enabled" }}
{{- end }}
{{- if and $t.certManager.enabled (not $t.certManager.issuerRef.name) }}
{{- fail "coturn.tls.certManager.enabled needs coturn.tls.certManager.issuerRef.name" }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
