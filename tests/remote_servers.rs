//! Remote sources against real git servers on loopback, driving the real `ferry serve`
//! binary: git's `git http-backend` behind an HTTP server that asks for a token, and
//! OpenSSH's `sshd` with a key. For each server: the fetch, a webhook-triggered fetch, git
//! notes pushed back with the source's own credentials, a wrong credential (a clear error,
//! the secret nowhere), and a server that stops answering (cut off after `source.timeout`,
//! a transient failure, the daemon stays up). And `serve --once`: it retries undelivered
//! statuses within `--drain-timeout`, and exits 1 saying how many stayed undelivered and
//! why.
//!
//! Every wait is bounded and polls; nothing asserts on how fast ferry is.

mod daemon_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use daemon_support::git_server::{GitHttpServer, Mode, Sshd, ssh_keygen};
use daemon_support::process::{Ferry, Status, TestEmulator, Workspace, kizen_tenant, status};
use daemon_support::{Connector, hmac_hex, push_payload};
use git2::Oid;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

/// The token the HTTP git server accepts.
const TOKEN: &str = "glpat-ferrytest-2718281828";

fn orders() -> Connector {
    Connector::new("orders", "SELECT id FROM orders")
}

fn in_sync(connectors: usize) -> Option<Status> {
    Some(Status {
        state: "success".to_owned(),
        description: format!(
            "in sync · {connectors} connector{}",
            if connectors == 1 { "" } else { "s" }
        ),
    })
}

/// Write `ferry.yaml`: the source at `repo` with the `source` lines added under it (auth,
/// timeout), the tenant `sandbox` of `emulator`, and `rest` at the top level.
fn configure(
    ws: &Workspace,
    emulator: &TestEmulator,
    repo: &str,
    source: &[&str],
    interval: &str,
    rest: &str,
) {
    let mut yaml = format!(
        "source:\n  repo: {repo}\n  branch: main\n  path: connectors\n  interval: {interval}\n"
    );
    for line in source {
        yaml.push_str(&format!("  {line}\n"));
    }
    yaml.push_str("tenants:\n");
    yaml.push_str(&ws.tenant(emulator, "sandbox", &[]));
    yaml.push_str(rest);
    ws.write("ferry.yaml", &yaml);
}

/// The statuses section that keeps git notes in ferry's cache (no push).
const NO_PUSH: &str = "statuses: [{kind: git-notes, push: false}]\n";

/// `ferry serve --once` in the workspace; its exit code once it ended.
async fn once(ws: &Workspace, args: &[&str], env: &[(&str, &str)]) -> (Ferry, Option<i32>) {
    let mut all = vec!["--once"];
    all.extend_from_slice(args);
    let mut ferry = Ferry::spawn(ws.path(), &all, env);
    let code = ferry.exit(WAIT).await.code();
    (ferry, code)
}

/// ferry's bare cache of the source (the only folder under `.ferry/repos`).
fn cache(ws: &Workspace) -> PathBuf {
    let repos = ws.path().join(".ferry/repos");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&repos)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.remove(0)
}

/// Every note ferry keeps under `refs/notes/ferry` in `repo`, as text.
fn notes_text(repo: &Path) -> String {
    let Ok(repo) = git2::Repository::open(repo) else {
        return String::new();
    };
    let Ok(notes) = repo.notes(Some("refs/notes/ferry")) else {
        return String::new();
    };
    notes
        .filter_map(Result::ok)
        .filter_map(|(_, commit)| {
            repo.find_note(Some("refs/notes/ferry"), commit)
                .ok()
                .and_then(|n| n.message().ok().map(str::to_owned))
        })
        .collect()
}

/// Fail when `secret` shows in what ferry printed (stdout, stderr), in its state store
/// (history, outbox) or in a status it wrote (its cache's notes, the origin's notes).
fn assert_nowhere(ws: &Workspace, ferry: &Ferry, secret: &str) {
    assert!(!secret.is_empty());
    let state = std::fs::read(ws.path().join(".ferry/state.db")).unwrap_or_default();
    let places = [
        ("stderr", ferry.log()),
        ("stdout", ferry.stdout()),
        ("state store", String::from_utf8_lossy(&state).into_owned()),
        ("statuses in ferry's cache", notes_text(&cache(ws))),
        ("statuses in the origin", notes_text(&ws.origin_path)),
    ];
    for (place, text) in places {
        assert!(
            !text.contains(secret),
            "the secret shows in the {place}:\n{text}"
        );
    }
}

