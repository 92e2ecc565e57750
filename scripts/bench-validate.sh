#!/usr/bin/env bash
# Benchmark `ferry validate` on generated repositories of many manifests: the working tree
# against `--rev HEAD` (the same files read from the git object database).
#
#   scripts/bench-validate.sh [COUNT...]                # default: 2000 10000 manifests
#   RUNS=5 scripts/bench-validate.sh 2000               # best of 5 runs (default 3)
#   FERRY_BIN=path/to/ferry scripts/bench-validate.sh   # skip the build, use this binary
#
# Builds the release binary, then for each COUNT generates COUNT manifests (70%
# SmartConnectors with a SQL file each, a shared reference CSV and per-tenant ${vars}; 20%
# Agent Studio plugins with an actions JSON file; 10% Productsup CDE connectors) in a git
# repository under a temporary directory, commits them, and measures
#
#   - `ferry validate` of the working tree and `ferry validate --rev HEAD`: wall seconds,
#     CPU seconds (user + system of the ferry process), peak resident memory, each the
#     best of RUNS runs after a warm-up run, and the ratio of the two CPU figures;
#   - with strace installed, the system calls of one working-tree run per file of the
#     manifests folder (statx, openat, read, getdents64 and all together).
#
# A benchmark, not a test: it asserts nothing about time.
set -euo pipefail

