//! The `ferry serve` process: start-up errors, signals and exit codes, `--once`, and
//! structured logs, driving the real binary against real git repositories.

mod daemon_support;

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use daemon_support::{commit, config_yaml, origin};
use serde_json::Value;

/// A `ferry serve` child process with its stderr in a file.
struct Ferry {
    child: Child,
    log: PathBuf,
}

impl Ferry {
    fn spawn(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Ferry {
        let log = dir.join(format!("ferry-{}.log", rand_suffix()));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.arg("serve")
            .args(args)
            .current_dir(dir)
            .env_remove("FERRY_LISTEN")
            .env_remove("FERRY_CONFIG")
            .env_remove("FERRY_STATE")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Ferry {
            child: cmd.spawn().unwrap(),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Wait for the process to exit, at most 20 s.
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "ferry did not exit; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until `/readyz` reports a running reconcile, at most 10 s.
    fn wait_running(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let running = readyz(port).is_some_and(|r| {
                r["tenants"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t["running"] == true)
            });
            if running {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no reconcile started:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until the log contains `needle`, at most 10 s.
    fn wait_log(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.log().contains(needle) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "ferry exited ({status}) before logging {needle:?}:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Ferry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `/readyz` as JSON (blocking client: these tests are plain threads).
fn readyz(port: u16) -> Option<Value> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let response = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
            .await
            .ok()?;
        response.json().await.ok()
    })
}

fn setup(dir: &Path) -> git2::Repository {
    let (_, repo) = origin(dir);
    std::fs::write(dir.join("ferry.yaml"), config_yaml("origin.git", "1h", "")).unwrap();
    repo
}

#[test]
fn sigterm_during_a_reconcile_lets_it_finish_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut ferry = Ferry::spawn(
        dir.path(),
        &["--listen", &listen, "--concurrency", "1"],
        &[("FERRY_PLACEHOLDER_DELAY", "3s")],
    );
    ferry.wait_running(port);
    ferry.signal("TERM");
    let status = ferry.wait();
    let log = ferry.log();
    assert_eq!(status.code(), Some(0), "{log}");
    let shutting = log.find("shutting down").expect("shutdown is logged");
    let finished = log[shutting..].find("reconcile finished");
    assert!(
        finished.is_some(),
        "the running reconcile finished after SIGTERM:\n{log}"
    );
    assert!(log.contains("shutdown complete"), "{log}");
    // Only the running reconcile finished after the signal: nothing new started.
    assert_eq!(
        log[shutting..].matches("reconcile finished").count(),
        1,
        "{log}"
    );
}

#[test]
fn a_second_signal_exits_at_once_with_130() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut ferry = Ferry::spawn(
        dir.path(),
        &["--listen", &listen, "--grace-period", "5m"],
        &[("FERRY_PLACEHOLDER_DELAY", "10m")],
    );
    ferry.wait_running(port);
    ferry.signal("INT");
    ferry.wait_log("shutting down");
    ferry.signal("INT");
    let status = ferry.wait();
    assert_eq!(status.code(), Some(130), "{}", ferry.log());
    assert!(ferry.log().contains("second signal: exiting at once"));
}

#[test]
fn config_errors_exit_64_before_binding_the_port() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    // Hold the port: a daemon that bound before checking its config would fail on it.
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = held.local_addr().unwrap().to_string();

    let cases: &[(&str, &str)] = &[
        (
            "source: {repo: origin.git}\ntenants: []\nbogus: 1\n",
            "unknown field `bogus`",
        ),
        (
            "source: {repo: origin.git, interval: soon}\ntenants: []\n",
            "source.interval \"soon\" cannot be used: \"soon\" must start with a number",
        ),
        (
            "source: {repo: origin.git}\ntenants:\n  - {name: prod, platform: kizen, url: emulator, drift: {schedule: \"0 * * *\"}}\n",
            "tenant prod: drift.schedule \"0 * * *\" is not a 5-field cron expression",
        ),
        (
            "source: {repo: origin.git}\ntenants: []\nserver: {webhookSecretEnv: FERRY_TEST_UNSET_SECRET}\n",
            "server.webhookSecretEnv names FERRY_TEST_UNSET_SECRET, which is not set",
        ),
    ];
    for (i, (yaml, expected)) in cases.iter().enumerate() {
        let file = format!("bad{i}.yaml");
        std::fs::write(dir.path().join(&file), yaml).unwrap();
        let mut ferry = Ferry::spawn(dir.path(), &["--config", &file, "--listen", &listen], &[]);
        let status = ferry.wait();
        let log = ferry.log();
        assert_eq!(status.code(), Some(64), "{file}: {log}");
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
    assert_eq!(missing.wait().code(), Some(64));
    assert!(
        missing
            .log()
            .contains("cannot read the configuration nope.yaml"),
        "{}",
        missing.log()
    );

    // With a valid configuration the held port is what fails: the check above is meaningful.
    let mut valid = Ferry::spawn(dir.path(), &["--listen", &listen], &[]);
    assert_eq!(valid.wait().code(), Some(1), "{}", valid.log());
    assert!(
        valid.log().contains(&format!("cannot listen on {listen}")),
        "{}",
        valid.log()
    );
    drop(held);
}

#[test]
fn once_reconciles_every_tenant_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let mut ferry = Ferry::spawn(dir.path(), &["--once"], &[]);
    let status = ferry.wait();
    let log = ferry.log();
    assert_eq!(status.code(), Some(0), "{log}");
    assert_eq!(log.matches("reconcile finished").count(), 2, "{log}");
    assert!(log.contains("every tenant reconciled"), "{log}");
}

#[test]
fn once_exits_1_when_a_tenant_fails() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let yaml = config_yaml("origin.git", "1h", "").replace("branch: release", "branch: hotfix");
    std::fs::write(dir.path().join("ferry.yaml"), yaml).unwrap();
    let mut ferry = Ferry::spawn(dir.path(), &["--once"], &[]);
    let status = ferry.wait();
    let log = ferry.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("hotfix") && log.contains("does not exist in"),
        "{log}"
    );
    assert!(log.contains("some tenants did not reconcile"), "{log}");
}

#[test]
fn json_logs_carry_the_reconcile_span_with_tenant_and_commit() {
    let dir = tempfile::tempdir().unwrap();
    let repo = setup(dir.path());
    let listen = format!("127.0.0.1:{}", free_port());
    let mut ferry = Ferry::spawn(
        dir.path(),
        &["--listen", &listen, "--log-format", "json"],
        &[],
    );
    ferry.wait_log("\"reasons\":\"startup\"");
    // A commit in the local source is noticed by the file watch.
    let new = commit(&repo, "main", "orders.yaml", "v2");
    let reconciled = |log: &str| {
        log.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| {
                v["span"]["commit"] == new.to_string()
                    && v["fields"]["message"] == "reconcile finished"
            })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        if let Some(line) = reconciled(&ferry.log()) {
            break line;
        }
        assert!(
            Instant::now() < deadline,
            "no JSON reconcile line for {new}:\n{}",
            ferry.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    ferry.signal("TERM");
    assert_eq!(ferry.wait().code(), Some(0));
    assert_eq!(line["span"]["name"], "reconcile");
    assert_eq!(line["span"]["tenant"], "sandbox");
    assert_eq!(line["span"]["reasons"], "watch");
    assert_eq!(line["level"], "INFO");
}
