{{/*
`<service> migrate` as a Helm hook: it runs on pre-install and pre-upgrade, i.e. before Helm applies
any Deployment change, and Helm waits for it to complete; if it fails the release fails (and with
--atomic rolls back) while the old pods keep serving. Everything the Job needs must exist before it
runs, so its ServiceAccount is a hook too (lower weight) and its config is inline rather than in the
release's ConfigMap. Secrets come from existing Secrets, or from `createSecrets` (hooks as well).
*/}}
{{- define "salescompass-lib.migrateHookAnnotations" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ . | quote }}
{{- end -}}

{{- define "salescompass-lib.migrateServiceAccount" -}}
{{- $ctx := dict "root" .root "name" .name "fullname" .fullname "svc" .svc "component" "migrate" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "salescompass-lib.objectName" (list . "migrate") }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "salescompass-lib.labels" $ctx | nindent 4 }}
  annotations:
    {{- include "salescompass-lib.migrateHookAnnotations" "-10" | nindent 4 }}
    helm.sh/hook-delete-policy: before-hook-creation
    {{- with .svc.serviceAccount.annotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
automountServiceAccountToken: false
{{- end -}}

{{- define "salescompass-lib.migrateJob" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- $m := $svc.migrate -}}
{{- $ctx := dict "root" .root "name" .name "fullname" .fullname "svc" .svc "component" "migrate" -}}
{{- $image := mergeOverwrite (deepCopy ($svc.image | default dict)) ($m.image | default dict) -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "salescompass-lib.objectName" (list . "migrate") }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "salescompass-lib.labels" $ctx | nindent 4 }}
  annotations:
    {{- include "salescompass-lib.migrateHookAnnotations" "0" | nindent 4 }}
    # A failed Job stays for `kubectl logs` until the next install/upgrade replaces it.
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ $m.backoffLimit }}
  activeDeadlineSeconds: {{ $m.activeDeadlineSeconds }}
  template:
    metadata:
      labels:
        {{- include "salescompass-lib.labels" $ctx | nindent 8 }}
        {{- with $svc.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $svc.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      restartPolicy: Never
      serviceAccountName: {{ include "salescompass-lib.objectName" (list . "migrate") }}
      {{- include "salescompass-lib.podCommon" . | nindent 6 }}
      {{- with $svc.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.initContainers }}
      initContainers:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: migrate
          image: {{ include "salescompass-lib.image" (dict "root" $root "image" $image) }}
          imagePullPolicy: {{ include "salescompass-lib.pullPolicy" (dict "root" $root "image" $image) }}
          command:
            - {{ include "salescompass-lib.command" . }}
          args:
            - migrate
          env:
            {{- $config := include "salescompass-lib.configEnv" . | fromYaml }}
            {{- range $key := keys $config | sortAlpha }}
            - name: {{ $key }}
              value: {{ get $config $key | quote }}
            {{- end }}
            {{- include "salescompass-lib.cpuEnv" $m.resources | trim | nindent 12 }}
            {{- include "salescompass-lib.secretEnv" . | trim | nindent 12 }}
            {{- include "salescompass-lib.migrateEnv" . | trim | nindent 12 }}
          resources:
            {{- toYaml $m.resources | nindent 12 }}
          securityContext:
            {{- toYaml $svc.securityContext | nindent 12 }}
          volumeMounts:
            {{- include "salescompass-lib.volumeMounts" . | nindent 12 }}
      volumes:
        {{- include "salescompass-lib.volumes" . | nindent 8 }}
{{- end -}}
