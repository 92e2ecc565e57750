//! The configured receivers: built from `notifications.receivers` with their secrets
//! read from where the configuration names them, and what every kind shares (who hears
//! of what, posting a body and reading the answer).
//!
//! A receiver's URL and secret live in [`SecretUrl`] and [`Secret`], whose `Debug` prints
//! `***`; answers and errors are scrubbed of them before they are kept or logged. The
//! formats are the kinds' own files; the delivery (outbox, retries, rate limit) is
//! [`crate::report::Deliverer`]'s.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::alertmanager::Alertmanager;
use super::condition::ConditionKind;
use super::event::Event;
use super::slack::Slack;
use super::teams::Teams;
use super::webhook::Webhook;
use crate::config::{LoadedConfig, NotificationReceiver, NotifyEvent};
use crate::report::{self, Notice, RateLimit, ReportError};

/// Why the receivers cannot be set up. Raised at start-up, before anything is sent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A receiver's setting cannot be used (a variable not set, a URL that is not one).
    #[error("notifications.receivers[{index}] (`{name}`): {message}")]
    Config {
        /// Position in `notifications.receivers`.
        index: usize,
        /// The receiver's name.
        name: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A file a receiver names cannot be read.
    #[error("notifications.receivers[{index}] (`{name}`): cannot read {field} {path}: {source}")]
    File {
        /// Position in `notifications.receivers`.
        index: usize,
        /// The receiver's name.
        name: String,
        /// `urlFile`, `secretFile` or `tokenFile`.
        field: &'static str,
        /// The resolved path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The state store could not be read or written.
    #[error("notifications: {0}")]
    Store(#[from] crate::store::Error),
    /// The outbox could not be opened, or a background task failed.
    #[error("notifications: {0}")]
    Outbox(#[from] ReportError),
}

/// A secret value (a signing key, a token). `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A URL that may be a credential (Slack's and Teams' webhook URLs are). `Debug` prints
/// `***`.
#[derive(Clone)]
pub(crate) struct SecretUrl(reqwest::Url);

impl SecretUrl {
    pub(crate) fn url(&self) -> &reqwest::Url {
        &self.0
    }

    /// `text` without the URL, its path or its query (where webhook tokens live).
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.replace(self.0.as_str(), "***");
        for part in [self.0.path(), self.0.query().unwrap_or("")] {
            if part.len() > 1 {
                out = out.replace(part, "***");
            }
        }
        out
    }
}

impl From<reqwest::Url> for SecretUrl {
    fn from(url: reqwest::Url) -> Self {
        SecretUrl(url)
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// One kind's sender.
#[derive(Debug)]
enum Sink {
    Slack(Slack),
    Teams(Teams),
    Webhook(Webhook),
    Alertmanager(Alertmanager),
}

/// One configured receiver: who it is, what it hears of, and how to reach it.
#[derive(Debug)]
pub struct NotifyReceiver {
    name: String,
    events: BTreeSet<NotifyEvent>,
    tenants: Vec<String>,
    limit: RateLimit,
    sink: Sink,
    client: reqwest::Client,
}

impl NotifyReceiver {
    /// The configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it hears of `tenant` at all.
    pub fn hears_of(&self, tenant: &str) -> bool {
        self.tenants.is_empty() || self.tenants.iter().any(|t| t == tenant)
    }

    /// The kinds of condition it is told of (so the ones whose state it tracks).
    pub fn kinds(&self) -> BTreeSet<ConditionKind> {
        ConditionKind::ALL
            .into_iter()
            .filter(|k| self.events.contains(&k.event()))
            .collect()
    }

    /// Whether it is told when conditions clear.
    pub fn hears_recovered(&self) -> bool {
        self.events.contains(&NotifyEvent::Recovered)
    }

    /// For Alertmanager: how often firing alerts are sent again.
    pub fn resend_interval(&self) -> Option<Duration> {
        match &self.sink {
            Sink::Alertmanager(a) => Some(a.resend_interval),
            _ => None,
        }
    }

    /// The notice saying `events` (one, except for Alertmanager's re-sends, which carry
    /// every firing alert), rendered in this receiver's format.
    pub fn notice(&self, key: String, summary: String, events: &[Event]) -> Notice {
        let body = match &self.sink {
            Sink::Slack(_) => super::slack::render(&events[0]),
            Sink::Teams(_) => super::teams::render(&events[0]),
            Sink::Webhook(_) => super::webhook::render(&events[0]),
            Sink::Alertmanager(a) => super::alertmanager::render(events, &a.labels),
        };
        Notice {
            key,
            summary,
            body: body.to_string(),
            heartbeat: events
                .iter()
                .all(|e| e.phase == super::event::Phase::Firing),
        }
    }
}

#[async_trait]
impl report::Receiver for NotifyReceiver {
    fn kind(&self) -> &'static str {
        match &self.sink {
            Sink::Slack(_) => "slack",
            Sink::Teams(_) => "teams",
            Sink::Webhook(_) => "webhook",
            Sink::Alertmanager(_) => "alertmanager",
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn rate_limit(&self) -> Option<RateLimit> {
        Some(self.limit)
    }

    async fn send(&self, notice: &Notice) -> Result<(), ReportError> {
        let to = Target {
            kind: report::Receiver::kind(self),
            name: &self.name,
            client: &self.client,
        };
        match &self.sink {
            Sink::Slack(s) => to.post(&s.url, HeaderMap::new(), &notice.body).await,
            Sink::Teams(t) => to.post(&t.url, HeaderMap::new(), &notice.body).await,
            Sink::Webhook(w) => {
                let headers = w.headers(&notice.key, chrono::Utc::now().timestamp(), &notice.body);
                to.post(&w.url, headers, &notice.body).await
            }
            Sink::Alertmanager(a) => to.post(&a.alerts_url, a.headers(), &notice.body).await,
        }
    }
}

/// Where one request goes, for errors.
struct Target<'a> {
    kind: &'static str,
    name: &'a str,
    client: &'a reqwest::Client,
}

/// Longest answer kept in an error, in characters.
const ANSWER_LIMIT: usize = 300;

impl Target<'_> {
    /// POST `body` (JSON) to `url`. 2xx is success; 408, 409, 429 and 5xx are worth a
    /// retry (429 after its `Retry-After`); another answer is a refusal.
    async fn post(
        &self,
        url: &SecretUrl,
        headers: HeaderMap,
        body: &str,
    ) -> Result<(), ReportError> {
        let response = self
            .client
            .post(url.url().clone())
            .headers(headers)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| ReportError::ReceiverUnreachable {
                kind: self.kind,
                receiver: self.name.to_owned(),
                reason: url.scrub(&report::failure_reason(&e)),
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let message = url.scrub(&report::forge_message(&text, status));
        let message = crate::report::truncate_chars(&message, ANSWER_LIMIT).into_owned();
        let code = status.as_u16();
        if matches!(code, 408 | 409 | 429) || status.is_server_error() {
            return Err(ReportError::ReceiverBusy {
                kind: self.kind,
                receiver: self.name.to_owned(),
                status: code,
                message,
                retry: (status == StatusCode::TOO_MANY_REQUESTS)
                    .then(|| report::retry_at(&headers))
                    .flatten(),
            });
        }
        Err(ReportError::ReceiverRefused {
            kind: self.kind,
            receiver: self.name.to_owned(),
            status: code,
            message,
            hint: hint(self.kind, code),
        })
    }
}

/// What to check after a refusal.
fn hint(kind: &str, status: u16) -> String {
    match (kind, status) {
        ("slack" | "teams", 400) => "the message was refused as malformed; ferry drops it (report this as a bug)".into(),
        ("slack" | "teams", 403 | 404 | 410) => "the webhook URL no longer posts (revoked, or its channel or workflow is gone): create a new one, update the variable or file that holds it, and restart ferry".into(),
        ("webhook", 401 | 403) => "the endpoint refused the signature: check that it verifies with the same secret as secretEnv/secretFile".into(),
        ("alertmanager", 401 | 403) => "check tokenEnv/tokenFile: the proxy in front of Alertmanager refused the request".into(),
        ("alertmanager", 400) => "Alertmanager refused the alerts as invalid; ferry drops them (report this as a bug)".into(),
        (_, 404) => "check the URL: nothing answers there".into(),
        _ => "ferry drops this notification".into(),
    }
}

/// Build the receivers of `notifications.receivers`, reading their URLs and secrets.
///
/// # Errors
/// [`Error::Config`] for a variable that is not set or empty, a URL that is not http(s),
/// a signing secret that is too short or not valid base64 after `whsec_`;
/// [`Error::File`] when a file cannot be read.
///
/// # Blocking
/// Reads files: call it at start-up or from `spawn_blocking`.
pub fn build(loaded: &LoadedConfig) -> Result<Vec<NotifyReceiver>, Error> {
    build_with(loaded, &|name| std::env::var(name).ok())
}

/// [`build`] with the environment given as a function (for tests).
pub(crate) fn build_with(
    loaded: &LoadedConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<NotifyReceiver>, Error> {
    let client = report::http_client();
    let mut out = Vec::new();
    for (index, configured) in loaded.config.notifications.receivers.iter().enumerate() {
        let common = configured.common();
        let reader = Reader {
            index,
            name: common.name,
            dir: &loaded.dir,
            env,
        };
        let per = crate::config::parse_duration(&common.rate_limit.per)
            .map_err(|e| reader.config(format!("rateLimit.per: {e}")))?;
        // Every receiver's URL: given (webhook, Alertmanager), or from a variable or a file.
        let (url, url_env, url_file) = match configured {
            NotificationReceiver::Slack(r) => (None, &r.url_env, &r.url_file),
            NotificationReceiver::Teams(r) => (None, &r.url_env, &r.url_file),
            NotificationReceiver::Webhook(r) => (r.url.as_deref(), &r.url_env, &r.url_file),
            NotificationReceiver::Alertmanager(r) => (r.url.as_deref(), &r.url_env, &r.url_file),
        };
        let url = reader.url(url, url_env.as_deref(), url_file.as_deref())?;
        let sink = match configured {
            NotificationReceiver::Slack(_) => Sink::Slack(Slack { url }),
            NotificationReceiver::Teams(_) => Sink::Teams(Teams { url }),
            NotificationReceiver::Webhook(r) => {
                let secret = reader
                    .secret(
                        "secretEnv",
                        r.secret_env.as_deref(),
                        "secretFile",
                        r.secret_file.as_deref(),
                    )?
                    .ok_or_else(|| {
                        reader.config(
                            "a webhook needs its signing secret: add secretEnv or secretFile"
                                .into(),
                        )
                    })?;
                let key =
                    super::webhook::signing_key(secret.expose()).map_err(|e| reader.config(e))?;
                Sink::Webhook(Webhook { url, key })
            }
            NotificationReceiver::Alertmanager(r) => {
                let token = reader.secret(
                    "tokenEnv",
                    r.token_env.as_deref(),
                    "tokenFile",
                    r.token_file.as_deref(),
                )?;
                let resend_interval = crate::config::parse_duration(&r.resend_interval)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        reader.config(format!(
                            "resendInterval `{}` is not a duration above zero",
                            r.resend_interval
                        ))
                    })?;
                Sink::Alertmanager(Alertmanager::new(
                    &url,
                    token,
                    r.labels.clone(),
                    resend_interval,
                ))
            }
        };
        out.push(NotifyReceiver {
            name: common.name.to_owned(),
            events: common.events.iter().copied().collect(),
            tenants: common.tenants.to_vec(),
            limit: RateLimit {
                messages: common.rate_limit.messages.max(1),
                per,
            },
            sink,
            client: client.clone(),
        });
    }
    Ok(out)
}

/// Reads one receiver's URL and secrets.
struct Reader<'a> {
    index: usize,
    name: &'a str,
    dir: &'a Path,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Reader<'_> {
    fn config(&self, message: String) -> Error {
        Error::Config {
            index: self.index,
            name: self.name.to_owned(),
            message,
        }
    }

    /// The value of `env_field`'s variable or `file_field`'s file, trimmed.
    fn secret(
        &self,
        env_field: &'static str,
        env: Option<&str>,
        file_field: &'static str,
        file: Option<&str>,
    ) -> Result<Option<Secret>, Error> {
        let value = match (env, file) {
            (Some(var), _) => match (self.env)(var) {
                Some(v) => v,
                None => {
                    return Err(self.config(format!(
                        "environment variable {var} ({env_field}) is not set; export it, or name a file with {file_field}"
                    )));
                }
            },
            (None, Some(file)) => {
                let path = self.dir.join(file);
                std::fs::read_to_string(&path).map_err(|source| Error::File {
                    index: self.index,
                    name: self.name.to_owned(),
                    field: file_field,
                    path: path.display().to_string(),
                    source,
                })?
            }
            (None, None) => return Ok(None),
        };
        let value = value.trim().to_owned();
        if value.is_empty() {
            let from = env
                .map(|v| format!("environment variable {v} ({env_field})"))
                .or_else(|| file.map(|f| format!("file {f} ({file_field})")))
                .unwrap_or_default();
            return Err(self.config(format!("{from} is empty")));
        }
        Ok(Some(Secret(value)))
    }

    /// The URL written in the file, or held by a variable or a file.
    fn url(
        &self,
        literal: Option<&str>,
        env: Option<&str>,
        file: Option<&str>,
    ) -> Result<SecretUrl, Error> {
        let text = match literal {
            Some(url) => url.trim().to_owned(),
            None => self
                .secret("urlEnv", env, "urlFile", file)?
                .map(|s| s.0)
                .ok_or_else(|| self.config("no URL: add urlEnv or urlFile".into()))?,
        };
        match reqwest::Url::parse(&text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Ok(SecretUrl(url))
            }
            // The value is not shown: it may be a secret, pasted into the wrong place.
            _ => Err(self.config(
                "the URL is not an http(s) URL; check the value of urlEnv, urlFile or url".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(yaml: &str, dir: &Path) -> LoadedConfig {
        let path = dir.join("ferry.yaml");
        let full = format!(
            "source: {{repo: .}}\ntenants:\n  - {{name: prod, platform: kizen, url: emulator}}\nnotifications:\n  receivers:\n{yaml}"
        );
        crate::config::parse(&path, full.as_bytes()).expect("parses")
    }

    #[test]
    fn secrets_come_from_the_environment_or_files_and_never_show() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("hook.secret"),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
        )
        .unwrap();
        let cfg = loaded(
            "    - {kind: slack, name: chat, urlEnv: SLACK_URL}\n    - {kind: webhook, name: hook, url: 'https://hooks.example.com/ferry', secretFile: hook.secret}\n    - {kind: alertmanager, name: am, url: 'http://alertmanager:9093/', events: [drift, recovered]}\n",
            dir.path(),
        );
        let env = |name: &str| {
            (name == "SLACK_URL")
                .then(|| "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX".to_owned())
        };
        let receivers = build_with(&cfg, &env).unwrap();
        let names: Vec<&str> = receivers.iter().map(|r| r.name()).collect();
        assert_eq!(names, ["chat", "hook", "am"]);
        let debug = format!("{receivers:?}");
        assert!(!debug.contains("XXXXsecretXXXX"), "{debug}");
        assert!(!debug.contains("MfKQ9r8G"), "{debug}");
        assert_eq!(receivers[2].kinds(), BTreeSet::from([ConditionKind::Drift]));
        assert!(receivers[2].hears_recovered());
        assert_eq!(
            receivers[2].resend_interval(),
            Some(Duration::from_secs(60))
        );
        assert!(receivers[0].hears_of("prod"));

        let err = build_with(&cfg, &|_| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "notifications.receivers[0] (`chat`): environment variable SLACK_URL (urlEnv) is not set; export it, or name a file with urlFile"
        );
        let pasted =
            |_: &str| Some("not a url but hooks.slack.com/services/T000/B000/XXXX".to_owned());
        let err = build_with(&cfg, &pasted).unwrap_err().to_string();
        assert!(!err.contains("XXXX"), "{err}");
        assert!(err.contains("is not an http(s) URL"), "{err}");
    }

    #[test]
    fn scrubbing_removes_the_url_and_its_token() {
        let url = SecretUrl(
            reqwest::Url::parse("https://hooks.slack.com/services/T000/B000/XXXXsecret").unwrap(),
        );
        assert_eq!(
            url.scrub("error for https://hooks.slack.com/services/T000/B000/XXXXsecret: no"),
            "error for ***: no"
        );
        assert_eq!(url.scrub("path /services/T000/B000/XXXXsecret"), "path ***");
        assert_eq!(format!("{url:?}"), "***");
    }
}
