//! The retry layer against a small scripted axum server on 127.0.0.1:0.
//!
//! Timing is checked on tokio's paused clock through the times the server recorded,
//! never on the wall clock.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request as AxumRequest, State};
use axum::http::{HeaderMap as AxumHeaders, Response};
use tokio::time::Instant;

use super::*;

/// What the server does with the next request.
#[derive(Clone)]
enum Step {
    /// Answer with a status, extra headers and a body.
    Respond(u16, Vec<(&'static str, String)>, String),
    /// Never answer.
    Hang,
}

fn respond(status: u16, body: &str) -> Step {
    Step::Respond(status, Vec::new(), body.to_owned())
}

#[derive(Clone)]
struct Seen {
    method: String,
    path: String,
    at: Instant,
    headers: AxumHeaders,
}

#[derive(Clone, Default)]
struct Mock {
    script: Arc<Mutex<VecDeque<Step>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Mock {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn handle(State(mock): State<Mock>, req: AxumRequest) -> Response<Body> {
    mock.seen.lock().unwrap().push(Seen {
        method: req.method().to_string(),
        path: req
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        at: Instant::now(),
        headers: req.headers().clone(),
    });
    let step = mock
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| respond(200, "{}"));
    match step {
        Step::Respond(status, headers, body) => {
            let mut response = Response::builder()
                .status(status)
                .header("content-type", "application/json");
            for (name, value) in headers {
                response = response.header(name, value);
            }
            response.body(Body::from(body)).unwrap()
        }
        Step::Hang => std::future::pending().await,
    }
}

async fn serve(script: Vec<Step>) -> (Mock, SocketAddr) {
    let mock = Mock {
        script: Arc::new(Mutex::new(script.into())),
        ..Mock::default()
    };
    let app = Router::new().fallback(handle).with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (mock, addr)
}

const TOKEN: &str = "tok-SECRET-123";

fn endpoint(addr: SocketAddr, options: ClientOptions) -> Endpoint {
    let http = HttpClient::new(&options).unwrap();
    let token = Secret::new(format!("Bearer {TOKEN}"));
    Endpoint::new(
        &format!("http://{addr}/tenants/prod"),
        "prod",
        Platform::ProductsupCde,
        vec![("Authorization", &token)],
        "environment variable PROD_TOKEN",
        http,
    )
    .unwrap()
}

fn options(max_attempts: u32) -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            max_attempts,
            ..RetryPolicy::default()
        },
        request_timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    }
}

