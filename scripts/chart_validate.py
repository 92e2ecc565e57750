"""Validates manifests rendered by `helm template` (scripts/check-chart.sh runs it).

Usage: chart_validate.py KUBERNETES_VERSION RENDERED.yaml

Every object is checked against the Kubernetes OpenAPI schemas of that version shipped by
kubernetes-validate, in strict mode (unknown fields are errors). The Prometheus Operator's
kinds have no schema there; they get the structural checks below instead. Then the objects
are checked against each other: the ServiceMonitor selects exactly one Service, selectors
match the pods, every mount has a volume, references name objects the chart renders, and
no Secret is rendered (the chart never holds secret values). Exits 1 on any problem.
"""
import sys

import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}

version, path = sys.argv[1], sys.argv[2]
with open(path) as f:
    objects = [o for o in yaml.safe_load_all(f) if o]
problems = []


def problem(obj, message):
    problems.append(f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}: {message}")


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


for obj in objects:
    key = (obj.get("apiVersion"), obj.get("kind"))
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except ValidationError as e:
        path_ = ".".join(str(p) for p in e.path)
        problem(obj, f"invalid for Kubernetes {version}: {path_}: {e.message}")
    except SchemaNotFoundError:
        if key not in CRDS:
            problem(obj, f"no schema for {key[1]} {key[0]} in Kubernetes {version}")

by_kind = {}
for obj in objects:
    by_kind.setdefault(obj["kind"], []).append(obj)

if by_kind.get("Secret"):
    for s in by_kind["Secret"]:
        problem(s, "the chart renders a Secret; it must only name existing ones")

services = by_kind.get("Service", [])
sets = by_kind.get("StatefulSet", [])
if len(sets) != 1:
    problems.append(f"expected one StatefulSet, found {len(sets)}")
sts = sets[0] if sets else {"spec": {"template": {"metadata": {}, "spec": {}}}}
pod_labels = sts["spec"]["template"]["metadata"].get("labels", {})
pod_spec = sts["spec"]["template"]["spec"]
names = {(o["kind"], o["metadata"]["name"]) for o in objects}

if sts.get("kind") and not matches(sts["spec"]["selector"]["matchLabels"], pod_labels):
    problem(sts, "the selector does not match the pod template's labels")
if sts.get("kind") and ("Service", sts["spec"].get("serviceName")) not in names:
    problem(sts, f"serviceName {sts['spec'].get('serviceName')} is no rendered Service")
for c in pod_spec.get("containers", []):
    volumes = {v["name"] for v in pod_spec.get("volumes", [])}
    volumes |= {t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates", [])}
    for m in c.get("volumeMounts", []):
        if m["name"] not in volumes:
            problem(sts, f"container {c['name']} mounts {m['name']}, which is no volume")
    for e in c.get("envFrom", []):
        if "configMapRef" in e and ("ConfigMap", e["configMapRef"]["name"]) not in names:
            problem(sts, f"envFrom names ConfigMap {e['configMapRef']['name']}, which is not rendered")
for v in pod_spec.get("volumes", []):
    if "configMap" in v and v["name"] == "config" and ("ConfigMap", v["configMap"]["name"]) not in names:
        problem(sts, f"volume config names ConfigMap {v['configMap']['name']}, which is not rendered")

for sm in by_kind.get("ServiceMonitor", []):
    selected = [s for s in services if matches(sm["spec"]["selector"].get("matchLabels"), s["metadata"].get("labels", {}))]
    if len(selected) != 1:
        problem(sm, f"selects {len(selected)} Services ({', '.join(s['metadata']['name'] for s in selected)}); exactly one keeps each pod scraped once")
    for ep in sm["spec"].get("endpoints", []):
        for s in selected:
            if ep.get("port") not in {p.get("name") for p in s["spec"]["ports"]}:
                problem(sm, f"endpoint port {ep.get('port')} is no port of Service {s['metadata']['name']}")
        if not ep.get("path", "").startswith("/"):
            problem(sm, "an endpoint has no path")

for rule in by_kind.get("PrometheusRule", []):
    groups = rule.get("spec", {}).get("groups") or []
    if not groups:
        problem(rule, "no rule groups")
    for g in groups:
        for r in g.get("rules") or []:
            if not (r.get("alert") or r.get("record")) or not isinstance(r.get("expr"), str) or not r["expr"].strip():
                problem(rule, f"rule {r} needs alert (or record) and expr")
            if r.get("expr", "").count("(") != r.get("expr", "").count(")") or r.get("expr", "").count("{") != r.get("expr", "").count("}"):
                problem(rule, f"rule {r.get('alert')}: unbalanced brackets in {r.get('expr')!r}")

for svc in services:
    if not matches(svc["spec"].get("selector"), pod_labels):
        problem(svc, "the selector does not select the StatefulSet's pods")
for pdb in by_kind.get("PodDisruptionBudget", []):
    if not matches(pdb["spec"]["selector"]["matchLabels"], pod_labels):
        problem(pdb, "the selector does not select the StatefulSet's pods")
for ing in by_kind.get("Ingress", []):
    for rule_ in ing["spec"].get("rules", []):
        for p in rule_["http"]["paths"]:
            backend = p["backend"]["service"]
            target = [s for s in services if s["metadata"]["name"] == backend["name"]]
            if not target:
                problem(ing, f"backend Service {backend['name']} is not rendered")
            elif backend["port"].get("name") not in {x.get("name") for x in target[0]["spec"]["ports"]}:
                problem(ing, f"backend port {backend['port']} is no port of {backend['name']}")
for np in by_kind.get("NetworkPolicy", []):
    if not matches(np["spec"]["podSelector"].get("matchLabels"), pod_labels):
        problem(np, "the podSelector does not select the StatefulSet's pods")

if problems:
    for p in problems:
        print(f"ERROR {path}: {p}")
    sys.exit(1)
kinds = ", ".join(sorted({f"{o['kind']}" for o in objects}))
print(f"ok: {len(objects)} objects valid for Kubernetes {version} (strict): {kinds}")
