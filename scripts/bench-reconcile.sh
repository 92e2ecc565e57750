#!/usr/bin/env bash
# Benchmark plan and apply: COUNT SmartConnectors applied to three Kizen tenants served by a
# `ferry emulator` process on a loopback port.
#
#   scripts/bench-reconcile.sh [COUNT]                  # default 1000 connectors per tenant
#   FERRY_BIN=path/to/ferry scripts/bench-reconcile.sh  # skip the build, use this binary
#
# Builds the release binary, generates a git repository of COUNT manifests (one SQL file,
# a reference CSV and a sample CSV each), a seed and a ferry.yaml with three tenants, and
# measures, each with the emulator's request counters (GET /_emulator/requests) reset
# first:
#
#   1. the first `ferry apply --auto-approve` into the three empty tenants;
#   2. a no-op `ferry plan` (the aim: one logical list call per tenant, no export);
#   3. `ferry plan` after one SQL file changed (one export, one catalog look-up);
#   4. `ferry apply` of that change (one replace);
#   5. `ferry export` of one tenant (one list call, one export per object).
#
# For each: wall-clock seconds, ferry's own CPU seconds (user + system of the ferry
# process; the emulator runs in its own process), peak resident memory, and the API
# requests per tenant by route. A benchmark, not a test: it asserts nothing about time.
# Needs curl and jq.
set -euo pipefail

count="${1:-1000}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
emulator_pid=""
cleanup() {
  if [[ -n "$emulator_pid" ]]; then kill "$emulator_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "bench-reconcile: $tool is required" >&2; exit 64; }
done

if [[ -n "${FERRY_BIN:-}" ]]; then
  ferry="$FERRY_BIN"
else
  echo "building release binary..." >&2
  cargo build --release --quiet --manifest-path "$root/Cargo.toml"
  ferry="${CARGO_TARGET_DIR:-$root/target}/release/ferry"
fi

tenants=(sandbox staging prod)
repo="$work/repo"
mkdir -p "$repo/connectors/sql" "$repo/connectors/ref" "$repo/connectors/samples"

echo "generating $count manifests in $repo..." >&2
awk -v count="$count" -v dir="$repo/connectors" 'BEGIN {
  for (i = 0; i < count; i++) {
    file = sprintf("%s/c%05d.yaml", dir, i)
    printf "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata:\n  name: orders-%d\n  labels: { tier: core }\nspec:\n  name: Orders %d\n  apiName: orders_%d\n  type: spreadsheet\n  liveSql: sql/orders-%d.sql\n  referenceData: ref/orders-%d.csv\n  sampleFile: samples/orders-%d.csv\n  references:\n    agenticWorkflows: [Lead Router]\n    filterGroups: [EU Leads]\n    fieldMappings: [contacts.email, orders.total]\n", i, i, i, i, i, i > file
    close(file)
    sql = dir "/sql/orders-" i ".sql"
    printf "-- connector %d\nSELECT toUInt64(order_id) AS order_id, lowerUTF8(email) AS email, toDecimal64(total, 2) AS total\nFROM source_rows\nWHERE isNotNull(order_id) AND shard = %d\n", i, i % 16 > sql
    close(sql)
    ref = dir "/ref/orders-" i ".csv"
    printf "code,label\nN,New\nP,Paid\nS,Shipped %d\n", i > ref
    close(ref)
    sample = dir "/samples/orders-" i ".csv"
    printf "order_id,total\n%d,19.99\n%d,5.00\n", i * 2, i * 2 + 1 > sample
    close(sample)
  }
}'
(
  cd "$repo"
  git init -q -b main
  git -c user.name=bench -c user.email=bench@example.com add -A
  git -c user.name=bench -c user.email=bench@example.com commit -q -m "$count connectors"
)

{
  echo "tenants:"
  for t in "${tenants[@]}"; do
    cat <<YAML
  - name: $t
    platform: kizen
    region: us-west
    business: acme
    token: $t-token
    catalog:
      agenticWorkflows: [Lead Router]
      filterGroups: [EU Leads]
      fields: [contacts.email, orders.total]
YAML
  done
} > "$work/seed.yaml"

echo "starting the emulator..." >&2
"$ferry" emulator --listen 127.0.0.1:0 --seed "$work/seed.yaml" > "$work/emulator.out" 2> "$work/emulator.err" &
emulator_pid=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$work/emulator.out" 2>/dev/null && break
  sleep 0.05
done
url="$(sed -n 's/^ferry emulator listening on //p' "$work/emulator.out")"
[[ -n "$url" ]] || { echo "bench-reconcile: the emulator did not start" >&2; cat "$work/emulator.err" >&2; exit 1; }

{
  printf 'source: { repo: ./repo, path: connectors }\nstate: state/state.db\ntenants:\n'
  for t in "${tenants[@]}"; do
    printf '  - { name: %s, platform: kizen, url: %s/tenants/%s, region: us-west, business: acme, auth: { tokenEnv: TOKEN_%s } }\n' \
      "$t" "$url" "$t" "${t^^}"
  done
} > "$work/ferry.yaml"
for t in "${tenants[@]}"; do export "TOKEN_${t^^}=$t-token"; done

# run LABEL EXPECTED_EXIT ARGS...: one measured ferry run with the request counters reset.
run() {
  local label="$1" expected="$2"
  shift 2
  curl -fsS -X DELETE "$url/_emulator/requests" >/dev/null
  local code=0
  /usr/bin/time -f '%e %U %S %M' -o "$work/time.txt" \
    "$ferry" "$@" --config "$work/ferry.yaml" > "$work/out.txt" 2> "$work/err.txt" < /dev/null || code=$?
  if [[ "$code" != "$expected" ]]; then
    echo "bench-reconcile: $label exited $code, expected $expected" >&2
    tail -20 "$work/out.txt" "$work/err.txt" >&2
    exit 1
  fi
  read -r wall user sys rss < <(tail -n 1 "$work/time.txt")
  local cpu
  cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')"
  printf '\n%s\n  wall %ss, ferry CPU %ss, peak RSS %d MB, exit %s\n' "$label" "$wall" "$cpu" "$((rss / 1024))" "$code"
  curl -fsS "$url/_emulator/requests" | jq -r '
    .tenants | to_entries[] |
    "  \(.key): \(.value.total) requests (" +
    ([.value.routes | to_entries[] | "\(.key) \(.value)"] | join(", ")) + ")"'
}

echo "connectors: $count per tenant, tenants: ${#tenants[@]}, emulator at $url"
run "first apply (${#tenants[@]} x $count creates)" 0 apply --auto-approve
run "no-op plan" 0 plan
run "no-op plan (again, warm)" 0 plan
sed -i 's/shard = /shard <> /' "$repo/connectors/sql/orders-7.sql"
(cd "$repo" && git -c user.name=bench -c user.email=bench@example.com commit -q -am "orders-7: other shards")
run "plan after one SQL file changed" 2 plan
run "apply of that change (1 replace per tenant)" 0 apply --auto-approve
run "no-op plan after the change" 0 plan
run "export of one tenant ($count objects: one list, one export each)" 0 export --tenant sandbox --out "$work/exported"
