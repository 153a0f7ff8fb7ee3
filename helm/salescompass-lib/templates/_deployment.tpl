{{/* Container ports of a service: gRPC and/or REST, and always the admin port. */}}
{{- define "salescompass-lib.containerPorts" -}}
{{- if .svc.grpc.enabled }}
- name: grpc
  containerPort: {{ .svc.grpc.port }}
  protocol: TCP
{{- end }}
{{- if .svc.http.enabled }}
- name: http
  containerPort: {{ .svc.http.port }}
  protocol: TCP
{{- end }}
- name: admin
  containerPort: {{ .svc.adminPort }}
  protocol: TCP
{{- end -}}

{{/*
Probes: startup and liveness on the admin port's /healthz; readiness on the gRPC health service
(grpc.health.v1) when the service speaks gRPC, else on the admin port's /readyz (the gateway).
*/}}
{{- define "salescompass-lib.probes" -}}
{{- $p := .svc.probes -}}
startupProbe:
  httpGet:
    path: /healthz
    port: admin
  periodSeconds: {{ $p.startup.periodSeconds }}
  timeoutSeconds: {{ $p.startup.timeoutSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
livenessProbe:
  httpGet:
    path: /healthz
    port: admin
  periodSeconds: {{ $p.liveness.periodSeconds }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
readinessProbe:
  {{- if .svc.grpc.enabled }}
  grpc:
    port: {{ .svc.grpc.port }}
    service: ""
  {{- else }}
  httpGet:
    path: /readyz
    port: admin
  {{- end }}
  periodSeconds: {{ $p.readiness.periodSeconds }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
{{- end -}}

{{/* Pod-level settings shared by the Deployment and the migrate Job. */}}
{{- define "salescompass-lib.podCommon" -}}
{{- $root := .root -}}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with (concat ($root.Values.imagePullSecrets | default list) (.svc.imagePullSecrets | default list)) }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .svc.podSecurityContext | nindent 2 }}
{{- with .svc.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .svc.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .svc.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "salescompass-lib.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .svc.tmpSizeLimit }}
{{- with .svc.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "salescompass-lib.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- with .svc.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Default topology spread: across zones and nodes, best effort so small clusters still schedule. */}}
{{- define "salescompass-lib.topologySpread" -}}
{{- if .svc.topologySpreadConstraints -}}
{{ toYaml .svc.topologySpreadConstraints }}
{{- else -}}
{{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
- maxSkew: 1
  topologyKey: {{ $key }}
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "salescompass-lib.selectorLabels" $ | nindent 6 }}
  matchLabelKeys:
    - pod-template-hash
{{- end }}
{{- end -}}
{{- end -}}

{{- define "salescompass-lib.deployment" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- $env := list (include "salescompass-lib.cpuEnv" $svc.resources | trim) (include "salescompass-lib.secretEnv" . | trim) | compact | join "\n" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .fullname }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "salescompass-lib.labels" . | nindent 4 }}
spec:
  {{- if not $svc.autoscaling.enabled }}
  replicas: {{ $svc.replicas }}
  {{- end }}
  revisionHistoryLimit: {{ $svc.revisionHistoryLimit }}
  {{- with $svc.minReadySeconds }}
  minReadySeconds: {{ . }}
  {{- end }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: {{ $svc.rollingUpdate.maxSurge }}
      maxUnavailable: {{ $svc.rollingUpdate.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "salescompass-lib.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "salescompass-lib.labels" . | nindent 8 }}
        {{- with $svc.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include "salescompass-lib.configEnv" . | sha256sum }}
        {{- if $root.Values.metrics.podAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $svc.adminPort | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $svc.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ .fullname }}
      {{- include "salescompass-lib.podCommon" . | nindent 6 }}
      terminationGracePeriodSeconds: {{ include "salescompass-lib.terminationGracePeriodSeconds" . }}
      topologySpreadConstraints:
        {{- include "salescompass-lib.topologySpread" . | nindent 8 }}
      {{- with $svc.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.initContainers }}
      initContainers:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .name }}
          image: {{ include "salescompass-lib.image" (dict "root" $root "image" $svc.image) }}
          imagePullPolicy: {{ include "salescompass-lib.pullPolicy" (dict "root" $root "image" $svc.image) }}
          command:
            - {{ include "salescompass-lib.command" . }}
          args:
            - serve
          ports:
            {{- include "salescompass-lib.containerPorts" . | nindent 12 }}
          envFrom:
            - configMapRef:
                name: {{ .fullname }}
          {{- with $env }}
          env:
            {{- . | nindent 12 }}
          {{- end }}
          {{- include "salescompass-lib.probes" . | nindent 10 }}
          {{- /* Kubernetes 1.30-1.32 refuse a sleep of 0 seconds (PodLifecycleSleepActionAllowZero
          came in 1.33): no hook then, SIGTERM comes at once. */}}
          {{- if gt (int $svc.shutdown.preStopSleepSeconds) 0 }}
          lifecycle:
            preStop:
              # Endpoints and load balancers drop the pod while it still serves; SIGTERM comes after.
              sleep:
                seconds: {{ $svc.shutdown.preStopSleepSeconds }}
          {{- end }}
          resources:
            {{- toYaml $svc.resources | nindent 12 }}
          securityContext:
            {{- toYaml $svc.securityContext | nindent 12 }}
          volumeMounts:
            {{- include "salescompass-lib.volumeMounts" . | nindent 12 }}
        {{- with $svc.extraContainers }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      volumes:
        {{- include "salescompass-lib.volumes" . | nindent 8 }}
{{- end -}}
