//! Errors of the reporting layer: what went wrong posting a commit status or sending a
//! notification, and whether trying again later can help.
//!
//! [`ReportError::is_transient`] is the one place that classifies failures; the delivery
//! loop reads it to decide between retrying from the outbox and dropping the status with
//! one error log line. Messages name the forge, the repository, the commit and what to
//! do next. They never hold a token: forge messages are scrubbed before they get here.

use std::path::PathBuf;
use std::time::Duration;

/// Result of the reporting layer.
pub type Result<T, E = ReportError> = std::result::Result<T, E>;

/// When a rate-limited forge allows the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAt {
    /// After this long (`Retry-After: <seconds>` or an HTTP date turned into a delay).
    After(Duration),
    /// At this Unix time in seconds (`X-RateLimit-Reset`, `RateLimit-Reset`).
    AtEpochSeconds(i64),
}

impl std::fmt::Display for RetryAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RetryAt::After(delay) => write!(f, "after {}s", delay.as_secs()),
            RetryAt::AtEpochSeconds(at) => write!(f, "at Unix time {at}"),
        }
    }
}

/// Everything that can go wrong while reporting a commit status.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The forge could not be reached: connection refused, DNS, TLS or timeout.
    #[error(
        "cannot reach {forge} at {api} to report on {repo}: {reason}; ferry keeps the status in its outbox and retries"
    )]
    Unreachable {
        /// `github`, `gitlab` or `gitea`.
        forge: &'static str,
        /// The API base URL.
        api: String,
        /// The repository or project.
        repo: String,
        /// What the HTTP client said.
        reason: String,
    },

    /// The forge answered with a server error (5xx), a conflict (409) or a timeout (408).
    #[error(
        "{forge} answered {status} for {repo}: {message}; ferry keeps the status in its outbox and retries"
    )]
    ServerError {
        /// `github`, `gitlab` or `gitea`.
        forge: &'static str,
        /// The repository or project.
        repo: String,
        /// HTTP status code.
        status: u16,
        /// The forge's message.
        message: String,
    },

    /// The forge rate-limits ferry (429, or GitHub's 403 with an exhausted quota).
    #[error("{forge} rate-limits ferry on {repo} ({status}): {message}; retrying {}", retry_text(.retry))]
    RateLimited {
        /// `github`, `gitlab` or `gitea`.
        forge: &'static str,
        /// The repository or project.
        repo: String,
        /// HTTP status code.
        status: u16,
        /// The forge's message.
        message: String,
        /// When the forge allows the next request, if it said.
        retry: Option<RetryAt>,
    },

    /// The forge refused the token (401) or the token may not write statuses (403).
    #[error(
        "{forge} refused the token for {repo} ({status}): {message}; check that the token is valid and may write commit statuses, then restart ferry"
    )]
    Unauthorized {
        /// `github`, `gitlab` or `gitea`.
        forge: &'static str,
        /// The repository or project.
        repo: String,
        /// HTTP status code (401 or 403).
        status: u16,
        /// The forge's message.
        message: String,
    },

    /// The repository or the commit is unknown to the forge (404).
    #[error(
        "{forge} knows no repository {repo} or no commit {sha} there (404): {message}; check `repo` in the `statuses` section of ferry.yaml and that the commit is pushed to that repository"
    )]
    NotFound {
        /// `github`, `gitlab` or `gitea`.
        forge: &'static str,
        /// The repository or project.
        repo: String,
        /// The commit.
        sha: String,
        /// The forge's message.
        message: String,
    },

    /// The forge refused the status itself (400, 422 and other 4xx).
    #[error("{forge} rejected the status {context} on {repo}@{sha} ({status}): {message}")]
    Rejected {
        /// `github`, `gitlab` or `gitea`.
        forge: &'static str,
        /// The repository or project.
        repo: String,
        /// The commit.
        sha: String,
        /// The status context.
        context: String,
        /// HTTP status code.
        status: u16,
        /// The forge's message.
        message: String,
    },

    /// GitHub keeps at most 1,000 statuses per commit and context.
    #[error(
        "github: {repo}@{sha} has reached GitHub's limit of 1000 statuses for context {context}; further updates of this context on this commit cannot be shown"
    )]
    StatusLimitReached {
        /// The repository.
        repo: String,
        /// The commit.
        sha: String,
        /// The status context.
        context: String,
    },

    /// A git operation on the source repository failed.
    #[error("git notes: cannot {action} in {repo}: {source}", repo = .repo.display())]
    Git {
        /// What ferry was doing (`open the repository`, `write the note`, ...).
        action: &'static str,
        /// The repository path.
        repo: PathBuf,
        /// The libgit2 error.
        #[source]
        source: git2::Error,
    },

    /// Pushing `refs/notes/ferry` to the remote failed (unreachable, no answer within
    /// `source.timeout`, refused update).
    #[error(
        "git notes: cannot push refs/notes/ferry to {remote}: {message}; the notes are kept locally and the push is retried (set `push: false` on the git-notes status target to stop pushing)"
    )]
    PushFailed {
        /// The remote URL or path, user info redacted.
        remote: String,
        /// What the remote or libgit2 said, token removed.
        message: String,
    },

    /// The remote refused the credentials ferry pushes `refs/notes/ferry` with (those of
    /// `source.auth`), or they cannot be read.
    #[error(
        "git notes: {remote} refused to take refs/notes/ferry: {message}; the notes are kept locally. Fix source.auth (ferry fetches and pushes with it) and restart ferry, or set `push: false` on the git-notes status target"
    )]
    PushRefused {
        /// The remote URL or path, user info redacted.
        remote: String,
        /// Why, naming where the credentials come from (never their value).
        message: String,
    },

    /// The note on a commit under `refs/notes/ferry` is not ferry's JSON.
    #[error(
        "git notes: the note on {sha} under refs/notes/ferry in {repo} is not ferry's JSON ({reason}); remove it with `git notes --ref=ferry remove {sha}`",
        repo = .repo.display()
    )]
    CorruptNote {
        /// The repository path.
        repo: PathBuf,
        /// The annotated commit.
        sha: String,
        /// What did not parse.
        reason: String,
    },

    /// The commit id is not a full hexadecimal object id.
    #[error("not a commit id: {sha:?} (expected 40 or 64 hexadecimal characters)")]
    InvalidSha {
        /// What was given.
        sha: String,
    },

    /// A status target in ferry.yaml cannot be used.
    #[error("statuses[{index}] ({kind}): {message}")]
    Config {
        /// Position in the `statuses` list.
        index: usize,
        /// `git-notes`, `github`, `gitlab` or `gitea`.
        kind: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// A status target's `tokenFile` cannot be read.
    #[error("statuses[{index}] ({kind}): cannot read tokenFile {path}: {source}", path = .path.display())]
    TokenFile {
        /// Position in the `statuses` list.
        index: usize,
        /// `github`, `gitlab` or `gitea`.
        kind: &'static str,
        /// The resolved path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A notification receiver could not be reached: connection refused, DNS, TLS or
    /// timeout. The message never holds the receiver's URL.
    #[error(
        "cannot reach the {kind} receiver `{receiver}`: {reason}; ferry keeps the notification in its outbox and retries"
    )]
    ReceiverUnreachable {
        /// `slack`, `teams`, `webhook` or `alertmanager`.
        kind: &'static str,
        /// The receiver's configured name.
        receiver: String,
        /// What the HTTP client said.
        reason: String,
    },

    /// A notification receiver answered with a server error, a time-out, a conflict or a
    /// rate limit (5xx, 408, 409, 429).
    #[error(
        "the {kind} receiver `{receiver}` answered {status}: {message}; ferry keeps the notification in its outbox and retries {}",
        retry_text(.retry)
    )]
    ReceiverBusy {
        /// `slack`, `teams`, `webhook` or `alertmanager`.
        kind: &'static str,
        /// The receiver's configured name.
        receiver: String,
        /// HTTP status code.
        status: u16,
        /// The receiver's message.
        message: String,
        /// When the receiver allows the next request, if it said (`Retry-After`).
        retry: Option<RetryAt>,
    },

    /// A notification receiver refused the notification for good (another 4xx).
    #[error(
        "the {kind} receiver `{receiver}` refused the notification ({status}): {message}; {hint}"
    )]
    ReceiverRefused {
        /// `slack`, `teams`, `webhook` or `alertmanager`.
        kind: &'static str,
        /// The receiver's configured name.
        receiver: String,
        /// HTTP status code.
        status: u16,
        /// The receiver's message.
        message: String,
        /// What to check.
        hint: String,
    },

    /// The outbox in the state store failed.
    #[error("state store: cannot {action}: {source}")]
    Store {
        /// What ferry was doing.
        action: &'static str,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },

    /// A background (blocking) task panicked or was cancelled.
    #[error("cannot {action}: the background task failed: {message}")]
    Task {
        /// What the task was doing.
        action: &'static str,
        /// The join error.
        message: String,
    },
}

