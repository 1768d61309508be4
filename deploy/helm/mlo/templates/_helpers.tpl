{{/* The release's base name, at most 40 characters so that "<name>-orchestrator" fits 63. */}}
{{- define "mlo.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mlo.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels of one pool: pass (dict "root" $ "pool" "cpu"). */}}
{{- define "mlo.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .pool }}
{{- end -}}

{{- define "mlo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mlo.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: name the existing ServiceAccount the pods run as (serviceAccount.create is false)" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image of a pool (or "cli"): pass (dict "root" $ "pool" "cpu"). A digest wins over the tag. */}}
{{- define "mlo.image" -}}
{{- $img := .root.Values.image -}}
{{- $repo := printf "%s%s" $img.repositoryPrefix .pool -}}
{{- if $img.registry }}{{ $repo = printf "%s/%s" (trimSuffix "/" $img.registry) $repo }}{{ end -}}
{{- $digest := get ($img.digests | default dict) .pool -}}
{{- if $digest -}}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" $digest) -}}
{{- fail (printf "image.digests.%s is %q: a digest is sha256: and 64 hex digits (docker buildx imagetools inspect <image>)" .pool $digest) -}}
{{- end -}}
{{- printf "%s@%s" $repo $digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion $img.tag) -}}
{{- end -}}
{{- end -}}

{{/* Whole seconds of a duration as mlo reads it (lib/core/duration.ts: one number and a unit, e.g. 30s, 2m). */}}
{{- define "mlo.seconds" -}}
{{- $d := toString . -}}
{{- if not (regexMatch "^[0-9]+(ms|s|m|h|d|w)$" $d) -}}
{{- fail (printf "%q is not a duration mlo reads: a whole number and one of ms, s, m, h, d, w (e.g. 30s)" $d) -}}
{{- end -}}
{{- $n := float64 (regexFind "^[0-9]+" $d) -}}
{{- $u := regexFind "[a-z]+$" $d -}}
{{- $per := get (dict "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 "d" 86400.0 "w" 604800.0) $u -}}
{{- ceil (mulf $n $per) -}}
{{- end -}}
