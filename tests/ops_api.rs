//! The operator's endpoints of `ferry serve`, driving the real binary: `/api/v1` (fields,
//! 404, the token on the reconcile and acknowledgement POSTs), `/metrics` parsed as
//! Prometheus text, the HTML status page, `/livez` and `/readyz`.

mod ops_support;

use std::collections::{BTreeMap, BTreeSet};

use ops_support::{Ferry, config, eventually, get, get_json, get_with_type, post, post_json, repo};
use serde_json::Value;

/// A daemon with `sandbox` and `prod` reconciled once against a repository with two
/// manifests; the reconcile POST needs the token `s3cret`.
fn daemon(dir: &std::path::Path) -> (Ferry, String) {
    let head = repo(dir);
    config(
        dir,
        &["sandbox", "prod"],
        "  apiTokenEnv: FERRY_TEST_API_TOKEN\n",
    );
    let mut ferry = Ferry::start(dir, "state", &[], &[("FERRY_TEST_API_TOKEN", "s3cret")]);
    ferry.wait_ready();
    (ferry, head)
}

#[test]
fn the_tenant_list_says_state_warnings_and_commit_of_every_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let (ferry, head) = daemon(dir.path());
    let (status, body) = get_json(&ferry.url("/api/v1/tenants"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["shard"]["count"], 1);
    assert_eq!(body["shard"]["hash"], "fnv1a-64");
    assert_eq!(body["source"]["lastFetchError"], Value::Null);
    let tenants = body["tenants"].as_array().unwrap();
    let names: Vec<&str> = tenants
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sandbox", "prod"]);
    let sandbox = &tenants[0];
    assert_eq!(sandbox["platform"], "kizen");
    assert_eq!(sandbox["owned"], true);
    assert_eq!(sandbox["syncState"], "in_sync", "{sandbox}");
    assert_eq!(sandbox["driftState"], "none");
    assert_eq!(
        sandbox["openWarnings"], 1,
        "Lead Router is missing: {sandbox}"
    );
    assert_eq!(sandbox["connectors"], 2);
    assert_eq!(sandbox["lastOutcome"], "warning");
    assert_eq!(sandbox["lastError"], Value::Null);
    let commit = &sandbox["lastAppliedCommit"];
    assert_eq!(commit["sha"], head.as_str());
    assert_eq!(commit["shortSha"], &head[..7]);
    assert_eq!(commit["message"], "Add the orders connectors");
    assert_eq!(commit["author"], "Ada Lovelace");
    for t in tenants {
        for field in [
            "name",
            "platform",
            "owned",
            "syncState",
            "driftState",
            "openWarnings",
            "lastAppliedCommit",
            "lastOutcome",
            "lastError",
        ] {
            assert!(t.get(field).is_some(), "{field} missing in {t}");
        }
    }
}

