#!/usr/bin/env bash
# Builds the image from the Containerfile with buildah and runs the quickstart in it:
# `ferry serve` as the image's user (uid 65532) on a read-only root filesystem, with the
# state on a volume and /tmp on a tmpfs as the Helm chart mounts them, then reads /livez
# and /readyz (every quickstart tenant reconciled) and reports the image's size.
#
# No image registry is needed: the build stage's base (the Rust image the Containerfile
# names) is made here from Debian packages (debootstrap) and this machine's Rust
# toolchain, tagged with the name and Rust version it really has; the runtime stage is
# `scratch`. The cargo registry of this machine is lent to the build, so it downloads no
# crate. Needs root (buildah with the vfs driver and chroot isolation, mounts).
#
# Everything lives under target/image (storage, base rootfs, logs); a second run reuses
# the base and the build caches. CHECK_IMAGE_KEEP=1 keeps the built image for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/tools.sh

if [ "$(id -u)" -ne 0 ]; then
  echo "check-image: needs root (buildah, debootstrap, mounts)" >&2
  exit 1
fi
tools_apt buildah debootstrap curl procps

work=$PWD/target/image
mkdir -p "$work/tmp"
export TMPDIR=$work/tmp         # buildah's temporary files and its RUN --mount caches
B() { buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs "$@"; }
image=localhost/ferry:check
step() { echo "== $*"; }
started=$SECONDS

# The Rust toolchain this machine has: the build stage gets the same one.
sysroot=$(rustc --print sysroot)
rust_version=$(rustc --version | awk '{print $2}')
rust_minor=${rust_version%.*}
toolchain=$rust_version-$(rustc -vV | sed -n 's/^host: //p')
default_rust=$(sed -n 's/^ARG RUST_IMAGE=//p' Containerfile)
rust_image=docker.io/library/rust:$rust_minor-slim-bookworm
if [ "$rust_image" != "$default_rust" ]; then
  echo "check-image: note: this machine's Rust is $rust_version; the Containerfile's default build image is $default_rust"
fi

step "base image $rust_image (debootstrap bookworm + Rust $rust_version)"
if B inspect --type image "$rust_image" > /dev/null 2>&1; then
  echo "already made"
else
  rootfs=$work/bookworm-rootfs
  if [ ! -f "$rootfs/.complete" ]; then
    rm -rf "$rootfs"
    # What the official rust:*-slim-bookworm image holds: a minimal Debian with a C
    # compiler and CA certificates (the Containerfile installs the rest with apt).
    debootstrap --variant=minbase --include=ca-certificates,gcc,libc6-dev \
      bookworm "$rootfs" http://deb.debian.org/debian > "$work/debootstrap.log" 2>&1 || {
      tail -n 20 "$work/debootstrap.log" >&2
      exit 1
    }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    touch "$rootfs/.complete"
  fi
  ctr=$(B from scratch)
  mnt=$(B mount "$ctr")
  cp -a "$rootfs/." "$mnt/"
  rm -f "$mnt/.complete"
  # The official image's layout: RUSTUP_HOME=/usr/local/rustup, CARGO_HOME=/usr/local/cargo,
  # rustup's proxies on PATH. Only what compiling needs is copied (no docs, no sources).
  tc=$mnt/usr/local/rustup/toolchains/$toolchain
  mkdir -p "$tc" "$mnt/usr/local/cargo/bin"
  cp -a "$sysroot/bin" "$sysroot/lib" "$tc/"
  cp "$(command -v rustup)" "$mnt/usr/local/cargo/bin/rustup"
  for proxy in cargo rustc rustdoc; do ln -s rustup "$mnt/usr/local/cargo/bin/$proxy"; done
  printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\nauto_self_update = "disable"\n' \
    "$toolchain" > "$mnt/usr/local/rustup/settings.toml"
  B config --env RUSTUP_HOME=/usr/local/rustup --env CARGO_HOME=/usr/local/cargo \
    --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env RUST_VERSION="$rust_version" --cmd bash "$ctr"
  B run --isolation chroot "$ctr" -- cargo --version
  B commit -q --rm "$ctr" "$rust_image" > /dev/null
fi
echo "($((SECONDS - started)) s)"

