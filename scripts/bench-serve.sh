#!/usr/bin/env bash
# Benchmarks `ferry serve` (release build) against the platform emulator on loopback:
#
#   1. commit-to-status latency of a one-connector change through the file watch: from
#      `git push` into a local bare repository to ferry's `success` status in the git note
#      of the pushed commit;
#   2. the same through a webhook: the repository is served over git's smart HTTP protocol
#      (so there is no file watch), the push is announced with a signed GitHub webhook;
#   3. an idle daemon keeping 1,000 connectors in each of 3 tenants: how long the first
#      apply takes, then CPU and resident memory over 60 s;
#   4. a restart of that daemon on its state (a pod rescheduled with its volume): from
#      start to `/readyz` answering 200 (every tenant reconciled once, nothing to change),
#      with the daemon's CPU and peak resident memory until then.
#
# Usage: scripts/bench-serve.sh [runs per latency series, default 10] [idle seconds, default 60]
#        FERRY_BIN=path/to/ferry scripts/bench-serve.sh   # skip the build, use this binary
# Needs: git, python3, curl, openssl. Everything runs on 127.0.0.1; nothing is left behind.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${1:-10}"
IDLE_SECS="${2:-60}"
CONNECTORS=1000
SECRET=bench-secret

if [[ -n "${FERRY_BIN:-}" ]]; then
  FERRY="$FERRY_BIN"
else
  cargo build --release --quiet
  FERRY="$PWD/target/release/ferry"
fi
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
now_ns() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }

# Wait (at most $3 s) until the git note on commit $2 in repository $1 shows every
# context listed in $4.. as success. (Notes are pretty-printed JSON whose entries start
# with "state"; grep keeps each check to one git process.)
wait_success() {
  local repo="$1" sha="$2" limit="$3"; shift 3
  local deadline=$(( $(date +%s) + limit ))
  while :; do
    local note ok=1
    note="$(git --git-dir="$repo" notes --ref=ferry show "$sha" 2>/dev/null || true)"
    for context in "$@"; do
      grep -A1 -F "\"$context\": {" <<<"$note" | grep -qF '"state": "success"' || { ok=0; break; }
    done
    [ "$ok" = 1 ] && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "timed out waiting for ${*} on $sha" >&2; return 1
    fi
    sleep 0.01
  done
}

