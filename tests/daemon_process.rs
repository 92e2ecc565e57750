//! The `ferry serve` process: start-up errors, signals and exit codes, `--once`, and
//! structured logs, driving the real binary against real git repositories and the
//! platform emulator (in-process `url: emulator` tenants, or one on a loopback port of the
//! test where a test needs slow or hanging requests).

mod daemon_support;

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use daemon_support::process::{Ferry, Status, TestEmulator, Workspace, kizen_tenant, status};
use daemon_support::{Connector, commit_connectors, config_yaml, origin};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

fn setup(dir: &Path) -> git2::Repository {
    let (_, repo) = origin(dir);
    std::fs::write(dir.join("ferry.yaml"), config_yaml("origin.git", "1h", "")).unwrap();
    repo
}

fn success(description: &str) -> Option<Status> {
    Some(Status {
        state: "success".to_owned(),
        description: description.to_owned(),
    })
}

/// Four connectors to create in a tenant whose every request takes 300 ms: the apply
/// takes seconds, and SIGTERM arrives after its first connector.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_an_apply_lets_it_finish_and_exits_0() {
    let connectors: Vec<Connector> = (1..=4)
        .map(|i| Connector::new(&format!("feed-{i}"), &format!("SELECT {i}")))
        .collect();
    let ws = Workspace::new(&connectors);
    let mut sandbox = kizen_tenant("sandbox", &[]);
    sandbox.faults.latency_ms = 300;
    let emulator = TestEmulator::start(vec![sandbox]);
    ws.configure(
        "origin.git",
        "1h",
        // One action at a time, so the apply is still running when the first one ends.
        &[ws.tenant(&emulator, "sandbox", &["concurrency: 1"])],
        "",
    );

    let mut ferry = ws.serve(&["--concurrency", "1"], &[]);
    ferry.wait_log("action finished", WAIT).await;
    ferry.signal("TERM");
    let exit = ferry.exit(WAIT).await;
    let log = ferry.log();
    assert_eq!(exit.code(), Some(0), "{log}");
    let shutting = log.find("shutting down").expect("shutdown is logged");
    assert!(
        log[shutting..].contains("action finished"),
        "the apply went on after SIGTERM:\n{log}"
    );
    assert!(log.contains("shutdown complete"), "{log}");
    assert_eq!(
        log[shutting..].matches("reconcile finished").count(),
        1,
        "only the running reconcile finished after the signal; nothing new started:\n{log}"
    );

    // Every connector the apply was creating exists once, inactive, and is recorded.
    assert_eq!(
        emulator.names("sandbox"),
        ["Feed 1", "Feed 2", "Feed 3", "Feed 4"],
        "{}",
        emulator.dump()
    );
    assert!(
        emulator
            .objects("sandbox")
            .iter()
            .all(|o| o["active"] == false)
    );
    let live_ids: Vec<String> = emulator
        .objects("sandbox")
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    let inventory = ws.inventory("sandbox");
    assert_eq!(inventory.len(), 4, "{inventory:?}");
    assert!(inventory.iter().all(|(_, id)| live_ids.contains(id)));
    assert_eq!(ws.open_journal_entries(), 0);
    assert_eq!(
        status(&ws.origin_path, ws.head("main"), "ferry/sandbox"),
        success("in sync · 4 connectors")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once_with_130() {
    let ws = Workspace::new(&[Connector::new("orders", "SELECT 1")]);
    let mut sandbox = kizen_tenant("sandbox", &[]);
    sandbox.faults.hang = true;
    let emulator = TestEmulator::start(vec![sandbox]);
    ws.configure(
        "origin.git",
        "1h",
        &[ws.tenant(&emulator, "sandbox", &[])],
        "",
    );

    let mut ferry = ws.serve(&["--grace-period", "5m"], &[]);
    ferry.wait_running(WAIT).await;
    ferry.signal("INT");
    ferry.wait_log("shutting down", WAIT).await;
    ferry.signal("INT");
    let exit = ferry.exit(WAIT).await;
    assert_eq!(exit.code(), Some(130), "{}", ferry.log());
    assert!(ferry.log().contains("second signal: exiting at once"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_outlasting_the_grace_period_exits_1() {
    let ws = Workspace::new(&[Connector::new("orders", "SELECT 1")]);
    let mut sandbox = kizen_tenant("sandbox", &[]);
    sandbox.faults.hang = true;
    let emulator = TestEmulator::start(vec![sandbox]);
    ws.configure(
        "origin.git",
        "1h",
        &[ws.tenant(&emulator, "sandbox", &[])],
        "",
    );

    let mut ferry = ws.serve(&["--grace-period", "1s"], &[]);
    ferry.wait_running(WAIT).await;
    ferry.signal("TERM");
    let exit = ferry.exit(WAIT).await;
    let log = ferry.log();
    assert_eq!(exit.code(), Some(1), "{log}");
    assert!(
        log.contains("the grace period ran out; exiting with reconciles unfinished"),
        "{log}"
    );
    assert!(log.contains("still_running=[\"sandbox\"]"), "{log}");
}

#[tokio::test]
async fn config_errors_exit_64_before_binding_the_port() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    // Hold the port: a daemon that bound before checking its config would fail on it.
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = held.local_addr().unwrap().to_string();

    let cases: &[(&str, &str)] = &[
        (
            "source: {repo: origin.git}\ntenants: []\nbogus: 1\n",
            "bad0.yaml:3:1: unknown field `bogus`",
        ),
        (
            "source: {repo: origin.git, interval: soon}\ntenants: []\n",
            "bad1.yaml:1:38: source.interval: `soon` is not a duration",
        ),
        (
            "source: {repo: origin.git}\ntenants:\n  - {name: prod, platform: kizen, url: emulator, drift: {schedule: \"0 * * *\"}}\n",
            "tenants[0].drift.schedule: `0 * * *` is not a 5-field cron expression",
        ),
        (
            "source: {repo: origin.git}\ntenants:\n  - {name: prod, platform: kizen, url: emulator}\nserver: {webhookSecretEnv: FERRY_TEST_UNSET_SECRET}\n",
            "server.webhookSecretEnv names FERRY_TEST_UNSET_SECRET, which is not set",
        ),
        (
            "source: {repo: origin.git, branch: \"bad..name\"}\ntenants:\n  - {name: prod, platform: kizen, url: emulator}\n",
            "branch \"bad..name\" is not a valid git branch name",
        ),
    ];
    for (i, (yaml, expected)) in cases.iter().enumerate() {
        let file = format!("bad{i}.yaml");
        std::fs::write(dir.path().join(&file), yaml).unwrap();
        let mut ferry = Ferry::spawn(dir.path(), &["--config", &file, "--listen", &listen], &[]);
        let exit = ferry.exit(WAIT).await;
        let log = ferry.log();
        assert_eq!(exit.code(), Some(64), "{file}: {log}");
        assert!(
            log.contains(expected),
            "{file}: expected {expected:?} in:\n{log}"
        );
        assert!(!log.contains("cannot listen"), "{file}: {log}");
    }

    let mut missing = Ferry::spawn(
        dir.path(),
        &["--config", "nope.yaml", "--listen", &listen],
        &[],
    );
    assert_eq!(missing.exit(WAIT).await.code(), Some(64));
    assert!(
        missing
            .log()
            .contains("cannot read the configuration nope.yaml"),
        "{}",
        missing.log()
    );

    // With a valid configuration the held port is what fails: the check above is meaningful.
    let mut valid = Ferry::spawn(dir.path(), &["--listen", &listen], &[]);
    assert_eq!(valid.exit(WAIT).await.code(), Some(1), "{}", valid.log());
    assert!(
        valid.log().contains(&format!("cannot listen on {listen}")),
        "{}",
        valid.log()
    );
    drop(held);
}

/// Credentials written into a URL and credentials that cannot be read are configuration
/// errors like any other: 64, before the port is bound, and no secret in the log.
#[tokio::test]
async fn credential_errors_exit_64_and_show_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = held.local_addr().unwrap().to_string();
    /// A configuration, its environment, and what the log must say.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (
            "source: {repo: origin.git}\ntenants:\n  - {name: prod, platform: kizen, url: \"http://ferry:hunter2-pass@127.0.0.1:9/api\", auth: {tokenEnv: FERRY_TEST_PROD_TOKEN}}\n",
            &[("FERRY_TEST_PROD_TOKEN", "prod-token-value")],
            "tenants[0].url holds credentials (`http://***@127.0.0.1:9/api`)",
        ),
        (
            "source: {repo: origin.git}\ntenants:\n  - {name: prod, platform: kizen, url: \"http://127.0.0.1:9/api\", auth: {tokenEnv: FERRY_TEST_UNSET_PROD_TOKEN}}\n",
            &[],
            "FERRY_TEST_UNSET_PROD_TOKEN",
        ),
    ];
    for (i, (yaml, env, expected)) in cases.iter().enumerate() {
        let file = format!("creds{i}.yaml");
        std::fs::write(dir.path().join(&file), yaml).unwrap();
        let mut ferry = Ferry::spawn(dir.path(), &["--config", &file, "--listen", &listen], env);
        let exit = ferry.exit(WAIT).await;
        let log = ferry.log();
        assert_eq!(exit.code(), Some(64), "{file}: {log}");
        assert!(
            log.contains(expected),
            "{file}: expected {expected:?} in:\n{log}"
        );
        assert!(
            !log.contains("hunter2"),
            "{file}: a secret is shown:\n{log}"
        );
        assert!(!log.contains("cannot listen"), "{file}: {log}");
    }
    drop(held);
}