step "buildah bud -f Containerfile"
t=$SECONDS
# The crates come from this machine's cargo registry (no crate is downloaded).
cargo fetch --locked --quiet
commit=$(git rev-parse HEAD)
B bud --isolation chroot --layers=false -f Containerfile -t "$image" \
  --build-arg RUST_IMAGE="$rust_image" \
  --build-arg FERRY_BUILD_COMMIT="$commit" \
  --build-arg SOURCE_DATE_EPOCH="$(git log -1 --format=%ct)" \
  --volume "${CARGO_HOME:-$HOME/.cargo}/registry:/usr/local/cargo/registry" \
  . > "$work/build.log" 2>&1 || {
  tail -n 40 "$work/build.log" >&2
  echo "check-image: the build failed; the whole log is $work/build.log" >&2
  exit 1
}
grep -E '^(STEP|\[[0-9]/[0-9]\] STEP|COMMIT|Successfully)| Finished ' "$work/build.log" || true
echo "($((SECONDS - t)) s)"

step "the image"
config=$(B inspect --type image "$image" | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["OCIv1"]["config"]))')
echo "config: $config"
user=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get("User", ""))' "$config")
if [ "$user" != "65532:65532" ]; then
  echo "check-image: the image runs as '$user', not 65532:65532" >&2
  exit 1
fi
ctr=$(B from "$image")
mnt=$(B mount "$ctr")
cleanup() {
  if [ -n "${server_pid:-}" ]; then kill "$server_pid" 2> /dev/null || true; fi
  B rm "$ctr" > /dev/null 2>&1 || true
  if [ -z "${CHECK_IMAGE_KEEP:-}" ]; then B rmi "$image" > /dev/null 2>&1 || true; fi
}
trap cleanup EXIT
echo "files:"
(cd "$mnt" && find . -mindepth 1 \( -type f -o -type l \) -printf '  /%P %s bytes\n' | sort)
unexpected=$(cd "$mnt" && find . -type f ! -path ./usr/local/bin/ferry ! -path './etc/*' \
  ! -path './lib/*' ! -path './lib64/*' ! -path './usr/lib/*' -printf '/%P\n')
if [ -n "$unexpected" ]; then
  echo "check-image: files beyond ferry, its libraries and /etc: $unexpected" >&2
  exit 1
fi
if [ -e "$mnt/bin/sh" ] || [ -e "$mnt/usr/bin/apt-get" ]; then
  echo "check-image: the runtime image has a shell or a package manager" >&2
  exit 1
fi
stat -c 'state folder: /var/lib/ferry owner %u:%g mode %a' "$mnt/var/lib/ferry"
[ "$(stat -c %u "$mnt/var/lib/ferry")" = 65532 ] || {
  echo "check-image: /var/lib/ferry is not owned by uid 65532" >&2
  exit 1
}
version=$(B run --isolation chroot "$ctr" -- ferry --version)
echo "ferry --version: $version"
case "$version" in
  "ferry $(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1) (commit ${commit:0:12}, built "*) ;;
  *) echo "check-image: the version does not name Cargo.toml's version and commit ${commit:0:12}" >&2; exit 1 ;;
esac

step "ferry serve on the quickstart, in the image: uid 65532, read-only root, state volume, /tmp tmpfs"
# What a container runtime does with the image's config, done by hand so that the root
# filesystem can be read-only (buildah run has no such switch): the image's files on a
# tmpfs remounted read-only, a volume at /var/lib/ferry, a tmpfs at /tmp, new mount and
# PID namespaces, then the image's user, working directory, environment and entrypoint.
# The network is the host's; ferry listens on loopback only.
run=$work/run-quickstart
rm -rf "$run"
mkdir -p "$run/root" "$run/state"
# The quickstart's source is the repository itself (source.repo: ../..): a clone of this
# checkout at $commit on branch main (which the quickstart follows), owned by the image's
# user, since ferry writes its git notes there. --no-local: no hard links to this
# checkout's objects (the chown must not reach them).
git clone -q --no-local . "$run/repo"
git -C "$run/repo" checkout -q -B main "$commit"
chown -R 65532:65532 "$run/repo" "$run/state"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run_root=$run/root
# bash (host) sets up the mounts in the new namespaces, then python (host) enters the
# root, drops to the image's user and executes the image's entrypoint: ferry is PID 1.
unshare --mount --pid --fork --kill-child --propagation private -- bash -euo pipefail -c '
  root=$1 image=$2 state=$3 repo=$4
  mount -t tmpfs -o size=128m,mode=0755 ferry-root "$root"
  cp -a "$image/." "$root/"
  mkdir -p "$root/dev" "$root/proc" "$root/src"
  mount -o remount,ro "$root"
  mount -t tmpfs -o size=1m,mode=0755 dev "$root/dev"
  for d in null zero random urandom; do touch "$root/dev/$d"; mount --bind "/dev/$d" "$root/dev/$d"; done
  mount -t proc proc "$root/proc"
  mount --bind "$state" "$root/var/lib/ferry"
  mount -t tmpfs -o size=64m,mode=1777 tmp "$root/tmp"
  mount --bind "$repo" "$root/src"
  exec python3 - "$root" "$5" "$6" <<"PY"
