//! GitLab commit statuses: `POST {api}/projects/{id}/statuses/{sha}`.
//!
//! Sends `state` (`pending`, `success`, `failed`), `name` (the context), `description`
//! (cut at 255 characters) and `target_url` (only when known and within 255 characters),
//! with `PRIVATE-TOKEN` or, for OAuth tokens, `Authorization: Bearer`. The project is its
//! numeric id or its URL-encoded path. It never logs or returns the token.
//!
//! GitLab keeps an external status as a job in a state machine: posting `pending` to a job
//! that is already pending (or `running` to a running one) is answered with
//! `400 Cannot transition status via :enqueue from :pending` by GitLab versions before
//! the transition fix. The job already shows the state ferry asked for, so that answer
//! counts as delivered (only the new description is not shown).

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName};
use serde::Serialize;

use super::error::Result;
use super::forge::{Endpoint, ForgeApi, ForgeReporter, Post, Refusal, Token};
use super::status::StatusState;
use crate::config::TokenType;
use crate::encode;

/// GitLab's limit on `description` (and `target_url`), in characters.
pub const GITLAB_DESCRIPTION_LIMIT: usize = 255;

/// GitLab's answer when the job is already in the posted state.
const TRANSITION_MESSAGE: &str = "Cannot transition status via";

/// Posts commit statuses to one GitLab project.
pub type GitlabReporter = ForgeReporter<Gitlab>;

/// GitLab's part of a [`GitlabReporter`]: the project and how the token is sent.
#[derive(Debug)]
pub struct Gitlab {
    project: String,
    token_type: TokenType,
}

/// The body of "Set the pipeline status of a commit".
#[derive(Debug, Serialize)]
pub(crate) struct Body<'a> {
    state: &'static str,
    name: &'a str,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_url: Option<String>,
}

/// GitLab's state for a ferry state. GitLab has no `error`: a tenant ferry cannot reach
/// is `failed` too (the description says which). `pending` is sent while applying;
/// `running` is not used because ferry reports one state per apply, not its phases.
pub fn gitlab_state(state: StatusState) -> &'static str {
    match state {
        StatusState::Pending => "pending",
        StatusState::Success => "success",
        StatusState::Failure | StatusState::Error => "failed",
    }
}

/// The project segment of the URL: a numeric id as is, a path URL-encoded
/// (`group/sub/project` → `group%2Fsub%2Fproject`), an already encoded path as is.
pub(crate) fn project_segment(project: &str) -> String {
    if project.chars().all(|c| c.is_ascii_digit()) || project.contains('%') {
        project.to_owned()
    } else {
        encode::component(project)
    }
}

impl GitlabReporter {
    /// A reporter for `project` (numeric id or `group/project` path) at `api`
    /// (`https://gitlab.com/api/v4`).
    pub fn new(api: &str, project: &str, token: Token, token_type: TokenType) -> Self {
        let gitlab = Gitlab {
            project: project_segment(project),
            token_type,
        };
        ForgeReporter::with_forge(Endpoint::new("gitlab", api, project, token), gitlab)
    }
}

impl ForgeApi for Gitlab {
    type Body<'a> = Body<'a>;

    const DESCRIPTION_LIMIT: usize = GITLAB_DESCRIPTION_LIMIT;

    fn url(&self, api: &str, sha: &str) -> String {
        format!("{api}/projects/{}/statuses/{sha}", self.project)
    }

    fn headers(&self, endpoint: &Endpoint) -> HeaderMap {
        let (auth, prefix) = match self.token_type {
            TokenType::Private => (HeaderName::from_static("private-token"), ""),
            TokenType::Oauth => (AUTHORIZATION, "Bearer "),
        };
        endpoint.headers("application/json", auth, prefix)
    }

    /// Without a `target_url` longer than GitLab keeps.
    fn body<'a>(&self, post: &Post<'a>) -> Body<'a> {
        let target_url = post.target_url().filter(|url| {
            let fits = url.chars().count() <= GITLAB_DESCRIPTION_LIMIT;
            if !fits {
                tracing::debug!(forge = "gitlab", repo = %post.endpoint.repo, "target_url longer than 255 characters; sent without it");
            }
            fits
        });
        Body {
            state: gitlab_state(post.status.state),
            name: &post.status.context,
            description: post.description,
            target_url,
        }
    }

    /// A job already in the posted state counts as delivered.
    fn settle(&self, post: &Post<'_>, refusal: &Refusal) -> Option<Result<()>> {
        if refusal.status.as_u16() != 400 || !refusal.message.contains(TRANSITION_MESSAGE) {
            return None;
        }
        tracing::debug!(
            forge = "gitlab",
            repo = %post.endpoint.repo,
            sha = post.sha,
            context = %post.status.context,
            message = %refusal.message,
            "status already in this state on GitLab; counted as delivered"
        );
        Some(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids_and_paths() {
        assert_eq!(project_segment("17"), "17");
        assert_eq!(project_segment("acme/connectors"), "acme%2Fconnectors");
        assert_eq!(
            project_segment("acme/sub.group/con_nectors"),
            "acme%2Fsub.group%2Fcon_nectors"
        );
        assert_eq!(project_segment("acme%2Fconnectors"), "acme%2Fconnectors");
    }

    #[test]
    fn states_map_into_gitlab_enum() {
        assert_eq!(gitlab_state(StatusState::Pending), "pending");
        assert_eq!(gitlab_state(StatusState::Success), "success");
        assert_eq!(gitlab_state(StatusState::Failure), "failed");
        assert_eq!(gitlab_state(StatusState::Error), "failed");
    }
}
