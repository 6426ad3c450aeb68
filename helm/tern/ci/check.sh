#!/usr/bin/env bash
# Checks the chart offline: `helm lint --strict` and `helm template` for every value set in
# this directory, each rendering validated against Kubernetes' schemas (kubernetes-validate
# --strict; CRD kinds are checked by kind only), and the value sets under refused/ must make
# `helm lint` fail. HELM names the helm binary (default: helm on PATH). With TERN_CHART_RENDERED
# set to a directory, the tern.toml each value set renders is written there as <set>.toml (the
# chart smoke test runs tern on it).
set -euo pipefail
cd "$(dirname "$0")/.."
helm=${HELM:-helm}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
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
  echo "chart: $name renders $(grep -c '^kind:' "$out/$name.yaml") objects, lint and schemas pass"
done
for values in ci/refused/*-values.yaml; do
  name=$(basename "$values" -values.yaml)
  if "$helm" lint --strict -f "$values" . >"$out/$name.lint" 2>&1; then
    echo "chart: $name should be refused by values.schema.json but lint passed" >&2
    exit 1
  fi
  echo "chart: $name refused: $(grep -m1 -o 'values don.t meet.*\|at .*' "$out/$name.lint" | head -c 160)"
done