import json, os, sys
root, config, port = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
env = dict(e.split("=", 1) for e in config.get("Env") or [])
env["FERRY_LISTEN"] = "127.0.0.1:" + port
env["RUST_LOG"] = "info"
argv = (config.get("Entrypoint") or []) + ["serve", "--config", "/src/examples/quickstart/ferry.yaml"]
uid, gid = (int(x) for x in config["User"].split(":"))
os.chroot(root)
os.chdir(config.get("WorkingDir") or "/")
os.setgroups([])
os.setgid(gid)
os.setuid(uid)
os.execvpe(argv[0], argv, env)
PY
' bash "$run_root" "$mnt" "$run/state" "$run/repo" "$config" "$port" > "$run/serve.log" 2>&1 &
server_pid=$!

ready=""
for _ in $(seq 1 120); do
  if ! kill -0 "$server_pid" 2> /dev/null; then
    cat "$run/serve.log" >&2
    echo "check-image: ferry serve exited" >&2
    exit 1
  fi
  if curl -sf "http://127.0.0.1:$port/readyz" -o "$run/readyz.json" 2> /dev/null; then
    ready=1
    break
  fi
  sleep 0.5
done
curl -sf "http://127.0.0.1:$port/livez" -o "$run/livez.json" || {
  cat "$run/serve.log" >&2
  echo "check-image: /livez does not answer" >&2
  exit 1
}
echo "/livez: $(cat "$run/livez.json")"
if [ -z "$ready" ]; then
  curl -s "http://127.0.0.1:$port/readyz" >&2 || true
  tail -n 40 "$run/serve.log" >&2
  echo "check-image: /readyz did not answer 200 within 60 s" >&2
  exit 1
fi
python3 - "$run/readyz.json" "$commit" <<'PY'
import json, sys
body = json.load(open(sys.argv[1]))
commit = sys.argv[2]
tenants = {t["name"]: t for t in body["tenants"]}
want = {"sandbox", "prod", "assistants", "feeds"}
assert body["ready"] is True, body
assert set(tenants) == want, f"tenants {sorted(tenants)}, want {sorted(want)}"
for name, t in sorted(tenants.items()):
    assert t["reconciled"], t
    assert t["commit"] == commit, f"{name} is at {t['commit']}, not {commit}"
    print(f"/readyz: {name}: reconciled at {t['commit'][:12]}, last outcome {t['lastOutcome']}")
assert sorted(body["shard"]["owned"]) == sorted(want), body["shard"]
PY
# The repository belongs to uid 65532 now: tell git that is fine for this read.
notes=$(git -c safe.directory="$run/repo" -C "$run/repo" notes --ref=ferry show "$commit" 2> /dev/null || true)
if [ -z "$notes" ]; then
  echo "check-image: ferry wrote no git notes on $commit into the source" >&2
  exit 1
fi
python3 - "$notes" <<'PY'
import json, sys
notes = json.loads(sys.argv[1])
for context, status in sorted(notes.items()):
    print(f"git notes: {context}: {status['state']}, {status['description']}")
assert {"ferry/sandbox", "ferry/prod", "ferry/assistants", "ferry/feeds"} <= set(notes), notes
PY
ls -l "$run/state" | sed 's/^/state volume: /'
# Nothing was written outside the volumes: the root filesystem is read-only.
if grep -qi "read-only file system" "$run/serve.log"; then
  grep -i "read-only file system" "$run/serve.log" >&2
  echo "check-image: ferry tried to write to the read-only root filesystem" >&2
  exit 1
fi

step "SIGTERM stops it"
kill -TERM "$(pgrep -P "$server_pid")"
for _ in $(seq 1 60); do kill -0 "$server_pid" 2> /dev/null || break; sleep 0.5; done
if kill -0 "$server_pid" 2> /dev/null; then
  echo "check-image: ferry did not stop within 30 s of SIGTERM" >&2
  exit 1
fi
wait "$server_pid" && code=0 || code=$?
server_pid=""
echo "ferry serve exited with $code"
[ "$code" = 0 ] || { tail -n 20 "$run/serve.log" >&2; exit 1; }

step "size"
B images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$image"
B push -q "$image" "oci-archive:$work/ferry-image.tar" > /dev/null
echo "uncompressed layers: $(du -sh "$mnt" | cut -f1); OCI archive: $(du -h "$work/ferry-image.tar" | cut -f1); gzip: $(gzip -c "$work/ferry-image.tar" | wc -c | numfmt --to=iec)"
rm -f "$work/ferry-image.tar"
echo "check-image: ok ($((SECONDS - started)) s)"
