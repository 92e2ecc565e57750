//! Pushes announced while a webhook's fetch runs cost one more fetch, not one each.
//!
//! One test in its own binary: it counts fetches with the process-wide metrics
//! (`ferry_git_fetch_duration_seconds_count`), which no other test may touch. The source
//! is served by `git http-backend` behind a token; the server holds the first fetch
//! (silent mode) while more pushes arrive.

mod daemon_support;

use std::time::Duration;

use daemon_support::git_server::{GitHttpServer, Mode};
use daemon_support::{Daemon, commit, hmac_hex, options, origin, push_payload, wait_for};
use ferry::daemon::scheduler::Reason;
use serde_json::Value;

const TOKEN: &str = "git-token-5c1e";

fn fetches() -> u64 {
    ferry::metrics::get()
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix("ferry_git_fetch_duration_seconds_count "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_arriving_during_a_fetch_cost_one_more_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let (_, origin) = origin(dir.path());
    std::fs::write(dir.path().join("git-token"), TOKEN).unwrap();
    let git = GitHttpServer::start(dir.path(), TOKEN).await;
    let config = format!(
        "source:\n  repo: {}\n  branch: main\n  path: connectors\n  interval: 1h\n  auth: {{tokenFile: git-token}}\n\
         tenants:\n  - {{name: sandbox, platform: kizen, url: emulator}}\n",
        git.url("origin.git")
    );
    let daemon = Daemon::start(
        dir.path(),
        &config,
        options(Duration::from_secs(3600), false),
        Some("s3cret"),
    )
    .await;
    daemon.controller.refresh(Reason::Startup).await.unwrap();
    let client = reqwest::Client::new();
    let new = commit(&origin, "main", "orders.yaml", "v2");
    let body = push_payload("refs/heads/main", new);
    let push = |delivery: String| {
        client
            .post(daemon.url("/hooks/github"))
            .header("X-GitHub-Event", "push")
            .header("X-GitHub-Delivery", delivery)
            .header(
                "X-Hub-Signature-256",
                format!("sha256={}", hmac_hex("s3cret", &body)),
            )
            .body(body.clone())
            .send()
    };

    let start = fetches();
    let requests = git.requests().len();
    git.set_mode(Mode::Silent);
    let first = push("delivery-0".to_owned()).await.unwrap();
    assert_eq!(first.status(), 202);
    wait_for("the first push's fetch to reach the server", || {
        git.requests().len() > requests
    })
    .await;
    // Five more pushes (other deliveries) while that fetch hangs.
    for i in 1..=5 {
        let answer: Value = push(format!("delivery-{i}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["status"], "accepted", "{answer}");
    }
    git.set_mode(Mode::Serve);

    let r = daemon.recorder.clone();
    wait_for("the pushed commit to reconcile sandbox", || {
        r.saw("sandbox", Reason::Webhook, new)
    })
    .await;
    wait_for("the fetch after the held one", || fetches() >= start + 2).await;
    // Longer than a fetch from loopback takes: more fetches would have happened by now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        fetches() - start,
        2,
        "six pushes: the held fetch and one more"
    );
}
