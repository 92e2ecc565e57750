"""Runs action.yml's steps the way the runner does, against a stub `gh` that keeps the
pull request's comments in a file (scripts/check-workflows.sh runs it).

Usage: action_harness.py WORKSPACE OUT_DIR

WORKSPACE is a git clone holding examples/quickstart; `ferry` must be on PATH. The
composite action's `run:` scripts take everything through `env:` (no `${{ }}` inside),
so each runs as is with its env evaluated here from the inputs and earlier outputs.
Checks: the first run creates one comment carrying the hidden marker and the Markdown
plan; a second run updates that comment instead of adding one; an unrelated comment is
left alone; an invalid configuration turns the comment into the validation errors and
fails the action.
"""
import json
import os
import pathlib
import re
import subprocess
import sys

import yaml

workspace, out = pathlib.Path(sys.argv[1]).resolve(), pathlib.Path(sys.argv[2]).resolve()
root = pathlib.Path(__file__).resolve().parent.parent
action = yaml.safe_load((root / "action.yml").read_text())
stub_dir = out / "bin"
stub_dir.mkdir(parents=True, exist_ok=True)
comments_file = out / "comments.json"

# `gh api` against comments kept in a JSON file: list, create, update.
(stub_dir / "gh").write_text(f"""#!/usr/bin/env python3
import json, sys
args = sys.argv[1:]
store = {str(comments_file)!r}
comments = json.load(open(store))
assert args[0] == "api", args
method = args[args.index("-X") + 1] if "-X" in args else "GET"
path = [a for a in args[1:] if a.startswith("repos/")][0]
if method == "GET":
    assert "--paginate" in args and path.endswith("/comments"), args
    print(json.dumps(comments[:1]))       # two pages, as --paginate prints them
    print(json.dumps(comments[1:]))
    sys.exit(0)
body = json.load(sys.stdin)["body"]
if method == "POST":
    new = {{"id": 1000 + len(comments), "body": body}}
    comments.append(new)
elif method == "PATCH":
    cid = int(path.rsplit("/", 1)[1])
    new = [c for c in comments if c["id"] == cid][0]
    new["body"] = body
json.dump(comments, open(store, "w"))
print(new["id"] if "--jq" in args else json.dumps(new))
""")
(stub_dir / "gh").chmod(0o755)


def expr(value, ctx):
    """Evaluate the few expression forms action.yml uses."""
    def one(m):
        e = m.group(1).strip()
        if e.startswith("inputs."):
            return ctx["inputs"][e[len("inputs."):]]
        if e.startswith("steps."):
            _, sid, _, name = e.split(".")
            return ctx["steps"].get(sid, {}).get(name, "")
        if e == "github.event.pull_request.number":
            return "7"
        if e == "github.event.pull_request.head.sha":
            return "0123456789abcdef0123"
        if e == "github.token":
            return "not-a-token"
        raise ValueError(f"unknown expression {e}")
    return re.sub(r"\$\{\{(.*?)\}\}", one, str(value))


def condition(text, ctx):
    if text is None:
        return True
    text = text.replace("github.event.pull_request.number", "'7'")
    text = re.sub(r"steps\.(\w+)\.outputs\.([\w-]+)", lambda m: repr(ctx["steps"].get(m.group(1), {}).get(m.group(2), "")), text)
    text = re.sub(r"inputs\.([\w-]+)", lambda m: repr(ctx["inputs"][m.group(1)]), text)
    return bool(eval(text.replace("&&", " and ").replace("||", " or ")))


def run_action(inputs):
    defaults = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    ctx = {"inputs": {**defaults, **inputs}, "steps": {}}
    ctx["inputs"] = {k: expr(v, ctx) for k, v in ctx["inputs"].items()}
    temp = out / "runner-temp"
    temp.mkdir(exist_ok=True)
    summary = out / "summary.md"
    for step in action["runs"]["steps"]:
        if not condition(step.get("if"), ctx):
            continue
        output = out / "output"
        output.write_text("")
        env = {
            **os.environ,
            "PATH": f"{stub_dir}:{os.environ['PATH']}",
            "RUNNER_TEMP": str(temp),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_PATH": str(out / "path"),
            "GITHUB_REPOSITORY": "acme/connectors",
            "GITHUB_ACTION_PATH": str(root),
        }
        env.update({k: expr(v, ctx) for k, v in (step.get("env") or {}).items()})
        # As the runner runs `shell: bash`: bash --noprofile --norc -eo pipefail.
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                              cwd=workspace, env=env, capture_output=True, text=True)
        if "id" in step:
            ctx["steps"][step["id"]] = dict(
                line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
        if done.returncode != 0:
            return step["name"], done
    return None, None


def comments():
    return json.loads(comments_file.read_text())


config = "examples/quickstart/ferry.yaml"
marker = f"<!-- ferry-plan: {config} -->"
comments_file.write_text(json.dumps([{"id": 5, "body": "LGTM, unrelated"}]))

failed, done = run_action({"config": config, "install": "none"})
assert failed is None, f"{failed}: {done.stdout}{done.stderr}"
first = [c for c in comments() if c["body"].startswith(marker)]
assert len(first) == 1, comments()
body = first[0]["body"]
assert "**4 tenants: " in body and "### ferry plan: `sandbox` (kizen)" in body, body
assert "changes pending" in body, body
print(f"first run: created comment {first[0]['id']}: {body.splitlines()[1]}")

failed, done = run_action({"config": config, "install": "none", "tenants": "sandbox prod"})
assert failed is None, f"{failed}: {done.stdout}{done.stderr}"
again = [c for c in comments() if c["body"].startswith(marker)]
assert len(again) == 1 and again[0]["id"] == first[0]["id"], comments()
assert "**2 tenants: " in again[0]["body"], again[0]["body"]
assert "`feeds`" not in again[0]["body"], again[0]["body"]
assert [c for c in comments() if c["id"] == 5][0]["body"] == "LGTM, unrelated"
print(f"second run: updated comment {again[0]['id']} in place: {again[0]['body'].splitlines()[1]}")

seed = workspace / "examples/quickstart/connectors/smart-connectors.yaml"
seed.write_text(seed.read_text().replace("kind: SmartConnector", "kind: SmartConector", 1))
failed, done = run_action({"config": config, "install": "none"})
assert failed == "Result", (failed, done and done.stdout + done.stderr)
broken = [c for c in comments() if c["body"].startswith(marker)]
assert len(broken) == 1 and broken[0]["id"] == first[0]["id"], comments()
assert "is invalid" in broken[0]["body"] and "smart-connectors.yaml:" in broken[0]["body"], broken[0]["body"]
print(f"invalid manifest: the action fails, the comment says: {broken[0]['body'].splitlines()[1]}")
print(f"comments on the pull request: {len(comments())} (one of ferry's)")
