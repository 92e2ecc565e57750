//! The one HTTP layer every provider client uses: timeouts, retries with backoff, the
//! mapping of platform answers onto [`Error`], and request logging.
//!
//! This module owns [`HttpClient`] (a `reqwest::Client` with rustls and timeouts),
//! [`RetryPolicy`] and [`ClientOptions`], and the crate-internal `Endpoint` a client uses
//! to call one tenant. It must not know any platform's paths or shapes, and must never log
//! or return header values: requests are logged with method, path, status and elapsed time
//! only.
//!
//! # Guarantees
//! - Every attempt is bounded by the per-request timeout (connect, send and reading the
//!   whole body).
//! - Transient failures ([`Error::is_transient`]) are retried up to
//!   [`RetryPolicy::max_attempts`] with full-jitter exponential backoff; a `Retry-After`
//!   (seconds or HTTP date) on 429 or 503 is honoured instead, capped at
//!   [`RetryPolicy::max_retry_after`].
//! - A call that is not safe to repeat (an import, copy, duplicate or install) is retried
//!   only when the platform cannot have acted on it: the connection was never made, or it
//!   answered 429 (refused before any work). Any other failure — no answer, a connection
//!   closed after the request was sent, a timeout, a 5xx (503 included: a gateway may
//!   answer it after the platform acted) — leaves its outcome unknown: the first such
//!   failure is returned, and the caller settles it by reading the tenant.
//! - Sleeps use `tokio::time`, so tests can run with a paused clock.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::credentials::{Credentials, Secret};
use super::error::{Error, Operation, Result, Scope};
use crate::backoff::Backoff;
use crate::capability::{Capability, CapabilitySet};
use crate::encode;
use crate::model::Platform;

/// How often and how patiently to retry transient failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included. Default 5.
    pub max_attempts: u32,
    /// Backoff base: attempt `n` waits up to `base_delay * 2^(n-1)`. Default 200 ms.
    pub base_delay: Duration,
    /// Upper bound of one backoff wait. Default 10 s.
    pub max_delay: Duration,
    /// Upper bound of a wait the platform asks for with `Retry-After`. Default 60 s.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries: one attempt per call.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The backoff between attempts: from `base_delay` up to `max_delay`.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            initial: self.base_delay,
            max: self.max_delay,
        }
    }

    /// The ceiling of the backoff before attempt `attempt + 1` (`attempt` ≥ 1 failed):
    /// `min(max_delay, base_delay * 2^(attempt-1))`.
    pub fn backoff_ceiling(&self, attempt: u32) -> Duration {
        self.backoff().ceiling(attempt)
    }

    /// How long to wait after failed attempt `attempt` with `err`: the platform's
    /// `Retry-After` (capped) when it sent one, otherwise the jittered backoff
    /// ([`Backoff::delay`]).
    pub fn delay(&self, attempt: u32, err: &Error) -> Duration {
        match err.retry_after() {
            Some(wait) => wait.min(self.max_retry_after),
            None => self.backoff().delay(attempt),
        }
    }
}

/// Settings of the HTTP layer shared by every provider client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Time to establish a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Time for one attempt: connect, send, and read the whole response. Default 30 s.
    pub request_timeout: Duration,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
        }
    }
}

/// An HTTP client with ferry's timeouts and retry policy. Cheap to clone (the connection
/// pool is shared).
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    options: ClientOptions,
}

impl HttpClient {
    /// Build a client (rustls, no cookies, system proxy settings).
    ///
    /// # Errors
    /// [`Error::HttpSetup`] when the TLS back end cannot be initialised.
    pub fn new(options: &ClientOptions) -> Result<Self> {
        let client = crate::client::builder()
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| Error::HttpSetup {
                reason: error_chain(&err),
            })?;
        Ok(HttpClient {
            client,
            options: options.clone(),
        })
    }

    /// The options this client was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }
}

