{{/*
Every define is namespaced pinterest-pipeline.<component>.<thing>. Object names are
<release>-<component>, the way Airflow's chart names them, so that release `pinpipe`
gives the names of DESIGN.md (pinpipe-kafka-bootstrap, pinpipe-pg-rw, pinpipe-minio).
*/}}

{{/* Labels of every object; call with (dict "root" $ "component" "api"). */}}
{{- define "pinterest-pipeline.common.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "pinterest-pipeline.common.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: pinpipe
{{- end }}

{{/* The labels a selector matches; call with (dict "root" $ "component" "api"). */}}
{{- define "pinterest-pipeline.common.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* repository:tag of one of .Values.images; call with (dict "root" $ "image" "python"). */}}
{{- define "pinterest-pipeline.common.image" -}}
{{- $image := index .root.Values.images .image -}}
{{ printf "%s:%s" $image.repository $image.tag }}
{{- end }}

{{- define "pinterest-pipeline.common.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end }}

{{/* Pods run as the unprivileged user the images create (uid 10001). */}}
{{- define "pinterest-pipeline.common.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "pinterest-pipeline.common.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: {{ .Values.readOnlyRootFilesystem }}
capabilities:
  drop: [ALL]
{{- end }}

{{/* ---- Kafka ---- */}}

{{- define "pinterest-pipeline.kafka.clusterName" -}}
{{ .Release.Name }}
{{- end }}

{{- define "pinterest-pipeline.kafka.bootstrapServers" -}}
{{- if .Values.kafka.enabled -}}
{{ printf "%s-kafka-bootstrap:9092" (include "pinterest-pipeline.kafka.clusterName" .) }}
{{- else -}}
{{ .Values.kafka.externalBootstrapServers }}
{{- end }}
{{- end }}

{{- define "pinterest-pipeline.kafka.storage" -}}
type: {{ .type }}
{{- if eq .type "persistent-claim" }}
size: {{ .size }}
deleteClaim: true
{{- with .storageClass }}
class: {{ . }}
{{- end }}
{{- end }}
{{- end }}

{{- define "pinterest-pipeline.kafka.env" -}}
- name: PINPIPE_KAFKA_BOOTSTRAP_SERVERS
  value: {{ include "pinterest-pipeline.kafka.bootstrapServers" . | quote }}
- name: PINPIPE_KAFKA_TOPIC_PARTITIONS
  value: {{ .Values.kafka.topics.partitions | quote }}
{{- end }}

{{/* ---- S3 (MinIO) ---- */}}

{{- define "pinterest-pipeline.minio.name" -}}
{{ .Release.Name }}-minio
{{- end }}

{{- define "pinterest-pipeline.s3.endpoint" -}}
{{- if .Values.minio.enabled -}}
http://{{ include "pinterest-pipeline.minio.name" . }}:9000
{{- else -}}
{{ .Values.s3.externalEndpoint }}
{{- end }}
{{- end }}

{{- define "pinterest-pipeline.s3.secretName" -}}
{{ .Values.s3.existingSecret | default (include "pinterest-pipeline.minio.name" .) }}
{{- end }}

{{- define "pinterest-pipeline.s3.env" -}}
- name: PINPIPE_S3_ENDPOINT
  value: {{ include "pinterest-pipeline.s3.endpoint" . | quote }}
- name: PINPIPE_S3_REGION
  value: {{ .Values.s3.region | quote }}
- name: PINPIPE_S3_RAW_BUCKET
  value: {{ .Values.s3.buckets.raw | quote }}
- name: PINPIPE_S3_CURATED_BUCKET
  value: {{ .Values.s3.buckets.curated | quote }}
- name: PINPIPE_S3_CHECKPOINTS_BUCKET
  value: {{ .Values.s3.buckets.checkpoints | quote }}
- name: PINPIPE_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "pinterest-pipeline.s3.secretName" . }}
      key: accessKey
- name: PINPIPE_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "pinterest-pipeline.s3.secretName" . }}
      key: secretKey
{{- end }}

{{/* ---- Postgres ---- */}}

{{- define "pinterest-pipeline.postgres.clusterName" -}}
{{ .Release.Name }}-pg
{{- end }}

{{- define "pinterest-pipeline.postgres.host" -}}
{{- if .Values.postgres.enabled -}}
{{ include "pinterest-pipeline.postgres.clusterName" . }}-rw
{{- else -}}
{{ .Values.postgres.externalHost }}
{{- end }}
{{- end }}

{{- define "pinterest-pipeline.postgres.port" -}}
{{ ternary 5432 .Values.postgres.externalPort .Values.postgres.enabled }}
{{- end }}

{{/* CloudNativePG names the owner's generated Secret <cluster>-app. */}}
{{- define "pinterest-pipeline.postgres.secretName" -}}
{{ .Values.postgres.existingSecret | default (printf "%s-app" (include "pinterest-pipeline.postgres.clusterName" .)) }}
{{- end }}

{{- define "pinterest-pipeline.postgres.env" -}}
- name: PINPIPE_PG_HOST
  value: {{ include "pinterest-pipeline.postgres.host" . | quote }}
- name: PINPIPE_PG_PORT
  value: {{ include "pinterest-pipeline.postgres.port" . | quote }}
- name: PINPIPE_PG_DATABASE
  value: {{ .Values.postgres.database | quote }}
- name: PINPIPE_PG_USER
  value: {{ .Values.postgres.owner | quote }}
- name: PINPIPE_PG_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "pinterest-pipeline.postgres.secretName" . }}
      key: password
{{- end }}

{{/* ---- API ---- */}}

{{- define "pinterest-pipeline.api.name" -}}
{{ .Release.Name }}-api
{{- end }}

{{- define "pinterest-pipeline.api.url" -}}
http://{{ include "pinterest-pipeline.api.name" . }}:{{ .Values.api.service.port }}
{{- end }}

{{/* ---- Scripts (files/) shared by the bucket Job and the helm test ---- */}}

{{- define "pinterest-pipeline.scripts.name" -}}
{{ .Release.Name }}-scripts
{{- end }}

{{/* Volumes every pod of the services image needs: a writable /tmp on a read-only root. */}}
{{- define "pinterest-pipeline.common.tmpVolume" -}}
- name: tmp
  emptyDir: {}
{{- end }}

{{- define "pinterest-pipeline.common.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}