/// POST a signed GitHub push of `commit` to `main` to the daemon.
async fn webhook(ferry: &Ferry, commit: Oid) -> reqwest::StatusCode {
    let body = push_payload("refs/heads/main", commit);
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/hooks/github", ferry.port))
        .header("X-GitHub-Event", "push")
        .header(
            "X-Hub-Signature-256",
            format!("sha256={}", hmac_hex("s3cret", &body)),
        )
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

/// Wait until `/readyz` shows a failed fetch, while the daemon runs; return it.
async fn wait_fetch_error(ferry: &mut Ferry) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(ready) = ferry.readyz().await {
            let error = &ready["source"]["lastFetchError"];
            if !error.is_null() {
                return error.clone();
            }
        }
        if let Some(status) = ferry.exited() {
            panic!("ferry exited ({status}):\n{}", ferry.log());
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no fetch error within {WAIT:?}:\n{}",
            ferry.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get(ferry: &Ferry, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://127.0.0.1:{}{path}", ferry.port))
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The value of `ferry_git_fetch_failures_total{class="transient"}` in `/metrics`.
fn transient_fetch_failures(metrics: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with("ferry_git_fetch_failures_total{class=\"transient\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

// ---------------------------------------------------------------------------------------
// git http-backend behind a token

struct Http {
    ws: Workspace,
    git: GitHttpServer,
    emulator: TestEmulator,
}

/// The origin served over HTTP with a token; `secrets/git-token` holds `token`.
async fn http(token: &str) -> Http {
    let ws = Workspace::new(&[orders()]);
    let git = GitHttpServer::start(ws.path(), TOKEN).await;
    let emulator = TestEmulator::start(vec![kizen_tenant("sandbox", &[])]);
    ws.write("secrets/git-token", token);
    Http { ws, git, emulator }
}

impl Http {
    fn configure(&self, source: &[&str], interval: &str, rest: &str) {
        let mut lines = vec!["auth: {tokenFile: secrets/git-token}"];
        lines.extend_from_slice(source);
        configure(
            &self.ws,
            &self.emulator,
            &self.git.url("origin.git"),
            &lines,
            interval,
            rest,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_the_source_is_fetched_with_the_token() {
    let h = http(TOKEN).await;
    h.configure(&[], "1h", NO_PUSH);
    let (ferry, code) = once(&h.ws, &[], &[]).await;
    assert_eq!(code, Some(0), "{}", ferry.log());
    assert_eq!(h.emulator.names("sandbox"), ["Orders"]);
    let requests = h.git.requests();
    assert!(
        requests.iter().any(|r| !r.authorized) && requests.iter().any(|r| r.authorized),
        "the server asked for the token and got it: {requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_a_webhook_fetches_the_pushed_commit() {
    let h = http(TOKEN).await;
    h.configure(
        &[],
        "1h",
        "server: {webhookSecretEnv: FERRY_WEBHOOK_SECRET}\n",
    );
    let mut ferry = h.ws.serve(&[], &[("FERRY_WEBHOOK_SECRET", "s3cret")]);
    let emulator = &h.emulator;
    ferry
        .until("the first apply", WAIT, || {
            (emulator.names("sandbox") == ["Orders"]).then_some(())
        })
        .await;
    let pushed = h.ws.commit(
        "main",
        &[Connector::new("refunds", "SELECT id FROM refunds")],
    );
    assert_eq!(webhook(&ferry, pushed).await, 202);
    ferry
        .until("the pushed commit to be applied", WAIT, || {
            (emulator.names("sandbox") == ["Orders", "Refunds"]).then_some(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_notes_are_pushed_with_the_source_token() {
    let h = http(TOKEN).await;
    h.configure(&[], "1h", "");
    let (ferry, code) = once(&h.ws, &[], &[]).await;
    assert_eq!(code, Some(0), "{}", ferry.log());
    let head = h.ws.head("main");
    assert_eq!(
        status(&h.ws.origin_path, head, "ferry/sandbox"),
        in_sync(1),
        "the status reached the served repository:\n{}",
        ferry.log()
    );
    assert!(h.git.authorized_pushes() > 0, "{:?}", h.git.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_a_wrong_token_is_named_and_never_shown() {
    let wrong = "glpat-wrongtoken-1618033";
    let h = http(wrong).await;
    h.configure(&[], "1h", "");
    let (ferry, code) = once(&h.ws, &[], &[]).await;
    let log = ferry.log();
    assert_eq!(code, Some(1), "{log}");
    // The place is named as ferry resolved it, relative to ferry.yaml's folder.
    assert!(
        log.contains(&format!(
            "cannot fetch {}: the remote refused the credentials from source.auth.tokenFile ./secrets/git-token",
            h.git.url("origin.git"),
        )),
        "{log}"
    );
    assert!(h.git.requests().iter().all(|r| !r.authorized));
    assert_nowhere(&h.ws, &ferry, wrong);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_a_server_that_stops_answering_is_cut_off_and_the_daemon_carries_on() {
    let h = http(TOKEN).await;
    h.configure(&["timeout: 2s"], "1h", NO_PUSH);
    h.git.set_mode(Mode::Silent);
    let mut ferry = h.ws.serve(&[], &[]);
    let failure = wait_fetch_error(&mut ferry).await;
    let message = failure["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("cannot fetch {}: ", h.git.url("origin.git")))
            && message.contains("the remote gave no answer for 2s (source.timeout)"),
        "{failure}"
    );
    assert_eq!(failure["transient"], true, "{failure}");
    assert_eq!(get(&ferry, "/livez").await.0, 200);
    let (_, metrics) = get(&ferry, "/metrics").await;
    assert!(transient_fetch_failures(&metrics) >= 1.0, "{metrics}");

    // The server answers again: a retry fetches and the tenant is applied.
    h.git.set_mode(Mode::Serve);
    let emulator = &h.emulator;
    ferry
        .until("the apply after the server came back", WAIT, || {
            (emulator.names("sandbox") == ["Orders"]).then_some(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_retries_undelivered_statuses_before_it_exits() {
    let h = http(TOKEN).await;
    h.configure(&[], "1h", "");
    h.git.set_mode(Mode::RefusePush);
    let mut ferry = Ferry::spawn(h.ws.path(), &["--once", "--drain-timeout", "1m"], &[]);
    let git = &h.git;
    ferry
        .until("a refused push", WAIT, || {
            git.requests()
                .iter()
                .any(|r| r.target.contains("git-receive-pack"))
                .then_some(())
        })
        .await;
    h.git.set_mode(Mode::Serve);
    let code = ferry.exit(WAIT).await.code();
    assert_eq!(code, Some(0), "{}", ferry.log());
    assert_eq!(
        status(&h.ws.origin_path, h.ws.head("main"), "ferry/sandbox"),
        in_sync(1),
        "{}",
        ferry.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_exits_1_saying_how_many_statuses_stayed_undelivered_and_why() {
    let h = http(TOKEN).await;
    h.configure(&["timeout: 2s"], "1h", "");
    h.git.set_mode(Mode::SilentOnPush);
    let (ferry, code) = once(&h.ws, &["--drain-timeout", "3s"], &[]).await;
    let log = ferry.log();
    assert_eq!(code, Some(1), "{log}");
    assert_eq!(
        h.emulator.names("sandbox"),
        ["Orders"],
        "the tenant was applied"
    );
    assert!(
        log.contains("1 commit status was not delivered"),
        "how many: {log}"
    );
    assert!(
        log.contains(&format!(
            "git notes: cannot push refs/notes/ferry to {}: the remote gave no answer for 2s (source.timeout)",
            h.git.url("origin.git")
        )),
        "why: {log}"
    );
}

// ---------------------------------------------------------------------------------------
// OpenSSH with a key

struct Ssh {
    ws: Workspace,
    sshd: Sshd,
    emulator: TestEmulator,
    home: PathBuf,
}

/// The origin served by sshd; ferry's key is `key` (the authorized one by default).
fn ssh() -> Ssh {
    let ws = Workspace::new(&[orders()]);
    let sshd = Sshd::start(&ws.path().join("sshd"));
    let emulator = TestEmulator::start(vec![kizen_tenant("sandbox", &[])]);
    let home = sshd.home();
    Ssh {
        ws,
        sshd,
        emulator,
        home,
    }
}

impl Ssh {
    fn configure(&self, key: &Path, source: &[&str], interval: &str, rest: &str) {
        let auth = format!("auth: {{sshKeyFile: {}}}", key.display());
        let mut lines = vec![auth.as_str()];
        lines.extend_from_slice(source);
        configure(
            &self.ws,
            &self.emulator,
            &self.sshd.url(&self.ws.origin_path),
            &lines,
            interval,
            rest,
        );
    }

    fn env(&self) -> Vec<(&str, &str)> {
        vec![("HOME", self.home.to_str().unwrap())]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_the_source_is_fetched_with_the_key() {
    let s = ssh();
    s.configure(&s.sshd.client_key, &[], "1h", NO_PUSH);
    let (ferry, code) = once(&s.ws, &[], &s.env()).await;
    assert_eq!(code, Some(0), "{}\n{}", ferry.log(), s.sshd.log());
    assert_eq!(s.emulator.names("sandbox"), ["Orders"]);
    assert!(
        s.sshd.log().contains("Accepted publickey"),
        "{}",
        s.sshd.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_a_webhook_fetches_the_pushed_commit() {
    let s = ssh();
    s.configure(
        &s.sshd.client_key,
        &[],
        "1h",
        "server: {webhookSecretEnv: FERRY_WEBHOOK_SECRET}\n",
    );
    let mut env = s.env();
    env.push(("FERRY_WEBHOOK_SECRET", "s3cret"));
    let mut ferry = s.ws.serve(&[], &env);
    let emulator = &s.emulator;
    ferry
        .until("the first apply", WAIT, || {
            (emulator.names("sandbox") == ["Orders"]).then_some(())
        })
        .await;
    let pushed = s.ws.commit(
        "main",
        &[Connector::new("refunds", "SELECT id FROM refunds")],
    );
    assert_eq!(webhook(&ferry, pushed).await, 202);
    ferry
        .until("the pushed commit to be applied", WAIT, || {
            (emulator.names("sandbox") == ["Orders", "Refunds"]).then_some(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_notes_are_pushed_with_the_source_key() {
    let s = ssh();
    s.configure(&s.sshd.client_key, &[], "1h", "");
    let (ferry, code) = once(&s.ws, &[], &s.env()).await;
    assert_eq!(code, Some(0), "{}", ferry.log());
    assert_eq!(
        status(&s.ws.origin_path, s.ws.head("main"), "ferry/sandbox"),
        in_sync(1),
        "the status reached the served repository:\n{}",
        ferry.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_a_key_the_server_does_not_know_is_named_and_never_shown() {
    let s = ssh();
    let stranger = s.ws.path().join("stranger_key");
    ssh_keygen(&stranger);
    s.configure(&stranger, &[], "1h", "");
    let (ferry, code) = once(&s.ws, &[], &s.env()).await;
    let log = ferry.log();
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains(&format!(
            "cannot fetch {}: the remote refused the credentials from source.auth.sshKeyFile {}",
            s.sshd.url(&s.ws.origin_path),
            stranger.display()
        )),
        "{log}"
    );
    let key = std::fs::read_to_string(&stranger).unwrap();
    for line in key.lines().filter(|l| !l.starts_with("-----")) {
        assert_nowhere(&s.ws, &ferry, line);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_a_server_that_stops_answering_is_cut_off_and_the_daemon_carries_on() {
    let s = ssh();
    s.configure(&s.sshd.client_key, &["timeout: 2s"], "1h", NO_PUSH);
    s.sshd.pause();
    let mut ferry = s.ws.serve(&[], &s.env());
    let failure = wait_fetch_error(&mut ferry).await;
    let message = failure["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("cannot fetch {}: ", s.sshd.url(&s.ws.origin_path)))
            && message.contains("the remote gave no answer for 2s (source.timeout)"),
        "{failure}"
    );
    assert_eq!(failure["transient"], true, "{failure}");
    assert_eq!(get(&ferry, "/livez").await.0, 200);
    let (_, metrics) = get(&ferry, "/metrics").await;
    assert!(transient_fetch_failures(&metrics) >= 1.0, "{metrics}");

    s.sshd.resume();
    let emulator = &s.emulator;
    ferry
        .until("the apply after the server came back", WAIT, || {
            (emulator.names("sandbox") == ["Orders"]).then_some(())
        })
        .await;
}
