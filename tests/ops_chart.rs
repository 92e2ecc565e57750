//! The Helm chart `charts/ferry`, checked without Helm: every values path a template uses
//! exists, the StatefulSet shards by pod ordinal, the probes and flags match what
//! `ferry serve` serves and accepts, the pod runs non-root and read-only, and the
//! `ferry.yaml` the chart renders from `.Values.config` is a valid configuration.
//! (`scripts/check-chart.sh` runs Helm's linter and yamllint on top.)

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

#[test]
fn the_rendered_ferry_yaml_is_a_valid_configuration() {
    let v = values();
    // What templates/_helpers.tpl's "ferry.config" builds from the default values.
    let mut config = v["config"].clone();
    config["server"] = json!({
        "listen": format!("0.0.0.0:{}", v["server"]["port"]),
        "apiTokenEnv": v["server"]["apiTokenEnv"],
    });
    config["state"] = json!("/var/lib/ferry/state.db");
    let parsed: ferry::config::Config = serde_json::from_value(config.clone())
        .unwrap_or_else(|e| panic!("values.yaml's config is not a ferry.yaml: {e}\n{config}"));
    assert_eq!(parsed.server.listen.as_deref(), Some("0.0.0.0:9400"));
    assert_eq!(
        parsed.server.api_token_env.as_deref(),
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
