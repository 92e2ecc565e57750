#!/usr/bin/env bash
# Runs ferry's whole test suite on a bare machine: installs the system packages the tests
# need (when missing) and chDB for the `ferry test` tests (scripts/sqlengine.sh, reused
# when present), then runs `cargo test`. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v git >/dev/null 2>&1 || need+=(git)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# tests/remote_servers.rs runs OpenSSH's server on a loopback port (and ssh-keygen).
{ command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ]; } || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v python3 >/dev/null 2>&1 || need+=(python3 python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "installing: ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing system packages: ${need[*]}; install them (sudo apt-get install ${need[*]}) and run again" >&2
    exit 1
  fi
fi

# The engine `ferry test` runs SQL on: the tests use this interpreter and fail without it.
FERRY_PYTHON="$(scripts/sqlengine.sh)"
export FERRY_PYTHON

exec cargo test --locked "$@"
