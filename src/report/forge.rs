//! What the three forge reporters share: the token type, the HTTP client, posting a
//! status ([`ForgeReporter`], with each forge's part as a [`ForgeApi`]), and turning a forge's
//! answer into success or a classified [`ReportError`].
//!
//! It must not know any forge's paths or body shapes (those live in `github.rs`,
//! `gitlab.rs`, `gitea.rs`). Tokens only leave a [`Token`] as a sensitive header value;
//! every message read from a forge is scrubbed of the token before it is kept.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;

use super::error::{ReportError, RetryAt};
use super::reporter::{Reporter, check_sha};
use super::status::{CommitStatus, truncate_chars};
use crate::encode;

/// Request timeout for one status post.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Connect timeout for one status post.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest forge message kept in an error, in characters.
const MESSAGE_LIMIT: usize = 300;

/// Delay used when GitHub reports a secondary rate limit without saying for how long.
const DEFAULT_RATE_LIMIT_DELAY: Duration = Duration::from_secs(60);

/// `ferry/<version>`, sent as `User-Agent` (GitHub refuses requests without one).
pub(crate) fn user_agent() -> String {
    format!("ferry/{}", env!("CARGO_PKG_VERSION"))
}

/// A forge token. Its `Debug` prints `***`; it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wrap a token value (surrounding whitespace, such as a file's final newline, is removed).
    pub fn new(value: impl Into<String>) -> Self {
        Token(value.into().trim().to_owned())
    }

    /// The value, for building the one header that carries it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// A header value holding `prefix` + token, marked sensitive so HTTP debug output
    /// hides it.
    pub(crate) fn header_value(&self, prefix: &str) -> Option<HeaderValue> {
        let mut value = HeaderValue::from_str(&format!("{prefix}{}", self.0)).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    /// `text` with every occurrence of the token replaced by `***`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.0, "***")
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The HTTP client ferry uses for forges: `User-Agent: ferry/<version>`, bounded timeouts.
pub(crate) fn http_client() -> reqwest::Client {
    crate::client::builder()
        .user_agent(user_agent())
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// One forge endpoint: which forge, where its API is, which repository, with which token.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// `github`, `gitlab` or `gitea`.
    pub(crate) forge: &'static str,
    /// API base URL without trailing slash.
    pub(crate) api: String,
    /// Repository (`owner/repo`) or GitLab project id or path, as configured.
    pub(crate) repo: String,
    /// The token.
    pub(crate) token: Token,
    /// Shared HTTP client.
    pub(crate) client: reqwest::Client,
    /// `server.externalUrl`: where `target_url` points for statuses that have none.
    pub(crate) external_url: Option<String>,
}

/// Posts commit statuses to one repository of one forge: `F` is the forge's part
/// ([`ForgeApi`]: GitHub, GitLab, Gitea), the rest (checking the commit, cutting the
/// description, posting, classifying the answer) is the same for all three.
#[derive(Debug)]
pub struct ForgeReporter<F> {
    pub(crate) endpoint: Endpoint,
    pub(crate) forge: F,
}

impl<F> ForgeReporter<F> {
    /// A reporter posting to `endpoint` the way `forge` says.
    pub(crate) fn with_forge(endpoint: Endpoint, forge: F) -> Self {
        ForgeReporter { endpoint, forge }
    }

    /// Derive `target_url` from `server.externalUrl` for statuses that have none.
    pub fn with_external_url(mut self, external_url: Option<&str>) -> Self {
        self.endpoint.external_url = external_url.map(str::to_owned);
        self
    }
}

/// One forge's part of posting a commit status: where a status goes, with which headers
/// and body, and which refusals the forge settles itself.
pub(crate) trait ForgeApi: Send + Sync + fmt::Debug {
    /// The documented body of one status.
    type Body<'a>: Serialize + Send + Sync;

    /// The forge's limit on `description`, in characters.
    const DESCRIPTION_LIMIT: usize;

    /// Where the statuses of commit `sha` are posted, below the API base URL `api`.
    fn url(&self, api: &str, sha: &str) -> String;

    /// The headers of a post, the token's among them.
    fn headers(&self, endpoint: &Endpoint) -> HeaderMap;

    /// The body of `post`.
    fn body<'a>(&self, post: &Post<'a>) -> Self::Body<'a>;

    /// The outcome of a refusal of `post` this forge reads in its own way; `None` leaves
    /// it to [`Endpoint::classify`].
    fn settle(&self, _post: &Post<'_>, _refusal: &Refusal) -> Option<Result<(), ReportError>> {
        None
    }
}

