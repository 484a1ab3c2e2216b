{{/* The name of the release's objects. */}}
{{- define "vexil.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The labels that select the release's pods. */}}
{{- define "vexil.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* All the labels of the release's objects. */}}
{{- define "vexil.labels" -}}
{{ include "vexil.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The image: repository@digest when a digest is given, else repository:tag. */}}
{{- define "vexil.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* The --sources JSON array. */}}
{{- define "vexil.sources" -}}
{{- $sources := list -}}
{{- if .Values.flags.enabled -}}
{{- $sources = append $sources (dict "uri" "/etc/vexil/flags/flags.json" "provider" "file") -}}
{{- end -}}
{{- range .Values.featureFlags -}}
{{- $ref := . -}}
{{- if not (contains "/" $ref) -}}{{- $ref = printf "%s/%s" $.Release.Namespace $ref -}}{{- end -}}
{{- $sources = append $sources (dict "uri" (printf "core.openfeature.dev/%s" $ref) "provider" "kubernetes") -}}
{{- end -}}
{{- range .Values.extraSources -}}
{{- $sources = append $sources . -}}
{{- end -}}
{{- $sources | toJson -}}
{{- end -}}
