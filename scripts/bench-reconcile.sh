#!/usr/bin/env bash
# Benchmark plan and apply: COUNT SmartConnectors applied to TENANTS Kizen tenants served
# by a `ferry emulator` process on a loopback port.
#
#   scripts/bench-reconcile.sh [COUNT]                  # default 1000 connectors per tenant
#   TENANTS=100 scripts/bench-reconcile.sh 1000         # default 3 tenants
#   FERRY_BIN=path/to/ferry scripts/bench-reconcile.sh  # skip the build, use this binary
#   FLOOR_BIN=path/to/floor ...                         # the floor benchmark's binary
#
# Builds the release binary and the floor benchmark (`benches/floor.rs`), generates a git
# repository of COUNT manifests (one SQL file, a reference CSV and a sample CSV each), a
# seed and a ferry.yaml with TENANTS tenants (sandbox, staging, prod, then client-004…),
# and measures, each with the emulator's request counters (GET /_emulator/requests) reset
# first:
#
#   1. the first `ferry apply --auto-approve` into the empty tenants;
#   2. a no-op `ferry plan` (the aim: one logical list call per tenant, no export), and the
#      floor it is compared with: reading and hashing every manifest file plus each
#      tenant's list call (`benches/floor.rs`), as the ratio of the two CPU figures;
#   3. a no-op `ferry plan --tenant sandbox` (one tenant's desired state, not every one's);
#   4. a no-op `ferry serve --once`, first with an empty source cache (it clones the
#      repository), then again with the cache (a fetch), as a ratio to the no-op plan's CPU;
#   5. the daemon's start to ready: `ferry serve` until `/readyz` answers 200 (every
#      tenant reconciled once), with its resident memory then;
#   6. `ferry plan` after one SQL file changed (one export, one catalog look-up);
#   7. `ferry apply` of that change (one replace);
#   8. `ferry export` of one tenant (one list call, one export per object);
#   9. the first `ferry apply` of COUNT connectors into one empty tenant of a second
#      emulator that adds LATENCY_MS (default 20) to every request, with the tenant's
#      default `concurrency` (4; CONCURRENCY=n sets it), against its floor: the requests
#      the emulator counted × LATENCY_MS ÷ concurrency; and against the floor as the
#      emulator serves it: the same requests × one request's time measured by a plain
#      client (its timer and HTTP on top of LATENCY_MS) ÷ concurrency.
#
# LATENCY_ONLY=1 runs step 9 alone (and builds no floor benchmark).
#
# For each: wall-clock seconds, ferry's own CPU seconds (user + system of the ferry
# process; the emulator runs in its own process), peak resident memory, and the API
# requests per tenant by route (summed over the tenants beyond three). A benchmark, not a
# test: it asserts nothing about time. Needs curl, jq and python3.
set -euo pipefail

count="${1:-1000}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
emulator_pid=""
serve_pid=""
cleanup() {
  if [[ -n "$serve_pid" ]]; then kill "$serve_pid" 2>/dev/null || true; fi
  if [[ -n "$emulator_pid" ]]; then kill "$emulator_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

for tool in curl jq python3; do
  command -v "$tool" >/dev/null || { echo "bench-reconcile: $tool is required" >&2; exit 64; }
done

if [[ -n "${FERRY_BIN:-}" ]]; then
  ferry="$FERRY_BIN"
else
  echo "building release binary..." >&2
  cargo build --release --quiet --manifest-path "$root/Cargo.toml"
  ferry="${CARGO_TARGET_DIR:-$root/target}/release/ferry"
fi
latency_only="${LATENCY_ONLY:-}"
if [[ -n "$latency_only" ]]; then
  floor=""
elif [[ -n "${FLOOR_BIN:-}" ]]; then
  floor="$FLOOR_BIN"
else
  echo "building the floor benchmark..." >&2
  floor="$(cargo bench --quiet --manifest-path "$root/Cargo.toml" --bench floor --no-run --message-format=json 2>/dev/null |
    jq -r 'select(.executable != null and .target.name == "floor") | .executable' | tail -n 1)"
  [[ -x "$floor" ]] || { echo "bench-reconcile: cannot build benches/floor.rs" >&2; exit 1; }
fi

tenant_count="${TENANTS:-3}"
tenants=(sandbox staging prod)
tenants=("${tenants[@]:0:$tenant_count}")
for i in $(seq 4 "$tenant_count"); do tenants+=("$(printf 'client-%03d' "$i")"); done
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

