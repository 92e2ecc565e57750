//! The three forge reporters against recording stand-ins that check every request against
//! the forge's public REST reference.

mod report_support;

use ferry::config::TokenType;
use ferry::report::{
    CommitStatus, GiteaReporter, GithubReporter, GitlabReporter, ReportError, Reporter, RetryAt,
    StatusState, Token,
};
use report_support::{Answer, Auth, Kind, MockForge, sha};
use serde_json::json;
use std::time::Duration;

const TOKEN: &str = "tok_forge_0123456789";

async fn github() -> (MockForge, GithubReporter) {
    let forge = MockForge::start(Kind::Github, "acme/connectors", Auth::Bearer(TOKEN.into())).await;
    let reporter = GithubReporter::new(&forge.api, "acme/connectors", Token::new(TOKEN))
        .unwrap()
        .with_external_url(Some("https://ferry.example.com"));
    (forge, reporter)
}

async fn gitlab(project: &str, path: &str, token_type: TokenType) -> (MockForge, GitlabReporter) {
    let auth = match token_type {
        TokenType::Private => Auth::PrivateToken(TOKEN.into()),
        TokenType::Oauth => Auth::Bearer(TOKEN.into()),
    };
    let forge = MockForge::start(Kind::Gitlab, path, auth).await;
    let reporter = GitlabReporter::new(&forge.api, project, Token::new(TOKEN), token_type)
        .with_external_url(Some("https://ferry.example.com"));
    (forge, reporter)
}

async fn gitea() -> (MockForge, GiteaReporter) {
    let forge = MockForge::start(Kind::Gitea, "acme/connectors", Auth::Token(TOKEN.into())).await;
    let reporter = GiteaReporter::new(&forge.api, "acme/connectors", Token::new(TOKEN))
        .unwrap()
        .with_external_url(Some("https://ferry.example.com"));
    (forge, reporter)
}

/// A description whose 140th character is a multi-byte one, longer than 255 too.
fn long_description() -> String {
    format!("failed: {}ü🚀{}", "x".repeat(130), "é".repeat(300))
}

#[tokio::test]
async fn github_request_is_the_documented_create_status_call() {
    let (forge, reporter) = github().await;
    let status = CommitStatus::in_sync("prod", 14, 2);
    reporter.post(&sha(1), &status).await.unwrap();

    forge.assert_all_valid();
    let requests = forge.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.path,
        format!("/repos/acme/connectors/statuses/{}", sha(1))
    );
    assert_eq!(r.headers["authorization"], format!("Bearer {TOKEN}"));
    assert_eq!(r.headers["accept"], "application/vnd.github+json");
    assert_eq!(r.headers["x-github-api-version"], "2022-11-28");
    assert_eq!(
        r.headers["user-agent"],
        format!("ferry/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        r.body,
        json!({
            "state": "success",
            "target_url": format!("https://ferry.example.com/tenants/prod?commit={}", sha(1)),
            "description": "in sync · 14 connectors · 2 warnings",
            "context": "ferry/prod",
        })
    );
}

#[tokio::test]
async fn github_gets_each_state_and_no_target_url_when_unknown() {
    let forge = MockForge::start(Kind::Github, "acme/connectors", Auth::Bearer(TOKEN.into())).await;
    let reporter = GithubReporter::new(&forge.api, "acme/connectors", Token::new(TOKEN)).unwrap();
    for state in [
        StatusState::Pending,
        StatusState::Success,
        StatusState::Failure,
        StatusState::Error,
    ] {
        let status = CommitStatus::new("ferry/prod", state, "x");
        reporter.post(&sha(2), &status).await.unwrap();
    }
    forge.assert_all_valid();
    let states: Vec<_> = forge
        .requests()
        .iter()
        .map(|r| r.body["state"].clone())
        .collect();
    assert_eq!(
        states,
        [
            json!("pending"),
            json!("success"),
            json!("failure"),
            json!("error")
        ]
    );
    assert!(
        forge
            .requests()
            .iter()
            .all(|r| r.body.get("target_url").is_none())
    );
}

