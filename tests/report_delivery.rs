//! The Deliverer: deduplication, the outbox across failures and restarts, rate limits,
//! permanent refusals, and tokens kept out of every log line and error. Time is a paused
//! tokio clock; nothing here depends on the wall clock's pace.

mod report_support;

use std::path::Path;
use std::time::Duration;

use ferry::report::{
    CommitStatus, Deliverer, GiteaReporter, GithubReporter, Reporter, RetryPolicy, Token,
};
use report_support::{Answer, Auth, Kind, MockForge, capture_logs, sha};

const TOKEN: &str = "ghp_SECRETtoken0123456789";

const POLICY: RetryPolicy = RetryPolicy {
    initial: Duration::from_secs(2),
    max: Duration::from_secs(60),
};

async fn github() -> MockForge {
    MockForge::start(Kind::Github, "acme/connectors", Auth::Bearer(TOKEN.into())).await
}

fn reporters(forge: &MockForge) -> Vec<Box<dyn Reporter>> {
    vec![Box::new(
        GithubReporter::new(&forge.api, "acme/connectors", Token::new(TOKEN)).unwrap(),
    )]
}

async fn deliverer(forge: &MockForge, db: &Path) -> Deliverer {
    Deliverer::open(db, reporters(forge))
        .await
        .unwrap()
        .with_policy(POLICY)
}

#[tokio::test(start_paused = true)]
async fn the_same_status_twice_sends_one_request() {
    let dir = tempfile::tempdir().unwrap();
    let forge = github().await;
    let d = deliverer(&forge, &dir.path().join("state.db")).await;
    let status = CommitStatus::in_sync("prod", 14, 0);

    let first = d.submit(&sha(1), &status).await.unwrap();
    assert_eq!(first.delivered, 1);
    let second = d.submit(&sha(1), &status).await.unwrap();
    assert_eq!(second.unchanged, 1);
    assert_eq!(second.delivered, 0);
    assert_eq!(forge.count(), 1);

    // A changed description is a new status.
    let changed = CommitStatus::in_sync("prod", 15, 0);
    assert_eq!(d.submit(&sha(1), &changed).await.unwrap().delivered, 1);
    // Another commit or context is another slot.
    d.submit(&sha(2), &changed).await.unwrap();
    d.submit(&sha(1), &CommitStatus::in_sync("sandbox", 15, 0))
        .await
        .unwrap();
    assert_eq!(forge.count(), 4);
    assert_eq!(
        forge.requests()[1].body["description"],
        "in sync · 15 connectors"
    );
    // Going back to the first status is a change again.
    d.submit(&sha(1), &status).await.unwrap();
    assert_eq!(forge.count(), 5);
    assert_eq!(d.pending_count().await.unwrap(), 0);
    forge.assert_all_valid();
}

