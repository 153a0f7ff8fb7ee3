{{/*
`helm test`: one Pod per service that asks the service's admin port for /readyz through its
Service, so the test passes only when DNS, the Service, the NetworkPolicy (networkPolicy.adminFrom
must admit the test Pod) and at least one ready pod line up. /readyz answers 200 only once the
service serves (gRPC health SERVING, or the gateway's REST listener up) and not while it drains.
A few attempts cover a pod that is still joining the endpoints right after `helm install --wait`.
*/}}
{{- define "salescompass-lib.testPod" -}}
{{- $root := .root -}}
{{- $tests := $root.Values.tests -}}
{{- $labelCtx := merge (dict "component" "test") . -}}
{{- $url := printf "http://%s:%v/readyz" .fullname .svc.adminPort -}}
apiVersion: v1
kind: Pod
metadata:
  name: {{ include "salescompass-lib.objectName" (list . "test-readyz") }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "salescompass-lib.labels" $labelCtx | nindent 4 }}
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- with (concat ($root.Values.imagePullSecrets | default list) (.svc.imagePullSecrets | default list)) }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .svc.podSecurityContext | nindent 4 }}
  containers:
    - name: readyz
      image: {{ ternary (printf "%s@%s" $tests.image.repository $tests.image.digest) (printf "%s:%s" $tests.image.repository $tests.image.tag) (ne ($tests.image.digest | default "") "") }}
      imagePullPolicy: {{ $tests.image.pullPolicy | default "IfNotPresent" }}
      env:
        - name: READYZ_URL
          value: {{ $url | quote }}
      command:
        - sh
        - -c
        - |
          for attempt in $(seq {{ $tests.attempts }}); do
            if wget -q -T 5 -O /dev/null "$READYZ_URL"; then
              echo "$READYZ_URL: ready"
              exit 0
            fi
            echo "$READYZ_URL: not ready (attempt $attempt)"
            sleep 2
          done
          exit 1
      resources:
        {{- toYaml $tests.resources | nindent 8 }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        runAsNonRoot: true
        capabilities:
          drop:
            - ALL
{{- end -}}
