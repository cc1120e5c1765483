{{/* Chart name, truncated to the 63 characters DNS labels allow. */}}
{{- define "roomtemp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: <release>-<chart> unless the release name already contains it. */}}
{{- define "roomtemp.fullname" -}}
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

{{- define "roomtemp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "roomtemp.labels" -}}
helm.sh/chart: {{ include "roomtemp.chart" . }}
{{ include "roomtemp.selectorLabels" . }}
app.kubernetes.io/version: {{ include "roomtemp.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: roomtemp
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels shared by the API pods and the migration pods (NetworkPolicy selects both). */}}
{{- define "roomtemp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "roomtemp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selector of the API pods only (Deployment, Service, PDB, HPA). */}}
{{- define "roomtemp.apiSelectorLabels" -}}
{{ include "roomtemp.selectorLabels" . }}
app.kubernetes.io/component: api
{{- end }}

{{- define "roomtemp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "roomtemp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "roomtemp.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "roomtemp.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "roomtemp.imageTag" .) }}
{{- end }}
{{- end }}

{{- define "roomtemp.authSecretName" -}}
{{- default (printf "%s-auth" (include "roomtemp.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{- define "roomtemp.databaseSecretName" -}}
{{- default (printf "%s-db" (include "roomtemp.fullname" .)) .Values.externalDatabase.existingSecret }}
{{- end }}

{{/*
Database connection env, identical for the Deployment and the migration Job. It is inline (not
in the ConfigMap) because under ArgoCD the migration Job is a PreSync hook and runs before the
chart's ConfigMap exists. The password (or a whole URL) only ever comes from an existing Secret.
*/}}
{{- define "roomtemp.databaseEnv" -}}
{{- $db := .Values.externalDatabase -}}
{{- if $db.existingSecretUrlKey }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "roomtemp.databaseSecretName" . }}
      key: {{ $db.existingSecretUrlKey }}
{{- else }}
- name: DB_HOST
  value: {{ $db.host | quote }}
- name: DB_PORT
  value: {{ $db.port | quote }}
- name: DB_NAME
  value: {{ $db.database | quote }}
- name: DB_USER
  value: {{ $db.user | quote }}
- name: DB_SSLMODE
  value: {{ $db.sslmode | quote }}
- name: DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "roomtemp.databaseSecretName" . }}
      key: {{ $db.existingSecretPasswordKey }}
{{- end }}
{{- if $db.existingSecretReadUrlKey }}
- name: DATABASE_READ_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "roomtemp.databaseSecretName" . }}
      key: {{ $db.existingSecretReadUrlKey }}
{{- else if $db.readHost }}
{{- if $db.existingSecretUrlKey }}
{{- fail "externalDatabase.readHost needs host/port/database/user (not existingSecretUrlKey); use existingSecretReadUrlKey" }}
{{- end }}
- name: DB_READ_HOST
  value: {{ $db.readHost | quote }}
{{- end }}
{{- end }}

{{/* Settings shared by every roomtemp process, rendered into the ConfigMap. */}}
{{- define "roomtemp.configData" -}}
LOG_LEVEL: {{ .Values.config.logLevel | quote }}
WORKERS: {{ .Values.config.workers | quote }}
DB_POOL_SIZE: {{ .Values.config.dbPoolSize | quote }}
DB_MAX_OVERFLOW: {{ .Values.config.dbMaxOverflow | quote }}
DB_STATEMENT_TIMEOUT_MS: {{ .Values.config.dbStatementTimeoutMs | quote }}
AUTO_REGISTER: {{ .Values.config.autoRegister | quote }}
MAX_BATCH_SIZE: {{ .Values.config.maxBatchSize | quote }}
MAX_FUTURE_SKEW_SECONDS: {{ .Values.config.maxFutureSkewSeconds | quote }}
AUTH_REQUIRED: {{ .Values.auth.required | quote }}
RATE_LIMIT_PER_SECOND: {{ .Values.config.rateLimitPerSecond | quote }}
RATE_LIMIT_BURST: {{ .Values.config.rateLimitBurst | quote }}
MAX_BODY_BYTES: {{ .Values.config.maxBodyBytes | int64 | quote }}
CORS_ORIGINS: {{ .Values.config.corsOrigins | toJson | quote }}
GRACEFUL_SHUTDOWN_SECONDS: {{ .Values.config.gracefulShutdownSeconds | quote }}
LIVE_MAX_STREAMS: {{ .Values.config.liveMaxStreams | quote }}
SILENT_SENSOR_MINUTES: {{ .Values.config.silentSensorMinutes | quote }}
SILENT_SENSOR_REFRESH_SECONDS: {{ .Values.config.silentSensorRefreshSeconds | quote }}
DEFAULT_TIME_ZONE: {{ .Values.config.defaultTimeZone | quote }}
LOG_FORMAT: "json"
PARTITION_INTERVAL: {{ .Values.config.partitionInterval | quote }}
PARTITION_AHEAD: {{ .Values.config.partitionAhead | quote }}
{{- with .Values.config.retentionDays }}
RETENTION_DAYS: {{ . | quote }}
{{- end }}
{{- /* Rollup levels outlive the raw captures; the same rule as Settings, checked at render. */}}
{{- range $env, $key := dict "ROLLUP_15M_RETENTION_DAYS" "rollup15mRetentionDays" "ROLLUP_1H_RETENTION_DAYS" "rollup1hRetentionDays" "ROLLUP_1D_RETENTION_DAYS" "rollup1dRetentionDays" }}
{{- with index $.Values.config $key }}
{{- if not $.Values.config.retentionDays }}
{{- fail (printf "config.%s needs config.retentionDays (raw captures kept forever)" $key) }}
{{- end }}
{{- if lt (int .) (int $.Values.config.retentionDays) }}
{{- fail (printf "config.%s (%v) must be at least config.retentionDays (%v)" $key . $.Values.config.retentionDays) }}
{{- end }}
{{ $env }}: {{ . | quote }}
{{- end }}
{{- end }}
{{- /* Scale-out settings only when set, so the defaults match k8s/base/config.env. */}}
{{- if .Values.config.dbReadFallback }}
DB_READ_FALLBACK: "true"
{{- end }}
{{- if .Values.config.dbPgbouncer }}
DB_PGBOUNCER: "true"
{{- end }}
{{- if not (kindIs "invalid" .Values.config.dbPrepareThreshold) }}
DB_PREPARE_THRESHOLD: {{ .Values.config.dbPrepareThreshold | quote }}
{{- end }}
{{- range $k, $v := .Values.config.extraEnv }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end }}

{{/* Pod-level security context shared by the API and migration pods. */}}
{{- define "roomtemp.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end }}
