#!/usr/bin/env python3
"""Copies ferry's configuration schema into the chart's values schema.

charts/ferry/values.schema.json describes the chart's values by hand, except `$defs`:
those are the definitions of schema/ferry.schema.json that `ferry.yaml` uses (generated
by `ferry schema`), plus `ChartConfig`: ferry.yaml without `server` and `state`, which
the chart sets itself. Run this after regenerating schema/ferry.schema.json;
tests/ops_chart.rs fails while the two disagree.
"""
import json
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent
ferry = json.loads((root / "schema/ferry.schema.json").read_text())
values_path = root / "charts/ferry/values.schema.json"
values = json.loads(values_path.read_text())


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                yield value[len("#/$defs/"):]
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


defs = ferry["$defs"]
chart_config = json.loads(json.dumps(defs["Config"]))
chart_config["description"] = (
    "ferry.yaml without `server` and `state`: the chart sets those from "
    "`server.*` and the state volume."
)
for key in ("server", "state"):
    chart_config["properties"].pop(key)

wanted, todo = set(), list(refs(chart_config))
while todo:
    name = todo.pop()
    if name not in wanted:
        wanted.add(name)
        todo.extend(refs(defs[name]))

out = {name: defs[name] for name in sorted(wanted)}
out["ChartConfig"] = chart_config
values["$defs"] = dict(sorted(out.items()))
values_path.write_text(json.dumps(values, indent=2, ensure_ascii=False) + "\n")
print(f"{values_path.relative_to(root)}: $defs from schema/ferry.schema.json ({len(out)} definitions)")