token_var() { local v="${1^^}"; echo "${v//-/_}"; }
{
  printf 'source: { repo: ./repo, path: connectors }\nstate: state/state.db\ntenants:\n'
  for t in "${tenants[@]}"; do
    printf '  - { name: %s, platform: kizen, url: %s/tenants/%s, region: us-west, business: acme, auth: { tokenEnv: TOKEN_%s } }\n' \
      "$t" "$url" "$t" "$(token_var "$t")"
  done
} > "$work/ferry.yaml"
for t in "${tenants[@]}"; do export "TOKEN_$(token_var "$t")=$t-token"; done

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

# run LABEL EXPECTED_EXIT ARGS...: one measured ferry run with the request counters reset.
run() {
  local label="$1" expected="$2"
  shift 2
  curl -fsS -X DELETE "$url/_emulator/requests" >/dev/null
  local code=0
  timed "$work/time.txt" \
    "$ferry" "$@" --config "$work/ferry.yaml" > "$work/out.txt" 2> "$work/err.txt" < /dev/null || code=$?
  if [[ "$code" != "$expected" ]]; then
    echo "bench-reconcile: $label exited $code, expected $expected" >&2
    tail -20 "$work/out.txt" "$work/err.txt" >&2
    exit 1
  fi
  read -r wall user sys rss < <(tail -n 1 "$work/time.txt")
  local cpu
  cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')"
  last_cpu="$cpu"
  printf '\n%s\n  wall %ss, ferry CPU %ss, peak RSS %d MB, exit %s\n' "$label" "$wall" "$cpu" "$((rss / 1024))" "$code"
  requests
}

# The emulator's request counts since the last reset: per tenant for the first three, and
# summed over the others.
requests() {
  curl -fsS "$url/_emulator/requests" | jq -r '
    (.tenants | to_entries) as $all |
    ($all[:3][] |
      "  \(.key): \(.value.total) requests (" +
      ([.value.routes | to_entries[] | "\(.key) \(.value)"] | join(", ")) + ")"),
    (if ($all | length) > 3 then
      ($all[3:] | map(.value.total) | add) as $n |
      "  the other \($all | length - 3) tenants: \($n) requests together"
    else empty end)'
}

# Step 9: one tenant, LATENCY_MS per request, its first apply against requests × latency ÷
# concurrency.
latency_run() {
  local latency="${LATENCY_MS:-20}" concurrency="${CONCURRENCY:-4}" dir="$work/latency"
  mkdir -p "$dir"
  printf 'tenants:\n  - { name: slow, platform: kizen, region: us-west, business: acme, token: slow-token, catalog: { agenticWorkflows: [Lead Router], filterGroups: [EU Leads], fields: [contacts.email, orders.total] } }\n' > "$dir/seed.yaml"
  "$ferry" emulator --listen 127.0.0.1:0 --seed "$dir/seed.yaml" --latency-ms "$latency" > "$dir/emulator.out" 2> "$dir/emulator.err" &
  local slow_pid=$!
  for _ in $(seq 1 100); do
    grep -q "listening on" "$dir/emulator.out" 2>/dev/null && break
    sleep 0.05
  done
  local slow_url
  slow_url="$(sed -n 's/^ferry emulator listening on //p' "$dir/emulator.out")"
  [[ -n "$slow_url" ]] || { echo "bench-reconcile: the latency emulator did not start" >&2; kill "$slow_pid"; exit 1; }
  printf 'source: { repo: ../repo, path: connectors }\nstate: state/state.db\ntenants:\n  - { name: slow, platform: kizen, url: %s/tenants/slow, region: us-west, business: acme, concurrency: %s, auth: { tokenEnv: TOKEN_SLOW } }\n' \
    "$slow_url" "$concurrency" > "$dir/ferry.yaml"
  local code=0
  TOKEN_SLOW=slow-token timed "$dir/time.txt" \
    "$ferry" apply --auto-approve --config "$dir/ferry.yaml" > "$dir/out.txt" 2> "$dir/err.txt" < /dev/null || code=$?
  local total served
  total="$(curl -fsS "$slow_url/_emulator/requests" | jq '.tenants.slow.total')"
  # What one request takes as the emulator serves it (its timer and HTTP included), with
  # as many keep-alive clients as the concurrency: the floor any client meets.
  served="$(python3 - "$slow_url" "$concurrency" <<'PY'
import http.client, sys, threading, time, urllib.parse
url, slots, rounds = urllib.parse.urlparse(sys.argv[1]), int(sys.argv[2]), 50
def client():
    conn = http.client.HTTPConnection(url.hostname, url.port)
    for _ in range(rounds):
        conn.request("GET", "/tenants/slow/api/catalog", headers={"Authorization": "Bearer slow-token"})
        conn.getresponse().read()
start = time.monotonic()
threads = [threading.Thread(target=client) for _ in range(slots)]
for t in threads: t.start()
for t in threads: t.join()
print(f"{(time.monotonic() - start) / rounds * 1000:.2f}")
PY
)"
  kill "$slow_pid" 2>/dev/null || true
  wait "$slow_pid" 2>/dev/null || true
  if [[ "$code" != 0 ]]; then
    echo "bench-reconcile: the latency apply exited $code" >&2
    tail -20 "$dir/out.txt" "$dir/err.txt" >&2
    exit 1
  fi
  read -r wall user sys rss < <(tail -n 1 "$dir/time.txt")
  local floor_s
  floor_s="$(awk -v n="$total" -v l="$latency" -v c="$concurrency" 'BEGIN { printf "%.2f", n * l / 1000 / c }')"
  printf '\nfirst apply of %s connectors into one tenant, %s ms per request, concurrency %s\n' "$count" "$latency" "$concurrency"
  printf '  wall %ss, ferry CPU %ss, peak RSS %d MB; %s requests; floor (requests x %s ms / %s) %ss: %sx the floor\n' \
    "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')" "$((rss / 1024))" \
    "$total" "$latency" "$concurrency" "$floor_s" "$(ratio "$wall" "$floor_s")"
  local served_s
  served_s="$(awk -v n="$total" -v l="$served" -v c="$concurrency" 'BEGIN { printf "%.2f", n * l / 1000 / c }')"
  printf '  a request as the emulator serves it: %s ms (%s keep-alive clients); requests x that / %s = %ss: %sx\n' \
    "$served" "$concurrency" "$concurrency" "$served_s" "$(ratio "$wall" "$served_s")"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