#[tokio::test(start_paused = true)]
async fn a_forge_outage_keeps_the_status_until_drain_delivers_it() {
    let dir = tempfile::tempdir().unwrap();
    let forge = github().await;
    let d = deliverer(&forge, &dir.path().join("state.db")).await;
    forge.script([Answer::new(503, r#"{"message":"Service Unavailable"}"#)]);

    let status = CommitStatus::failed("prod", "import refused", 0);
    let report = d.submit(&sha(3), &status).await.unwrap();
    assert_eq!(report.queued, 1);
    assert_eq!(d.pending_count().await.unwrap(), 1);
    let wait = d.next_due().await.unwrap().unwrap();
    assert!(
        wait <= POLICY.ceiling(1) && wait >= POLICY.ceiling(1) / 2,
        "{wait:?}"
    );

    // Not due yet: drain sends nothing.
    assert_eq!(d.drain().await.unwrap().delivered, 0);
    assert_eq!(forge.count(), 1);

    tokio::time::advance(POLICY.ceiling(1)).await;
    let report = d.drain().await.unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(d.pending_count().await.unwrap(), 0);
    assert_eq!(d.next_due().await.unwrap(), None);
    let requests = forge.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].body, requests[0].body);
    // Delivered now: submitting it again sends nothing.
    assert_eq!(d.submit(&sha(3), &status).await.unwrap().unchanged, 1);
    assert_eq!(forge.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn backoff_grows_while_the_forge_stays_down() {
    let dir = tempfile::tempdir().unwrap();
    let forge = github().await;
    let d = deliverer(&forge, &dir.path().join("state.db")).await;
    forge.script((0..3).map(|_| Answer::new(500, "")));
    d.submit(&sha(4), &CommitStatus::applying("prod", 1))
        .await
        .unwrap();
    for attempt in 2..=3 {
        tokio::time::advance(POLICY.ceiling(attempt - 1)).await;
        d.drain().await.unwrap();
        assert_eq!(forge.count(), attempt as usize);
        let wait = d.next_due().await.unwrap().unwrap();
        assert!(
            wait >= POLICY.ceiling(attempt) / 2,
            "attempt {attempt}: {wait:?}"
        );
        assert!(
            wait <= POLICY.ceiling(attempt),
            "attempt {attempt}: {wait:?}"
        );
    }
    tokio::time::advance(POLICY.ceiling(3)).await;
    assert_eq!(d.drain().await.unwrap().delivered, 1);
    assert_eq!(forge.count(), 4);
}

#[tokio::test(start_paused = true)]
async fn the_outbox_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let forge = github().await;
    forge.script([Answer::new(502, "bad gateway")]);
    {
        let d = deliverer(&forge, &db).await;
        assert_eq!(
            d.submit(&sha(5), &CommitStatus::in_sync("prod", 2, 1))
                .await
                .unwrap()
                .queued,
            1
        );
    }
    // A new process over the same state file.
    let d = deliverer(&forge, &db).await;
    assert_eq!(d.pending_count().await.unwrap(), 1);
    tokio::time::advance(POLICY.ceiling(1)).await;
    assert_eq!(d.drain().await.unwrap().delivered, 1);
    assert_eq!(d.pending_count().await.unwrap(), 0);
    assert_eq!(forge.count(), 2);
    assert_eq!(
        forge.requests()[1].body["description"],
        "in sync · 2 connectors · 1 warning"
    );
    forge.assert_all_valid();
}

#[tokio::test(start_paused = true)]
async fn a_newer_status_supersedes_an_undelivered_one() {
    let dir = tempfile::tempdir().unwrap();
    let forge = github().await;
    let d = deliverer(&forge, &dir.path().join("state.db")).await;
    forge.script([Answer::new(503, "")]);
    d.submit(&sha(6), &CommitStatus::applying("prod", 3))
        .await
        .unwrap();
    // The newer status is due at once and delivered; the older one is gone.
    let report = d
        .submit(&sha(6), &CommitStatus::in_sync("prod", 3, 0))
        .await
        .unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(d.pending_count().await.unwrap(), 0);
    tokio::time::advance(Duration::from_secs(3600)).await;
    d.drain().await.unwrap();
    let states: Vec<_> = forge
        .requests()
        .iter()
        .map(|r| r.body["state"].clone())
        .collect();
    assert_eq!(states, ["pending", "success"]);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_respected_and_holds_the_whole_reporter() {
    let dir = tempfile::tempdir().unwrap();
    let forge = github().await;
    let d = deliverer(&forge, &dir.path().join("state.db")).await;
    forge.script([Answer::new(429, r#"{"message":"slow down"}"#).header("retry-after", "30")]);

    assert_eq!(
        d.submit(&sha(7), &CommitStatus::applying("prod", 1))
            .await
            .unwrap()
            .queued,
        1
    );
    assert_eq!(d.next_due().await.unwrap(), Some(Duration::from_secs(30)));
    // While rate-limited, other statuses for this forge wait too.
    assert_eq!(
        d.submit(&sha(7), &CommitStatus::applying("sandbox", 1))
            .await
            .unwrap()
            .queued,
        1
    );
    assert_eq!(forge.count(), 1);

    tokio::time::advance(Duration::from_secs(29)).await;
    d.drain().await.unwrap();
    assert_eq!(
        forge.count(),
        1,
        "nothing is sent before Retry-After has passed"
    );

    tokio::time::advance(Duration::from_secs(1)).await;
    let report = d.drain().await.unwrap();
    assert_eq!(report.delivered, 2);
    assert_eq!(forge.count(), 3);
    assert_eq!(d.pending_count().await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_quota_waits_for_the_reset_time() {
    let dir = tempfile::tempdir().unwrap();
    let forge = github().await;
    let d = deliverer(&forge, &dir.path().join("state.db")).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    forge.script(
        [Answer::new(403, r#"{"message":"API rate limit exceeded"}"#)
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", &(now + 600).to_string())],
    );

    d.submit(&sha(8), &CommitStatus::applying("prod", 1))
        .await
        .unwrap();
    let wait = d.next_due().await.unwrap().unwrap();
    assert!(
        wait > Duration::from_secs(590) && wait <= Duration::from_secs(600),
        "{wait:?}"
    );
    tokio::time::advance(Duration::from_secs(580)).await;
    d.drain().await.unwrap();
    assert_eq!(forge.count(), 1);
    tokio::time::advance(Duration::from_secs(21)).await;
    assert_eq!(d.drain().await.unwrap().delivered, 1);
}

#[tokio::test(start_paused = true)]
async fn a_refused_token_is_reported_once_and_not_retried() {
    let (_guard, logs) = capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let forge = github().await;
    forge.script([Answer::new(
        401,
        &format!(r#"{{"message":"Bad credentials: {TOKEN}","documentation_url":"https://docs.github.com/rest"}}"#),
    )]);
    let d = deliverer(&forge, &db).await;
    let status = CommitStatus::in_sync("prod", 1, 0);

    let report = d.submit(&sha(9), &status).await.unwrap();
    assert_eq!(report.dropped, 1);
    assert_eq!(d.pending_count().await.unwrap(), 0);
    tokio::time::advance(Duration::from_secs(3600)).await;
    d.drain().await.unwrap();
    // The same status again is not sent again in this process.
    assert_eq!(d.submit(&sha(9), &status).await.unwrap().unchanged, 1);
    assert_eq!(forge.count(), 1);

    let errors = logs.lines_with("ERROR");
    assert_eq!(errors.len(), 1, "{}", logs.text());
    let line = &errors[0];
    assert!(line.contains("forge=github"), "{line}");
    assert!(line.contains("acme/connectors"), "{line}");
    assert!(line.contains("Bad credentials"), "{line}");
    assert!(!logs.text().contains(TOKEN), "{}", logs.text());

    // After a restart (where a fixed token takes effect) it is tried once more.
    drop(d);
    let d = deliverer(&forge, &db).await;
    assert_eq!(d.submit(&sha(9), &status).await.unwrap().delivered, 1);
    assert_eq!(forge.count(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_validation_refusal_is_dropped_after_one_request() {
    let (_guard, logs) = capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let forge = github().await;
    forge.script([Answer::new(
        422,
        r#"{"message":"Validation Failed","errors":[{"resource":"Status","code":"custom","message":"This SHA and context has reached the maximum number of statuses."}]}"#,
    )]);
    let d = deliverer(&forge, &dir.path().join("state.db")).await;
    assert_eq!(
        d.submit(&sha(10), &CommitStatus::applying("prod", 1))
            .await
            .unwrap()
            .dropped,
        1
    );
    tokio::time::advance(Duration::from_secs(3600)).await;
    d.drain().await.unwrap();
    assert_eq!(forge.count(), 1);
    let errors = logs.lines_with("ERROR");
    assert_eq!(errors.len(), 1, "{}", logs.text());
    assert!(
        errors[0].contains("limit of 1000 statuses"),
        "{}",
        errors[0]
    );
}

#[tokio::test(start_paused = true)]
async fn one_forge_down_does_not_hold_another() {
    let dir = tempfile::tempdir().unwrap();
    let gh = github().await;
    let gt = MockForge::start(Kind::Gitea, "acme/connectors", Auth::Token(TOKEN.into())).await;
    gh.script([Answer::new(503, "")]);
    let reporters: Vec<Box<dyn Reporter>> = vec![
        Box::new(GithubReporter::new(&gh.api, "acme/connectors", Token::new(TOKEN)).unwrap()),
        Box::new(GiteaReporter::new(&gt.api, "acme/connectors", Token::new(TOKEN)).unwrap()),
    ];
    let d = Deliverer::open(&dir.path().join("state.db"), reporters)
        .await
        .unwrap()
        .with_policy(POLICY);
    let report = d
        .submit(&sha(11), &CommitStatus::in_sync("prod", 1, 1))
        .await
        .unwrap();
    assert_eq!((report.delivered, report.queued), (1, 1));
    assert_eq!(gt.requests()[0].body["state"], "warning");
    assert_eq!(d.pending_count().await.unwrap(), 1);
    tokio::time::advance(POLICY.ceiling(1)).await;
    assert_eq!(d.drain().await.unwrap().delivered, 1);
    assert_eq!((gh.count(), gt.count()), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn statuses_of_a_removed_reporter_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let forge = github().await;
    forge.script([Answer::new(503, "")]);
    deliverer(&forge, &db)
        .await
        .submit(&sha(12), &CommitStatus::applying("prod", 1))
        .await
        .unwrap();
    let d = Deliverer::open(&db, Vec::new()).await.unwrap();
    assert_eq!(d.pending_count().await.unwrap(), 1);
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(d.drain().await.unwrap().dropped, 1);
    assert_eq!(d.pending_count().await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn no_token_in_any_log_line_error_or_debug_output() {
    let (_guard, logs) = capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let forge = github().await;
    let echo = format!(r#"{{"message":"token {TOKEN} rejected"}}"#);
    forge.script([
        Answer::new(500, &echo),
        Answer::new(429, &echo).header("retry-after", "1"),
        Answer::new(403, &echo),
    ]);
    let reporter = GithubReporter::new(&forge.api, "acme/connectors", Token::new(TOKEN)).unwrap();
    let status = CommitStatus::applying("prod", 1);
    let mut texts = Vec::new();
    for _ in 0..3 {
        let err = reporter.post(&sha(13), &status).await.unwrap_err();
        texts.push(err.to_string());
        texts.push(format!("{err:?}"));
    }
    texts.push(format!("{reporter:?}"));

    forge.script([Answer::new(500, &echo), Answer::new(401, &echo)]);
    let d = deliverer(&forge, &dir.path().join("state.db")).await;
    d.submit(&sha(14), &status).await.unwrap();
    tokio::time::advance(Duration::from_secs(60)).await;
    d.drain().await.unwrap();
    texts.push(format!("{d:?}"));
    texts.push(logs.text());

    assert!(
        logs.text().contains("token *** rejected"),
        "{}",
        logs.text()
    );
    for text in texts {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
    }
}