/// One status on its way to a forge.
pub(crate) struct Post<'a> {
    /// Where it goes.
    pub(crate) endpoint: &'a Endpoint,
    /// The commit.
    pub(crate) sha: &'a str,
    /// The status.
    pub(crate) status: &'a CommitStatus,
    /// Its description, cut to [`ForgeApi::DESCRIPTION_LIMIT`].
    pub(crate) description: &'a str,
}

impl Post<'_> {
    /// The status's `target_url`.
    pub(crate) fn target_url(&self) -> Option<String> {
        self.endpoint.target_url(self.status, self.sha)
    }
}

#[async_trait]
impl<F: ForgeApi> Reporter for ForgeReporter<F> {
    fn name(&self) -> &str {
        self.endpoint.forge
    }

    fn id(&self) -> String {
        self.endpoint.id()
    }

    async fn post(&self, sha: &str, status: &CommitStatus) -> Result<(), ReportError> {
        check_sha(sha)?;
        let (endpoint, forge) = (&self.endpoint, &self.forge);
        let description = truncate_chars(&status.description, F::DESCRIPTION_LIMIT);
        let post = Post {
            endpoint,
            sha,
            status,
            description: &description,
        };
        let body = forge.body(&post);
        match endpoint
            .post_json(
                &forge.url(&endpoint.api, sha),
                forge.headers(endpoint),
                &body,
            )
            .await?
        {
            Ok(()) => Ok(()),
            Err(refusal) => match forge.settle(&post, &refusal) {
                Some(settled) => settled,
                None => Err(endpoint.classify(refusal, sha, &status.context)),
            },
        }
    }
}

/// A repository addressed as `owner/name`, as GitHub and Gitea do.
#[derive(Debug, Clone)]
pub(crate) struct OwnerRepo {
    owner: String,
    name: String,
}

impl OwnerRepo {
    /// `repo` split into owner and name.
    ///
    /// # Errors
    /// [`ReportError::Config`] (index 0) when `repo` is not `owner/name`.
    pub(crate) fn parse(forge: &'static str, repo: &str) -> Result<Self, ReportError> {
        let (owner, name) = split_owner_repo(repo).ok_or_else(|| ReportError::Config {
            index: 0,
            kind: forge,
            message: format!("repo {repo:?} is not of the form owner/name"),
        })?;
        Ok(OwnerRepo {
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }

    /// `{api}/repos/{owner}/{name}/statuses/{sha}`, the statuses endpoint GitHub and Gitea
    /// share.
    pub(crate) fn statuses_url(&self, api: &str, sha: &str) -> String {
        format!(
            "{api}/repos/{}/{}/statuses/{sha}",
            encode::component(&self.owner),
            encode::component(&self.name),
        )
    }
}

/// `owner/name` split in two, or `None`.
pub(crate) fn split_owner_repo(repo: &str) -> Option<(&str, &str)> {
    let (owner, name) = repo.split_once('/')?;
    let valid = |s: &str| !s.is_empty() && !s.contains('/') && !s.chars().any(char::is_whitespace);
    (valid(owner) && valid(name)).then_some((owner, name))
}

/// A non-success answer from a forge, before forge-specific classification.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    /// The forge's message, scrubbed and shortened.
    pub(crate) message: String,
    pub(crate) headers: HeaderMap,
}

impl Endpoint {
    pub(crate) fn new(forge: &'static str, api: &str, repo: &str, token: Token) -> Self {
        Endpoint {
            forge,
            api: api.trim_end_matches('/').to_owned(),
            repo: repo.to_owned(),
            token,
            client: http_client(),
            external_url: None,
        }
    }

    /// `{forge} {api} {repo}`: the reporter's identity in the outbox.
    pub(crate) fn id(&self) -> String {
        format!("{} {} {}", self.forge, self.api, self.repo)
    }

