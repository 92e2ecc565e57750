//! How `ferry serve` notices new commits: the file watch, the poll and the webhooks, with
//! real git repositories and a daemon on a loopback port.

mod daemon_support;

use std::time::Duration;

use daemon_support::{
    Daemon, commit, config_yaml, git, hmac_hex, options, origin, push_payload, wait_for,
};
use ferry::daemon::scheduler::{Reason, Reasons};
use git2::Repository;
use serde_json::Value;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_to_a_local_bare_repository_is_noticed_through_the_file_watch() {
    let dir = tempfile::tempdir().unwrap();
    let (origin_path, _) = origin(dir.path());
    let config = config_yaml(&origin_path.display().to_string(), "1h", "");
    let daemon = Daemon::start(dir.path(), &config, options(HOUR, true), None).await;
    daemon.controller.refresh(Reason::Startup).await.unwrap();

    // A person commits in a clone and pushes, as they would.
    let work = dir.path().join("work");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            "-b",
            "main",
            origin_path.to_str().unwrap(),
            "work",
        ],
    );
    std::fs::write(work.join("connectors/orders.sql"), "SELECT 2").unwrap();
    git(&work, &["commit", "-q", "-am", "orders: new SQL"]);
    git(&work, &["push", "-q", "origin", "main"]);
    let pushed = Repository::open_bare(&origin_path)
        .unwrap()
        .refname_to_id("refs/heads/main")
        .unwrap();

    let r = daemon.recorder.clone();
    wait_for(
        "the watch to reconcile sandbox at the pushed commit",
        || r.saw("sandbox", Reason::Watch, pushed),
    )
    .await;
    assert_eq!(daemon.head("main"), Some(pushed));
    assert_eq!(
        r.count("prod", Reason::Watch),
        0,
        "prod follows release, which did not move"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_the_watched_repository_triggers_no_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let (origin_path, origin) = origin(dir.path());
    let config = config_yaml(&origin_path.display().to_string(), "1h", "");
    let daemon = Daemon::start(dir.path(), &config, options(HOUR, true), None).await;
    // A fetch reads the branch refs it watches; so do people's git commands.
    daemon.controller.refresh(Reason::Startup).await.unwrap();
    git(&origin_path, &["log", "-1", "--format=%H", "main"]);
    git(&origin_path, &["show-ref"]);
    let remote = daemon.controller.remote().clone();
    let fetched = remote.last_success();
    // Longer than the watch's debounce and a fetch, many times over.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        remote.last_success(),
        fetched,
        "nothing changed, yet the watch fetched again"
    );

    // A change is still noticed.
    let new = commit(&origin, "main", "orders.yaml", "v2");
    let r = daemon.recorder.clone();
    wait_for("the watch to notice a new commit", || {
        r.saw("sandbox", Reason::Watch, new)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_on_a_tenant_branch_is_noticed_by_the_poll() {
    let dir = tempfile::tempdir().unwrap();
    let (origin_path, origin) = origin(dir.path());
    let url = format!("file://{}", origin_path.display());
    let config = config_yaml(&url, "1h", "");
    let daemon = Daemon::start(
        dir.path(),
        &config,
        options(Duration::from_millis(300), false),
        None,
    )
    .await;
    let r = daemon.recorder.clone();
    let first = origin.refname_to_id("refs/heads/release").unwrap();
    wait_for("the first poll", || r.saw("prod", Reason::Poll, first)).await;

    let second = commit(&origin, "release", "orders.yaml", "r2");
    wait_for("the poll to reconcile prod at the new commit", || {
        r.saw("prod", Reason::Poll, second)
    })
    .await;
    assert_eq!(daemon.head("release"), Some(second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_github_push_fetches_and_reconciles_the_tenants_of_that_branch() {
    let dir = tempfile::tempdir().unwrap();
    let (origin_path, origin) = origin(dir.path());
    let config = config_yaml(&origin_path.display().to_string(), "1h", "");
    let daemon = Daemon::start(dir.path(), &config, options(HOUR, false), Some("s3cret")).await;
    daemon.controller.refresh(Reason::Startup).await.unwrap();
    let new = commit(&origin, "main", "orders.yaml", "v2");

    let body = push_payload("refs/heads/main", new);
    let response = reqwest::Client::new()
        .post(daemon.url("/hooks/github"))
        .header("X-GitHub-Event", "push")
        .header(
            "X-Hub-Signature-256",
            format!("sha256={}", hmac_hex("s3cret", &body)),
        )
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["status"], "accepted");
    assert_eq!(answer["tenants"], serde_json::json!(["sandbox"]));

    let r = daemon.recorder.clone();
    wait_for(
        "the webhook to reconcile sandbox at the pushed commit",
        || r.saw("sandbox", Reason::Webhook, new),
    )
    .await;
    assert_eq!(r.count("prod", Reason::Webhook), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_that_moved_no_followed_branch_marks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (origin_path, _) = origin(dir.path());
    let config = config_yaml(&origin_path.display().to_string(), "1h", "");
    let daemon = Daemon::start(dir.path(), &config, options(HOUR, false), Some("s3cret")).await;
    daemon.controller.refresh(Reason::Startup).await.unwrap();
    let fetched = daemon.controller.remote().last_success();
    let head = daemon.head("main").unwrap();

    // A redelivered webhook, or one for a push the poll already fetched: main is where
    // ferry has it.
    let body = push_payload("refs/heads/main", head);
    let response = reqwest::Client::new()
        .post(daemon.url("/hooks/github"))
        .header("X-GitHub-Event", "push")
        .header(
            "X-Hub-Signature-256",
            format!("sha256={}", hmac_hex("s3cret", &body)),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let remote = daemon.controller.remote().clone();
    wait_for("the webhook's fetch", || remote.last_success() != fetched).await;
    // Longer than the scheduler's debounce: a mark would have started a reconcile.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(daemon.recorder.count("sandbox", Reason::Webhook), 0);
    let calls = daemon.recorder.calls();
    assert!(
        calls
            .iter()
            .all(|c| c.reasons == Reasons::of(Reason::Startup)),
        "only the first fetch marked tenants: {calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_and_gitea_pushes_are_accepted_with_their_own_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let (origin_path, origin) = origin(dir.path());
    let config = config_yaml(&origin_path.display().to_string(), "1h", "");
    let daemon = Daemon::start(dir.path(), &config, options(HOUR, false), Some("s3cret")).await;
    daemon.controller.refresh(Reason::Startup).await.unwrap();
    let client = reqwest::Client::new();
    let r = daemon.recorder.clone();

    let release = commit(&origin, "release", "orders.yaml", "r2");
    let body = push_payload("refs/heads/release", release);
    let response = client
        .post(daemon.url("/hooks/gitlab"))
        .header("X-Gitlab-Event", "Push Hook")
        .header("X-Gitlab-Token", "s3cret")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    wait_for("the GitLab push to reconcile prod", || {
        r.saw("prod", Reason::Webhook, release)
    })
    .await;

    let main = commit(&origin, "main", "orders.yaml", "v2");
    let body = push_payload("refs/heads/main", main);
    let response = client
        .post(daemon.url("/hooks/gitea"))
        .header("X-Forgejo-Event", "push")
        .header("X-Forgejo-Signature", hmac_hex("s3cret", &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    wait_for("the Forgejo push to reconcile sandbox", || {
        r.saw("sandbox", Reason::Webhook, main)
    })
    .await;

    let wrong = client
        .post(daemon.url("/hooks/gitlab"))
        .header("X-Gitlab-Event", "Push Hook")
        .header("X-Gitlab-Token", "s3creT")
        .body(push_payload("refs/heads/main", main))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_with_a_bad_signature_is_refused_and_triggers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (origin_path, origin) = origin(dir.path());
    let config = config_yaml(&origin_path.display().to_string(), "1h", "");
    let daemon = Daemon::start(dir.path(), &config, options(HOUR, false), Some("s3cret")).await;
    daemon.controller.refresh(Reason::Startup).await.unwrap();
    let before = daemon.head("main").unwrap();
    let new = commit(&origin, "main", "orders.yaml", "v2");
    let client = reqwest::Client::new();
    let body = push_payload("refs/heads/main", new);

    let forged = client
        .post(daemon.url("/hooks/github"))
        .header("X-GitHub-Event", "push")
        .header(
            "X-Hub-Signature-256",
            format!("sha256={}", hmac_hex("guessed", &body)),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let answer: Value = forged.json().await.unwrap();
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .starts_with("signature does not match the body"),
        "{answer}"
    );

    let unsigned = client
        .post(daemon.url("/hooks/gitea"))
        .header("X-Gitea-Event", "push")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let answer: Value = unsigned.json().await.unwrap();
    assert_eq!(
        answer["error"],
        "missing X-Gitea-Signature (or X-Forgejo-Signature) header"
    );

    // Nothing was fetched or marked: the head has not moved and no webhook run happened.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(daemon.head("main"), Some(before));
    assert_eq!(daemon.recorder.count("sandbox", Reason::Webhook), 0);
    assert!(
        daemon
            .controller
            .scheduler()
            .status("sandbox")
            .unwrap()
            .pending
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_other_refs_and_oversized_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let (origin_path, _) = origin(dir.path());
    let config = config_yaml(&origin_path.display().to_string(), "1h", "");
    let daemon = Daemon::start(dir.path(), &config, options(HOUR, false), Some("s3cret")).await;
    let client = reqwest::Client::new();
    let github = |event: &str, body: Vec<u8>| {
        client
            .post(daemon.url("/hooks/github"))
            .header("X-GitHub-Event", event)
            .header(
                "X-Hub-Signature-256",
                format!("sha256={}", hmac_hex("s3cret", &body)),
            )
            .body(body)
            .send()
    };

    let ping = github("ping", br#"{"zen":"Keep it logically awesome."}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(ping.status(), 200);

    let tag = github("push", br#"{"ref":"refs/tags/v1"}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(tag.status(), 202);
    let answer: Value = tag.json().await.unwrap();
    assert_eq!(answer["status"], "ignored");
    assert_eq!(answer["message"], "refs/tags/v1 is not a branch");

    let other = github("push", br#"{"ref":"refs/heads/feature"}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(other.status(), 202);
    let answer: Value = other.json().await.unwrap();
    assert_eq!(answer["message"], "no tenant follows branch feature");

    let big = vec![b' '; 2 << 20];
    let response = github("push", big).await.unwrap();
    assert_eq!(response.status(), 413);

    let form = github("push", b"payload=%7B%7D".to_vec()).await.unwrap();
    assert_eq!(form.status(), 400);
    let calls = daemon.recorder.calls();
    assert!(
        calls
            .iter()
            .all(|c| c.reasons == Reasons::of(Reason::Startup)),
        "only the first fetch marked tenants: {calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secret_the_hooks_answer_404() {
    let dir = tempfile::tempdir().unwrap();
    let (origin_path, _) = origin(dir.path());
    let config = config_yaml(&origin_path.display().to_string(), "1h", "");
    let daemon = Daemon::start(dir.path(), &config, options(HOUR, false), None).await;
    let body = push_payload("refs/heads/main", git2::Oid::ZERO_SHA1);
    let response = reqwest::Client::new()
        .post(daemon.url("/hooks/github"))
        .header("X-GitHub-Event", "push")
        .header(
            "X-Hub-Signature-256",
            format!("sha256={}", hmac_hex("", &body)),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("webhooks are disabled"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_the_first_reconcile_of_every_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let (origin_path, origin) = origin(dir.path());
    let config = config_yaml(&origin_path.display().to_string(), "1h", "");
    let daemon = Daemon::start(dir.path(), &config, options(HOUR, false), None).await;
    let client = reqwest::Client::new();

    let live = client.get(daemon.url("/livez")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let not_yet = client.get(daemon.url("/readyz")).send().await.unwrap();
    assert_eq!(not_yet.status(), 503);
    let body: Value = not_yet.json().await.unwrap();
    assert_eq!(body["ready"], false);
    assert_eq!(body["tenants"][0]["reconciled"], false);

    daemon.controller.startup().await;
    let scheduler = daemon.controller.scheduler().clone();
    wait_for("every tenant to reconcile once", || {
        scheduler.all_reconciled()
    })
    .await;
    let ready = client.get(daemon.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    let main = origin.refname_to_id("refs/heads/main").unwrap().to_string();
    let sandbox = body["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "sandbox")
        .unwrap()
        .clone();
    assert_eq!(sandbox["lastOutcome"], "ok");
    assert_eq!(sandbox["commit"], main.as_str());
    assert_eq!(sandbox["branch"], "main");
    assert_eq!(body["source"]["heads"]["main"], main.as_str());
    assert_eq!(body["source"]["lastFetchError"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_shows_the_fetch_error_and_the_tenants_retry() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_yaml("missing.git", "1h", "");
    let daemon = Daemon::start(dir.path(), &config, options(HOUR, false), None).await;
    daemon.controller.startup().await;
    let scheduler = daemon.controller.scheduler().clone();
    wait_for("the first (failed) reconciles", || {
        scheduler.statuses().iter().all(|s| s.last.is_some())
    })
    .await;
    let response = reqwest::get(daemon.url("/readyz")).await.unwrap();
    let body: Value = response.json().await.unwrap();
    let expected = format!(
        "cannot fetch {}: there is no repository at this path.",
        dir.path().join("missing.git").display()
    );
    let source_error = body["source"]["lastFetchError"]["message"]
        .as_str()
        .unwrap();
    assert!(source_error.starts_with(&expected), "{source_error}");
    for tenant in body["tenants"].as_array().unwrap() {
        assert_eq!(tenant["lastOutcome"], "transient", "{tenant}");
        assert!(
            tenant["lastFetchError"]
                .as_str()
                .unwrap()
                .contains(&expected),
            "{tenant}"
        );
        assert!(
            tenant["consecutiveFailures"].as_u64().unwrap() >= 1,
            "{tenant}"
        );
    }
}

/// A signed delivery sent again (a replay, or the forge's "redeliver") is answered
/// `duplicate` and fetches nothing; the same holds for each forge's delivery id header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_delivery_is_answered_duplicate_and_fetches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (origin_path, origin) = origin(dir.path());
    let config = config_yaml(&origin_path.display().to_string(), "1h", "");
    let daemon = Daemon::start(dir.path(), &config, options(HOUR, false), Some("s3cret")).await;
    daemon.controller.refresh(Reason::Startup).await.unwrap();
    let client = reqwest::Client::new();
    let remote = daemon.controller.remote().clone();

    let forges: [(&str, &str, &str); 3] = [
        (
            "github",
            "X-GitHub-Delivery",
            "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        ),
        (
            "gitlab",
            "X-Gitlab-Event-UUID",
            "13792a34-cac6-4fda-95a8-c58e00a3954e",
        ),
        (
            "gitea",
            "X-Gitea-Delivery",
            "f6266f16-1bf3-46a5-9ea4-602e06ead473",
        ),
    ];
    for (i, (forge, id_header, id)) in forges.into_iter().enumerate() {
        let new = commit(&origin, "main", "orders.yaml", &format!("v{}", i + 2));
        let body = push_payload("refs/heads/main", new);
        let send = || {
            let request = client
                .post(daemon.url(&format!("/hooks/{forge}")))
                .header(id_header, id)
                .body(body.clone());
            match forge {
                "github" => request.header("X-GitHub-Event", "push").header(
                    "X-Hub-Signature-256",
                    format!("sha256={}", hmac_hex("s3cret", &body)),
                ),
                "gitlab" => request
                    .header("X-Gitlab-Event", "Push Hook")
                    .header("X-Gitlab-Token", "s3cret"),
                _ => request
                    .header("X-Gitea-Event", "push")
                    .header("X-Gitea-Signature", hmac_hex("s3cret", &body)),
            }
            .send()
        };
        let before = remote.last_success();
        let first = send().await.unwrap();
        assert_eq!(first.status(), 202, "{forge}");
        let answer: Value = first.json().await.unwrap();
        assert_eq!(answer["status"], "accepted", "{forge}: {answer}");
        wait_for(&format!("the {forge} delivery's fetch"), || {
            remote.last_success() != before
        })
        .await;
        let fetched = remote.last_success();
        let r = daemon.recorder.clone();
        wait_for(&format!("the {forge} push to reconcile sandbox"), || {
            r.saw("sandbox", Reason::Webhook, new)
        })
        .await;

        let replay = send().await.unwrap();
        assert_eq!(replay.status(), 202, "{forge}");
        let answer: Value = replay.json().await.unwrap();
        assert_eq!(answer["status"], "duplicate", "{forge}: {answer}");
        // Longer than a local fetch takes: a replay that fetched would show by now.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(
            remote.last_success(),
            fetched,
            "{forge}: the replay fetched again"
        );
    }
}

/// GitLab sends its secret as a header: a wrong token is refused before the body is
/// read, so a client cannot hold the receiver with a body it never finishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_tokens_are_checked_before_the_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let (origin_path, _) = origin(dir.path());
    let config = config_yaml(&origin_path.display().to_string(), "1h", "");
    let daemon = Daemon::start(dir.path(), &config, options(HOUR, false), Some("s3cret")).await;
    let mut stream = tokio::net::TcpStream::connect(daemon.addr).await.unwrap();
    stream
        .write_all(
            b"POST /hooks/gitlab HTTP/1.1\r\nHost: ferry\r\nX-Gitlab-Event: Push Hook\r\n\
              X-Gitlab-Token: guessed\r\nContent-Type: application/json\r\n\
              Content-Length: 900000\r\n\r\n{\"ref\": \"refs/heads/",
        )
        .await
        .unwrap();
    // The rest of the body never comes.
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut answer))
        .await
        .expect("the receiver answered without waiting for the body")
        .unwrap();
    let head = String::from_utf8_lossy(&answer[..read]);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(head.contains("X-Gitlab-Token does not match"), "{head}");
}