counts=("$@")
[[ ${#counts[@]} -gt 0 ]] || counts=(2000 10000)
runs="${RUNS:-3}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [[ -n "${FERRY_BIN:-}" ]]; then
  ferry="$FERRY_BIN"
else
  echo "building release binary..." >&2
  cargo build --release --quiet --manifest-path "$root/Cargo.toml"
  ferry="${CARGO_TARGET_DIR:-$root/target}/release/ferry"
fi

# generate DIR COUNT: a committed repository of COUNT manifests and their ferry.yaml.
generate() {
  local repo="$1" count="$2"
  mkdir -p "$repo/connectors/sql" "$repo/connectors/actions" "$repo/connectors/ref"
  cat > "$repo/ferry.yaml" <<'YAML'
source: { repo: ., path: connectors }
tenants:
  - { name: sandbox, platform: kizen, url: emulator, vars: { group: "EU Leads (sandbox)", env: sandbox } }
  - { name: prod, platform: kizen, url: emulator, promoteFrom: sandbox, vars: { group: "EU Leads", env: prod } }
  - { name: assistants, platform: agent-studio, url: emulator }
  - { name: feeds, platform: productsup-cde, url: emulator }
YAML
  printf 'code,label\nN,New\nP,Paid\nS,Shipped\n' > "$repo/connectors/ref/status.csv"
  awk -v count="$count" -v dir="$repo/connectors" 'BEGIN {
    for (i = 0; i < count; i++) {
      kind = i % 10
      file = sprintf("%s/m%05d.yaml", dir, i)
      if (kind < 7) {
        printf "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata:\n  name: orders-%d\n  labels: { tier: core }\nspec:\n  name: Orders %d (${env})\n  apiName: orders_%d\n  type: spreadsheet\n  liveSql: sql/orders-%d.sql\n  referenceData: ref/status.csv\n  references:\n    agenticWorkflows: [Lead Router]\n    filterGroups: [\"${group}\"]\n    fieldMappings: [contacts.email, orders.total]\n", i, i, i, i > file
        printf "-- connector %d\nSELECT toUInt64(order_id) AS order_id, lowerUTF8(email) AS email, toDecimal64(total, 2) AS total\nFROM source_rows\nWHERE isNotNull(order_id) AND shard = %d\n", i, i % 16 > (dir "/sql/orders-" i ".sql")
        close(dir "/sql/orders-" i ".sql")
      } else if (kind < 9) {
        printf "apiVersion: ferry/v1\nkind: Plugin\nmetadata:\n  name: plugin-%d\nspec:\n  name: Plugin %d\n  description: Generated plugin %d\n  state: published\n  trigger: conversational\n  connectors: [Workday]\n  actions: actions/plugin-%d.json\n", i, i, i, i > file
        printf "[{\"name\": \"action_%d\", \"request\": {\"method\": \"GET\", \"url\": \"https://api.example.com/v1/items/%d\", \"headers\": {\"Authorization\": \"Bearer {{secret:API_TOKEN}}\", \"Accept\": \"application/json\"}}}]\n", i, i > (dir "/actions/plugin-" i ".json")
        close(dir "/actions/plugin-" i ".json")
      } else {
        printf "apiVersion: ferry/v1\nkind: CdeConnector\nmetadata:\n  name: feed-%d\nspec:\n  name: Feed %d\n  type: datasource\n  config:\n    execution: { execution-mode: as-env-variables }\n    secret-registrations: [{ vault_secret: amazon/seller }]\n    application: { command: php, arguments: app.php import, health-check: --help }\n    vcs: { authorization: public, url: https://github.com/acme/feed-%d.git, branch: main }\n", i, i, i > file
      }
      close(file)
    }
  }'
  (
    cd "$repo"
    git init -q -b main
    git -c user.name=bench -c user.email=bench@example.com add -A
    git -c user.name=bench -c user.email=bench@example.com commit -q -m "$count manifests"
  )
}

# timed OUT CMD...: run CMD, then write "wall user system peak-RSS-KiB" to OUT, from the
# rusage wait4 returns (what /usr/bin/time -v prints, with milliseconds of CPU instead of
# hundredths: a no-op run of a few hundred milliseconds needs them).
timed() {
  local out="$1"
  shift
  python3 - "$out" "$@" <<'PY'
import os, subprocess, sys, time
start = time.monotonic()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{time.monotonic() - start:.3f} {usage.ru_utime:.4f} {usage.ru_stime:.4f} {usage.ru_maxrss}\n")
sys.exit(os.waitstatus_to_exitcode(status))
PY
}

# measure LABEL ARGS...: best of $runs runs (by CPU) after a warm-up; prints the figures
# and leaves the best CPU seconds in $best_cpu.
measure() {
  local label="$1"
  shift
  "$ferry" validate "$@" >/dev/null
  local best="" line
  for _ in $(seq 1 "$runs"); do
    timed "$work/time.txt" "$ferry" validate "$@" >/dev/null
    read -r wall user sys rss < <(tail -n 1 "$work/time.txt")
    line="$(awk -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" \
      'BEGIN { printf "%.3f %.2f %d", u + s, w, r / 1024 }')"
    if [[ -z "$best" ]] || awk -v a="${line%% *}" -v b="${best%% *}" 'BEGIN { exit !(a < b) }'; then
      best="$line"
    fi
  done
  read -r best_cpu wall rss <<<"$best"
  printf '  %-26s CPU %7.3fs  wall %6.2fs  peak RSS %4d MB\n' "$label" "$best_cpu" "$wall" "$rss"
}

for count in "${counts[@]}"; do
  repo="$work/repo-$count"
  echo "generating $count manifests in $repo..." >&2
  generate "$repo" "$count"
  files="$(find "$repo/connectors" -type f | wc -l)"
  echo
  echo "manifests: $count ($files files in the manifests folder), best of $runs runs"
  measure "working tree" --config "$repo/ferry.yaml"
  tree_cpu="$best_cpu"
  measure "--rev HEAD" --config "$repo/ferry.yaml" --rev HEAD
  rev_cpu="$best_cpu"
  awk -v r="$rev_cpu" -v t="$tree_cpu" \
    'BEGIN { printf "  --rev HEAD / working tree CPU: %.2fx\n", (t > 0 ? r / t : 0) }'
  if command -v strace >/dev/null; then
    strace -f -c -o "$work/strace.txt" "$ferry" validate --config "$repo/ferry.yaml" >/dev/null
    awk -v files="$files" '
      { n[$NF] = $4 }
      END {
        printf "  system calls per file (working tree):"
        split("statx newfstatat openat read getdents64 close", names, " ")
        for (i = 1; i <= 6; i++) if (names[i] in n) printf " %s %.2f,", names[i], n[names[i]] / files
        printf " all %.2f\n", n["total"] / files
      }' "$work/strace.txt"
  fi
  rm -rf "$repo"
done
