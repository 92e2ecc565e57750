//! Commit statuses: ferry tells each commit, per tenant, whether it was applied, with how
//! many warnings, and whether a tenant drifted. And the way notifications travel: the
//! same outbox carries [`Notice`]s to [`Receiver`]s (what they say is decided in
//! [`crate::notify`]).
//!
//! The reconcile engine builds a [`CommitStatus`] per tenant and context
//! (`ferry/<tenant>`, `ferry/<tenant>/drift`) and hands it to the [`Deliverer`], which
//! sends it through every configured [`Reporter`]: git notes under `refs/notes/ferry`
//! (the default, no forge needed), GitHub, GitLab, Gitea or Forgejo. The `Deliverer` keeps
//! undelivered statuses in an outbox in the SQLite state store ([`MIGRATIONS`]) and never
//! sends the same status twice.
//!
//! This module reports; it never decides what a status says about a tenant (the engine
//! does) and never reads a forge's statuses back. Tokens live in [`Token`] and never
//! appear in logs, errors or `Debug` output. See `docs/statuses.md`.

mod delivery;
mod error;
mod forge;
mod git_notes;
mod gitea;
mod github;
mod gitlab;
mod limit;
mod notice;
mod outbox;
mod reporter;
mod status;

pub use delivery::{Deliverer, DeliveryReport, RetryPolicy, Undelivered};
pub use error::{ReportError, Result, RetryAt};
pub use forge::Token;
pub(crate) use forge::{failure_reason, forge_message, http_client, retry_at};
pub use git_notes::{GitNotesReporter, NOTES_REF, Note, NoteEntry};
pub use gitea::{GITEA_DESCRIPTION_LIMIT, GiteaReporter, gitea_state};
pub use github::{GITHUB_API_VERSION, GITHUB_DESCRIPTION_LIMIT, GithubReporter, github_state};
pub use gitlab::{GITLAB_DESCRIPTION_LIMIT, GitlabReporter, gitlab_state};
pub use limit::RateLimit;
pub use notice::{Notice, Receiver};
pub use outbox::{MIGRATIONS, OutboxDb};
pub(crate) use outbox::{Message, OutboxKey, enqueue};
pub use reporter::{Reporter, from_config};
pub use status::{
    CommitStatus, StatusState, applying_description, drift_context, drift_description,
    failed_description, in_sync_description, invalid_manifests_description, status_page_url,
    sync_context, tenant_of, truncate_chars, unreachable_description,
};
