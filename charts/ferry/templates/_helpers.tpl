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

{{/* Environment variables the values name for secrets, one per line, sorted and unique:
     tokenEnv of the source, the tenants and the statuses, tenant header `env`s, and the
     server's apiTokenEnv and webhookSecretEnv; less those `extraEnv` sets. */}}
{{- define "ferry.secretKeys" -}}
{{- $keys := list -}}
{{- $config := .Values.config | default dict -}}
{{- with $config.source }}{{ with .auth }}{{ with .tokenEnv }}{{ $keys = append $keys . }}{{ end }}{{ end }}{{ end -}}
{{- range $config.tenants }}
{{- with .auth }}
{{- with .tokenEnv }}{{ $keys = append $keys . }}{{ end }}
{{- range $_, $header := .headers }}{{ with $header.env }}{{ $keys = append $keys . }}{{ end }}{{ end }}
{{- end }}
{{- end }}
{{- range $config.statuses }}{{ with .tokenEnv }}{{ $keys = append $keys . }}{{ end }}{{ end -}}
{{- with .Values.server.apiTokenEnv }}{{ $keys = append $keys . }}{{ end -}}
{{- with .Values.server.webhookSecretEnv }}{{ $keys = append $keys . }}{{ end -}}
{{- $set := list -}}
{{- range .Values.extraEnv }}{{ $set = append $set .name }}{{ end -}}
{{- range $keys | uniq | sortAlpha }}{{ if not (has . $set) }}{{ . }}
{{ end }}{{ end -}}
{{- end -}}

{{/* Files the values name for secrets (tokenFile, sshKeyFile, header `file`s) that no
     `extraVolumeMounts` entry holds, one per line: they must come from `extraVolumes`. */}}
{{- define "ferry.secretFiles" -}}
{{- $files := list -}}
{{- $config := .Values.config | default dict -}}
{{- with $config.source }}{{ with .auth }}
{{- with .tokenFile }}{{ $files = append $files . }}{{ end }}
{{- with .sshKeyFile }}{{ $files = append $files . }}{{ end }}
{{- end }}{{ end -}}
{{- range $config.tenants }}
{{- with .auth }}
{{- with .tokenFile }}{{ $files = append $files . }}{{ end }}
{{- range $_, $header := .headers }}{{ with $header.file }}{{ $files = append $files . }}{{ end }}{{ end }}
{{- end }}
{{- end }}
{{- range $config.statuses }}{{ with .tokenFile }}{{ $files = append $files . }}{{ end }}{{ end -}}
{{- $mounts := .Values.extraVolumeMounts -}}
{{- range $files | uniq | sortAlpha }}
{{- $file := . }}{{ $mounted := false }}
{{- range $mounts }}{{ if hasPrefix (printf "%s/" (trimSuffix "/" .mountPath)) $file }}{{ $mounted = true }}{{ end }}{{ end }}
{{- if not $mounted }}{{ $file }}
{{ end }}
{{- end -}}
{{- end -}}

{{/* The checksum/secret annotation's value: a hash of the watched Secret's uid and
     resourceVersion (never its data), empty when it is off or the Secret cannot be
     looked up (helm template, or no such Secret yet). */}}
{{- define "ferry.secretChecksum" -}}
{{- if .Values.secretRollout.enabled -}}
{{- $name := .Values.secretRollout.secretName | default .Values.existingSecret -}}
{{- if $name -}}
{{- with lookup "v1" "Secret" .Release.Namespace $name -}}
{{- printf "%s/%s" .metadata.uid .metadata.resourceVersion | sha256sum -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Label matchers of this release's series in the PrometheusRule. */}}
{{- define "ferry.ruleSelector" -}}
{{- .Values.prometheusRule.selector | default (printf "namespace=%q,job=%q" .Release.Namespace (printf "%s-headless" (include "ferry.fullname" .))) -}}
{{- end -}}
