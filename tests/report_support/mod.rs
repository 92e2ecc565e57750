//! A recording stand-in for the GitHub, GitLab and Gitea commit-status endpoints, served
//! by axum on 127.0.0.1:0, and a tracing capture for log assertions.
//!
//! Every request is checked against the forge's public REST reference: method, path,
//! authentication and the other documented headers, and the JSON body field by field
//! (unknown fields refused, states in the forge's enum, lengths within its limits). A
//! request the real forge would refuse is answered 422 and recorded with its violations,
//! so tests assert that ferry never sends one.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Which forge the stand-in plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Github,
    Gitlab,
    Gitea,
}

/// How the stand-in expects the token.
#[derive(Debug, Clone)]
pub enum Auth {
    /// `Authorization: Bearer <t>` (GitHub; GitLab OAuth).
    Bearer(String),
    /// `PRIVATE-TOKEN: <t>` (GitLab).
    PrivateToken(String),
    /// `Authorization: token <t>` (Gitea).
    Token(String),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The raw (still percent-encoded) path.
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
    /// Everything the real forge would object to; empty for a valid request.
    pub violations: Vec<String>,
}

/// A canned answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn new(status: u16, body: &str) -> Self {
        Answer {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    script: VecDeque<Answer>,
    /// GitLab: the state of the external job per (sha, name).
    gitlab_jobs: HashMap<(String, String), String>,
}

/// The running stand-in.
#[derive(Clone)]
pub struct MockForge {
    pub kind: Kind,
    pub addr: SocketAddr,
    /// The API base URL to configure in ferry.
    pub api: String,
    /// Repository (`owner/name`) or GitLab project segment as it must appear in the path.
    pub repo_path: String,
    pub auth: Auth,
    state: Arc<Mutex<State>>,
}

