#!/usr/bin/env bash
# Installs chDB (the PyPI package chdb-core) for `ferry test` into a virtual environment
# under target/ and prints that environment's Python interpreter. An environment that
# already has the right version is reused, so a second run costs a fraction of a second.
# The tests' engine: scripts/test.sh exports the interpreter as FERRY_PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."

version=26.9.0
venv=target/sqlengine/venv
python="$PWD/$venv/bin/python"

if [ -x "$python" ] && "$python" -c "import chdb, sys; sys.exit(chdb.__version__ != '$version')" 2>/dev/null; then
  echo "$python"
  exit 0
fi

command -v python3 >/dev/null 2>&1 || { echo "python3 is missing: install Python 3 (apt-get install python3 python3-venv)" >&2; exit 1; }
echo "installing chdb-core $version into $venv" >&2
rm -rf "$venv"
python3 -m venv "$venv" >&2
# The runner only needs chdb itself: pandas, numpy and pyarrow are left out.
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "chdb-core==$version" >&2
"$python" -c "import chdb" >&2
echo "$python"
