{{/* Chart name, overridable. */}}
{{- define "ferry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release-chart, unless the release already holds the chart name. */}}
{{- define "ferry.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "ferry.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "ferry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels selecting ferry's pods. */}}
{{- define "ferry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ferry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The ServiceAccount's name. */}}
{{- define "ferry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ferry.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* ferry.yaml: `.Values.config` with the server block the chart owns. */}}
{{- define "ferry.config" -}}
{{- $server := dict "listen" (printf "0.0.0.0:%v" .Values.server.port) -}}
{{- with .Values.server.externalUrl }}{{ $_ := set $server "externalUrl" . }}{{ end -}}
{{- with .Values.server.apiTokenEnv }}{{ $_ := set $server "apiTokenEnv" . }}{{ end -}}
{{- with .Values.server.webhookSecretEnv }}{{ $_ := set $server "webhookSecretEnv" . }}{{ end -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := set $config "server" $server -}}
{{- $_ := set $config "state" "/var/lib/ferry/state.db" -}}
{{- toYaml $config -}}
{{- end -}}