fn scope(op: Operation) -> Scope {
    Scope::new(
        "prod",
        Platform::ProductsupCde,
        op,
        Some("Amazon Seller Import"),
    )
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_until_success() {
    let (mock, addr) = serve(vec![
        respond(500, "{}"),
        respond(502, "{}"),
        respond(200, r#"{"ok":true}"#),
    ])
    .await;
    let api = endpoint(addr, options(5));
    let value: serde_json::Value = api
        .json(&scope(Operation::List), Request::get("/connectors"))
        .await
        .unwrap();
    assert_eq!(value["ok"], true);
    let seen = mock.seen();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter()
            .all(|s| s.path == "/tenants/prod/connectors" && s.method == "GET")
    );
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_report_attempts_and_platform_message() {
    let down = r#"{"message":"Maintenance until 14:00."}"#;
    let (mock, addr) = serve(vec![
        respond(503, down),
        respond(503, down),
        respond(503, down),
    ])
    .await;
    let api = endpoint(addr, options(3));
    let err = api
        .send(&scope(Operation::List), Request::get("/connectors"))
        .await
        .unwrap_err();
    assert_eq!(mock.seen().len(), 3);
    assert!(
        matches!(
            err,
            Error::Transient {
                attempts: 3,
                status: 503,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "tenant prod (productsup-cde): list of \"Amazon Seller Import\" failed: 503 Service Unavailable: \
         Maintenance until 14:00. (after 3 attempts); the platform is unavailable or rate limiting, ferry will \
         try again on the next reconcile"
    );
}

/// How long a list waited between `first` answer and its retry, which succeeds.
async fn wait_before_retry(first: Step, options: ClientOptions) -> Duration {
    let (mock, addr) = serve(vec![first, respond(200, "{}")]).await;
    let api = endpoint(addr, options);
    api.send(&scope(Operation::List), Request::get("/connectors"))
        .await
        .unwrap();
    let seen = mock.seen();
    assert_eq!(seen.len(), 2);
    seen[1].at - seen[0].at
}

#[tokio::test(start_paused = true)]
async fn too_many_requests_waits_for_retry_after_seconds() {
    let limited = Step::Respond(
        429,
        vec![("retry-after", "7".to_owned())],
        r#"{"message":"Slow down."}"#.to_owned(),
    );
    let gap = wait_before_retry(limited, options(5)).await;
    assert!(
        gap >= Duration::from_secs(7) && gap < Duration::from_secs(8),
        "waited {gap:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_capped() {
    let limited = Step::Respond(
        503,
        vec![("retry-after", "3600".to_owned())],
        "{}".to_owned(),
    );
    let mut opts = options(5);
    opts.retry.max_retry_after = Duration::from_secs(5);
    let gap = wait_before_retry(limited, opts).await;
    assert!(
        gap >= Duration::from_secs(5) && gap < Duration::from_secs(6),
        "waited {gap:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_http_date_is_honoured() {
    let at = chrono::Utc::now() + chrono::Duration::seconds(20);
    let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let limited = Step::Respond(429, vec![("retry-after", date)], "{}".to_owned());
    let gap = wait_before_retry(limited, options(5)).await;
    // The date has one-second resolution and is read against the real clock.
    assert!(
        gap >= Duration::from_secs(18) && gap <= Duration::from_secs(20),
        "waited {gap:?}"
    );
}

#[test]
fn retry_after_parses_seconds_and_dates() {
    assert_eq!(
        parse_retry_after(&HeaderValue::from_static("12")),
        Some(Duration::from_secs(12))
    );
    assert_eq!(
        parse_retry_after(&HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT")),
        Some(Duration::ZERO),
        "a date in the past means: retry now"
    );
    assert_eq!(parse_retry_after(&HeaderValue::from_static("soon")), None);
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_not_retried_and_keep_the_platform_message() {
    let cases: [(u16, &str, &str); 5] = [
        (
            400,
            r#"{"message":"Bad request.","errors":{"secretRegistrations[0]":"Secret doesn't exist in the store."}}"#,
            "400 Bad Request: Bad request. (secretRegistrations[0]: Secret doesn't exist in the store.)",
        ),
        (
            401,
            r#"{"message":"You have to be authorized to access this resource."}"#,
            "401 Unauthorized: You have to be authorized to access this resource.; check that environment \
             variable PROD_TOKEN holds a valid token for tenant prod",
        ),
        (
            403,
            r#"{"message":"Access denied for user."}"#,
            "403 Forbidden: Access denied for user.",
        ),
        (
            404,
            r#"{"message":"Connector c-1 not found."}"#,
            "404 Not Found: Connector c-1 not found.",
        ),
        (
            409,
            r#"{"message":"Name is taken."}"#,
            "409 Conflict: Name is taken.",
        ),
    ];
    for (status, body, expected) in cases {
        let (mock, addr) = serve(vec![respond(status, body), respond(200, "{}")]).await;
        let api = endpoint(addr, options(5));
        let err = api
            .send(&scope(Operation::Copy), Request::get("/connectors/c-1"))
            .await
            .unwrap_err();
        assert_eq!(mock.seen().len(), 1, "{status} must not be retried");
        assert!(!err.is_transient());
        assert_eq!(err.status(), Some(status));
        let text = err.to_string();
        assert!(
            text.starts_with(
                "tenant prod (productsup-cde): copy of \"Amazon Seller Import\" failed: "
            ),
            "{text}"
        );
        assert!(text.contains(expected), "{status}: {text}");
    }
}

#[tokio::test(start_paused = true)]
async fn rejected_keeps_field_errors_for_the_manifest() {
    let body =
        r#"{"result":"failed","message":"SQL is empty","errors":{"live_sql":"SQL is empty"}}"#;
    let (_mock, addr) = serve(vec![respond(422, body)]).await;
    let api = endpoint(addr, options(5));
    let err = api
        .send(&scope(Operation::Import), Request::get("/x"))
        .await
        .unwrap_err();
    assert_eq!(
        err.field_errors().get("live_sql").map(String::as_str),
        Some("SQL is empty")
    );
    assert!(
        err.to_string()
            .ends_with("422 Unprocessable Entity: SQL is empty (live_sql)"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn creates_are_not_repeated_after_a_server_error() {
    let (mock, addr) = serve(vec![
        respond(500, r#"{"message":"boom"}"#),
        respond(201, "{}"),
    ])
    .await;
    let api = endpoint(addr, options(5));
    let req = Request::post("/connectors/copy", serde_json::json!({})).not_idempotent();
    let err = api.send(&scope(Operation::Copy), req).await.unwrap_err();
    assert_eq!(
        mock.seen().len(),
        1,
        "the platform may have created it: do not copy twice"
    );
    assert_eq!(err.attempts(), Some(1));
    assert!(err.is_transient());
}

#[tokio::test(start_paused = true)]
async fn creates_are_repeated_when_the_platform_did_not_act() {
    let limited = || Step::Respond(429, vec![("retry-after", "1".to_owned())], "{}".to_owned());
    let (mock, addr) = serve(vec![limited(), limited(), respond(201, "{}")]).await;
    let api = endpoint(addr, options(5));
    let req = Request::post("/connectors/copy", serde_json::json!({"name": "x"})).not_idempotent();
    let reply = api.send(&scope(Operation::Copy), req).await.unwrap();
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(mock.seen().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_503_to_a_create_leaves_its_outcome_unknown() {
    let (mock, addr) = serve(vec![respond(503, "{}"), respond(201, "{}")]).await;
    let api = endpoint(addr, options(5));
    let req = Request::post("/connectors/copy", serde_json::json!({"name": "x"})).not_idempotent();
    let err = api.send(&scope(Operation::Copy), req).await.unwrap_err();
    assert_eq!(
        mock.seen().len(),
        1,
        "a gateway may answer 503 after the platform copied: never copy twice"
    );
    assert!(
        matches!(
            err,
            Error::Transient {
                status: 503,
                attempts: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn delete_whose_answer_was_lost_counts_as_done() {
    let (mock, addr) = serve(vec![
        respond(502, "{}"),
        respond(404, r#"{"message":"gone"}"#),
    ])
    .await;
    let api = endpoint(addr, options(5));
    api.send(
        &scope(Operation::Delete),
        Request::delete("/connectors/c-1"),
    )
    .await
    .unwrap();
    assert_eq!(mock.seen().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn delete_of_a_missing_object_is_not_found() {
    let (_mock, addr) = serve(vec![respond(404, r#"{"message":"gone"}"#)]).await;
    let api = endpoint(addr, options(5));
    let err = api
        .send(
            &scope(Operation::Delete),
            Request::delete("/connectors/c-1"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn hanging_server_times_out_within_the_configured_limit() {
    let (mock, addr) = serve(vec![Step::Hang, Step::Hang, Step::Hang]).await;
    let mut opts = options(2);
    opts.request_timeout = Duration::from_secs(3);
    let api = endpoint(addr, opts.clone());
    let started = Instant::now();
    let err = api
        .send(&scope(Operation::List), Request::get("/connectors"))
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, Error::Timeout { attempts: 2, .. }), "{err:?}");
    assert_eq!(mock.seen().len(), 2);
    let limit = opts.request_timeout * 2 + opts.retry.backoff_ceiling(1);
    assert!(
        elapsed >= opts.request_timeout * 2 && elapsed <= limit,
        "took {elapsed:?}, limit {limit:?}"
    );
    assert!(
        err.to_string()
            .contains("no answer within 3s (after 2 attempts)"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn refused_connections_are_retried_then_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let api = endpoint(addr, options(3));
    let err = api
        .send(&scope(Operation::List), Request::get("/connectors"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Unreachable { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("cannot reach the tenant"), "{err}");
}

#[test]
fn backoff_grows_exponentially_up_to_the_cap_with_jitter() {
    let policy = RetryPolicy::default();
    assert_eq!(policy.backoff_ceiling(1), Duration::from_millis(200));
    assert_eq!(policy.backoff_ceiling(2), Duration::from_millis(400));
    assert_eq!(policy.backoff_ceiling(4), Duration::from_millis(1600));
    assert_eq!(policy.backoff_ceiling(10), Duration::from_secs(10));
    assert_eq!(policy.backoff_ceiling(200), Duration::from_secs(10));
    let err = Error::Timeout {
        scope: Box::new(scope(Operation::List)),
        attempts: 1,
        timeout: Duration::from_secs(1),
    };
    let waits: Vec<Duration> = (0..200).map(|_| policy.delay(3, &err)).collect();
    assert!(waits.iter().all(|w| *w <= Duration::from_millis(800)));
    assert!(waits.iter().any(|w| *w != waits[0]), "jittered");
}

#[test]
fn non_json_error_bodies_give_their_first_line() {
    let parsed =
        PlatformMessage::parse(StatusCode::BAD_GATEWAY, b"\n<html>Bad gateway</html>\nmore");
    assert_eq!(parsed.message, "<html>Bad gateway</html>");
    let empty = PlatformMessage::parse(StatusCode::BAD_GATEWAY, b"");
    assert_eq!(empty.message, "Bad Gateway");
    let listed = PlatformMessage::parse(
        StatusCode::BAD_REQUEST,
        br#"{"message":"m","errors":{"f":["a","b"]}}"#,
    );
    assert_eq!(listed.errors["f"], "a; b");
}

#[tokio::test(start_paused = true)]
async fn tokens_never_reach_errors_or_debug_output() {
    let (mock, addr) = serve(vec![
        respond(200, "{}"),
        respond(500, "{}"),
        respond(
            401,
            r#"{"message":"You have to be authorized to access this resource."}"#,
        ),
    ])
    .await;
    let api = endpoint(addr, options(2));
    api.send(
        &scope(Operation::List),
        Request::get("/connectors?from=0&limit=50"),
    )
    .await
    .unwrap();
    let err = api
        .send(&scope(Operation::Export), Request::get("/connectors/c-1"))
        .await
        .unwrap_err();

    // The token really was sent, so its absence below means something.
    let sent = mock.seen();
    assert_eq!(sent[0].headers["authorization"], format!("Bearer {TOKEN}"));
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    for text in [format!("{err}"), format!("{err:?}"), format!("{api:?}")] {
        assert!(!text.contains(TOKEN), "token leaked into: {text}");
    }
    assert!(
        format!("{err}").contains("environment variable PROD_TOKEN"),
        "{err}"
    );
}

#[test]
fn ids_are_escaped_as_one_segment() {
    assert_eq!(crate::encode::component("sc_0001"), "sc_0001");
    assert_eq!(
        crate::encode::component("00d8c347-0dec-480f"),
        "00d8c347-0dec-480f"
    );
    assert_eq!(crate::encode::component("a/b c"), "a%2Fb%20c");
}

#[test]
fn unusable_base_urls_are_refused_with_a_reason() {
    let http = HttpClient::new(&ClientOptions::default()).unwrap();
    let token = Secret::new("t");
    let try_url = |url: &str| {
        Endpoint::new(
            url,
            "prod",
            Platform::Kizen,
            vec![("X-API-KEY", &token)],
            "x",
            http.clone(),
        )
        .unwrap_err()
        .to_string()
    };
    assert_eq!(
        try_url("emulator"),
        "tenant prod: invalid url \"emulator\": `url: emulator` must be resolved to the in-process emulator's base \
         URL before connecting"
    );
    assert_eq!(
        try_url("ftp://host/x"),
        "tenant prod: invalid url \"ftp://host/x\": only http:// and https:// are supported"
    );
    let refused = try_url("https://user:hunter2@host/");
    assert!(
        refused.contains("credentials in the url are not allowed"),
        "{refused}"
    );
    assert!(
        refused.contains("\"https://***@host/\"") && !refused.contains("hunter2"),
        "the password is never shown: {refused}"
    );
}

#[test]
fn header_values_that_cannot_be_sent_are_credentials_errors() {
    let http = HttpClient::new(&ClientOptions::default()).unwrap();
    let token = Secret::new("line\nbreak-secret");
    let err = Endpoint::new(
        "http://127.0.0.1:1",
        "prod",
        Platform::Kizen,
        vec![("X-API-KEY", &token)],
        "x",
        http,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "tenant prod: credentials: the value for header x-api-key contains characters not allowed in HTTP headers"
    );
}