#[test]
fn a_tenant_shows_its_connectors_warnings_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let (ferry, head) = daemon(dir.path());
    let (status, t) = get_json(&ferry.url("/api/v1/tenants/sandbox"));
    assert_eq!(status, 200, "{t}");
    let connectors: BTreeMap<&str, &Value> = t["connectorList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["connector"].as_str().unwrap(), c))
        .collect();
    assert_eq!(
        connectors.keys().copied().collect::<Vec<_>>(),
        ["orders-sync", "script-probe"]
    );
    let orders = connectors["orders-sync"];
    assert_eq!(orders["kind"], "SmartConnector");
    assert_eq!(orders["name"], "Orders Sync");
    assert_eq!(orders["syncState"], "in_sync");
    assert!(orders["liveId"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(orders["openWarnings"], 1);
    assert_eq!(
        connectors["script-probe"]["name"],
        "<script>alert(1)</script>"
    );
    let warnings = t["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{t}");
    assert_eq!(warnings[0]["connector"], "orders-sync");
    assert_eq!(warnings[0]["kind"], "agentic-workflow");
    assert_eq!(warnings[0]["reference"], "Lead Router");
    assert_eq!(t["drift"], serde_json::json!([]));
    let history = t["history"].as_array().unwrap();
    assert!(!history.is_empty());
    assert_eq!(history[0]["commit"]["sha"], head.as_str());
    assert_eq!(history[0]["commit"]["author"], "Ada Lovelace");
    assert_eq!(history[0]["outcome"], "warning");
    assert_eq!(t["lastAppliedCommit"]["shortSha"], &head[..7]);

    // prod has no promoteFrom here, so it holds both as well.
    let (_, prod) = get_json(&ferry.url("/api/v1/tenants/prod"));
    assert_eq!(prod["connectorList"].as_array().unwrap().len(), 2);
}

#[test]
fn an_unknown_tenant_is_404_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (ferry, _) = daemon(dir.path());
    let (status, body) = get_json(&ferry.url("/api/v1/tenants/staging"));
    assert_eq!(status, 404);
    assert_eq!(
        body["error"],
        "no tenant named \"staging\" in the configuration; configured tenants: sandbox, prod"
    );
    let (status, body) = post(
        &ferry.url("/api/v1/tenants/staging/reconcile"),
        Some("s3cret"),
    );
    assert_eq!(status, 404, "{body}");
    let (status, page) = get(&ferry.url("/tenants/staging")).unwrap();
    assert_eq!(status, 404);
    assert!(page.contains("No tenant named “staging”"), "{page}");
}

#[test]
fn the_reconcile_post_needs_the_token_and_marks_the_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let (ferry, _) = daemon(dir.path());
    let url = ferry.url("/api/v1/tenants/prod/reconcile");
    let reconciles = || -> u64 {
        let (_, ready) = get_json(&ferry.url("/readyz"));
        ready["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "prod")
            .unwrap()["reconciles"]
            .as_u64()
            .unwrap()
    };
    let before = reconciles();

    let (status, body) = post(&url, None);
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        body["error"],
        "this call changes state and needs the API token: send Authorization: Bearer <token> with the value of the variable server.apiTokenEnv names"
    );
    let (status, _) = post(&url, Some("wrong"));
    assert_eq!(status, 401);
    let (status, _) = post(&url, Some("s3cre"));
    assert_eq!(status, 401, "a prefix of the token is not the token");
    assert_eq!(reconciles(), before, "a refused call triggers nothing");

    let (status, body) = post(&url, Some("s3cret"));
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["tenant"], "prod");
    assert_eq!(body["reason"], "manual");
    eventually("the manual reconcile", || {
        (reconciles() > before).then_some(())
    });
    assert!(
        !ferry.log().contains("s3cret"),
        "the token never reaches the log"
    );
}

/// `ferry ARGS` against this daemon (`--server`), with the API token in `token`.
fn ferry_cli(ferry: &Ferry, args: &[&str], token: Option<&str>) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.args(args)
        .arg("--server")
        .arg(ferry.url(""))
        .env_remove("FERRY_SERVER")
        .env_remove("FERRY_API_TOKEN");
    if let Some(token) = token {
        cmd.env("FERRY_API_TOKEN", token);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_reconcile_request_is_numbered_and_ferry_reconcile_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let (ferry, _) = daemon(dir.path());
    let tenant = || get_json(&ferry.url("/api/v1/tenants/prod")).1;

    let (status, body) = post(&ferry.url("/api/v1/tenants/prod/reconcile"), Some("s3cret"));
    assert_eq!(status, 202, "{body}");
    let first = body["request"].as_u64().unwrap();
    assert_eq!(tenant()["lastRequest"], first);
    eventually("the requested reconcile to finish", || {
        (tenant()["finishedRequest"].as_u64().unwrap() >= first).then_some(())
    });

    let (code, _, stderr) = ferry_cli(&ferry, &["reconcile", "prod", "--wait"], None);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("export FERRY_API_TOKEN with the server's API token"),
        "{stderr}"
    );

    let (code, stdout, stderr) =
        ferry_cli(&ferry, &["reconcile", "prod", "--wait"], Some("s3cret"));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let second = first + 1;
    assert!(
        stdout.contains(&format!("prod: reconcile queued (request {second})")),
        "{stdout}"
    );
    assert!(
        stdout.contains("prod: reconcile finished: in sync"),
        "{stdout}"
    );
    assert!(tenant()["finishedRequest"].as_u64().unwrap() >= second);
    // That pass found the tenant in sync: its history entry keeps the plan's changes
    // (none) and counts the connectors in sync, rather than a noop action for each.
    let newest = tenant()["history"][0].clone();
    let planned = &newest["detail"]["plan"]["tenants"][0];
    assert_eq!(planned["name"], "prod", "{newest}");
    assert_eq!(planned["actions"], serde_json::json!([]), "{newest}");
    assert_eq!(planned["summary"]["unchanged"], 2, "{newest}");

    // `ferry status -o yaml` is the tenant's API view as YAML.
    let (code, yaml, stderr) = ferry_cli(&ferry, &["status", "prod", "-o", "yaml"], None);
    assert_eq!(code, 0, "{stderr}");
    let view: Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(view["name"], "prod");
    assert_eq!(view["syncState"], "in_sync");
    assert_eq!(view["lastRequest"], second);

    // A commit with an invalid manifest: the reconcile asked for fails, and so does the
    // command.
    let repo = dir.path().join("repo");
    std::fs::write(
        repo.join("connectors/broken.yaml"),
        "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata: {name: broken}\nspec: {name: Broken, colour: red}\n",
    )
    .unwrap();
    ops_support::git(&repo, &["add", "."]);
    ops_support::git(&repo, &["commit", "-q", "-m", "A broken manifest"]);
    let broken = ops_support::git(&repo, &["rev-parse", "HEAD"]);
    // The file watch fetches it; the reconcile asked for after that reads it.
    eventually("the daemon to see the new commit", || {
        (tenant()["headCommit"]["sha"] == broken.as_str()).then_some(())
    });
    let (code, stdout, stderr) = ferry_cli(
        &ferry,
        &["reconcile", "prod", "--wait", "--timeout", "2m"],
        Some("s3cret"),
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("prod: reconcile finished: failed"),
        "{stdout}"
    );
    assert!(
        !ferry.log().contains("s3cret"),
        "the token never reaches the log"
    );
}