#[tokio::test]
async fn once_applies_every_tenant_reports_statuses_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let origin_repo = setup(dir.path());
    let mut ferry = Ferry::spawn(dir.path(), &["--once"], &[]);
    let exit = ferry.exit(WAIT).await;
    let log = ferry.log();
    assert_eq!(exit.code(), Some(0), "{log}");
    assert_eq!(log.matches("reconcile finished").count(), 2, "{log}");
    assert!(log.contains("every tenant reconciled"), "{log}");
    // sandbox follows main and prod follows release: each commit has its tenant's status.
    let origin_path = dir.path().join("origin.git");
    let main = origin_repo.refname_to_id("refs/heads/main").unwrap();
    let release = origin_repo.refname_to_id("refs/heads/release").unwrap();
    assert_eq!(
        status(&origin_path, main, "ferry/sandbox"),
        success("in sync · 1 connector")
    );
    assert_eq!(
        status(&origin_path, release, "ferry/prod"),
        success("in sync · 1 connector")
    );
    assert_eq!(status(&origin_path, main, "ferry/prod"), None);

    // A second run finds nothing to do and still exits 0.
    let mut again = Ferry::spawn(dir.path(), &["--once"], &[]);
    assert_eq!(again.exit(WAIT).await.code(), Some(0), "{}", again.log());
    assert!(!again.log().contains("action finished"), "{}", again.log());
}