impl MockForge {
    /// Serve a forge on 127.0.0.1:0. `repo_path` is the repository part of the path as the
    /// forge expects it (`acme/connectors`, or `17` / `acme%2Fconnectors` for GitLab).
    pub async fn start(kind: Kind, repo_path: &str, auth: Auth) -> MockForge {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let prefix = match kind {
            Kind::Github => "",
            Kind::Gitlab => "/api/v4",
            Kind::Gitea => "/api/v1",
        };
        let forge = MockForge {
            kind,
            addr,
            api: format!("http://{addr}{prefix}"),
            repo_path: repo_path.to_owned(),
            auth,
            state: Arc::new(Mutex::new(State::default())),
        };
        let handler_forge = forge.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let forge = handler_forge.clone();
                async move { forge.handle(method, uri, headers, body) }
            },
        );
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        forge
    }

    /// Answer the next requests with these, in order (then 201 again).
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.state.lock().unwrap().script.extend(answers);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// How many requests so far.
    pub fn count(&self) -> usize {
        self.state.lock().unwrap().requests.len()
    }

    /// Panic if any request broke the forge's reference.
    pub fn assert_all_valid(&self) {
        for r in self.requests() {
            assert!(
                r.violations.is_empty(),
                "{:?} {} {}: {:?}",
                self.kind,
                r.method,
                r.path,
                r.violations
            );
        }
    }

    fn handle(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let headers: HashMap<String, String> = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or("<non-ascii>").to_owned(),
                )
            })
            .collect();
        let path = uri.path().to_owned();
        let parsed: Result<Value, _> = serde_json::from_slice(&body);
        let mut violations = Vec::new();
        let body = match parsed {
            Ok(v) => v,
            Err(e) => {
                violations.push(format!("body is not JSON: {e}"));
                Value::Null
            }
        };
        if method != Method::POST {
            violations.push(format!("method {method}, expected POST"));
        }
        let sha = self.check_path(&path, &mut violations);
        self.check_headers(&headers, &mut violations);
        self.check_body(&body, &mut violations);

        let mut state = self.state.lock().unwrap();
        state.requests.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            headers,
            body: body.clone(),
            violations: violations.clone(),
        });
        if !violations.is_empty() {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({"message": "Validation Failed", "errors": violations})),
            )
                .into_response();
        }
        if let Some(answer) = state.script.pop_front() {
            let mut response =
                (StatusCode::from_u16(answer.status).unwrap(), answer.body).into_response();
            for (name, value) in answer.headers {
                response.headers_mut().insert(
                    axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    axum::http::HeaderValue::from_str(&value).unwrap(),
                );
            }
            return response;
        }
        if self.kind == Kind::Gitlab {
            // GitLab's job state machine: `pending` on a job that is already pending or
            // running cannot transition.
            let name = body["name"].as_str().unwrap_or("default").to_owned();
            let new = body["state"].as_str().unwrap_or_default().to_owned();
            let job = state.gitlab_jobs.entry((sha.clone(), name)).or_default();
            if new == "pending" && (job == "pending" || job == "running") {
                let message = format!(
                    "Cannot transition status via :enqueue from :{job} (Reason(s): Status cannot transition via \"enqueue\")"
                );
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"message": message})),
                )
                    .into_response();
            }
            *job = new;
        }
        let created = json!({
            "id": state.requests.len(),
            "state": body["state"],
            "description": body["description"],
            "target_url": body["target_url"],
            "context": body.get("context").or(body.get("name")),
        });
        (StatusCode::CREATED, axum::Json(created)).into_response()
    }

    /// Check the path and return the commit it names.
    fn check_path(&self, path: &str, violations: &mut Vec<String>) -> String {
        let prefix = match self.kind {
            Kind::Github => format!("/repos/{}/statuses/", self.repo_path),
            Kind::Gitlab => format!("/api/v4/projects/{}/statuses/", self.repo_path),
            Kind::Gitea => format!("/api/v1/repos/{}/statuses/", self.repo_path),
        };
        match path.strip_prefix(&prefix) {
            Some(sha)
                if (sha.len() == 40 || sha.len() == 64)
                    && sha.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                sha.to_owned()
            }
            _ => {
                violations.push(format!("path {path} is not {prefix}<sha>"));
                String::new()
            }
        }
    }

    fn check_headers(&self, headers: &HashMap<String, String>, violations: &mut Vec<String>) {
        let mut expect = |name: &str, value: &str| match headers.get(name) {
            Some(v) if v == value => {}
            Some(v) => violations.push(format!("header {name}: {v:?}, expected {value:?}")),
            None => violations.push(format!("header {name} missing")),
        };
        match &self.auth {
            Auth::Bearer(t) => expect("authorization", &format!("Bearer {t}")),
            Auth::PrivateToken(t) => expect("private-token", t),
            Auth::Token(t) => expect("authorization", &format!("token {t}")),
        }
        expect("content-type", "application/json");
        if self.kind == Kind::Github {
            expect("accept", "application/vnd.github+json");
            expect("x-github-api-version", "2022-11-28");
        }
        match headers.get("user-agent") {
            Some(ua) if ua.starts_with("ferry/") => {}
            other => violations.push(format!("user-agent {other:?}, expected ferry/<version>")),
        }
    }

    fn check_body(&self, body: &Value, violations: &mut Vec<String>) {
        let Some(object) = body.as_object() else {
            violations.push("body is not a JSON object".into());
            return;
        };
        // (field, allowed values or empty for any string, max chars)
        let (fields, states, limit): (&[&str], &[&str], Option<usize>) = match self.kind {
            Kind::Github => (
                &["state", "target_url", "description", "context"],
                &["error", "failure", "pending", "success"],
                Some(140),
            ),
            Kind::Gitlab => (
                &[
                    "state",
                    "ref",
                    "target_url",
                    "description",
                    "name",
                    "context",
                    "coverage",
                    "pipeline_id",
                ],
                &[
                    "pending", "running", "success", "failed", "canceled", "skipped",
                ],
                Some(255),
            ),
            Kind::Gitea => (
                &["state", "context", "description", "target_url"],
                &["pending", "success", "error", "failure", "warning"],
                None,
            ),
        };
        for key in object.keys() {
            if !fields.contains(&key.as_str()) {
                violations.push(format!("unknown field {key}"));
            }
        }
        match object.get("state").and_then(Value::as_str) {
            Some(state) if states.contains(&state) => {}
            other => violations.push(format!("state {other:?} not one of {states:?}")),
        }
        for key in ["description", "context", "name", "target_url", "ref"] {
            match object.get(key) {
                None => {}
                Some(Value::String(s)) => {
                    let limited = key == "description"
                        || (self.kind == Kind::Gitlab && key != "name" && key != "context");
                    if let Some(max) = limit.filter(|_| limited)
                        && s.chars().count() > max
                    {
                        violations.push(format!(
                            "{key} has {} characters, more than {max}",
                            s.chars().count()
                        ));
                    }
                }
                Some(other) => violations.push(format!("{key} is not a string: {other}")),
            }
        }
    }
}

/// A buffer that collects formatted log lines.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Capture every log line (all levels) of this thread into a buffer.
pub fn capture_logs() -> (tracing::subscriber::DefaultGuard, Logs) {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (tracing::subscriber::set_default(subscriber), logs)
}

/// A commit id for tests.
pub fn sha(n: u8) -> String {
    format!("{:02x}", n).repeat(20)
}
