#!/usr/bin/env bash
# Regenerates the checked-in JSON Schemas after a change to the configuration or manifest
# types: schema/ferry.schema.json (`ferry schema`), then the chart's values schema, which
# embeds the configuration's definitions. tests/validate.rs and tests/ops_chart.rs fail
# while either is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --locked -- schema > schema/ferry.schema.json
python3 scripts/chart-schema.py
