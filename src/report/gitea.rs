//! Gitea and Forgejo commit statuses: `POST {api}/repos/{owner}/{repo}/statuses/{sha}`.
//!
//! Sends exactly `CreateStatusOption`'s fields: `state` (`pending`, `success`, `error`,
//! `failure`, `warning`), `context`, `description` (cut at 255 characters) and
//! `target_url` (only when known), authenticated with `Authorization: token <token>`.
//! A success with open warnings is sent as `warning`. It never logs or returns the token.

use async_trait::async_trait;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Serialize;

use super::error::Result;
use super::forge::{Endpoint, OwnerRepo, Token};
use super::reporter::{Reporter, check_sha};
use super::status::{CommitStatus, StatusState, truncate_chars};

/// The description length ferry keeps for Gitea, in characters. Gitea stores the column as
/// TEXT; ferry cuts at 255 like GitLab so the line stays readable in Gitea's status list.
pub const GITEA_DESCRIPTION_LIMIT: usize = 255;

/// Posts commit statuses to one Gitea or Forgejo repository.
#[derive(Debug)]
pub struct GiteaReporter {
    endpoint: Endpoint,
    repo: OwnerRepo,
}

/// The body of `CreateStatusOption`.
#[derive(Debug, Serialize)]
struct Body<'a> {
    state: &'static str,
    context: &'a str,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_url: Option<String>,
}

/// Gitea's state for a ferry status: a success with warnings is `warning`.
pub fn gitea_state(state: StatusState, warnings: u32) -> &'static str {
    match state {
        StatusState::Pending => "pending",
        StatusState::Success if warnings > 0 => "warning",
        StatusState::Success => "success",
        StatusState::Failure => "failure",
        StatusState::Error => "error",
    }
}

impl GiteaReporter {
    /// A reporter for `repo` (`owner/name`) at `api` (`https://HOST/api/v1`).
    ///
    /// # Errors
    /// [`ReportError::Config`](super::ReportError::Config) (index 0) when `repo` is not `owner/name`.
    pub fn new(api: &str, repo: &str, token: Token) -> Result<Self> {
        Ok(GiteaReporter {
            repo: OwnerRepo::parse("gitea", repo)?,
            endpoint: Endpoint::new("gitea", api, repo, token),
        })
    }

    /// Derive `target_url` from `server.externalUrl` for statuses that have none.
    pub fn with_external_url(mut self, external_url: Option<&str>) -> Self {
        self.endpoint.external_url = external_url.map(str::to_owned);
        self
    }

    fn url(&self, sha: &str) -> String {
        self.repo.statuses_url(&self.endpoint.api, sha)
    }

    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(auth) = self.endpoint.token.header_value("token ") {
            headers.insert(AUTHORIZATION, auth);
        }
        headers
    }
}

#[async_trait]
impl Reporter for GiteaReporter {
    fn name(&self) -> &str {
        "gitea"
    }

    fn id(&self) -> String {
        self.endpoint.id()
    }

    async fn post(&self, sha: &str, status: &CommitStatus) -> Result<()> {
        check_sha(sha)?;
        let description = truncate_chars(&status.description, GITEA_DESCRIPTION_LIMIT);
        let body = Body {
            state: gitea_state(status.state, status.warnings),
            context: &status.context,
            description: &description,
            target_url: self.endpoint.target_url(status, sha),
        };
        match self
            .endpoint
            .post_json(&self.url(sha), self.headers(), &body)
            .await?
        {
            Ok(()) => Ok(()),
            Err(refusal) => Err(self.endpoint.classify(refusal, sha, &status.context)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_turn_success_into_warning_only() {
        assert_eq!(gitea_state(StatusState::Success, 0), "success");
        assert_eq!(gitea_state(StatusState::Success, 2), "warning");
        assert_eq!(gitea_state(StatusState::Failure, 2), "failure");
        assert_eq!(gitea_state(StatusState::Pending, 2), "pending");
        assert_eq!(gitea_state(StatusState::Error, 0), "error");
    }
}
