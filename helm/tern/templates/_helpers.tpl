{{/* Names and labels shared by the templates. */}}

{{- define "tern.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tern.headless" -}}
{{- printf "%s-raft" (include "tern.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tern.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tern.labels" -}}
{{ include "tern.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "tern.tlsSecret" -}}
{{- if .Values.tls.existingSecret -}}
{{- .Values.tls.existingSecret -}}
{{- else if .Values.tls.certManager.enabled -}}
{{- printf "%s-tls" (include "tern.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "tern.adminSecret" -}}
{{- default (printf "%s-admin" (include "tern.fullname" .)) .Values.adminToken.existingSecret -}}
{{- end -}}

{{- define "tern.clustered" -}}
{{- if ne .Values.store.backend "embedded" }}true{{ end -}}
{{- end -}}

{{/* The cluster ports of every pod, for cluster.join. */}}
{{- define "tern.join" -}}
{{- $name := include "tern.fullname" . -}}
{{- $svc := include "tern.headless" . -}}
{{- $ns := .Release.Namespace -}}
{{- $peers := list -}}
{{- range $i := until (int .Values.replicaCount) -}}
{{- $peers = append $peers (printf "%s-%d.%s.%s.svc:7000" $name $i $svc $ns) -}}
{{- end -}}
{{- join "," $peers -}}
{{- end -}}

{{/* The ConfigMap holding the FoundationDB cluster file. */}}
{{- define "tern.fdbConfigMap" -}}
{{- if .Values.store.fdb.createCluster -}}
{{- printf "%s-fdb-config" (include "tern.fullname" .) -}}
{{- else -}}
{{- .Values.store.fdb.clusterFileConfigMap -}}
{{- end -}}
{{- end -}}

{{/* The image libfdb_c.so is copied from: the FoundationDB server image of the cluster's version. */}}
{{- define "tern.fdbClientImage" -}}
{{- default (printf "foundationdb/foundationdb:%s" .Values.store.fdb.cluster.version) .Values.store.fdb.clientImage -}}
{{- end -}}