# Manifests: connectors/<name>.yaml and .sql.
write_connector() {
  local dir="$1" name="$2" sql="$3"
  cat > "$dir/connectors/$name.yaml" <<EOF
apiVersion: ferry/v1
kind: SmartConnector
metadata:
  name: $name
spec:
  name: ${name^}
  apiName: ${name//-/_}
  type: spreadsheet
  liveSql: $name.sql
EOF
  printf '%s\n' "$sql" > "$dir/connectors/$name.sql"
}

# The emulator, in its own process, with tenants sandbox, prod and eu.
EMU_PORT="$(free_port)"
cat > "$WORK/seed.yaml" <<EOF
tenants:
  - {name: sandbox, platform: kizen, business: acme, token: sandbox-token}
  - {name: prod, platform: kizen, business: acme, token: prod-token}
  - {name: eu, platform: kizen, business: acme, token: eu-token}
EOF
"$FERRY" emulator --listen "127.0.0.1:$EMU_PORT" --seed "$WORK/seed.yaml" >"$WORK/emulator.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$EMU_PORT/_emulator/healthz" >/dev/null && break; sleep 0.05; done

tenant_yaml() {
  local name="$1" dir="$2"
  mkdir -p "$dir/tokens"
  printf '%s' "$name-token" > "$dir/tokens/$name"
  cat <<EOF
  - name: $name
    platform: kizen
    url: http://127.0.0.1:$EMU_PORT/tenants/$name
    business: acme
    auth: {tokenFile: tokens/$name}
EOF
}

# A workspace: a bare origin with ten connectors on main and a clone to push from.
new_workspace() {
  local dir="$1"
  mkdir -p "$dir"
  git init -q --bare "$dir/origin.git"
  git clone -q "$dir/origin.git" "$dir/clone" 2>/dev/null
  mkdir -p "$dir/clone/connectors"
  for i in $(seq 1 10); do write_connector "$dir/clone" "feed-$i" "SELECT $i"; done
  git -C "$dir/clone" add connectors
  git -C "$dir/clone" -c user.name=bench -c user.email=bench@example.com commit -q -m "ten connectors"
  git -C "$dir/clone" push -q origin HEAD:main
}

# Change one connector and commit in the clone; prints the new commit.
change_one() {
  local dir="$1" run="$2"
  write_connector "$dir/clone" "feed-1" "SELECT 1, $run"
  git -C "$dir/clone" -c user.name=bench -c user.email=bench@example.com commit -q -am "feed-1: run $run"
  git -C "$dir/clone" rev-parse HEAD
}

summary() {
  python3 - "$@" <<'PY'
import statistics, sys
xs = sorted(int(x) for x in sys.argv[2:])
print(f"{sys.argv[1]}: median {statistics.median(xs):.0f} ms, max {max(xs)} ms, min {min(xs)} ms over {len(xs)} runs")
PY
}

start_ferry() {
  local dir="$1"; shift
  local port; port="$(free_port)"
  (cd "$dir" && exec "$FERRY" serve --listen "127.0.0.1:$port" "$@" 2>"$dir/ferry.log") &
  FERRY_PID=$!
  PIDS+=("$FERRY_PID")
  FERRY_PORT="$port"
}

stop_ferry() {
  kill -TERM "$FERRY_PID"
  wait "$FERRY_PID" 2>/dev/null || true
}

# --- 1. file watch ---------------------------------------------------------------------
W="$WORK/watch"
new_workspace "$W"
{
  printf 'source: {repo: origin.git, branch: main, path: connectors, interval: 1h}\ntenants:\n'
  tenant_yaml sandbox "$W"
} > "$W/ferry.yaml"
start_ferry "$W"
wait_success "$W/origin.git" "$(git -C "$W/clone" rev-parse HEAD)" 60 ferry/sandbox
watch_ms=()
for run in $(seq 1 "$RUNS"); do
  sha="$(change_one "$W" "$run")"
  t0="$(now_ns)"
  git -C "$W/clone" push -q origin HEAD:main
  wait_success "$W/origin.git" "$sha" 60 ferry/sandbox
  watch_ms+=("$(ms "$t0" "$(now_ns)")")
done
stop_ferry
summary "file watch (git push → success note)" "${watch_ms[@]}"

# --- 2. webhook ------------------------------------------------------------------------
H="$WORK/hook"
new_workspace "$H"
GIT_PORT="$(free_port)"
cat > "$WORK/git-http.py" <<'PY'
# git's smart HTTP protocol through `git http-backend`, for the repositories under argv[1].
import http.server, os, subprocess, sys

ROOT, PORT = sys.argv[1], int(sys.argv[2])

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def cgi(self):
        path, _, query = self.path.partition("?")
        data = self.body()
        env = dict(os.environ, GIT_PROJECT_ROOT=ROOT, GIT_HTTP_EXPORT_ALL="1",
                   PATH_INFO=path.removeprefix("/git"), REQUEST_METHOD=self.command,
                   QUERY_STRING=query, CONTENT_TYPE=self.headers.get("Content-Type", ""),
                   CONTENT_LENGTH=str(len(data)), REMOTE_ADDR="127.0.0.1",
                   GIT_PROTOCOL=self.headers.get("Git-Protocol", ""),
                   HTTP_CONTENT_ENCODING=self.headers.get("Content-Encoding", ""))
        out = subprocess.run(["git", "http-backend"], input=data, env=env,
                             capture_output=True).stdout
        head, _, rest = out.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        self.wfile.write(rest)

    do_GET = do_POST = cgi

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
PY
python3 "$WORK/git-http.py" "$H" "$GIT_PORT" &
PIDS+=($!)
{
  printf 'source: {repo: "http://127.0.0.1:%s/git/origin.git", branch: main, path: connectors, interval: 1h}\n' "$GIT_PORT"
  printf 'server: {webhookSecretEnv: BENCH_WEBHOOK_SECRET}\ntenants:\n'
  tenant_yaml prod "$H"
} > "$H/ferry.yaml"
BENCH_WEBHOOK_SECRET="$SECRET" start_ferry "$H"
# A remote source's notes live in ferry's cache of it.
first="$(git -C "$H/clone" rev-parse HEAD)"
for _ in $(seq 200); do CACHE="$(ls -d "$H"/.ferry/repos/*/ 2>/dev/null | head -1 || true)"; [ -n "$CACHE" ] && break; sleep 0.05; done
wait_success "$CACHE" "$first" 60 ferry/prod
hook_ms=()
for run in $(seq 1 "$RUNS"); do
  sha="$(change_one "$H" "$run")"
  body="{\"ref\":\"refs/heads/main\",\"after\":\"$sha\",\"repository\":{\"full_name\":\"acme/connectors\"}}"
  signature="$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$SECRET" | sed 's/^.* //')"
  t0="$(now_ns)"
  git -C "$H/clone" push -q origin HEAD:main
  code="$(curl -s -o /dev/null -w '%{http_code}' -X POST \
    -H 'X-GitHub-Event: push' -H "X-Hub-Signature-256: sha256=$signature" \
    -H 'Content-Type: application/json' --data "$body" "http://127.0.0.1:$FERRY_PORT/hooks/github")"
  [ "$code" = 202 ] || { echo "webhook answered $code" >&2; exit 1; }
  wait_success "$CACHE" "$sha" 60 ferry/prod
  hook_ms+=("$(ms "$t0" "$(now_ns)")")
