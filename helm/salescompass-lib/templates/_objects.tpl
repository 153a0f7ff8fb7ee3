{{- define "salescompass-lib.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ .fullname }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "salescompass-lib.labels" . | nindent 4 }}
  {{- with .svc.serviceAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: ClusterIP
  selector:
    {{- include "salescompass-lib.selectorLabels" . | nindent 4 }}
  ports:
    {{- if .svc.grpc.enabled }}
    - name: grpc
      port: {{ .svc.grpc.port }}
      targetPort: grpc
      protocol: TCP
      appProtocol: kubernetes.io/h2c
    {{- end }}
    {{- if .svc.http.enabled }}
    - name: http
      port: {{ .svc.http.port }}
      targetPort: http
      protocol: TCP
      appProtocol: http
    {{- end }}
    - name: admin
      port: {{ .svc.adminPort }}
      targetPort: admin
      protocol: TCP
      appProtocol: http
{{- end -}}

{{- define "salescompass-lib.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .fullname }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "salescompass-lib.labels" . | nindent 4 }}
  {{- with .svc.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
# The services never call the Kubernetes API.
automountServiceAccountToken: false
{{- end -}}

{{- define "salescompass-lib.hpa" -}}
{{- $as := .svc.autoscaling -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ .fullname }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "salescompass-lib.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ .fullname }}
  minReplicas: {{ $as.minReplicas }}
  maxReplicas: {{ $as.maxReplicas }}
  metrics:
    {{- with $as.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
    {{- with $as.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
  {{- with $as.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{- define "salescompass-lib.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .fullname }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "salescompass-lib.labels" . | nindent 4 }}
spec:
  {{- if hasKey .svc.pdb "minAvailable" }}
  minAvailable: {{ .svc.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .svc.pdb.maxUnavailable }}
  {{- end }}
  # Pods that never became ready may be evicted, so a crash-looping rollout cannot block node drains.
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "salescompass-lib.selectorLabels" . | nindent 6 }}
{{- end -}}

{{/*
Default deny for the service's pods, then: gRPC from the release's own pods (the gateway and other
services), REST from `networkPolicy.httpFrom` (default: anywhere, ingress controllers differ), the
admin port from `networkPolicy.adminFrom` (Prometheus); egress to DNS, Postgres, RabbitMQ, the
OTLP collector and the release's gRPC ports. Kubelet probes are not subject to NetworkPolicy.
*/}}
{{- define "salescompass-lib.networkPolicy" -}}
{{- $root := .root -}}
{{- $np := $root.Values.networkPolicy -}}
{{- $svc := .svc -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ .fullname }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "salescompass-lib.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "salescompass-lib.selectorLabels" . | nindent 6 }}
  policyTypes:
    - Ingress
    - Egress
  ingress:
    {{- if $svc.grpc.enabled }}
    - ports:
        - port: grpc
          protocol: TCP
      from:
        - podSelector:
            matchLabels:
              {{- include "salescompass-lib.releasePeerLabels" . | nindent 14 }}
    {{- end }}
    {{- if $svc.http.enabled }}
    - ports:
        - port: http
          protocol: TCP
      {{- with $np.httpFrom }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    - ports:
        - port: admin
          protocol: TCP
      {{- with $np.adminFrom }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- with $svc.networkPolicy.extraIngress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  egress:
    - ports:
        - port: 53
          protocol: UDP
        - port: 53
          protocol: TCP
    - ports:
        - port: {{ $root.Values.serviceDefaults.grpc.port }}
          protocol: TCP
      to:
        - podSelector:
            matchLabels:
              {{- include "salescompass-lib.releasePeerLabels" . | nindent 14 }}
    {{- if $svc.database.enabled }}
    - ports:
        - port: {{ $root.Values.postgres.port }}
          protocol: TCP
      {{- with $np.postgresTo }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- if $svc.rabbitmq.enabled }}
    - ports:
        - port: {{ $root.Values.rabbitmq.port }}
          protocol: TCP
      {{- with $np.rabbitmqTo }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- if $root.Values.telemetry.otlpEndpoint }}
    - ports:
        - port: {{ $np.otlpPort }}
          protocol: TCP
      {{- with $np.otlpTo }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- with $np.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with $svc.networkPolicy.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{- define "salescompass-lib.serviceMonitor" -}}
{{- $sm := .root.Values.metrics.serviceMonitor -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ .fullname }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "salescompass-lib.labels" . | nindent 4 }}
    {{- with $sm.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "salescompass-lib.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: admin
      path: /metrics
      interval: {{ $sm.interval }}
      scrapeTimeout: {{ $sm.scrapeTimeout }}
{{- end -}}

{{- define "salescompass-lib.ingress" -}}
{{- $ing := .svc.ingress -}}
{{- $fullname := .fullname -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ .fullname }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "salescompass-lib.labels" . | nindent 4 }}
  {{- with $ing.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with $ing.className }}
  ingressClassName: {{ . }}
  {{- end }}
  {{- with $ing.tls }}
  tls:
    {{- range . }}
    - secretName: {{ .secretName }}
      hosts:
        {{- toYaml .hosts | nindent 8 }}
    {{- end }}
  {{- end }}
  rules:
    {{- range $ing.hosts }}
    - host: {{ .host | quote }}
      http:
        paths:
          {{- range (.paths | default (list (dict "path" "/" "pathType" "Prefix"))) }}
          - path: {{ .path }}
            pathType: {{ .pathType | default "Prefix" }}
            backend:
              service:
                name: {{ $fullname }}
                port:
                  name: http
          {{- end }}
    {{- end }}
{{- end -}}