/// The `operation` label of `ferry_tenant_requests_total`: one fixed word per operation.
fn operation_label(operation: Operation) -> &'static str {
    match operation {
        Operation::List => "list",
        Operation::Export => "export",
        Operation::Import => "import",
        Operation::Template => "template",
        Operation::Install => "install",
        Operation::Copy => "copy",
        Operation::Duplicate => "duplicate",
        Operation::Rename => "rename",
        Operation::Delete => "delete",
        Operation::Deactivate => "deactivate",
        Operation::ReadBack => "read_back",
        Operation::Recheck => "recheck",
        Operation::ExportLink => "export_link",
        Operation::Catalog => "catalog",
    }
}

/// One request to a tenant, relative to its base URL.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    method: Method,
    path: String,
    body: Option<serde_json::Value>,
    idempotent: bool,
}

impl Request {
    /// `GET path`.
    pub(crate) fn get(path: impl Into<String>) -> Self {
        Request {
            method: Method::GET,
            path: path.into(),
            body: None,
            idempotent: true,
        }
    }

    /// `POST path` with a JSON body; retried freely (use [`Request::not_idempotent`] for
    /// creates).
    pub(crate) fn post(path: impl Into<String>, body: serde_json::Value) -> Self {
        Request {
            method: Method::POST,
            path: path.into(),
            body: Some(body),
            idempotent: true,
        }
    }

    /// `PATCH path` with a JSON body.
    pub(crate) fn patch(path: impl Into<String>, body: serde_json::Value) -> Self {
        Request {
            method: Method::PATCH,
            path: path.into(),
            body: Some(body),
            idempotent: true,
        }
    }

    /// `DELETE path`. A 404 on a retry counts as success (an earlier attempt deleted it).
    pub(crate) fn delete(path: impl Into<String>) -> Self {
        Request {
            method: Method::DELETE,
            path: path.into(),
            body: None,
            idempotent: true,
        }
    }

    /// Mark the request as creating something: it is repeated only when the platform
    /// cannot have acted on an earlier attempt.
    pub(crate) fn not_idempotent(mut self) -> Self {
        self.idempotent = false;
        self
    }
}

/// A successful (2xx) answer.
#[derive(Debug)]
pub(crate) struct Reply {
    /// HTTP status.
    pub(crate) status: StatusCode,
    body: Vec<u8>,
    /// The request answered, `POST /connectors/copy`, for messages.
    call: String,
}

impl Reply {
    /// Decode the body as JSON. A body without a field the type requires is an error naming
    /// the field and the request it answered.
    pub(crate) fn json<T: DeserializeOwned>(&self, scope: &Scope) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|err| Error::decode(scope, format!("the answer to {}: {err}", self.call)))
    }
}

