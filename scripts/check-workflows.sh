#!/usr/bin/env bash
# Checks what runs on GitHub and in pre-commit:
#
# 1. actionlint (with shellcheck for `run:` scripts) on .github/workflows and on a
#    pull-request workflow using this repository's action (`uses: ./`), so the action's
#    inputs are checked; an input typo must be refused.
# 2. shellcheck on action.yml's own scripts, then the action run step by step as the
#    runner would (scripts/action_harness.py) on the quickstart with a stub `gh`: one
#    comment, found again by its hidden marker and updated in place.
# 3. The pre-commit hooks with pre-commit itself, on a copy of the quickstart: a valid
#    tree passes, a broken manifest fails naming file:line:column.
#
# Steps 2 and 3 use target/debug/ferry (`cargo build`; after `cargo test` it is there).
# Tools are installed once and cached under target/ci-tools.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/tools.sh
tools_venv
tools_apt shellcheck || echo "check-workflows: without shellcheck, run: scripts are not checked" >&2

out=target/workflow-check
rm -rf "$out"
mkdir -p "$out"

echo "== actionlint ($("$TOOLS_VENV/bin/actionlint" -version | head -n 1))"
# A pull-request workflow using the action as users do, with every input.
mkdir -p "$out/.github/workflows"
cat > "$out/.github/workflows/plan.yml" <<'YAML'
name: plan
on: pull_request
permissions:
  contents: read
  pull-requests: write
jobs:
  plan:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v6
      - id: ferry
        uses: ./
        with:
          config: examples/quickstart/ferry.yaml
          tenants: sandbox prod
          state: ""
          install: cargo
          version: ""
          comment: "true"
          fail-on-changes: "false"
          github-token: ${{ github.token }}
      - run: echo "plan exit ${{ steps.ferry.outputs.exit-code }}, comment ${{ steps.ferry.outputs.comment-id }}"
YAML
cp action.yml "$out/action.yml"
"$TOOLS_VENV/bin/actionlint" -color=false .github/workflows/*.yml
(cd "$out" && "$TOOLS_VENV/bin/actionlint" -color=false .github/workflows/plan.yml)
# And a typo must be caught: an input the action does not have.
sed 's/fail-on-changes:/fail-on-change:/' "$out/.github/workflows/plan.yml" > "$out/typo.yml"
mv "$out/typo.yml" "$out/.github/workflows/plan.yml"
if (cd "$out" && "$TOOLS_VENV/bin/actionlint" -color=false .github/workflows/plan.yml) > "$out/typo.log" 2>&1; then
  echo "check-workflows: actionlint accepted an input the action does not have" >&2
  exit 1
fi
echo "refused a typo: $(grep -o 'input "fail-on-change" is not defined in action "[^"]*"' "$out/typo.log" | head -n 1)"
echo "actionlint: ok"

echo "== shellcheck on action.yml's run: scripts (actionlint reads only its inputs)"
"$TOOLS_VENV/bin/python" - "$out" <<'PY'
import pathlib, re, sys, yaml
out = pathlib.Path(sys.argv[1])
action = yaml.safe_load(open("action.yml"))
for i, step in enumerate(action["runs"]["steps"]):
    if "run" in step:
        # An expression becomes a plain word, as the runner substitutes it before bash runs.
        body = re.sub(r"\$\{\{[^}]*\}\}", "EXPR", step["run"])
        (out / f"action-step-{i}.sh").write_text("#!/usr/bin/env bash\n" + body)
PY
if command -v shellcheck > /dev/null; then
  shellcheck -s bash "$out"/action-step-*.sh
  echo "shellcheck: $(ls "$out"/action-step-*.sh | wc -l) scripts clean"
fi

echo "== the action, run step by step on the quickstart (stub gh)"
cargo build --locked --quiet --bin ferry
export PATH="$PWD/target/debug:$PATH"
git clone -q --no-local . "$out/workspace"
"$TOOLS_VENV/bin/python" scripts/action_harness.py "$out/workspace" "$out/action"

echo "== pre-commit hooks"
hooks=$out/hooks-repo
mkdir -p "$hooks"
cp -r examples/quickstart/connectors examples/quickstart/emulator-seed.yaml "$hooks/"
sed -e 's#^  repo: \.\./\.\..*#  repo: .#' -e 's#^  path: examples/quickstart/connectors.*#  path: connectors#' \
  examples/quickstart/ferry.yaml > "$hooks/ferry.yaml"
cat > "$hooks/.pre-commit-config.yaml" <<YAML
repos:
  - repo: $PWD
    rev: $(git rev-parse HEAD)
    hooks:
      - id: ferry-validate-system
        args: [--config, ferry.yaml]
YAML
export PRE_COMMIT_HOME=$TOOLS_DIR/pre-commit
(
  cd "$hooks"
  git init -q -b main && git add -A && git -c user.name=ci -c user.email=ci@localhost commit -qm manifests
  "$TOOLS_VENV/bin/pre-commit" run --all-files
  sed -i 's/^kind: SmartConnector/kind: SmartConector/' connectors/smart-connectors.yaml
  git add -A
  if "$TOOLS_VENV/bin/pre-commit" run --all-files > ../pre-commit-broken.log 2>&1; then
    echo "check-workflows: the hook passed a broken manifest" >&2
    exit 1
  fi
  grep -m 1 'smart-connectors.yaml:[0-9]*:[0-9]*' ../pre-commit-broken.log | sed 's/^/refused: /'
)
echo "check-workflows: ok"