    /// `Accept: accept` and the token in `auth` after `prefix` (`Bearer `, `token `).
    pub(crate) fn headers(
        &self,
        accept: &'static str,
        auth: HeaderName,
        prefix: &str,
    ) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(accept));
        if let Some(value) = self.token.header_value(prefix) {
            headers.insert(auth, value);
        }
        headers
    }

    /// The `target_url` of `status` on commit `sha`.
    pub(crate) fn target_url(&self, status: &CommitStatus, sha: &str) -> Option<String> {
        status.target_url_for(self.external_url.as_deref(), sha)
    }

    /// POST `body` as JSON to `url` with `headers`. `Ok(Ok(()))` on 2xx, `Ok(Err(refusal))`
    /// on any other status, `Err` when the forge could not be reached.
    pub(crate) async fn post_json<B: Serialize + ?Sized>(
        &self,
        url: &str,
        headers: HeaderMap,
        body: &B,
    ) -> Result<Result<(), Refusal>, ReportError> {
        let response = self
            .client
            .post(url)
            .headers(headers)
            .json(body)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(Ok(()));
        }
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let message = self.token.scrub(&forge_message(&text, status));
        Ok(Err(Refusal {
            status,
            message,
            headers,
        }))
    }

    fn unreachable(&self, err: &reqwest::Error) -> ReportError {
        let reason = failure_reason(err);
        ReportError::Unreachable {
            forge: self.forge,
            api: crate::sensitive::redact(&self.api).into_owned(),
            repo: self.repo.clone(),
            reason: self.token.scrub(&reason),
        }
    }

    /// The classification every forge shares: 5xx/408/409 retried, 429 (and 403 with an
    /// exhausted quota or a rate-limit message) retried after the forge's delay,
    /// 401/403 refused token, 404 unknown repository or commit, other 4xx rejected.
    pub(crate) fn classify(&self, refusal: Refusal, sha: &str, context: &str) -> ReportError {
        let Refusal {
            status,
            message,
            headers,
        } = refusal;
        let code = status.as_u16();
        if status == StatusCode::TOO_MANY_REQUESTS
            || is_rate_limited_403(status, &headers, &message)
        {
            let retry = retry_at(&headers).or(if code == 403 {
                Some(RetryAt::After(DEFAULT_RATE_LIMIT_DELAY))
            } else {
                None
            });
            return ReportError::RateLimited {
                forge: self.forge,
                repo: self.repo.clone(),
                status: code,
                message,
                retry,
            };
        }
        match code {
            500..=599 | 408 | 409 => ReportError::ServerError {
                forge: self.forge,
                repo: self.repo.clone(),
                status: code,
                message,
            },
            401 | 403 => ReportError::Unauthorized {
                forge: self.forge,
                repo: self.repo.clone(),
                status: code,
                message,
            },
            404 => ReportError::NotFound {
                forge: self.forge,
                repo: self.repo.clone(),
                sha: sha.to_owned(),
                message,
            },
            _ => ReportError::Rejected {
                forge: self.forge,
                repo: self.repo.clone(),
                sha: sha.to_owned(),
                context: context.to_owned(),
                status: code,
                message,
            },
        }
    }
}

/// GitHub answers an exhausted primary quota with 403 and `x-ratelimit-remaining: 0`, and
/// a secondary rate limit with 403 and a message saying so.
fn is_rate_limited_403(status: StatusCode, headers: &HeaderMap, message: &str) -> bool {
    if status != StatusCode::FORBIDDEN {
        return false;
    }
    let exhausted = header_str(headers, "x-ratelimit-remaining").is_some_and(|v| v.trim() == "0");
    exhausted
        || headers.contains_key("retry-after")
        || message.to_ascii_lowercase().contains("rate limit")
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(HeaderName::from_bytes(name.as_bytes()).ok()?)
        .and_then(|v| v.to_str().ok())
}

/// What the HTTP client said of a request that got no answer: `timed out`, `connection
/// failed` or `request failed`, then each source's message. Without the URL (reqwest puts
/// it in its own message), but not scrubbed of tokens: callers scrub it.
pub(crate) fn failure_reason(err: &reqwest::Error) -> String {
    let mut reason = if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    reason
}

/// When the forge allows the next request: `Retry-After` (seconds or HTTP date) first,
/// then `X-RateLimit-Reset` / `RateLimit-Reset` (Unix seconds; small values are deltas).
pub(crate) fn retry_at(headers: &HeaderMap) -> Option<RetryAt> {
    if let Some(value) = header_str(headers, "retry-after") {
        let value = value.trim();
        if let Ok(secs) = value.parse::<u64>() {
            return Some(RetryAt::After(Duration::from_secs(secs)));
        }
        if let Ok(date) = chrono::DateTime::parse_from_rfc2822(value) {
            return Some(RetryAt::AtEpochSeconds(date.timestamp()));
        }
    }
    for name in ["x-ratelimit-reset", "ratelimit-reset"] {
        if let Some(value) = header_str(headers, name)
            && let Ok(n) = value.trim().parse::<i64>()
        {
            // Epoch seconds are ~1.7e9; an IETF-style `RateLimit-Reset` is a delta.
            return Some(if n >= 1_000_000_000 {
                RetryAt::AtEpochSeconds(n)
            } else {
                RetryAt::After(Duration::from_secs(n.max(0) as u64))
            });
        }
    }
    None
}