/// One tenant's API: base URL, authentication headers and the shared [`HttpClient`].
pub(crate) struct Endpoint {
    http: HttpClient,
    /// The modelled operations the tenant allows.
    pub(crate) capabilities: CapabilitySet,
    base: String,
    tenant: String,
    platform: Platform,
    headers: HeaderMap,
    credential: String,
    /// `429 Too Many Requests` answers received so far (retried or not).
    rate_limited: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("base", &self.base)
            .field("tenant", &self.tenant)
            .field("platform", &self.platform)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// `{collection}/{id}`, the id percent-encoded: where a platform keeps one object.
pub(crate) fn object_path(collection: &str, id: &str) -> String {
    format!("{collection}/{}", encode::component(id))
}

impl Endpoint {
    /// An endpoint for `tenant` at `base_url`, sending `headers` (marked sensitive) on
    /// every request. `credential` says where the token came from, for 401 messages.
    pub(crate) fn new(
        base_url: &str,
        tenant: &str,
        platform: Platform,
        headers: Vec<(&str, &Secret)>,
        credential: &str,
        http: HttpClient,
    ) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidUrl {
            tenant: tenant.to_owned(),
            url: crate::sensitive::redact(base_url).into_owned(),
            reason: reason.to_owned(),
        };
        if base_url == "emulator" {
            return Err(invalid(
                "`url: emulator` must be resolved to the in-process emulator's base URL before connecting",
            ));
        }
        let url = reqwest::Url::parse(base_url).map_err(|err| invalid(&err.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("only http:// and https:// are supported"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "credentials in the url are not allowed: use the tenant's auth block",
            ));
        }
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| Error::Credentials {
                tenant: tenant.to_owned(),
                problem: format!("{name:?} is not a valid HTTP header name"),
            })?;
            let mut value = HeaderValue::from_str(value.expose()).map_err(|_| Error::Credentials {
                tenant: tenant.to_owned(),
                problem: format!("the value for header {name} contains characters not allowed in HTTP headers"),
            })?;
            value.set_sensitive(true);
            map.insert(name, value);
        }
        Ok(Endpoint {
            http,
            capabilities: CapabilitySet::all(),
            base: base_url.trim_end_matches('/').to_owned(),
            tenant: tenant.to_owned(),
            platform,
            headers: map,
            credential: credential.to_owned(),
            rate_limited: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// An endpoint for `tenant` at `base_url` sending `Authorization: Bearer <token>` and
    /// the other configured headers (Agent Studio, Productsup CDE).
    ///
    /// # Errors
    /// As [`Endpoint::new`].
    pub(crate) fn bearer(
        base_url: &str,
        tenant: &str,
        platform: Platform,
        credentials: &Credentials,
        http: HttpClient,
    ) -> Result<Self> {
        let bearer = Secret::new(format!("Bearer {}", credentials.token.expose()));
        let mut headers = vec![("Authorization", &bearer)];
        headers.extend(
            credentials
                .headers
                .iter()
                .map(|(name, value)| (name.as_str(), value)),
        );
        Endpoint::new(
            base_url,
            tenant,
            platform,
            headers,
            &credentials.token_origin,
            http,
        )
    }

    /// The tenant name.
    pub(crate) fn tenant(&self) -> &str {
        &self.tenant
    }

    /// How many `429 Too Many Requests` answers this endpoint has received.
    pub(crate) fn rate_limited(&self) -> u64 {
        self.rate_limited.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A [`Scope`] for an operation on this tenant.
    pub(crate) fn scope(&self, operation: Operation, object: Option<&str>) -> Scope {
        Scope::new(&self.tenant, self.platform, operation, object)
    }

    /// `GET {collection}/{id}`: one object, decoded.
    pub(crate) async fn get_object<T: DeserializeOwned>(
        &self,
        scope: &Scope,
        collection: &str,
        id: &str,
    ) -> Result<T> {
        self.json(scope, Request::get(object_path(collection, id)))
            .await
    }

    /// `PATCH {collection}/{id}` with `body` (rename, the active toggle), discarding the
    /// answer.
    pub(crate) async fn patch_object(
        &self,
        operation: Operation,
        collection: &str,
        id: &str,
        body: serde_json::Value,
    ) -> Result<()> {
        let scope = self.scope(operation, Some(id));
        let req = Request::patch(object_path(collection, id), body);
        self.send(&scope, req).await.map(drop)
    }

    /// Fail with [`Error::Unsupported`] when the tenant switched `capability` off.
    pub(crate) fn require(&self, scope: &Scope, capability: Capability) -> Result<()> {
        if self.capabilities.enabled(capability) {
            Ok(())
        } else {
            Err(Error::switched_off(scope.clone(), capability))
        }
    }

    /// `PATCH {collection}/{id}` with `{"name": name}` (capability `rename`).
    pub(crate) async fn rename_object(&self, collection: &str, id: &str, name: &str) -> Result<()> {
        self.require(&self.scope(Operation::Rename, Some(id)), Capability::Rename)?;
        self.patch_object(
            Operation::Rename,
            collection,
            id,
            serde_json::json!({ "name": name }),
        )
        .await
    }

    /// `PATCH {collection}/{id}` with `{"active": false}`: the one toggle call ferry makes.
    pub(crate) async fn deactivate_object(&self, collection: &str, id: &str) -> Result<()> {
        self.patch_object(
            Operation::Deactivate,
            collection,
            id,
            serde_json::json!({ "active": false }),
        )
        .await
    }

    /// `DELETE {collection}/{id}`.
    pub(crate) async fn delete_object(&self, collection: &str, id: &str) -> Result<()> {
        let scope = self.scope(Operation::Delete, Some(id));
        let req = Request::delete(object_path(collection, id));
        self.send(&scope, req).await.map(drop)
    }

    /// Send `req` and decode a 2xx JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(&self, scope: &Scope, req: Request) -> Result<T> {
        self.send(scope, req).await?.json(scope)
    }

    /// Send `req`, retrying transient failures per the policy; a 2xx answer is returned,
    /// anything else becomes an [`Error`] in `scope`.
    pub(crate) async fn send(&self, scope: &Scope, req: Request) -> Result<Reply> {
        let policy = &self.http.options.retry;
        let max = policy.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let (result, safe_to_repeat) = self.attempt(scope, &req, attempt).await;
            let err = match result {
                Ok(reply) => return Ok(reply),
                Err(err) => err,
            };
            let repeat = err.is_transient() && (req.idempotent || safe_to_repeat);
            if !repeat || attempt >= max {
                return Err(err.with_attempts(attempt));
            }
            let wait = policy.delay(attempt, &err);
            tracing::debug!(
                tenant = %self.tenant,
                method = %req.method,
                path = %req.path,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "retrying platform request"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One attempt. Returns the outcome and whether the platform certainly did not act on
    /// the request (so even a create may be repeated).
    async fn attempt(&self, scope: &Scope, req: &Request, attempt: u32) -> (Result<Reply>, bool) {
        let url = format!("{}{}", self.base, req.path);
        let mut builder = self
            .http
            .client
            .request(req.method.clone(), url)
            .headers(self.headers.clone());
        if let Some(body) = &req.body {
            builder = builder.json(body);
        }
        let timeout = self.http.options.request_timeout;
        let started = Instant::now();
        let outcome = tokio::time::timeout(timeout, async {
            let response = builder.send().await?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(parse_retry_after);
            let body: Vec<u8> = response.bytes().await?.into();
            Ok::<_, reqwest::Error>((status, retry_after, body))
        })
        .await;
        let elapsed = started.elapsed();
        let elapsed_ms = elapsed.as_millis() as u64;
        let code = match &outcome {
            Err(_) => "timeout".to_owned(),
            Ok(Err(err)) if err.is_timeout() => "timeout".to_owned(),
            Ok(Err(_)) => "error".to_owned(),
            Ok(Ok((status, _, _))) => status.as_u16().to_string(),
        };
        crate::metrics::get().tenant_request(
            &self.tenant,
            self.platform.as_str(),
            operation_label(scope.operation),
            &code,
            elapsed.as_secs_f64(),
        );
        match outcome {
            Err(_) => {
                tracing::debug!(
                    tenant = %self.tenant, method = %req.method, path = %req.path, attempt, elapsed_ms,
                    outcome = "timeout", "platform request"
                );
                (
                    Err(Error::Timeout {
                        scope: Box::new(scope.clone()),
                        attempts: attempt,
                        timeout,
                    }),
                    false,
                )
            }
            Ok(Err(err)) => {
                let reason = if err.is_timeout() {
                    "timed out".to_owned()
                } else {
                    error_chain(&err)
                };
                tracing::debug!(
                    tenant = %self.tenant, method = %req.method, path = %req.path, attempt, elapsed_ms,
                    outcome = "connection error", "platform request"
                );
                let safe = err.is_connect();
                let err = if err.is_timeout() {
                    Error::Timeout {
                        scope: Box::new(scope.clone()),
                        attempts: attempt,
                        timeout,
                    }
                } else {
                    Error::Unreachable {
                        scope: Box::new(scope.clone()),
                        attempts: attempt,
                        reason,
                    }
                };
                (Err(err), safe)
            }
            Ok(Ok((status, retry_after, body))) => {
                tracing::debug!(
                    tenant = %self.tenant, method = %req.method, path = %req.path, attempt, elapsed_ms,
                    status = status.as_u16(), "platform request"
                );
                let call = || format!("{} {}", req.method, path_only(&req.path));
                if status.is_success() {
                    let call = call();
                    return (Ok(Reply { status, body, call }), false);
                }
                if req.method == Method::DELETE && status == StatusCode::NOT_FOUND && attempt > 1 {
                    // An earlier attempt deleted it and its answer was lost.
                    let call = call();
                    return (Ok(Reply { status, body, call }), false);
                }
                // Only a rate limit says the platform did nothing; a 5xx may come after
                // it acted.
                let safe = status == StatusCode::TOO_MANY_REQUESTS;
                if safe {
                    self.rate_limited
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                (
                    Err(self.status_error(scope, status, retry_after, &body, attempt)),
                    safe,
                )
            }
        }
    }

    /// Map a non-2xx answer onto an [`Error`].
    fn status_error(
        &self,
        scope: &Scope,
        status: StatusCode,
        retry_after: Option<Duration>,
        body: &[u8],
        attempt: u32,
    ) -> Error {
        let PlatformMessage { message, errors } = PlatformMessage::parse(status, body);
        let scope = Box::new(scope.clone());
        match status.as_u16() {
            401 => Error::Unauthorized {
                scope,
                message,
                credential: self.credential.clone(),
            },
            403 => Error::Forbidden { scope, message },
            404 => Error::NotFound { scope, message },
            409 => Error::Conflict {
                scope,
                status: Some(409),
                message,
                existing_id: None,
            },
            408 | 429 | 500..=599 => Error::Transient {
                scope,
                attempts: attempt,
                status: status.as_u16(),
                message,
                retry_after: if matches!(status.as_u16(), 429 | 503) {
                    retry_after
                } else {
                    None
                },
            },
            code => Error::Rejected {
                scope,
                status: code,
                message,
                errors,
            },
        }
    }
}

/// The platform's own words from an error body: `message` and the `errors` map.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct PlatformMessage {
    pub(crate) message: String,
    pub(crate) errors: std::collections::BTreeMap<String, String>,
}

impl PlatformMessage {
    /// Parse `{"message": "...", "errors": {field: "..." | ["..."]}}`; a body that is not
    /// JSON gives its first line (at most 200 characters), an empty one the status reason.
    pub(crate) fn parse(status: StatusCode, body: &[u8]) -> Self {
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            message: Option<String>,
            #[serde(default)]
            reason: Option<String>,
            #[serde(default)]
            errors: Option<serde_json::Map<String, serde_json::Value>>,
        }
        let fallback = || status.canonical_reason().unwrap_or("no message").to_owned();
        match serde_json::from_slice::<Body>(body) {
            Ok(parsed) => {
                let errors = parsed
                    .errors
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(field, value)| (field, flatten_message(&value)))
                    .collect();
                let message = parsed.message.or(parsed.reason).unwrap_or_else(fallback);
                PlatformMessage { message, errors }
            }
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let line = text
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or_default();
                let message = if line.is_empty() {
                    fallback()
                } else {
                    line.chars().take(200).collect()
                };
                PlatformMessage {
                    message,
                    errors: Default::default(),
                }
            }
        }
    }
}

fn flatten_message(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(flatten_message)
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// A request path without its query string (which may carry paging tokens).
fn path_only(path: &str) -> &str {
    path.split_once('?').map_or(path, |(p, _)| p)
}

/// `Retry-After`: delay seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let date = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let delta = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// The error and its sources, without the URL (which may carry query values).
fn error_chain(err: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut parts = Vec::new();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        let kind = if err.is_connect() {
            "connection failed"
        } else if err.is_body() || err.is_decode() {
            "response body could not be read"
        } else if err.is_request() {
            "request failed"
        } else {
            "HTTP error"
        };
        parts.push(kind.to_owned());
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests;