#[tokio::test]
async fn once_exits_1_when_an_apply_fails_and_reports_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let origin_repo = setup(dir.path());
    // ferry's own checks accept any non-empty SQL; the platform refuses this one on import.
    let failing = commit_connectors(
        &origin_repo,
        "main",
        &[Connector::new("orders", "DELETE FROM orders")],
    );
    let mut ferry = Ferry::spawn(dir.path(), &["--once"], &[]);
    let exit = ferry.exit(WAIT).await;
    let log = ferry.log();
    assert_eq!(exit.code(), Some(1), "{log}");
    assert!(log.contains("some tenants did not reconcile"), "{log}");
    let sandbox = status(&dir.path().join("origin.git"), failing, "ferry/sandbox").unwrap();
    assert_eq!(sandbox.state, "failure", "{sandbox:?}");
    assert!(
        sandbox.description.starts_with("failed: orders: "),
        "{sandbox:?}"
    );
}

#[tokio::test]
async fn once_exits_1_when_a_tenant_branch_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let yaml = config_yaml("origin.git", "1h", "").replace("branch: release", "branch: hotfix");
    std::fs::write(dir.path().join("ferry.yaml"), yaml).unwrap();
    let mut ferry = Ferry::spawn(dir.path(), &["--once"], &[]);
    let exit = ferry.exit(WAIT).await;
    let log = ferry.log();
    assert_eq!(exit.code(), Some(1), "{log}");
    assert!(
        log.contains("hotfix") && log.contains("does not exist in"),
        "{log}"
    );
    assert!(log.contains("some tenants did not reconcile"), "{log}");
}

#[tokio::test]
async fn json_logs_carry_the_reconcile_span_with_tenant_and_commit() {
    let dir = tempfile::tempdir().unwrap();
    let repo = setup(dir.path());
    let mut ferry = Ferry::serve(dir.path(), &["--log-format", "json"], &[]);
    ferry.wait_log("\"reasons\":\"startup\"", WAIT).await;
    // A commit in the local source is noticed by the file watch.
    let new = commit_connectors(&repo, "main", &[Connector::new("orders", "SELECT 3")]);
    let log = ferry.log_path();
    let line = ferry
        .until("a JSON reconcile line for the new commit", WAIT, || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|v| {
                    v["span"]["commit"] == new.to_string()
                        && v["fields"]["message"] == "reconcile finished"
                })
        })
        .await;
    ferry.signal("TERM");
    assert_eq!(ferry.exit(WAIT).await.code(), Some(0));
    assert_eq!(line["span"]["name"], "reconcile");
    assert_eq!(line["span"]["tenant"], "sandbox");
    assert_eq!(line["span"]["reasons"], "watch");
    assert_eq!(line["level"], "INFO");
}