#[tokio::test]
async fn github_description_is_cut_at_140_characters_without_splitting_one() {
    let (forge, reporter) = github().await;
    let status = CommitStatus::new("ferry/prod", StatusState::Failure, long_description());
    reporter.post(&sha(3), &status).await.unwrap();
    let exact = "ü".repeat(140);
    reporter
        .post(
            &sha(3),
            &CommitStatus::new("ferry/prod", StatusState::Failure, exact.clone()),
        )
        .await
        .unwrap();

    forge.assert_all_valid();
    let requests = forge.requests();
    let sent = requests[0].body["description"].as_str().unwrap();
    assert_eq!(sent.chars().count(), 140);
    // 139 characters kept: "failed: " (8) + 130 x + "ü", then the ellipsis.
    assert_eq!(sent, format!("failed: {}ü…", "x".repeat(130)));
    assert_eq!(requests[1].body["description"], json!(exact));
}

#[tokio::test]
async fn github_status_cap_is_reported_not_retried() {
    let (forge, reporter) = github().await;
    forge.script([Answer::new(
        422,
        r#"{"message":"Validation Failed","errors":[{"resource":"Status","code":"custom","message":"This SHA and context has reached the maximum number of statuses."}],"documentation_url":"https://docs.github.com/rest/commits/statuses#create-a-commit-status"}"#,
    )]);
    let err = reporter
        .post(&sha(4), &CommitStatus::applying("prod", 1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ReportError::StatusLimitReached { .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert_eq!(
        err.to_string(),
        format!(
            "github: acme/connectors@{} has reached GitHub's limit of 1000 statuses for context ferry/prod; further updates of this context on this commit cannot be shown",
            sha(4)
        )
    );
}

#[tokio::test]
async fn forge_answers_are_classified() {
    let (forge, reporter) = github().await;
    forge.script([
        Answer::new(
            401,
            r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}"#,
        ),
        Answer::new(404, r#"{"message":"Not Found"}"#),
        Answer::new(502, "<html>bad gateway</html>"),
        Answer::new(429, r#"{"message":"slow down"}"#).header("retry-after", "30"),
        Answer::new(403, r#"{"message":"API rate limit exceeded"}"#)
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", "1900000000"),
        Answer::new(
            403,
            r#"{"message":"Resource not accessible by integration"}"#,
        ),
    ]);
    let status = CommitStatus::applying("prod", 1);
    let mut errors = Vec::new();
    for _ in 0..6 {
        errors.push(reporter.post(&sha(5), &status).await.unwrap_err());
    }
    assert!(matches!(
        errors[0],
        ReportError::Unauthorized { status: 401, .. }
    ));
    assert_eq!(
        errors[0].to_string(),
        "github refused the token for acme/connectors (401): Bad credentials; check that the token is valid and may write commit statuses, then restart ferry"
    );
    assert!(matches!(errors[1], ReportError::NotFound { .. }));
    assert!(
        errors[1]
            .to_string()
            .contains("check `repo` in the `statuses` section of ferry.yaml")
    );
    assert!(matches!(
        errors[2],
        ReportError::ServerError { status: 502, .. }
    ));
    assert!(errors[2].is_transient());
    assert_eq!(
        errors[3].retry_at(),
        Some(RetryAt::After(Duration::from_secs(30)))
    );
    assert_eq!(
        errors[4].retry_at(),
        Some(RetryAt::AtEpochSeconds(1_900_000_000))
    );
    assert!(errors[4].is_transient());
    assert!(matches!(
        errors[5],
        ReportError::Unauthorized { status: 403, .. }
    ));
    assert!(!errors[5].is_transient());
}

#[tokio::test]
async fn unreachable_forge_is_transient() {
    // A port nobody listens on: bind, note the port, close.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let reporter = GithubReporter::new(
        &format!("http://127.0.0.1:{port}"),
        "acme/connectors",
        Token::new(TOKEN),
    )
    .unwrap();
    let err = reporter
        .post(&sha(6), &CommitStatus::applying("prod", 1))
        .await
        .unwrap_err();
    assert!(matches!(err, ReportError::Unreachable { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(
        err.to_string()
            .starts_with(&format!("cannot reach github at http://127.0.0.1:{port} to report on acme/connectors: connection failed")),
        "{err}"
    );
}

#[tokio::test]
async fn gitlab_request_uses_project_path_private_token_and_name() {
    let (forge, reporter) =
        gitlab("acme/connectors", "acme%2Fconnectors", TokenType::Private).await;
    reporter
        .post(
            &sha(7),
            &CommitStatus::failed("prod", "import of orders-sync refused", 2),
        )
        .await
        .unwrap();
    forge.assert_all_valid();
    let r = &forge.requests()[0];
    assert_eq!(
        r.path,
        format!("/api/v4/projects/acme%2Fconnectors/statuses/{}", sha(7))
    );
    assert_eq!(r.headers["private-token"], TOKEN);
    assert!(!r.headers.contains_key("authorization"));
    assert_eq!(
        r.body,
        json!({
            "state": "failed",
            "name": "ferry/prod",
            "description": "failed: import of orders-sync refused (+2 more)",
            "target_url": format!("https://ferry.example.com/tenants/prod?commit={}", sha(7)),
        })
    );
}

#[tokio::test]
async fn gitlab_numeric_project_with_oauth_token_and_every_state() {
    let (forge, reporter) = gitlab("17", "17", TokenType::Oauth).await;
    let tenants = ["a", "b", "c", "d"];
    let states = [
        StatusState::Pending,
        StatusState::Success,
        StatusState::Failure,
        StatusState::Error,
    ];
    for (tenant, state) in tenants.iter().zip(states) {
        let status = CommitStatus::new(format!("ferry/{tenant}"), state, "x");
        reporter.post(&sha(8), &status).await.unwrap();
    }
    forge.assert_all_valid();
    let requests = forge.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.headers["authorization"] == format!("Bearer {TOKEN}"))
    );
    let sent: Vec<_> = requests.iter().map(|r| r.body["state"].clone()).collect();
    assert_eq!(
        sent,
        [
            json!("pending"),
            json!("success"),
            json!("failed"),
            json!("failed")
        ]
    );
}

#[tokio::test]
async fn gitlab_limits_description_and_target_url_to_255() {
    let (forge, reporter) = gitlab("17", "17", TokenType::Private).await;
    let long_url = format!("https://ferry.example.com/{}", "p".repeat(300));
    let status = CommitStatus::new("ferry/prod", StatusState::Failure, long_description())
        .with_target_url(long_url);
    reporter.post(&sha(9), &status).await.unwrap();
    forge.assert_all_valid();
    let body = &forge.requests()[0].body;
    let description = body["description"].as_str().unwrap();
    assert_eq!(description.chars().count(), 255);
    assert!(description.ends_with("é…"), "{description}");
    assert!(
        body.get("target_url").is_none(),
        "a target_url over 255 characters is left out"
    );
}

#[tokio::test]
async fn gitlab_pending_on_a_pending_job_counts_as_delivered() {
    let (forge, reporter) = gitlab("17", "17", TokenType::Private).await;
    reporter
        .post(&sha(10), &CommitStatus::applying("prod", 3))
        .await
        .unwrap();
    // GitLab answers 400 "Cannot transition status via :enqueue from :pending".
    reporter
        .post(&sha(10), &CommitStatus::applying("prod", 2))
        .await
        .unwrap();
    reporter
        .post(&sha(10), &CommitStatus::in_sync("prod", 3, 0))
        .await
        .unwrap();
    assert_eq!(forge.count(), 3);
    forge.assert_all_valid();
}

#[tokio::test]
async fn gitlab_other_400_is_rejected() {
    let (forge, reporter) = gitlab("17", "17", TokenType::Private).await;
    forge.script([Answer::new(
        400,
        r#"{"message":"400 Bad request - state does not have a valid value"}"#,
    )]);
    let err = reporter
        .post(&sha(11), &CommitStatus::applying("prod", 1))
        .await
        .unwrap_err();
    assert!(!err.is_transient());
    assert_eq!(
        err.to_string(),
        format!(
            "gitlab rejected the status ferry/prod on 17@{} (400): 400 Bad request - state does not have a valid value",
            sha(11)
        )
    );
}

#[tokio::test]
async fn gitea_request_uses_token_header_and_warning_state() {
    let (forge, reporter) = gitea().await;
    reporter
        .post(&sha(12), &CommitStatus::in_sync("prod", 14, 2))
        .await
        .unwrap();
    reporter
        .post(&sha(12), &CommitStatus::in_sync("sandbox", 14, 0))
        .await
        .unwrap();
    reporter
        .post(
            &sha(12),
            &CommitStatus::unreachable("qa", "connection refused"),
        )
        .await
        .unwrap();
    forge.assert_all_valid();
    let requests = forge.requests();
    let r = &requests[0];
    assert_eq!(
        r.path,
        format!("/api/v1/repos/acme/connectors/statuses/{}", sha(12))
    );
    assert_eq!(r.headers["authorization"], format!("token {TOKEN}"));
    assert_eq!(
        r.body,
        json!({
            "state": "warning",
            "context": "ferry/prod",
            "description": "in sync · 14 connectors · 2 warnings",
            "target_url": format!("https://ferry.example.com/tenants/prod?commit={}", sha(12)),
        })
    );
    assert_eq!(requests[1].body["state"], "success");
    assert_eq!(requests[2].body["state"], "error");
}

#[tokio::test]
async fn gitea_description_is_cut_at_255_characters() {
    let (forge, reporter) = gitea().await;
    let description = format!("{}🚀🚀", "a".repeat(254));
    reporter
        .post(
            &sha(13),
            &CommitStatus::new("ferry/prod", StatusState::Failure, description),
        )
        .await
        .unwrap();
    forge.assert_all_valid();
    let sent = forge.requests()[0].body["description"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(sent.chars().count(), 255);
    assert_eq!(sent, format!("{}…", "a".repeat(254)));
}

#[tokio::test]
async fn a_short_sha_is_refused_before_any_request() {
    let (forge, reporter) = gitea().await;
    let err = reporter
        .post("abc123", &CommitStatus::applying("prod", 1))
        .await
        .unwrap_err();
    assert!(matches!(err, ReportError::InvalidSha { .. }));
    assert_eq!(forge.count(), 0);
}

#[tokio::test]
async fn stand_ins_refuse_what_the_forges_would() {
    // The checks above are only worth something if the stand-in catches bad requests.
    let forge = MockForge::start(Kind::Github, "acme/connectors", Auth::Bearer(TOKEN.into())).await;
    let response = reqwest::Client::new()
        .post(format!("{}/repos/acme/connectors/statuses/{}", forge.api, sha(14)))
        .header("authorization", "Bearer wrong")
        .json(&json!({"state": "warning", "description": "d".repeat(141), "context": "c", "extra": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let violations = forge.requests()[0].violations.join("\n");
    for expected in [
        "header authorization",
        "header accept: \"*/*\"",
        "header x-github-api-version missing",
        "user-agent",
        "unknown field extra",
        "state Some(\"warning\")",
        "description has 141 characters, more than 140",
    ] {
        assert!(
            violations.contains(expected),
            "{expected} not in {violations}"
        );
    }
}