/// The human part of a forge's error body: GitHub's `message` plus its `errors[]`
/// messages, GitLab's `message` (a string or an object of field errors) or `error`,
/// Gitea's `message`; else the body text; else the status reason.
pub(crate) fn forge_message(body: &str, status: StatusCode) -> String {
    let text = match serde_json::from_str::<serde_json::Value>(body) {
        Ok(json) => json_message(&json).unwrap_or_else(|| body.trim().to_owned()),
        Err(_) => body.trim().to_owned(),
    };
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = if text.is_empty() {
        status.canonical_reason().unwrap_or("no message").to_owned()
    } else {
        text
    };
    super::status::truncate_chars(&text, MESSAGE_LIMIT).into_owned()
}

fn json_message(json: &serde_json::Value) -> Option<String> {
    let mut parts = Vec::new();
    match json.get("message") {
        Some(serde_json::Value::String(s)) => parts.push(s.clone()),
        Some(other @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => {
            parts.push(other.to_string())
        }
        _ => {}
    }
    if let Some(serde_json::Value::String(s)) = json.get("error") {
        parts.push(s.clone());
    }
    match json.get("errors") {
        Some(serde_json::Value::Array(errors)) => {
            for e in errors {
                match e {
                    serde_json::Value::String(s) => parts.push(s.clone()),
                    serde_json::Value::Object(o) => {
                        if let Some(serde_json::Value::String(m)) = o.get("message") {
                            parts.push(m.clone());
                        } else if let (Some(field), Some(code)) = (o.get("field"), o.get("code")) {
                            parts.push(format!(
                                "{} {}",
                                field.as_str().unwrap_or_default(),
                                code.as_str().unwrap_or_default()
                            ));
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(serde_json::Value::String(s)) => parts.push(s.clone()),
        _ => {}
    }
    (!parts.is_empty()).then(|| parts.join(": "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_and_scrub_hide_the_value() {
        let token = Token::new("ghp_secret123\n");
        assert_eq!(format!("{token:?}"), "***");
        assert_eq!(token.expose(), "ghp_secret123");
        assert_eq!(token.scrub("bad token ghp_secret123!"), "bad token ***!");
        assert!(token.header_value("Bearer ").unwrap().is_sensitive());
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("30"));
        assert_eq!(retry_at(&h), Some(RetryAt::After(Duration::from_secs(30))));

        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_at(&h), Some(RetryAt::AtEpochSeconds(1_445_412_480)));

        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1700000000"));
        assert_eq!(retry_at(&h), Some(RetryAt::AtEpochSeconds(1_700_000_000)));

        let mut h = HeaderMap::new();
        h.insert("ratelimit-reset", HeaderValue::from_static("12"));
        assert_eq!(retry_at(&h), Some(RetryAt::After(Duration::from_secs(12))));

        assert_eq!(retry_at(&HeaderMap::new()), None);
    }

    #[test]
    fn forge_messages_are_extracted() {
        let github = r#"{"message":"Validation Failed","errors":[{"resource":"Status","code":"custom","message":"This SHA and context has reached the maximum number of statuses."}],"documentation_url":"https://docs.github.com/rest"}"#;
        assert_eq!(
            forge_message(github, StatusCode::UNPROCESSABLE_ENTITY),
            "Validation Failed: This SHA and context has reached the maximum number of statuses."
        );
        let gitlab = r#"{"message":{"description":["is too long (maximum is 255 characters)"]}}"#;
        assert_eq!(
            forge_message(gitlab, StatusCode::BAD_REQUEST),
            r#"{"description":["is too long (maximum is 255 characters)"]}"#
        );
        assert_eq!(forge_message("", StatusCode::BAD_GATEWAY), "Bad Gateway");
        assert_eq!(
            forge_message("<html>\n  upstream\n down</html>", StatusCode::BAD_GATEWAY),
            "<html> upstream down</html>"
        );
    }

    #[test]
    fn github_exhausted_quota_403_is_a_rate_limit() {
        let endpoint = Endpoint::new("github", "http://x", "acme/c", Token::new("t"));
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("1700000000"));
        let err = endpoint.classify(
            Refusal {
                status: StatusCode::FORBIDDEN,
                message: "API rate limit exceeded".into(),
                headers,
            },
            "sha",
            "ferry/prod",
        );
        assert!(err.is_transient());
        assert_eq!(err.retry_at(), Some(RetryAt::AtEpochSeconds(1_700_000_000)));

        let err = endpoint.classify(
            Refusal {
                status: StatusCode::FORBIDDEN,
                message: "Resource not accessible by integration".into(),
                headers: HeaderMap::new(),
            },
            "sha",
            "ferry/prod",
        );
        assert!(!err.is_transient());
    }
}