fn retry_text(retry: &Option<RetryAt>) -> String {
    match retry {
        Some(at) => at.to_string(),
        None => "with backoff".to_owned(),
    }
}

impl ReportError {
    /// Whether trying the same status again later can succeed. Transient failures stay in
    /// the outbox; permanent ones are logged once and dropped.
    pub fn is_transient(&self) -> bool {
        match self {
            ReportError::Unreachable { .. }
            | ReportError::ServerError { .. }
            | ReportError::RateLimited { .. }
            | ReportError::ReceiverUnreachable { .. }
            | ReportError::ReceiverBusy { .. }
            | ReportError::PushFailed { .. }
            | ReportError::Store { .. }
            | ReportError::Task { .. } => true,
            ReportError::Git { source, .. } => matches!(
                source.code(),
                git2::ErrorCode::Locked | git2::ErrorCode::Modified
            ),
            ReportError::Unauthorized { .. }
            | ReportError::NotFound { .. }
            | ReportError::Rejected { .. }
            | ReportError::StatusLimitReached { .. }
            | ReportError::PushRefused { .. }
            | ReportError::CorruptNote { .. }
            | ReportError::InvalidSha { .. }
            | ReportError::Config { .. }
            | ReportError::TokenFile { .. }
            | ReportError::ReceiverRefused { .. } => false,
        }
    }