if [[ -n "$latency_only" ]]; then
  latency_run
  exit 0
fi

echo "connectors: $count per tenant, tenants: ${#tenants[@]}, emulator at $url"
run "first apply (${#tenants[@]} x $count creates)" 0 apply --auto-approve
run "no-op plan" 0 plan
run "no-op plan (again, warm)" 0 plan
plan_cpu="$last_cpu"
timed "$work/time.txt" "$floor" "$work/ferry.yaml" > "$work/floor.txt"
read -r wall user sys rss < <(tail -n 1 "$work/time.txt")
floor_cpu="$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.3f", u + s }')"
printf '\nfloor: read and hash every manifest file, list every tenant (benches/floor.rs)\n  wall %ss, CPU %ss, peak RSS %d MB: %s\n' \
  "$wall" "$floor_cpu" "$((rss / 1024))" "$(cat "$work/floor.txt")"
echo "  no-op plan CPU / floor CPU: $(ratio "$plan_cpu" "$floor_cpu")x"
run "no-op plan --tenant sandbox" 0 plan --tenant sandbox
run "no-op serve --once, empty source cache (clones the repository)" 0 serve --once --listen 127.0.0.1:0
run "no-op serve --once, with the source cache" 0 serve --once --listen 127.0.0.1:0
echo "  serve --once CPU / no-op plan CPU: $(ratio "$last_cpu" "$plan_cpu")x"

# The daemon from start to ready: /readyz answers 200 once every tenant reconciled.
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
curl -fsS -X DELETE "$url/_emulator/requests" >/dev/null
start_ns="$(date +%s%N)"
"$ferry" serve --config "$work/ferry.yaml" --listen "127.0.0.1:$port" > "$work/serve.out" 2> "$work/serve.err" &
serve_pid=$!
ready=""
for _ in $(seq 1 6000); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then ready=1; break; fi
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.02
done
ready_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
hwm_kb="$(awk '/^VmHWM/ {print $2}' "/proc/$serve_pid/status" 2>/dev/null || echo 0)"
ticks="$(getconf CLK_TCK)"
serve_cpu="$(awk -v t="$ticks" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$serve_pid/stat" 2>/dev/null || echo 0)"
kill -TERM "$serve_pid" 2>/dev/null || true
wait "$serve_pid" 2>/dev/null || true
serve_pid=""
if [[ -z "$ready" ]]; then
  echo "bench-reconcile: the daemon did not become ready" >&2
  tail -20 "$work/serve.err" >&2
  exit 1
fi
printf '\ndaemon start to ready (/readyz 200, every tenant reconciled)\n  %d ms, ferry CPU %ss, peak RSS %d MB\n' \
  "$ready_ms" "$serve_cpu" "$((hwm_kb / 1024))"
requests
sed -i 's/shard = /shard <> /' "$repo/connectors/sql/orders-7.sql"
(cd "$repo" && git -c user.name=bench -c user.email=bench@example.com commit -q -am "orders-7: other shards")
run "plan after one SQL file changed" 2 plan
run "apply of that change (1 replace per tenant)" 0 apply --auto-approve
run "no-op plan after the change" 0 plan
run "export of one tenant ($count objects: one list, one export each)" 0 export --tenant sandbox --out "$work/exported"
latency_run
