//! The Helm chart `charts/ferry`, checked without Helm: every values path a template uses
//! exists and the values schema describes exactly the values, the schema's `config` is
//! ferry's own configuration schema, the StatefulSet shards by pod ordinal, the probes and
//! flags match what `ferry serve` serves and accepts, the pod runs non-root and read-only,
//! the defaults need no Secret key beyond the ones the config names, the alerts use
//! metrics ferry exports, and the `ferry.yaml` the chart renders from `.Values.config`
//! (default and production-like values) is a valid configuration.
//! (`scripts/check-chart.sh` renders the chart with a real Helm and validates the output
//! against the Kubernetes schemas on top.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde_json::{Value, json};

fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/ferry")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(chart().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn values() -> Value {
    serde_saphyr::from_str(&read("values.yaml")).unwrap()
}

fn production_values() -> Value {
    serde_saphyr::from_str(&read("ci/production-values.yaml")).unwrap()
}

fn values_schema() -> Value {
    serde_json::from_str(&read("values.schema.json")).unwrap()
}

fn templates() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(chart().join("templates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_values_path_a_template_uses_is_defined() {
    let values = values();
    let re = regex::Regex::new(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)").unwrap();
    let mut used = BTreeSet::new();
    for (name, text) in templates() {
        for cap in re.captures_iter(&text) {
            used.insert((name.clone(), cap[1][1..].to_owned()));
        }
    }
    assert!(
        used.len() > 30,
        "the scan finds the templates' values: {used:?}"
    );
    for (file, path) in used {
        let mut v = &values;
        for key in path.split('.') {
            v = v.get(key).unwrap_or_else(|| {
                panic!("templates/{file} uses .Values.{path}, which values.yaml does not define")
            });
        }
    }
}

#[test]
fn the_statefulset_runs_one_replica_per_shard_from_the_pod_ordinal() {
    let s = read("templates/statefulset.yaml");
    for needle in [
        "kind: StatefulSet",
        "replicas: {{ .Values.shards | int }}",
        "- --shards={{ .Values.shards | int }}",
        "- name: POD_NAME",
        "fieldPath: metadata.name",
        "volumeClaimTemplates:",
        "mountPath: /var/lib/ferry",
        "mountPath: /tmp",
        "emptyDir:",
        "secretRef:",
        "checksum/config:",
    ] {
        assert!(s.contains(needle), "statefulset.yaml lacks {needle:?}");
    }
    assert!(
        !s.contains("--shard="),
        "the shard comes from the pod name, never a fixed flag"
    );
    assert_eq!(values()["shards"], 1);
}

#[test]
fn the_probes_hit_the_routes_ferry_serves() {
    let s = read("templates/statefulset.yaml");
    let probe = |name: &str| -> String {
        let start = s.find(&format!("{name}:")).unwrap();
        s[start..].lines().take(4).collect::<Vec<_>>().join("\n")
    };
    assert!(probe("livenessProbe").contains("path: /livez"));
    assert!(probe("readinessProbe").contains("path: /readyz"));
    assert!(probe("startupProbe").contains("path: /livez"));
    for p in ["livenessProbe", "readinessProbe"] {
        assert!(probe(p).contains("port: http"), "{p}");
    }
    assert!(s.contains("containerPort: {{ .Values.server.port }}"));
    let sm = read("templates/servicemonitor.yaml");
    assert!(sm.contains("path: /metrics") && sm.contains("port: http"));
}

#[test]
fn the_container_arguments_are_flags_ferry_serve_accepts() {
    let s = read("templates/statefulset.yaml");
    let start = s.find("args:").unwrap();
    let expr = regex::Regex::new(r"\{\{[^}]*\}\}").unwrap();
    let mut argv = vec!["ferry".to_owned()];
    for line in s[start..].lines().skip(1) {
        let line = line.trim();
        if line.starts_with("{{") {
            break;
        }
        let arg = line.strip_prefix("- ").expect("an argument line");
        argv.push(expr.replace_all(arg, "3").into_owned());
    }
    assert_eq!(argv[1], "serve");
    let cli = ferry::cli::Cli::try_parse_from(&argv)
        .unwrap_or_else(|e| panic!("{argv:?} is not a valid ferry command line: {e}"));
    let ferry::cli::Command::Serve(args) = cli.command else {
        panic!("not serve: {argv:?}");
    };
    assert_eq!(args.shards, 3);
    assert_eq!(args.shard, None);
    assert_eq!(args.listen.as_deref(), Some("0.0.0.0:3"));
    assert_eq!(
        args.state.as_deref(),
        Some(Path::new("/var/lib/ferry/state.db"))
    );
}

#[test]
fn the_pod_runs_non_root_with_a_read_only_root_filesystem() {
    let v = values();
    assert_eq!(v["podSecurityContext"]["runAsNonRoot"], true);
    assert!(v["podSecurityContext"]["runAsUser"].as_u64().unwrap() > 0);
    assert_eq!(v["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(v["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(v["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    let s = read("templates/statefulset.yaml");
    assert!(s.contains("toYaml .Values.securityContext"));
    assert!(s.contains("toYaml .Values.podSecurityContext"));
}

/// What templates/_helpers.tpl's "ferry.config" builds from `v`: `config`, with the server
/// block (empty settings left out, as its `with` does) and the state path.
fn rendered_config(v: &Value) -> Value {
    let mut config = v["config"].clone();
    let mut server = json!({ "listen": format!("0.0.0.0:{}", v["server"]["port"]) });
    for key in ["externalUrl", "apiTokenEnv", "webhookSecretEnv"] {
        if v["server"][key].as_str().is_some_and(|s| !s.is_empty()) {
            server[key] = v["server"][key].clone();
        }
    }
    config["server"] = server;
    config["state"] = json!("/var/lib/ferry/state.db");
    config
}

#[test]
fn the_rendered_ferry_yaml_is_a_valid_configuration() {
    let config = rendered_config(&values());
    let parsed: ferry::config::Config = serde_json::from_value(config.clone())
        .unwrap_or_else(|e| panic!("values.yaml's config is not a ferry.yaml: {e}\n{config}"));
    assert_eq!(parsed.server.listen.as_deref(), Some("0.0.0.0:9400"));
    // The defaults start without a Secret key the config does not name: no API token.
    assert_eq!(parsed.server.api_token_env, None);

    // Helm merges the values file over values.yaml: maps key by key, lists replaced.
    fn merge(base: &mut Value, over: &Value) {
        match (base, over) {
            (Value::Object(b), Value::Object(o)) => {
                for (k, v) in o {
                    merge(b.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
            (b, o) => *b = o.clone(),
        }
    }
    let mut production = values();
    merge(&mut production, &production_values());
    let config = rendered_config(&production);
    let text = serde_json::to_string(&config).unwrap();
    let loaded = ferry::config::parse(Path::new("/etc/ferry/ferry.yaml"), text.as_bytes())
        .unwrap_or_else(|d| panic!("the production values' config does not parse: {d:?}"));
    let problems = loaded.validate();
    assert!(
        problems.is_empty(),
        "the production values' config is invalid: {problems:?}"
    );
    assert_eq!(
        loaded.config.server.api_token_env.as_deref(),
        Some("FERRY_API_TOKEN")
    );
    let helpers = read("templates/_helpers.tpl");
    for key in [
        "\"listen\"",
        "\"apiTokenEnv\"",
        "\"webhookSecretEnv\"",
        "\"externalUrl\"",
        "\"state\"",
    ] {
        assert!(helpers.contains(key), "ferry.config sets {key}");
    }
    let cm = read("templates/configmap.yaml");
    assert!(cm.contains("ferry.yaml: |") && cm.contains("include \"ferry.config\""));
}

#[test]
fn the_defaults_push_no_git_notes_from_the_cluster() {
    let statuses = values()["config"]["statuses"].clone();
    let notes: Vec<&Value> = statuses
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "git-notes")
        .collect();
    assert!(!notes.is_empty(), "{statuses}");
    for n in notes {
        assert_eq!(
            n["push"], false,
            "a pod has no git credential helper: the default must not push notes"
        );
    }
}

/// Every key values.yaml (or the production-like values) sets is described by the values
/// schema, and every key the schema describes is a key of values.yaml: a typo fails
/// `helm template` instead of rendering a default, and no value goes undocumented.
#[test]
fn the_values_schema_describes_exactly_the_values() {
    fn walk(schema: &Value, values: &Value, at: &str, both_ways: bool) {
        let Some(props) = schema["properties"].as_object() else {
            return;
        };
        assert_eq!(
            schema["additionalProperties"], false,
            "{at}: the schema must refuse unknown keys"
        );
        let Some(map) = values.as_object() else {
            panic!("{at} is {values}, the schema describes an object");
        };
        for (key, v) in map {
            let sub = props
                .get(key)
                .unwrap_or_else(|| panic!("{at}.{key} is set but the values schema lacks it"));
            if key != "config" {
                walk(sub, v, &format!("{at}.{key}"), both_ways);
            }
        }
        if both_ways {
            for key in props.keys() {
                assert!(
                    map.contains_key(key) || key == "global",
                    "the values schema describes {at}.{key}, which values.yaml lacks"
                );
            }
        }
    }
    let schema = values_schema();
    walk(&schema, &values(), "values", true);
    walk(&schema, &production_values(), "production-values", false);
    assert_eq!(
        schema["properties"]["config"]["$ref"],
        "#/$defs/ChartConfig"
    );
}

/// The schema's `config` is ferry's configuration schema (the checked-in
/// schema/ferry.schema.json, itself checked against the code) without `server` and
/// `state`, which the chart sets.
#[test]
fn the_values_schema_embeds_ferrys_configuration_schema() {
    let ferry: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/ferry.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let schema = values_schema();
    let defs = schema["$defs"].as_object().unwrap();
    let stale = "charts/ferry/values.schema.json is stale: run `scripts/schemas.sh`";
    let chart_config = &defs["ChartConfig"];
    let mut config = ferry["$defs"]["Config"]["properties"].clone();
    for key in ["server", "state"] {
        config.as_object_mut().unwrap().remove(key);
    }
    assert_eq!(chart_config["properties"], config, "{stale}");
    assert_eq!(chart_config["additionalProperties"], false);
    assert_eq!(
        chart_config["required"], ferry["$defs"]["Config"]["required"],
        "{stale}"
    );
    for (name, def) in defs {
        if name != "ChartConfig" {
            assert_eq!(Some(def), ferry["$defs"].get(name), "{name}: {stale}");
        }
    }
    for name in ["Source", "Tenant", "Auth", "StatusTarget", "Window"] {
        assert!(defs.contains_key(name), "{name}: {stale}");
    }
}

/// The PrometheusRule's expressions name metrics (and label values) ferry exports.
#[test]
fn the_alerts_use_metrics_ferry_exports() {
    let rule = read("templates/prometheusrule.yaml");
    let metrics = ferry::metrics::Metrics::new();
    metrics.init_tenant("sandbox");
    metrics.set_outbox_depth(0);
    metrics.status_delivery("github", "delivered");
    let exported = metrics.encode();
    let names = regex::Regex::new(r"\bferry_[a-z_]+").unwrap();
    let used: BTreeSet<&str> = names.find_iter(&rule).map(|m| m.as_str()).collect();
    for name in [
        "ferry_drifted_connectors",
        "ferry_reconciles_total",
        "ferry_status_outbox_depth",
    ] {
        assert!(used.contains(name), "the rules alert on {name}");
    }
    for name in used {
        let sample = regex::Regex::new(&format!(r"(?m)^{name}[{{ ]")).unwrap();
        let family = format!("# TYPE {} ", name.trim_end_matches("_total"));
        assert!(
            sample.is_match(&exported) || exported.contains(&family),
            "templates/prometheusrule.yaml uses {name}, which ferry does not export:\n{exported}"
        );
    }
    let outcomes = regex::Regex::new(r#"outcome=~"([a-z|]+)""#).unwrap();
    for cap in outcomes.captures_iter(&rule) {
        for outcome in cap[1].split('|') {
            assert!(
                ferry::metrics::RECONCILE_OUTCOMES.contains(&outcome),
                "no reconcile outcome {outcome}"
            );
        }
    }
}