    /// When the forge or receiver asked ferry to come back, for rate limits.
    pub fn retry_at(&self) -> Option<RetryAt> {
        match self {
            ReportError::RateLimited { retry, .. } | ReportError::ReceiverBusy { retry, .. } => {
                *retry
            }
            _ => None,
        }
    }

    /// Whether the forge or receiver said to slow down: the whole destination pauses
    /// until it allows the next request.
    pub fn is_rate_limited(&self) -> bool {
        match self {
            ReportError::RateLimited { .. } => true,
            ReportError::ReceiverBusy { status, .. } => *status == 429,
            _ => false,
        }
    }

    /// The HTTP status code the forge answered, if any.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ReportError::ServerError { status, .. }
            | ReportError::RateLimited { status, .. }
            | ReportError::Unauthorized { status, .. }
            | ReportError::Rejected { status, .. }
            | ReportError::ReceiverBusy { status, .. }
            | ReportError::ReceiverRefused { status, .. } => Some(*status),
            ReportError::NotFound { .. } => Some(404),
            ReportError::StatusLimitReached { .. } => Some(422),
            _ => None,
        }
    }

    pub(crate) fn task(action: &'static str, err: tokio::task::JoinError) -> Self {
        ReportError::Task {
            action,
            message: err.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_message_says_when_ferry_retries() {
        let err = ReportError::RateLimited {
            forge: "github",
            repo: "acme/connectors".into(),
            status: 429,
            message: "slow down".into(),
            retry: Some(RetryAt::After(Duration::from_secs(30))),
        };
        assert_eq!(
            err.to_string(),
            "github rate-limits ferry on acme/connectors (429): slow down; retrying after 30s"
        );
        assert!(err.is_transient());
        assert_eq!(
            err.retry_at(),
            Some(RetryAt::After(Duration::from_secs(30)))
        );
    }

    #[test]
    fn permanent_failures_are_not_retried() {
        let err = ReportError::Unauthorized {
            forge: "gitea",
            repo: "acme/connectors".into(),
            status: 401,
            message: "token is required".into(),
        };
        assert!(!err.is_transient());
        assert_eq!(
            err.to_string(),
            "gitea refused the token for acme/connectors (401): token is required; check that the token is valid and may write commit statuses, then restart ferry"
        );
        let cap = ReportError::StatusLimitReached {
            repo: "acme/connectors".into(),
            sha: "a".repeat(40),
            context: "ferry/prod".into(),
        };
        assert!(!cap.is_transient());
        assert_eq!(cap.http_status(), Some(422));
    }
}