#[test]
fn a_person_acknowledges_a_warning_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let (ferry, _) = daemon(dir.path());
    let url = ferry.url("/api/v1/tenants/sandbox/warnings/ack");
    let open = || -> u64 {
        get_json(&ferry.url("/api/v1/tenants/sandbox")).1["openWarnings"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(open(), 1, "Lead Router is missing from the catalog");
    let body = r#"{"connector": "orders-sync", "kind": "agentic-workflow"}"#;

    let (status, _) = post_json(&url, None, body);
    assert_eq!(status, 401);
    let (status, reply) = post_json(&url, Some("s3cret"), r#"{"connector": "orders-sync"}"#);
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("missing field `kind`"),
        "{reply}"
    );
    let (status, reply) = post_json(
        &url,
        Some("s3cret"),
        r#"{"connector": "orders-sync", "kind": "vcs-credentials"}"#,
    );
    assert_eq!(status, 404, "{reply}");
    assert_eq!(
        reply["error"],
        "tenant sandbox: connector orders-sync has no open vcs-credentials warning; its open warnings: agentic-workflow \"Lead Router\""
    );
    assert_eq!(open(), 1, "a refused call closes nothing");

    let (status, reply) = post_json(&url, Some("s3cret"), body);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["closed"],
        serde_json::json!([{"kind": "agentic-workflow", "reference": "Lead Router"}])
    );
    assert_eq!(reply["released"], true);
    assert_eq!(reply["reconcile"], "queued");
    assert_eq!(open(), 0);
    let (status, _) = post_json(
        &ferry.url("/api/v1/tenants/staging/warnings/ack"),
        Some("s3cret"),
        body,
    );
    assert_eq!(status, 404);
}

#[test]
fn without_a_token_configured_the_post_is_open_and_reads_are_always_open() {
    let dir = tempfile::tempdir().unwrap();
    repo(dir.path());
    config(dir.path(), &["sandbox"], "");
    let mut ferry = Ferry::start(dir.path(), "state", &[], &[]);
    ferry.wait_ready();
    let (status, _) = post(&ferry.url("/api/v1/tenants/sandbox/reconcile"), None);
    assert_eq!(status, 202);
    let (status, _) = get_json(&ferry.url("/api/v1/tenants/sandbox"));
    assert_eq!(status, 200);
}

#[test]
fn a_token_variable_that_is_not_set_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    repo(dir.path());
    config(
        dir.path(),
        &["sandbox"],
        "  apiTokenEnv: FERRY_TEST_UNSET_TOKEN\n",
    );
    let mut ferry = Ferry::start(dir.path(), "state", &[], &[]);
    assert_eq!(ferry.wait_exit(), Some(64), "{}", ferry.log());
    assert!(
        ferry
            .log()
            .contains("server.apiTokenEnv names FERRY_TEST_UNSET_TOKEN, which is not set"),
        "{}",
        ferry.log()
    );
}

/// A tiny parser of the Prometheus / OpenMetrics text format: family → type, and every
/// sample line as (name with labels, value).
fn parse_metrics(text: &str) -> (BTreeMap<String, String>, Vec<(String, f64)>) {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            assert!(
                matches!(kind, "counter" | "gauge" | "histogram" | "info" | "unknown"),
                "{line}"
            );
            types.insert(name.to_owned(), kind.to_owned());
        } else if line.starts_with('#') || line.is_empty() {
            continue;
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
            let family = series.split('{').next().unwrap();
            assert!(
                family
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
                "{line}"
            );
            samples.push((series.to_owned(), value));
        }
    }
    (types, samples)
}

fn value(samples: &[(String, f64)], series: &str) -> Option<f64> {
    samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v)
}

