//! GitHub commit statuses: `POST {api}/repos/{owner}/{repo}/statuses/{sha}`.
//!
//! Sends exactly the documented body fields `state` (`pending`, `success`, `failure`,
//! `error`), `target_url` (only when known), `description` (at most 140 characters) and
//! `context`, with the headers GitHub asks REST clients to send. It must not list
//! statuses before creating one (the delivery layer remembers what it sent) and it never
//! logs or returns the token.

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Serialize;

use super::error::{ReportError, Result};
use super::forge::{Endpoint, ForgeApi, ForgeReporter, OwnerRepo, Post, Refusal, Token};
use super::status::StatusState;

/// GitHub's limit on `description`, in characters (longer ones are refused with 422).
pub const GITHUB_DESCRIPTION_LIMIT: usize = 140;

/// The REST API version ferry speaks.
pub const GITHUB_API_VERSION: &str = "2022-11-28";

/// What GitHub says when a commit and context hold 1,000 statuses already.
const STATUS_CAP_MESSAGE: &str = "reached the maximum number of statuses";

/// Posts commit statuses to one GitHub (or GitHub Enterprise Server) repository.
pub type GithubReporter = ForgeReporter<Github>;

/// GitHub's part of a [`GithubReporter`]: the repository.
#[derive(Debug)]
pub struct Github {
    repo: OwnerRepo,
}

/// The body of "Create a commit status".
#[derive(Debug, Serialize)]
pub(crate) struct Body<'a> {
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_url: Option<String>,
    description: &'a str,
    context: &'a str,
}

/// GitHub's state for a ferry state (GitHub has the same four).
pub fn github_state(state: StatusState) -> &'static str {
    match state {
        StatusState::Pending => "pending",
        StatusState::Success => "success",
        StatusState::Failure => "failure",
        StatusState::Error => "error",
    }
}

impl GithubReporter {
    /// A reporter for `repo` (`owner/name`) at `api` (`https://api.github.com`, or
    /// `https://HOST/api/v3` for GitHub Enterprise Server).
    ///
    /// # Errors
    /// [`ReportError::Config`] (index 0) when `repo` is not `owner/name`.
    pub fn new(api: &str, repo: &str, token: Token) -> Result<Self> {
        let github = Github {
            repo: OwnerRepo::parse("github", repo)?,
        };
        Ok(ForgeReporter::with_forge(
            Endpoint::new("github", api, repo, token),
            github,
        ))
    }
}

impl ForgeApi for Github {
    type Body<'a> = Body<'a>;

    const DESCRIPTION_LIMIT: usize = GITHUB_DESCRIPTION_LIMIT;

    fn url(&self, api: &str, sha: &str) -> String {
        self.repo.statuses_url(api, sha)
    }

    fn headers(&self, endpoint: &Endpoint) -> HeaderMap {
        let mut headers = endpoint.headers("application/vnd.github+json", AUTHORIZATION, "Bearer ");
        headers.insert(
            "x-github-api-version",
            HeaderValue::from_static(GITHUB_API_VERSION),
        );
        headers
    }

    fn body<'a>(&self, post: &Post<'a>) -> Body<'a> {
        Body {
            state: github_state(post.status.state),
            target_url: post.target_url(),
            description: post.description,
            context: &post.status.context,
        }
    }

    /// A commit and context that hold 1,000 statuses already take no more.
    fn settle(&self, post: &Post<'_>, refusal: &Refusal) -> Option<Result<()>> {
        (refusal.status.as_u16() == 422 && refusal.message.contains(STATUS_CAP_MESSAGE)).then(
            || {
                Err(ReportError::StatusLimitReached {
                    repo: post.endpoint.repo.clone(),
                    sha: post.sha.to_owned(),
                    context: post.status.context.clone(),
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Reporter;
    use crate::report::forge::split_owner_repo;

    #[test]
    fn owner_repo_form_is_checked() {
        assert_eq!(
            split_owner_repo("acme/connectors"),
            Some(("acme", "connectors"))
        );
        assert_eq!(split_owner_repo("acme"), None);
        assert_eq!(split_owner_repo("acme/a/b"), None);
        assert_eq!(split_owner_repo("/x"), None);
        assert!(GithubReporter::new("https://api.github.com", "nope", Token::new("t")).is_err());
    }

    #[test]
    fn url_and_id() {
        let r = GithubReporter::new(
            "https://api.github.com/",
            "acme/connectors",
            Token::new("t"),
        )
        .unwrap();
        assert_eq!(
            r.forge.url(&r.endpoint.api, "abc"),
            "https://api.github.com/repos/acme/connectors/statuses/abc"
        );
        assert_eq!(r.id(), "github https://api.github.com acme/connectors");
        assert!(format!("{r:?}").contains("***"));
    }
}
