#!/usr/bin/env bash
# Checks the chart offline: `helm lint --strict` and `helm template` for every value set in
# this directory, each rendering validated against Kubernetes' schemas (kubernetes-validate
# --strict for built-in kinds; a FoundationDBCluster against the operator's CRD in ci/crds, and
# ServiceMonitor, PrometheusRule and Certificate against theirs through the kubernetes-models
# npm packages, installed here unless TERN_CHART_MODELS names a directory that has them), the
# copy of the alert rules in files/ is the same as ops/alerts', and the value sets under refused/ must make
# `helm lint` fail; checkov scans each rendering, and fails on any finding but the skipped
# ones below (each a decision, see the chart's README). HELM names the helm binary (default: helm on PATH). With TERN_CHART_RENDERED
# set to a directory, the tern.toml each value set renders is written there as <set>.toml (the
# chart smoke test runs tern on it).
set -euo pipefail
cd "$(dirname "$0")/.."
helm=${HELM:-helm}
crd=ci/crds/apps.foundationdb.org_foundationdbclusters.yaml
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cmp files/tern.rules.yml ../../ops/alerts/tern.rules.yml \
  || { echo "chart: files/tern.rules.yml differs from ops/alerts/tern.rules.yml; copy it" >&2; exit 1; }
models=${TERN_CHART_MODELS:-$out/models}
if [ ! -d "$models/node_modules/@kubernetes-models/prometheus-operator" ]; then
  npm install --silent --no-audit --no-fund --prefix "$models" \
    @kubernetes-models/prometheus-operator@6.0.0 @kubernetes-models/cert-manager@6.0.0 \
    kubernetes-models@5.1.0 yaml@2.9.1 >/dev/null
fi
# Node resolves the script's imports from its own directory.
cp ci/validate-crds.mjs "$models/validate-crds.mjs"
for values in ci/*-values.yaml; do
  name=$(basename "$values" -values.yaml)
  "$helm" lint --strict -f "$values" . >"$out/$name.lint" 2>&1 || { cat "$out/$name.lint"; exit 1; }
  "$helm" template tern . -n mail -f "$values" --kube-version 1.30.0 \
    --api-versions monitoring.coreos.com/v1 --api-versions cert-manager.io/v1 >"$out/$name.yaml"
  kubernetes-validate --strict -k 1.30.0 "$out/$name.yaml" >"$out/$name.validate" 2>&1 \
    || { cat "$out/$name.validate"; exit 1; }
  if [ -n "${TERN_CHART_RENDERED:-}" ]; then
    mkdir -p "$TERN_CHART_RENDERED"
    python3 -c 'import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "ConfigMap" and "tern.toml" in d["data"]:
        open(sys.argv[2], "w").write(d["data"]["tern.toml"])' "$out/$name.yaml" "$TERN_CHART_RENDERED/$name.toml"
  fi
  # The FoundationDBCluster against the operator's CRD (v1beta2).
  python3 - "$out/$name.yaml" "$crd" <<'PY' || exit 1
import sys, yaml, jsonschema
crd = yaml.safe_load(open(sys.argv[2]))
schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1beta2")["schema"]["openAPIV3Schema"]
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "FoundationDBCluster":
        errors = list(jsonschema.Draft7Validator(schema).iter_errors(d))
        for e in errors:
            print(f"chart: FoundationDBCluster {d['metadata']['name']}: {e.message} at {list(e.path)}")
        if errors:
            sys.exit(1)
        print(f"chart: FoundationDBCluster {d['metadata']['name']} matches the operator's CRD")
PY
  node "$models/validate-crds.mjs" "$out/$name.yaml"
  # CKV_K8S_11 CPU limits (throttling costs mail latency; requests are set), CKV_K8S_15 pull
  # policy Always and CKV_K8S_43 image digests (the operator's choice of tag or digest),
  # CKV_K8S_35 secrets as files (tern reads the store URL and admin token from the environment).
  if command -v checkov >/dev/null; then
    checkov --framework kubernetes --skip-download --quiet --compact -f "$out/$name.yaml" \
      --skip-check CKV_K8S_11,CKV_K8S_15,CKV_K8S_35,CKV_K8S_43 >"$out/$name.checkov" 2>&1 \
      || { cat "$out/$name.checkov"; exit 1; }
  else
    echo "chart: checkov is not installed" >&2
    exit 1
  fi
  echo "chart: $name renders $(grep -c '^kind:' "$out/$name.yaml") objects, lint and schemas pass;" \
    "checkov: $(grep -m1 -o 'Passed checks.*' "$out/$name.checkov")"
done
for values in ci/refused/*-values.yaml; do
  name=$(basename "$values" -values.yaml)
  if "$helm" lint --strict -f "$values" . >"$out/$name.lint" 2>&1; then
    echo "chart: $name should be refused by values.schema.json but lint passed" >&2
    exit 1
  fi
  echo "chart: $name refused: $(grep -m1 -o 'values don.t meet.*\|at .*' "$out/$name.lint" | head -c 160)"
done
