{{/*
Every object of one service. The umbrella chart includes it once per key of `services`, with
(dict "root" $ "name" $name). A disabled service renders nothing.
*/}}
{{- define "salescompass-lib.all" -}}
{{- $ctx := dict "root" .root "name" .name -}}
{{- include "salescompass-lib.buildContext" $ctx -}}
{{- $svc := $ctx.svc -}}
{{- if $svc.enabled -}}
{{- include "salescompass-lib.validate" $ctx -}}
---
{{ include "salescompass-lib.serviceAccount" $ctx }}
---
{{ include "salescompass-lib.configmap" $ctx }}
---
{{ include "salescompass-lib.service" $ctx }}
---
{{ include "salescompass-lib.deployment" $ctx }}
{{- if $svc.autoscaling.enabled }}
---
{{ include "salescompass-lib.hpa" $ctx }}
{{- end }}
{{- if $svc.pdb.enabled }}
---
{{ include "salescompass-lib.pdb" $ctx }}
{{- end }}
{{- if .root.Values.networkPolicy.enabled }}
---
{{ include "salescompass-lib.networkPolicy" $ctx }}
{{- end }}
{{- if .root.Values.metrics.serviceMonitor.enabled }}
---
{{ include "salescompass-lib.serviceMonitor" $ctx }}
{{- end }}
{{- if and $svc.http.enabled $svc.ingress.enabled }}
---
{{ include "salescompass-lib.ingress" $ctx }}
{{- end }}
{{- if .root.Values.tests.enabled }}
---
{{ include "salescompass-lib.testPod" $ctx }}
{{- end }}
{{- if and $svc.database.enabled $svc.migrate.enabled }}
---
{{ include "salescompass-lib.migrateServiceAccount" $ctx }}
---
{{ include "salescompass-lib.migrateJob" $ctx }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Checks that need more than one value, which values.schema.json cannot express. */}}
{{- define "salescompass-lib.validate" -}}
{{- $svc := .svc -}}
{{- if and $svc.autoscaling.enabled (gt (int $svc.autoscaling.minReplicas) (int $svc.autoscaling.maxReplicas)) -}}
{{- fail (printf "services.%s.autoscaling: minReplicas (%v) is greater than maxReplicas (%v)" .name $svc.autoscaling.minReplicas $svc.autoscaling.maxReplicas) -}}
{{- end -}}
{{- if and (not $svc.grpc.enabled) (not $svc.http.enabled) -}}
{{- fail (printf "services.%s: enable grpc or http; a service without a serving port cannot be probed for readiness" .name) -}}
{{- end -}}
{{- if and $svc.ingress.enabled (not $svc.http.enabled) -}}
{{- fail (printf "services.%s.ingress.enabled needs services.%s.http.enabled (only the REST port is exposed through an Ingress)" .name .name) -}}
{{- end -}}
{{- if and $svc.ingress.enabled (not $svc.ingress.hosts) -}}
{{- fail (printf "services.%s.ingress.hosts must list at least one host when the Ingress is enabled" .name) -}}
{{- end -}}
{{- if and (eq .name "tenants") (not $svc.grpc.enabled) -}}
{{- fail "services.tenants.grpc.enabled must be true: every other service fetches the token keys from it" -}}
{{- end -}}
{{- end -}}

{{/*
Secrets created from install-time values (`createSecrets`), for installs without an external secret
store. They are hooks with a lower weight than the migrate Jobs so the Jobs can read them on a first
install; Helm therefore does not delete them on uninstall (see docs/operations.md).
Call with the root context.
*/}}
{{- define "salescompass-lib.createdSecrets" -}}
{{- $root := . -}}
{{- range $name := keys ($root.Values.createSecrets | default dict) | sortAlpha }}
---
apiVersion: v1
kind: Secret
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    helm.sh/chart: {{ include "salescompass-lib.chartLabel" $root }}
    app.kubernetes.io/instance: {{ $root.Release.Name }}
    app.kubernetes.io/part-of: salescompass
    app.kubernetes.io/managed-by: {{ $root.Release.Service }}
  annotations:
    {{- include "salescompass-lib.migrateHookAnnotations" "-10" | nindent 4 }}
    helm.sh/hook-delete-policy: before-hook-creation
type: Opaque
data:
  {{- $data := get $root.Values.createSecrets $name }}
  {{- range $key := keys $data | sortAlpha }}
  {{ $key }}: {{ get $data $key | toString | b64enc }}
  {{- end }}
{{- end }}
{{- end -}}
