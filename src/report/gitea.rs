//! Gitea and Forgejo commit statuses: `POST {api}/repos/{owner}/{repo}/statuses/{sha}`.
//!
//! Sends exactly `CreateStatusOption`'s fields: `state` (`pending`, `success`, `error`,
//! `failure`, `warning`), `context`, `description` (cut at 255 characters) and
//! `target_url` (only when known), authenticated with `Authorization: token <token>`.
//! A success with open warnings is sent as `warning`. It never logs or returns the token.

use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde::Serialize;

use super::error::Result;
use super::forge::{Endpoint, ForgeApi, ForgeReporter, OwnerRepo, Post, Token};
use super::status::StatusState;

/// The description length ferry keeps for Gitea, in characters. Gitea stores the column as
/// TEXT; ferry cuts at 255 like GitLab so the line stays readable in Gitea's status list.
pub const GITEA_DESCRIPTION_LIMIT: usize = 255;

/// Posts commit statuses to one Gitea or Forgejo repository.
pub type GiteaReporter = ForgeReporter<Gitea>;

/// Gitea's part of a [`GiteaReporter`]: the repository.
#[derive(Debug)]
pub struct Gitea {
    repo: OwnerRepo,
}

/// The body of `CreateStatusOption`.
#[derive(Debug, Serialize)]
pub(crate) struct Body<'a> {
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
        let gitea = Gitea {
            repo: OwnerRepo::parse("gitea", repo)?,
        };
        Ok(ForgeReporter::with_forge(
            Endpoint::new("gitea", api, repo, token),
            gitea,
        ))
    }
}

impl ForgeApi for Gitea {
    type Body<'a> = Body<'a>;

    const DESCRIPTION_LIMIT: usize = GITEA_DESCRIPTION_LIMIT;

    fn url(&self, api: &str, sha: &str) -> String {
        self.repo.statuses_url(api, sha)
    }

    fn headers(&self, endpoint: &Endpoint) -> HeaderMap {
        endpoint.headers("application/json", AUTHORIZATION, "token ")
    }

    fn body<'a>(&self, post: &Post<'a>) -> Body<'a> {
        Body {
            state: gitea_state(post.status.state, post.status.warnings),
            context: &post.status.context,
            description: post.description,
            target_url: post.target_url(),
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
