#!/usr/bin/env bash
# Benchmark `ferry validate` on a generated repository of many manifests.
#
#   scripts/bench-validate.sh [COUNT]        # default 10000 manifests
#   FERRY_BIN=path/to/ferry scripts/bench-validate.sh   # skip the build, use this binary
#
# Builds the release binary, generates COUNT manifests (70% SmartConnectors with a SQL file
# each, a shared reference CSV and per-tenant ${vars}; 20% Agent Studio plugins with an
# actions JSON file; 10% Productsup CDE connectors) under a temporary directory, and runs
# `ferry validate` once to warm the file cache and once measured with /usr/bin/time -v.
# Prints elapsed seconds and peak resident memory. A benchmark, not a test: it asserts
# nothing about time.
set -euo pipefail

count="${1:-10000}"
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

repo="$work/repo"
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

echo "generating $count manifests in $repo..." >&2
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

echo "warm-up run..." >&2
"$ferry" validate --config "$repo/ferry.yaml" >/dev/null

echo "measured run:" >&2
/usr/bin/time -v "$ferry" validate --config "$repo/ferry.yaml" 2> "$work/time.txt"
elapsed="$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")"
rss_kb="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")"
seconds="$(awk -v t="$elapsed" 'BEGIN { n = split(t, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }')"
echo "manifests: $count  elapsed: ${seconds}s  peak RSS: $((rss_kb / 1024)) MB"