#[test]
fn metrics_are_prometheus_text_with_every_documented_family() {
    let dir = tempfile::tempdir().unwrap();
    let (ferry, _) = daemon(dir.path());
    let (status, content_type, text) = get_with_type(&ferry.url("/metrics"));
    assert_eq!(status, 200);
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(text.ends_with("# EOF\n"));
    let (types, samples) = parse_metrics(&text);
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operating.md")).unwrap();
    for (family, kind) in [
        ("ferry_reconcile_duration_seconds", "histogram"),
        ("ferry_reconciles", "counter"),
        ("ferry_connectors", "gauge"),
        ("ferry_drifted_connectors", "gauge"),
        ("ferry_open_warnings", "gauge"),
        ("ferry_tenant_requests", "counter"),
        ("ferry_tenant_request_duration_seconds", "histogram"),
        ("ferry_status_deliveries", "counter"),
        ("ferry_status_outbox_depth", "gauge"),
        ("ferry_git_fetch_duration_seconds", "histogram"),
        ("ferry_git_fetch_failures", "counter"),
        ("ferry_owned_tenants", "gauge"),
    ] {
        let exported = if kind == "counter" {
            format!("{family}_total")
        } else {
            family.to_owned()
        };
        assert!(
            docs.contains(&format!("`{exported}`")),
            "{exported} is not documented in docs/operating.md"
        );
        if family == "ferry_reconcile_duration_seconds" || family == "ferry_git_fetch_failures" {
            // Present once a reconcile reports its duration / a fetch fails.
            continue;
        }
        assert_eq!(
            types.get(family).map(String::as_str),
            Some(kind),
            "{family} in:\n{text}"
        );
    }
    assert_eq!(value(&samples, "ferry_owned_tenants"), Some(2.0));
    assert_eq!(
        value(&samples, r#"ferry_open_warnings{tenant="sandbox"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            r#"ferry_connectors{tenant="sandbox",state="in_sync"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        value(&samples, r#"ferry_drifted_connectors{tenant="sandbox"}"#),
        Some(0.0)
    );
    assert_eq!(value(&samples, "ferry_status_outbox_depth"), Some(0.0));
    let lists = value(
        &samples,
        r#"ferry_tenant_requests_total{tenant="sandbox",platform="kizen",operation="list",code="200"}"#,
    );
    assert!(lists.is_some_and(|n| n >= 1.0), "{text}");
    let fetches = value(&samples, "ferry_git_fetch_duration_seconds_count");
    assert!(fetches.is_some_and(|n| n >= 1.0), "{text}");
    let notes = value(
        &samples,
        r#"ferry_status_deliveries_total{forge="git-notes",outcome="delivered"}"#,
    );
    assert!(notes.is_some_and(|n| n >= 1.0), "{text}");
    let states: BTreeSet<&str> = samples
        .iter()
        .filter(|(s, _)| s.starts_with(r#"ferry_connectors{tenant="prod","#))
        .map(|(s, _)| s.as_str())
        .collect();
    assert_eq!(
        states.len(),
        5,
        "every sync state of prod is exported: {states:?}"
    );
    for (series, _) in &samples {
        assert!(
            !series.contains("orders-sync") && !series.contains("Orders Sync"),
            "no connector name in a label: {series}"
        );
    }
}

#[test]
fn the_status_page_and_the_probes_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (ferry, head) = daemon(dir.path());
    let (status, ty, page) = get_with_type(&ferry.url("/"));
    assert_eq!(status, 200);
    assert_eq!(ty, "text/html; charset=utf-8");
    for needle in [
        ">sandbox</a>",
        ">prod</a>",
        "✓ In sync",
        "agentic-workflow",
        "Lead Router",
        &head[..7],
        "Add the orders connectors",
    ] {
        assert!(page.contains(needle), "{needle} missing in:\n{page}");
    }
    let (status, _, page) = get_with_type(&ferry.url(&format!("/tenants/sandbox?commit={head}")));
    assert_eq!(status, 200);
    assert!(page.contains(r#"class="highlight""#), "{page}");
    assert!(
        page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "the connector's name is escaped"
    );
    assert!(
        !page.contains("<script>"),
        "no markup from a connector name"
    );

    let (status, live) = get_json(&ferry.url("/livez"));
    assert_eq!((status, live["status"].as_str()), (200, Some("alive")));
    let (status, ready) = get_json(&ferry.url("/readyz"));
    assert_eq!(status, 200);
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["shard"]["index"], 0);
    assert_eq!(ready["shard"]["count"], 1);
    assert_eq!(
        ready["shard"]["owned"],
        serde_json::json!(["prod", "sandbox"])
    );
}
