{{/*
Helpers shared by every per-service template.

Per-service templates receive a context completed by "salescompass-lib.buildContext":
  .root      the umbrella chart's root context (.Values, .Release, .Chart, .Capabilities)
  .name      the service name, the key under `services` (tenants, gateway, crm, ...)
  .fullname  the name of the service's objects and its DNS name: namePrefix + name
  .svc       the service's values: `serviceDefaults` deep-merged with `services.<name>`
*/}}

{{/*
Deep merge of .src into .dst (a dict, modified in place). Unlike sprig's mergeOverwrite, a false,
0 or "" in .src does override .dst, so `grpc: {enabled: false}` switches the gRPC port off.
*/}}
{{- define "salescompass-lib.util.merge" -}}
{{- $dst := .dst -}}
{{- range $key, $value := .src -}}
{{- $current := get $dst $key -}}
{{- if and (kindIs "map" $value) (kindIs "map" $current) -}}
{{- include "salescompass-lib.util.merge" (dict "dst" $current "src" $value) -}}
{{- else -}}
{{- $_ := set $dst $key $value -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Completes a per-service context in place: bind (dict "root" $ "name" $name) to a variable, include
this template with that variable (it renders nothing) and use the variable afterwards.
*/}}
{{- define "salescompass-lib.buildContext" -}}
{{- $root := .root -}}
{{- $svc := deepCopy ($root.Values.serviceDefaults | default dict) -}}
{{- $entry := get ($root.Values.services | default dict) .name | default dict -}}
{{- include "salescompass-lib.util.merge" (dict "dst" $svc "src" (deepCopy $entry)) -}}
{{- $_ := set . "svc" $svc -}}
{{- $_ := set . "fullname" (printf "%s%s" ($root.Values.namePrefix | default "") .name) -}}
{{- end -}}

{{/* Names of the enabled services, sorted, as a JSON list. Call with the root context. */}}
{{- define "salescompass-lib.enabledServices" -}}
{{- $names := list -}}
{{- range $name, $entry := ($.Values.services | default dict) -}}
{{- $ctx := dict "root" $ "name" $name -}}
{{- include "salescompass-lib.buildContext" $ctx -}}
{{- if $ctx.svc.enabled -}}
{{- $names = append $names $name -}}
{{- end -}}
{{- end -}}
{{- toJson (sortAlpha $names) -}}
{{- end -}}

{{/* Object name for a service's companion object, e.g. (list $ctx "migrate") -> tenants-migrate. */}}
{{- define "salescompass-lib.objectName" -}}
{{- $ctx := index . 0 -}}
{{- printf "%s-%s" $ctx.fullname (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "salescompass-lib.chartLabel" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select a service's serving pods (never its migrate Job's pods). */}}
{{- define "salescompass-lib.selectorLabels" -}}
app.kubernetes.io/name: {{ .fullname }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{/* Common labels; pass the context with an optional "component" key (default: server). */}}
{{- define "salescompass-lib.labels" -}}
helm.sh/chart: {{ include "salescompass-lib.chartLabel" .root }}
app.kubernetes.io/name: {{ .fullname }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component | default "server" }}
app.kubernetes.io/part-of: salescompass
app.kubernetes.io/version: {{ include "salescompass-lib.imageTag" . | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
salescompass.io/service: {{ .name }}
{{- end -}}

{{/* Labels shared by every pod of the release, used by NetworkPolicies to allow peers. */}}
{{- define "salescompass-lib.releasePeerLabels" -}}
app.kubernetes.io/part-of: salescompass
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "salescompass-lib.imageTag" -}}
{{- $image := mergeOverwrite (deepCopy .root.Values.image) (.svc.image | default dict) -}}
{{- $image.tag | default .root.Chart.AppVersion -}}
{{- end -}}

{{/* The image reference: repository@digest when a digest is set, else repository:tag. */}}
{{- define "salescompass-lib.image" -}}
{{- $image := mergeOverwrite (deepCopy .root.Values.image) (.image | default dict) -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository ($image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "salescompass-lib.pullPolicy" -}}
{{- $image := mergeOverwrite (deepCopy .root.Values.image) (.image | default dict) -}}
{{- $image.pullPolicy | default "IfNotPresent" -}}
{{- end -}}

{{/* The binary of a service inside the image. */}}
{{- define "salescompass-lib.command" -}}
{{- .svc.command | default (printf "/usr/local/bin/%s" .name) -}}
{{- end -}}

{{/* gRPC URL of a service from its name: http://<namePrefix><name>:50051. Call with (list $root $name). */}}
{{- define "salescompass-lib.grpcUrl" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $ctx := dict "root" $root "name" $name -}}
{{- include "salescompass-lib.buildContext" $ctx -}}
{{- printf "http://%s:%v" $ctx.fullname $ctx.svc.grpc.port -}}
{{- end -}}

{{/* The schema of a service's Postgres data and its non-owner role. */}}
{{- define "salescompass-lib.dbSchema" -}}
{{- .svc.database.schema | default (.name | replace "-" "_") -}}
{{- end -}}

{{- define "salescompass-lib.dbAppRole" -}}
{{- .svc.database.appRole | default (printf "%s_app" (include "salescompass-lib.dbSchema" .)) -}}
{{- end -}}

{{- define "salescompass-lib.dbSecretName" -}}
{{- .svc.database.existingSecret | default (include "salescompass-lib.objectName" (list . "database")) -}}
{{- end -}}

{{/* postgres://user:password@host:port/db?params, the password from an env var defined earlier. */}}
{{- define "salescompass-lib.postgresUrl" -}}
{{- $pg := .root.Values.postgres -}}
{{- $params := dict "sslmode" $pg.sslMode -}}
{{- range $key, $value := ($pg.params | default dict) -}}
{{- $_ := set $params $key (toString $value) -}}
{{- end -}}
{{- $query := list -}}
{{- range $key := keys $params | sortAlpha -}}
{{- $query = append $query (printf "%s=%s" $key (get $params $key | urlquery)) -}}
{{- end -}}
{{- printf "postgres://%s:$(%s)@%s:%v/%s?%s" .user .passwordVar $pg.host $pg.port $pg.database (join "&" $query) -}}
{{- end -}}

{{/* amqp[s]://$(user):$(password)@host:port/vhost */}}
{{- define "salescompass-lib.amqpUrl" -}}
{{- $mq := .root.Values.rabbitmq -}}
{{- printf "%s://$(SC_AMQP_USERNAME):$(SC_AMQP_PASSWORD)@%s:%v/%s" (ternary "amqps" "amqp" ($mq.tls | default false)) $mq.host $mq.port ($mq.vhost | urlquery) -}}
{{- end -}}

{{/* Seconds Kubernetes waits between the preStop hook starting and SIGKILL: the preStop sleep,
the service's drain delay and shutdown grace, plus a margin for the process to exit. */}}
{{- define "salescompass-lib.terminationGracePeriodSeconds" -}}
{{- $s := .svc.shutdown -}}
{{- add $s.preStopSleepSeconds ($s.drainDelaySeconds | default 0) $s.graceSeconds $s.marginSeconds -}}
{{- end -}}
