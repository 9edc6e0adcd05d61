{{/* Names, labels and the settings environment shared by every template. */}}

{{- define "mindhit.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mindhit.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "mindhit.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "mindhit.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mindhit.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "mindhit.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "gateway") */}}
{{- define "mindhit.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mindhit.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "mindhit.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "mindhit.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mindhit.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "mindhit.secretName" -}}
{{- default (include "mindhit.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* The port setting of a component: (dict "root" $ "component" "gateway") */}}
{{- define "mindhit.port" -}}
{{- $key := printf "MINDHIT_%s_PORT" (upper .component) -}}
{{- required (printf "config.%s is required" $key) (index .root.Values.config $key) -}}
{{- end -}}

{{/* The internal metrics port of gateway and web (their public port serves no /metrics);
empty for processors and projector, whose one port is internal and serves /metrics. */}}
{{- define "mindhit.metricsPort" -}}
{{- if has .component (list "gateway" "web") -}}
{{- $key := printf "MINDHIT_%s_METRICS_PORT" (upper .component) -}}
{{- required (printf "config.%s is required" $key) (index .root.Values.config $key) -}}
{{- end -}}
{{- end -}}

{{/* ConfigMap data: every non-secret setting, as strings. */}}
{{- define "mindhit.configData" -}}
{{- range $key, $value := .Values.config }}
{{ $key }}: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* Secret data: the secret settings, in-cluster URLs filled in, the cookie key kept. */}}
{{- define "mindhit.secretData" -}}
{{- $fullname := include "mindhit.fullname" . -}}
{{- $data := deepCopy .Values.secrets.values -}}
{{- if and .Values.postgresql.enabled (not $data.MINDHIT_DATABASE_URL) -}}
{{- $_ := set $data "MINDHIT_DATABASE_URL" (printf "postgresql://%s:%s@%s-postgresql:5432/%s" .Values.postgresql.username (required "postgresql.password is required" .Values.postgresql.password) $fullname .Values.postgresql.database) -}}
{{- end -}}
{{- if and .Values.redis.enabled (not $data.MINDHIT_REDIS_URL) -}}
{{- $_ := set $data "MINDHIT_REDIS_URL" (printf "redis://%s-redis:6379/0" $fullname) -}}
{{- end -}}
{{- if not $data.MINDHIT_SECRET_KEY -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $fullname -}}
{{- if and $existing $existing.data (hasKey $existing.data "MINDHIT_SECRET_KEY") -}}
{{- $_ := set $data "MINDHIT_SECRET_KEY" (index $existing.data "MINDHIT_SECRET_KEY" | b64dec) -}}
{{- else -}}
{{- /* one key per render, shared by every template that includes this */ -}}
{{- if not (hasKey .Values.secrets "generatedSecretKey") -}}
{{- $_ := set .Values.secrets "generatedSecretKey" (randAlphaNum 48) -}}
{{- end -}}
{{- $_ := set $data "MINDHIT_SECRET_KEY" .Values.secrets.generatedSecretKey -}}
{{- end -}}
{{- end -}}
{{- range $key, $value := $data }}
{{ $key }}: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* Container env: secret settings by secretKeyRef (configmap comes with envFrom). */}}
{{- define "mindhit.secretEnv" -}}
{{- $secretName := .secretName -}}
{{- $optional := .root.Values.secrets.optionalKeys -}}
{{- range $key := keys .root.Values.secrets.values | sortAlpha }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ $secretName }}
      key: {{ $key }}
      optional: {{ has $key $optional }}
{{- end }}
{{- end -}}

{{/* Stream consumers (processors, projector) within their partitions: a partition is
processed by one member of the group at a time, so more than MINDHIT_PARTITIONS members
would idle; lag autoscaling needs bounds in that range and a Prometheus to ask. */}}
{{- define "mindhit.checkConsumers" -}}
{{- $partitions := int (required "config.MINDHIT_PARTITIONS is required" .Values.config.MINDHIT_PARTITIONS) -}}
{{- range $component := list "processors" "projector" -}}
{{- $c := index $.Values $component -}}
{{- if gt (int $c.replicas) $partitions -}}
{{- fail (printf "%s.replicas (%d) must not exceed MINDHIT_PARTITIONS (%d): a partition is processed by one member at a time, extra members would idle" $component (int $c.replicas) $partitions) -}}
{{- end -}}
{{- $a := $c.autoscaling -}}
{{- if $a.enabled -}}
{{- if gt (int $a.maxReplicas) $partitions -}}
{{- fail (printf "%s.autoscaling.maxReplicas (%d) must not exceed MINDHIT_PARTITIONS (%d): a partition is processed by one member at a time, extra members would idle" $component (int $a.maxReplicas) $partitions) -}}
{{- end -}}
{{- if gt (int $a.minReplicas) (int $a.maxReplicas) -}}
{{- fail (printf "%s.autoscaling.minReplicas (%d) must not exceed its maxReplicas (%d)" $component (int $a.minReplicas) (int $a.maxReplicas)) -}}
{{- end -}}
{{- if not $.Values.keda.prometheusUrl -}}
{{- fail (printf "%s.autoscaling needs keda.prometheusUrl: the Prometheus that scrapes the consumer lag" $component) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* PromQL for the consumer lag of a component, in entries: (dict "root" $ "component" "processors").
Several members may report a partition (one that held it before a move keeps its last
value), so each partition counts once: processors take the newest highwater minus the
newest committed offset (both only grow, so a former holder's stale values never win);
the projector the largest lag of any projection (the slowest is the partition's
backlog), where a former holder's stale value can only overstate it, i.e. scale up
within maxReplicas (README, Deploy). `autoscaling.query` replaces the query. */}}
{{- define "mindhit.lagQuery" -}}
{{- $c := index .root.Values .component -}}
{{- if $c.autoscaling.query -}}
{{- $c.autoscaling.query -}}
{{- else -}}
{{- $sel := printf "namespace=%q,app_kubernetes_io_instance=%q,app_kubernetes_io_component=%q" .root.Release.Namespace .root.Release.Name .component -}}
{{- if eq .component "processors" -}}
{{- printf "sum(clamp_min(max by (topic, partition) (mindhit_transport_highwater{%s}) - on (topic, partition) max by (topic, partition) (mindhit_transport_committed_offset{%s}), 0))" $sel $sel -}}
{{- else -}}
{{- printf "sum(max by (topic, partition) (mindhit_projection_lag_entries{%s}))" $sel -}}
{{- end -}}
{{- end -}}
{{- end -}}
