//! Provider clients: one trait over the three platforms' HTTP APIs.
//!
//! A provider talks to exactly one tenant. It lists, exports, creates (import, install or
//! copy), duplicates, renames, deletes and re-checks objects, and answers catalog look-ups.
//! It never decides what to change (that is the planner's job) and never turns an
//! object's active toggle on: the only toggle call it has is [`Provider::deactivate`].
//!
//! Every call has a timeout; transient failures (5xx, timeouts, 429 with `Retry-After`)
//! are retried with bounded exponential backoff and jitter, permanent ones are returned
//! at once as [`Error`]s that name the tenant, the object and the platform's message.
//! Credentials never appear in errors or logs.
//!
//! Entry points: [`connect`] (credentials from the tenant's `auth`), [`connect_with_token`]
//! (a token given directly, for an in-process emulator) and [`connect_with`] (resolved
//! [`Credentials`] and a shared [`HttpClient`]). Layout: `http` (the one HTTP layer:
//! timeouts, retries, error mapping, request logs), `paging` (the one paginated list
//! loop), `error`, `credentials`, `guard` (the
//! check of a new object that keeps the active toggle off), and one client per platform (`kizen`,
//! `agent_studio`, `cde`; the CDE module documents what its normalization drops).

mod agent_studio;
mod cde;
mod connect;
mod credentials;
mod error;
mod guard;
mod http;
mod kizen;
mod paging;

pub use agent_studio::AgentStudioClient;
pub use cde::{
    CdeClient, normalize_config as normalize_cde_config,
    normalize_connector as normalize_cde_connector,
};
pub use connect::{connect, connect_with, connect_with_token, options_for};
pub use credentials::{Credentials, Secret};
pub use error::{Error, Operation, Result, Scope};
pub use http::{ClientOptions, HttpClient, RetryPolicy};
pub use kizen::KizenClient;

use async_trait::async_trait;

use crate::model::{
    Body, Catalog, CheckStatus, Created, LiveObject, LiveSummary, Platform, Warning,
};

/// How to handle an install whose name is already taken (Agent Studio's wizard choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameConflict {
    /// Refuse the install.
    Fail,
    /// Install under a new, free name chosen by the platform.
    NewName,
}

/// Where a create takes its content from.
#[derive(Debug, Clone)]
pub enum CreateFrom<'a> {
    /// Content from git (import a package, install a template, copy a body).
    Body(&'a Body),
    /// Agent Studio promotion: an installation link exported just now from another
    /// tenant, plus the connector bindings to make in this one.
    InstallLink {
        /// The installation link (valid 24 h).
        link: &'a str,
        /// Connector names to bind in this tenant.
        connectors: &'a [String],
    },
}

/// The result of a Kizen re-check (or the equivalent on other platforms).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    /// Status after the check.
    pub status: CheckStatus,
    /// Open warnings.
    pub warnings: Vec<Warning>,
}

/// One tenant on one platform.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The platform this provider speaks to.
    fn platform(&self) -> Platform;

    /// The tenant name (for messages).
    fn tenant(&self) -> &str;

    /// Every object of the tenant, all pages, in one logical list.
    async fn list(&self) -> Result<Vec<LiveSummary>>;

    /// The full content of one object in ferry's shape.
    async fn export(&self, id: &str) -> Result<LiveObject>;

    /// Create an object (Kizen import, Agent Studio install, CDE copy then rename).
    /// Checks the new object's `active` flag, from the answer when it carries the flag,
    /// else by reading the object back; if the platform left it active, turns it off and
    /// returns [`Error::ActivatedByPlatform`] naming the id.
    async fn create(&self, from: CreateFrom<'_>) -> Result<Created>;

    /// Duplicate an object of this tenant under a new name (and API name where the
    /// platform has one). Kizen only; others return [`Error::Unsupported`].
    async fn duplicate(
        &self,
        source_id: &str,
        name: &str,
        api_name: Option<&str>,
    ) -> Result<Created>;

    /// Rename an object.
    async fn rename(&self, id: &str, new_name: &str) -> Result<()>;

    /// Move an object out of the way of its replacement (the replace flow): rename it to
    /// `aside_name` and, where the platform has unique API names (Kizen), move its API
    /// name aside too, so the replacement can be created under the same API name.
    /// [`Provider::restore_name`] undoes it, also after a restart (nothing is remembered
    /// in memory). Default: [`Provider::rename`].
    async fn rename_aside(&self, id: &str, aside_name: &str) -> Result<()> {
        self.rename(id, aside_name).await
    }

    /// Undo [`Provider::rename_aside`]: give the object back `name` (and, on Kizen, its
    /// original API name). Default: [`Provider::rename`].
    async fn restore_name(&self, id: &str, name: &str) -> Result<()> {
        self.rename(id, name).await
    }

    /// Delete an object (CDE: move it to the bin).
    async fn delete(&self, id: &str) -> Result<()>;

    /// Turn the active toggle off. The one toggle call ferry makes.
    async fn deactivate(&self, id: &str) -> Result<()>;

    /// Re-run pre-activation checks (Kizen). Others: [`Error::Unsupported`].
    async fn recheck(&self, id: &str) -> Result<CheckResult>;

    /// Export an installation link for a published plugin (Agent Studio).
    async fn export_link(&self, id: &str) -> Result<String>;

    /// What references, bindings and secrets can resolve to in this tenant.
    async fn catalog(&self) -> Result<Catalog>;

    /// How many `429 Too Many Requests` answers this provider has received so far,
    /// whether or not a retry then went through: what apply lowers its concurrency on.
    /// Default 0 (a provider that never sees a rate limit).
    fn rate_limited(&self) -> u64 {
        0
    }

    /// Whether a person has set the credentials of the object's VCS (Productsup CDE: a copy
    /// comes back with `authorization: public` and no `username`, since the platform never
    /// returns the token). Other platforms: [`Error::Unsupported`].
    async fn vcs_authorised(&self, id: &str) -> Result<bool> {
        let _ = id;
        Err(Error::Unsupported {
            scope: Box::new(Scope::new(
                self.tenant(),
                self.platform(),
                Operation::Export,
                Some(id),
            )),
            reason: format!("{} connectors have no VCS", self.platform()),
            switched_off: None,
        })
    }
}
