{{/*
The non-secret environment of a service, as a YAML map (sorted keys). The Deployment reads it from
the service's ConfigMap; the migrate Job gets the same map inline, because on a first install its
pre-install hook runs before any ConfigMap of the release exists.
*/}}
{{- define "salescompass-lib.configEnv" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- $env := dict -}}
{{- $_ := set $env "SALESCOMPASS__SERVER__ADMIN_LISTEN" (printf "0.0.0.0:%v" $svc.adminPort) -}}
{{- if $svc.grpc.enabled -}}
{{- $_ := set $env "SALESCOMPASS__SERVER__GRPC_LISTEN" (printf "0.0.0.0:%v" $svc.grpc.port) -}}
{{- end -}}
{{- if $svc.http.enabled -}}
{{- $_ := set $env $svc.http.listenEnv (printf "0.0.0.0:%v" $svc.http.port) -}}
{{- end -}}
{{- $_ := set $env "SALESCOMPASS__SERVER__SHUTDOWN_GRACE_SECS" (toString $svc.shutdown.graceSeconds) -}}
{{- if $svc.shutdown.drainDelaySeconds -}}
{{- $_ := set $env "SALESCOMPASS__SERVER__DRAIN_DELAY_SECS" (toString $svc.shutdown.drainDelaySeconds) -}}
{{- end -}}
{{- with $root.Values.telemetry -}}
{{- $_ := set $env "SALESCOMPASS__TELEMETRY__LOG_FORMAT" .logFormat -}}
{{- if .logFilter -}}
{{- $_ := set $env "SALESCOMPASS__TELEMETRY__LOG_FILTER" .logFilter -}}
{{- end -}}
{{- if .otlpEndpoint -}}
{{- $_ := set $env "SALESCOMPASS__TELEMETRY__OTLP_ENDPOINT" .otlpEndpoint -}}
{{- end -}}
{{- end -}}
{{- if $svc.database.enabled -}}
{{- $_ := set $env "SALESCOMPASS__DATABASE__SCHEMA" (include "salescompass-lib.dbSchema" .) -}}
{{- $_ := set $env "SALESCOMPASS__DATABASE__APP_ROLE" (include "salescompass-lib.dbAppRole" .) -}}
{{- /* The migrate hook Job owns migrations; serving pods never migrate on start. */ -}}
{{- $_ := set $env "SALESCOMPASS__DATABASE__MIGRATE_ON_START" "false" -}}
{{- end -}}
{{- if ne .name "tenants" -}}
{{- $_ := set $env "SALESCOMPASS__AUTH__TENANTS_URL" ($root.Values.auth.tenantsUrl | default (include "salescompass-lib.grpcUrl" (list $root "tenants"))) -}}
{{- end -}}
{{- if $svc.upstreams.enabled -}}
{{- range $upstream := include "salescompass-lib.enabledServices" $root | fromJsonArray -}}
{{- $peer := dict "root" $root "name" $upstream -}}
{{- include "salescompass-lib.buildContext" $peer -}}
{{- if $peer.svc.grpc.enabled -}}
{{- $_ := set $env (printf "SALESCOMPASS__GATEWAY__UPSTREAMS__%s" ($upstream | upper | replace "-" "_")) (include "salescompass-lib.grpcUrl" (list $root $upstream)) -}}
{{- end -}}
{{- end -}}
{{- range $upstream, $url := ($svc.upstreams.extra | default dict) -}}
{{- $_ := set $env (printf "SALESCOMPASS__GATEWAY__UPSTREAMS__%s" ($upstream | upper | replace "-" "_")) $url -}}
{{- end -}}
{{- end -}}
{{- range $key, $value := ($root.Values.config | default dict) -}}
{{- $_ := set $env $key (toString $value) -}}
{{- end -}}
{{- range $key, $value := ($svc.config | default dict) -}}
{{- $_ := set $env $key (toString $value) -}}
{{- end -}}
{{- $lines := list -}}
{{- range $key := keys $env | sortAlpha -}}
{{- $lines = append $lines (printf "%s: %s" $key (get $env $key | quote)) -}}
{{- end -}}
{{- join "\n" $lines -}}
{{- end -}}

{{/*
The secret-backed environment, as a YAML list of EnvVar, shared by the Deployment and the migrate
Job. Credentials come from Secrets by reference only; URLs are composed with Kubernetes' $(VAR)
expansion from variables defined earlier in the same list, so no password is ever rendered.
*/}}
{{- define "salescompass-lib.secretEnv" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- if $svc.database.enabled }}
- name: SC_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "salescompass-lib.dbSecretName" . }}
      key: {{ $svc.database.passwordKey }}
- name: DATABASE_URL
  value: {{ include "salescompass-lib.postgresUrl" (dict "root" $root "user" ($svc.database.username | default (include "salescompass-lib.dbAppRole" .)) "passwordVar" "SC_DB_PASSWORD") | quote }}
{{- end }}
{{- if $svc.rabbitmq.enabled }}
{{- $mq := $root.Values.rabbitmq }}
- name: SC_AMQP_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $svc.rabbitmq.existingSecret | default $mq.existingSecret }}
      key: {{ $mq.usernameKey }}
- name: SC_AMQP_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $svc.rabbitmq.existingSecret | default $mq.existingSecret }}
      key: {{ $mq.passwordKey }}
- name: AMQP_URL
  value: {{ include "salescompass-lib.amqpUrl" . | quote }}
{{- end }}
{{- range $name := keys ($svc.secretEnv | default dict) | sortAlpha }}
{{- $ref := get $svc.secretEnv $name }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.secretName }}
      key: {{ $ref.key }}
{{- end }}
{{- with $svc.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
SALESCOMPASS_CPUS from the container's own CPU limit, else its request (the downward API rounds up
to whole CPUs): the service sizes its worker threads, the gateway its upstream connections and
tenants its 19 MiB password-hashing threads from it. Without a limit the cgroup has no quota, and
the node's cores would be used instead. Call with the container's resources.
*/}}
{{- define "salescompass-lib.cpuEnv" -}}
{{- $resource := "" -}}
{{- if (.limits | default dict).cpu -}}
{{- $resource = "limits.cpu" -}}
{{- else if (.requests | default dict).cpu -}}
{{- $resource = "requests.cpu" -}}
{{- end -}}
{{- if $resource }}
- name: SALESCOMPASS_CPUS
  valueFrom:
    resourceFieldRef:
      resource: {{ $resource }}
      divisor: "1"
{{- end }}
{{- end -}}

{{/* The owner connection for `<service> migrate`, only ever given to the migrate Job. */}}
{{- define "salescompass-lib.migrateEnv" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- $secret := $svc.database.migratorSecret | default $root.Values.postgres.migrator.existingSecret }}
- name: SC_DB_MIGRATE_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $root.Values.postgres.migrator.usernameKey }}
- name: SC_DB_MIGRATE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $root.Values.postgres.migrator.passwordKey }}
- name: SALESCOMPASS__DATABASE__MIGRATE_URL
  value: {{ include "salescompass-lib.postgresUrl" (dict "root" $root "user" "$(SC_DB_MIGRATE_USERNAME)" "passwordVar" "SC_DB_MIGRATE_PASSWORD") | quote }}
{{- end -}}

{{- define "salescompass-lib.configmap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .fullname }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "salescompass-lib.labels" . | nindent 4 }}
data:
  {{- include "salescompass-lib.configEnv" . | nindent 2 }}
{{- end -}}