done
stop_ferry
summary "webhook (git push + webhook → success note)" "${hook_ms[@]}"

# --- 3. idle daemon, 1,000 connectors × 3 tenants ----------------------------------------
I="$WORK/idle"
mkdir -p "$I"
git init -q --bare "$I/origin.git"
git clone -q "$I/origin.git" "$I/clone" 2>/dev/null
mkdir -p "$I/clone/connectors"
for i in $(seq -w 1 "$CONNECTORS"); do write_connector "$I/clone" "conn-$i" "SELECT $i"; done
git -C "$I/clone" add connectors
git -C "$I/clone" -c user.name=bench -c user.email=bench@example.com commit -q -m "$CONNECTORS connectors"
git -C "$I/clone" push -q origin HEAD:main
{
  printf 'source: {repo: origin.git, branch: main, path: connectors, interval: 1m}\ntenants:\n'
  for t in sandbox prod eu; do tenant_yaml "$t" "$I"; done
} > "$I/ferry.yaml"
# The emulator's tenants already hold the latency benchmarks' connectors: start afresh.
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true
"$FERRY" emulator --listen "127.0.0.1:$EMU_PORT" --seed "$WORK/seed.yaml" >"$WORK/emulator.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$EMU_PORT/_emulator/healthz" >/dev/null && break; sleep 0.05; done
t0="$(now_ns)"
start_ferry "$I"
wait_success "$I/origin.git" "$(git -C "$I/clone" rev-parse HEAD)" 900 ferry/sandbox ferry/prod ferry/eu
first_apply_ms="$(ms "$t0" "$(now_ns)")"
echo "first apply of $CONNECTORS connectors × 3 tenants (start → all three success notes): $first_apply_ms ms"
sleep 2
ticks="$(getconf CLK_TCK)"
cpu() { awk '{print $14 + $15}' "/proc/$FERRY_PID/stat"; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$FERRY_PID/status"; }
c0="$(cpu)"; s0="$(now_ns)"
rss_samples=()
for _ in $(seq 1 $(( IDLE_SECS / 5 ))); do
  sleep 5
  rss_samples+=("$(rss)")
done
c1="$(cpu)"; s1="$(now_ns)"
python3 - "$c0" "$c1" "$s0" "$s1" "$ticks" "${rss_samples[@]}" <<'PY'
import sys
c0, c1, s0, s1, ticks = (int(x) for x in sys.argv[1:6])
rss = [int(x) for x in sys.argv[6:]]
secs = (s1 - s0) / 1e9
print(f"idle over {secs:.0f} s: CPU {100 * (c1 - c0) / ticks / secs:.2f}% of one core "
      f"({(c1 - c0) / ticks:.2f} s), VmRSS {sum(rss) / len(rss) / 1024:.1f} MiB average, "
      f"{max(rss) / 1024:.1f} MiB max")
PY
stop_ferry

# --- 4. restart to ready ------------------------------------------------------------------
t0="$(now_ns)"
start_ferry "$I"
until curl -sf -o /dev/null "http://127.0.0.1:$FERRY_PORT/readyz"; do
  kill -0 "$FERRY_PID" 2>/dev/null || { echo "the daemon exited before it was ready" >&2; exit 1; }
  sleep 0.01
done
ready_ms="$(ms "$t0" "$(now_ns)")"
echo "restart to ready, $CONNECTORS connectors × 3 tenants in sync: $ready_ms ms, CPU $(awk -v t="$ticks" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$FERRY_PID/stat") s, peak RSS $(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$FERRY_PID/status") MiB"
stop_ferry
