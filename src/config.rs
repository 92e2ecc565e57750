//! `ferry.yaml`: the source, the tenants and the reporters.
//!
//! This module owns the serde types of the configuration file (they also produce the JSON
//! Schema) and their validation pass, which reports every problem at once. Runtime knobs
//! (listen address, log format, state path override) are CLI flags, not config.
//! It must not do I/O beyond reading the file it is given.
//!
//! [`load`] reads `ferry.yaml` and runs the validation pass; [`parse`] and
//! [`LoadedConfig::validate`] are its two halves for callers that want to go on after a
//! semantic error (as `ferry validate` does, to report manifest problems too).

mod notifications;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::capability::{Capability, CapabilitySet};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::{Location, Platform};
use crate::names::names;
use crate::yaml::{self, SourceMap};

pub use notifications::{
    AlertmanagerReceiver, ChatReceiver, NotificationReceiver, Notifications, NotifyEvent,
    RateLimit, ReceiverCommon, WebhookReceiver,
};
pub use validate::{compile_cron, parse_cron, parse_duration};

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Where the manifests come from.
    pub source: Source,
    /// The tenants ferry keeps in line with git.
    pub tenants: Vec<Tenant>,
    /// Where commit statuses go. Default: git notes only.
    #[serde(default = "default_statuses")]
    pub statuses: Vec<StatusTarget>,
    /// Alerts to Slack, Teams, a signed webhook or Alertmanager when a tenant drifts, fails,
    /// is blocked or has open warnings, and when that clears. Default: none.
    #[serde(default)]
    pub notifications: Notifications,
    /// HTTP server of `ferry serve`.
    #[serde(default)]
    pub server: Server,
    /// Path of the SQLite state store, relative to this file. Default `.ferry/state.db`.
    #[serde(default = "default_state")]
    pub state: String,
    /// Settings for tenants whose `url` is `emulator` (run in-process).
    #[serde(default)]
    pub emulator: Option<EmulatorSettings>,
    /// The engine `ferry test` runs Live SQL on. Default: chDB through `python3`.
    #[serde(default)]
    pub sql_engine: Option<SqlEngineSettings>,
    /// Whether `plan`, `apply` and `serve` run a SmartConnector's SQL tests before
    /// applying it (`off`, `advisory`, `required`); a tenant's own `tests` wins. Default
    /// `off`.
    #[serde(default)]
    pub tests: TestsMode,
}

/// Whether SQL tests (`spec.tests`, run as `ferry test` runs them) gate applying a
/// SmartConnector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TestsMode {
    /// Tests are not run before applying.
    #[default]
    Off,
    /// The tests of every connector about to change are run and their outcome shown on
    /// the plan and the commit status; a failure does not stop the apply.
    Advisory,
    /// As `advisory`, and a connector whose tests fail (or cannot run: no engine) is not
    /// applied: it is blocked until a commit makes them pass. A connector with nothing to
    /// run (no test case and no sample file, or a Kizen duplicate) is applied.
    Required,
}

names! {
    /// The name as written in `ferry.yaml`.
    TestsMode {
        Off => "off",
        Advisory => "advisory",
        Required => "required",
    }
}

/// The engine `ferry test` runs SmartConnector SQL on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SqlEngineKind {
    /// chDB, the embedded ClickHouse the platform runs SmartConnector SQL on (the PyPI
    /// package `chdb-core`, loaded by ferry's Python runner).
    #[default]
    Chdb,
    /// `clickhouse local` from an installed ClickHouse (the runner still needs Python 3).
    ClickhouseLocal,
}

/// Where `ferry test` finds its engine. Command-line flags override these.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SqlEngineSettings {
    /// `chdb` (default) or `clickhouse-local`.
    #[serde(default)]
    pub kind: SqlEngineKind,
    /// Python interpreter with the `chdb-core` package (a path relative to this file, or a
    /// command name). Default `python3`.
    #[serde(default)]
    pub python: Option<String>,
    /// The `clickhouse` binary for `clickhouse-local`. Default `clickhouse`.
    #[serde(default)]
    pub clickhouse: Option<String>,
}

/// In-process emulator settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmulatorSettings {
    /// Seed file (the `ferry emulator --seed` format, relative to this file) giving the
    /// catalog and pre-existing objects of emulated tenants, matched by tenant name.
    #[serde(default)]
    pub seed: Option<String>,
}

fn default_statuses() -> Vec<StatusTarget> {
    vec![StatusTarget::GitNotes(GitNotes::default())]
}

fn default_state() -> String {
    ".ferry/state.db".to_owned()
}

/// The git repository holding the manifests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    /// Path (relative to this file) or URL: `file://`, `https://`, `ssh://`, `git@host:org/repo`.
    pub repo: String,
    /// Branch to follow. Default `main`.
    #[serde(default = "default_branch")]
    pub branch: String,
    /// Folder of manifests inside the repository. Default: the repository root.
    #[serde(default)]
    pub path: Option<String>,
    /// Poll period (`30s`, `1m`, `2h`), jittered. Default `1m`.
    #[serde(default = "default_interval")]
    pub interval: String,
    /// Credentials for `https://` or `ssh://` remotes, used to fetch the source and to push
    /// git notes to it.
    #[serde(default)]
    pub auth: Option<SourceAuth>,
    /// How long a fetch of the source or a push of git notes may go without any answer from
    /// the remote before ferry cuts it off (`30s`, `2m`). Default `60s`.
    #[serde(default = "default_git_timeout")]
    pub timeout: String,
}

fn default_branch() -> String {
    "main".to_owned()
}

fn default_interval() -> String {
    "1m".to_owned()
}

fn default_git_timeout() -> String {
    "60s".to_owned()
}

/// Credentials for fetching the source repository and pushing git notes to it. Names of
/// variables or files, never values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceAuth {
    /// Environment variable holding an HTTPS token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// File holding an HTTPS token (read at every fetch and push, so a rotated token is
    /// picked up).
    #[serde(default)]
    pub token_file: Option<String>,
    /// SSH private key file.
    #[serde(default)]
    pub ssh_key_file: Option<String>,
    /// User name for HTTPS token auth. Default `x-access-token`.
    #[serde(default)]
    pub username: Option<String>,
}

/// One target tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tenant {
    /// Unique name: `ferry/<name>` is its status context.
    pub name: String,
    /// Platform of the tenant.
    pub platform: Platform,
    /// Base URL of the tenant's API, or `emulator` for an in-process emulated tenant.
    pub url: String,
    /// The address of the tenant in the platform's own web app (`https://app.kizen.com`),
    /// linked from the status page so a person can go and look. Optional.
    #[serde(default)]
    pub ui_url: Option<String>,
    /// Data center (for example `us-west`); cross-region plugin promotion is refused.
    #[serde(default)]
    pub region: Option<String>,
    /// Owning business. A tenant of another business than its `promoteFrom` source (or
    /// than the source repository's default) turns on the sensitive-data scan.
    #[serde(default)]
    pub business: Option<String>,
    /// Credentials: the name of a variable or file, or platform headers.
    #[serde(default)]
    pub auth: Auth,
    /// Values for `${var}` in manifests.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Labels a manifest must carry to be applied here. Default: every manifest of the platform.
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
    /// Branch to follow instead of `source.branch`.
    #[serde(default)]
    pub branch: Option<String>,
    /// Only apply content already applied cleanly in this tenant.
    #[serde(default)]
    pub promote_from: Option<String>,
    /// What to do when the name exists and ferry does not manage it.
    #[serde(default)]
    pub on_conflict: OnConflict,
    /// Delete objects ferry created that left git. Default false.
    #[serde(default)]
    pub prune: bool,
    /// Drift checks.
    #[serde(default)]
    pub drift: Option<Drift>,
    /// Sync windows; deny wins over allow.
    #[serde(default)]
    pub windows: Vec<Window>,
    /// Modelled platform operations this tenant may use (all on by default). Switch one
    /// off when the platform lacks it: the plan then takes the documented flow or shows a
    /// manual step.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Where the open warnings of created connectors come from. Default `predicted`.
    #[serde(default)]
    pub warnings: WarningSource,
    /// Whether SQL tests gate applying SmartConnectors here (`off`, `advisory`,
    /// `required`). Default: the top-level `tests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<TestsMode>,
    /// How long one request to the tenant's API may take: connecting, sending and reading
    /// the whole answer (`10s`, `1m`). Default `30s`. A tenant that has not been planned
    /// within `timeout × (retries + 1)` (2m30s by default) is reported as unreachable;
    /// the other tenants never wait for it.
    #[serde(default)]
    pub timeout: Option<String>,
    /// How many times a request that failed transiently (no answer in time, a 5xx, a 429)
    /// is retried, with backoff, before the tenant counts as unreachable. Default 4, at
    /// most 10. A create the platform may have acted on is never repeated.
    #[serde(default)]
    pub retries: Option<u32>,
    /// How many calls of one apply are in flight to this tenant at once: 1 to 64, default
    /// 4. Each action makes its calls one after another; the steps of one action stay in
    /// order, and actions that touch the same connector, object or name run in plan order.
    /// While the platform answers `429 Too Many Requests` ferry halves it (down to 1) and
    /// raises it again by one after each run of successes.
    #[serde(default)]
    #[schemars(range(min = 1, max = 64))]
    pub concurrency: Option<u32>,
}

/// Modelled platform operations a tenant may use: what ferry assumes beyond the vendors'
/// documents (see `docs/platform-api.md`). Each is on unless set to `false`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Capabilities {
    /// Rename objects through a `PATCH` of their name (every platform). Off: a CDE copy
    /// keeps its `<name> - Copy` until a person renames it, a rename is a manual step, and
    /// a Kizen replace deletes the old connector before importing the new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rename: Option<bool>,
    /// Kizen: move an API name aside through a `PATCH` of `api_name` while a connector is
    /// replaced. Off: a replace deletes the old connector before importing the new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_name: Option<bool>,
    /// Kizen: re-run pre-activation checks (`POST …/checks`). Off: never called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<bool>,
    /// Agent Studio: create a plugin straight from git through `POST /api/v1/templates`.
    /// Off: plugins come only by promotion from the `promoteFrom` tenant's exported link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub templates: Option<bool>,
    /// Productsup CDE: look secrets up (`GET /secrets`) so a plan blocks a copy whose
    /// secret registrations are missing. Off: the copy's own error reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<bool>,
    /// Page list calls. Off: one list request without paging parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paging: Option<bool>,
}

impl Capabilities {
    /// The value written for `c`, if any.
    pub fn get(&self, c: Capability) -> Option<bool> {
        match c {
            Capability::Rename => self.rename,
            Capability::ApiName => self.api_name,
            Capability::Checks => self.checks,
            Capability::Templates => self.templates,
            Capability::Secrets => self.secrets,
            Capability::Paging => self.paging,
        }
    }

    /// The capabilities on: every one not set to `false`.
    pub fn set(&self) -> CapabilitySet {
        Capability::ALL
            .into_iter()
            .filter(|c| self.get(*c) == Some(false))
            .fold(CapabilitySet::all(), CapabilitySet::without)
    }
}

/// Where a tenant's import warnings come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WarningSource {
    /// ferry predicts them from the manifest's references and the tenant's catalog, and
    /// closes each one when a later catalog read resolves its reference. Kizen reports
    /// import warnings only in its confirmation e-mail ("There is no in-app warning
    /// indicator"), so this is the only source that needs nothing beyond the documents.
    #[default]
    Predicted,
    /// The platform's own answer: the warnings of the create call and its re-check
    /// endpoint, where a platform has them (on Kizen both are modelled, not documented).
    Platform,
}

/// The request timeout of a tenant without `timeout`.
pub const DEFAULT_TENANT_TIMEOUT: Duration = Duration::from_secs(30);

/// The retries of a tenant without `retries`.
pub const DEFAULT_TENANT_RETRIES: u32 = 4;

/// The most retries `retries` may ask for.
pub const MAX_TENANT_RETRIES: u32 = 10;

/// The calls in flight at once to a tenant without `concurrency`.
pub const DEFAULT_TENANT_CONCURRENCY: u32 = 4;

/// The most calls in flight at once `concurrency` may allow.
pub const MAX_TENANT_CONCURRENCY: u32 = 64;

/// Tenants for tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::Tenant;
    use crate::model::Platform;

    /// An emulated Kizen tenant named `name`, promoting from `promote_from` when given.
    pub(crate) fn tenant(name: &str, promote_from: Option<&str>) -> Tenant {
        Tenant {
            promote_from: promote_from.map(str::to_owned),
            ..Tenant::new(name, Platform::Kizen, "emulator")
        }
    }
}

impl Tenant {
    /// A tenant with a name, platform and URL, and every other setting at the default a
    /// minimal `tenants:` entry gets.
    pub fn new(name: impl Into<String>, platform: Platform, url: impl Into<String>) -> Self {
        Tenant {
            name: name.into(),
            platform,
            url: url.into(),
            ui_url: None,
            region: None,
            business: None,
            auth: Auth::default(),
            vars: BTreeMap::new(),
            selector: BTreeMap::new(),
            branch: None,
            promote_from: None,
            on_conflict: OnConflict::default(),
            prune: false,
            drift: None,
            windows: Vec::new(),
            capabilities: Capabilities::default(),
            warnings: WarningSource::default(),
            tests: None,
            timeout: None,
            retries: None,
            concurrency: None,
        }
    }

    /// The capabilities this tenant may use.
    pub fn capability_set(&self) -> CapabilitySet {
        self.capabilities.set()
    }

    /// How long one request may take: `timeout`, else [`DEFAULT_TENANT_TIMEOUT`] (a
    /// `timeout` the validation pass refuses counts as unset).
    pub fn request_timeout(&self) -> Duration {
        self.timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_TENANT_TIMEOUT)
    }

    /// Retries of a transient failure: `retries`, else [`DEFAULT_TENANT_RETRIES`], at most
    /// [`MAX_TENANT_RETRIES`].
    pub fn request_retries(&self) -> u32 {
        self.retries
            .unwrap_or(DEFAULT_TENANT_RETRIES)
            .min(MAX_TENANT_RETRIES)
    }

    /// How many calls of one apply are in flight at once: `concurrency`, else
    /// [`DEFAULT_TENANT_CONCURRENCY`], within 1 to [`MAX_TENANT_CONCURRENCY`].
    pub fn apply_concurrency(&self) -> usize {
        self.concurrency
            .unwrap_or(DEFAULT_TENANT_CONCURRENCY)
            .clamp(1, MAX_TENANT_CONCURRENCY) as usize
    }

    /// How long planning this tenant may take before it is reported as unreachable:
    /// `request_timeout × (request_retries + 1)`.
    pub fn deadline(&self) -> Duration {
        self.request_timeout()
            .saturating_mul(self.request_retries() + 1)
    }
}

/// What to do when a name is taken by an object ferry does not manage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OnConflict {
    /// Block the connector and report the conflict.
    #[default]
    Fail,
    /// Take the existing object under management as it is, then reconcile it.
    Adopt,
    /// Replace the existing object with the manifest's content.
    Replace,
}

/// Tenant credentials: names of where the secret lives, never the secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Auth {
    /// Environment variable holding the token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// File holding the token (relative to this file).
    #[serde(default)]
    pub token_file: Option<String>,
    /// Extra platform headers, each from a variable or file (Kizen: `X-BUSINESS-ID`).
    #[serde(default)]
    pub headers: BTreeMap<String, SecretSource>,
}

/// Where one secret value comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretSource {
    /// Environment variable.
    #[serde(default)]
    pub env: Option<String>,
    /// File path.
    #[serde(default)]
    pub file: Option<String>,
    /// A non-secret literal (for example a business id). Rejected for secret headers.
    #[serde(default)]
    pub value: Option<String>,
}

/// Drift checks on a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Drift {
    /// 5-field cron expression (minute hour day month weekday).
    pub schedule: String,
    /// Re-apply git's content when drift is found. Default false: report only.
    #[serde(default)]
    pub self_heal: bool,
    /// Time zone of the schedule (IANA name). Default UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// A sync window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Window {
    /// Allow or deny applies while the window is open.
    pub kind: WindowKind,
    /// 5-field cron expression for when the window opens.
    pub schedule: String,
    /// How long it stays open (`30m`, `62h`).
    pub duration: String,
    /// IANA time zone of the schedule. Default UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// Whether a window allows or denies applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    /// Applies may run only inside allow windows (when any exist).
    Allow,
    /// Applies never run inside deny windows.
    Deny,
}

/// One commit-status destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StatusTarget {
    /// Notes under `refs/notes/ferry` in the source repository.
    GitNotes(GitNotes),
    /// GitHub commit statuses.
    Github(Forge),
    /// GitLab commit statuses.
    Gitlab(Forge),
    /// Gitea or Forgejo commit statuses.
    Gitea(Forge),
}

/// Git-notes reporter settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitNotes {
    /// Push `refs/notes/ferry` after writing. Unset: a remote source (ferry writes the
    /// notes into its own cache) pushes them to the source URL; a local source gets the
    /// notes in the repository itself and pushes nothing. `true` with a local source
    /// pushes to its `origin`; `false` never pushes.
    #[serde(default)]
    pub push: Option<bool>,
}

/// A forge reporter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Forge {
    /// API base URL, for example `https://api.github.com` or `https://gitlab.com/api/v4`.
    pub api: String,
    /// `owner/repo` (GitHub, Gitea) or project id or path (GitLab).
    pub repo: String,
    /// Environment variable holding the token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// File holding the token.
    #[serde(default)]
    pub token_file: Option<String>,
    /// GitLab only: how the token is sent. Default `private`.
    #[serde(default)]
    pub token_type: Option<TokenType>,
}

/// How a GitLab token is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TokenType {
    /// `PRIVATE-TOKEN: <token>`: personal, project and group access tokens.
    #[default]
    Private,
    /// `Authorization: Bearer <token>`: OAuth 2.0 tokens.
    Oauth,
}

/// HTTP server settings for `ferry serve`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Server {
    /// Listen address. Default `127.0.0.1:9400`; `--listen` overrides it.
    #[serde(default)]
    pub listen: Option<String>,
    /// Public URL of the status page, used for `target_url` in statuses.
    #[serde(default)]
    pub external_url: Option<String>,
    /// Environment variable holding the webhook secret.
    #[serde(default)]
    pub webhook_secret_env: Option<String>,
    /// Environment variable holding the bearer token required by state-changing API calls.
    #[serde(default)]
    pub api_token_env: Option<String>,
}

/// A parsed configuration with where it came from: its directory (relative paths in it
/// resolve from there) and the locations of its fields, for messages.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The configuration.
    pub config: Config,
    /// The file, as given.
    pub path: PathBuf,
    /// The file's directory: `source.repo`, `state`, `emulator.seed` and token files
    /// resolve from here.
    pub dir: PathBuf,
    display: String,
    map: SourceMap,
}

impl LoadedConfig {
    /// Where the field at `field` (`tenants[1].promoteFrom`, `source.interval`) is written.
    /// A field left to its default points at its nearest written parent, and the file's
    /// first line when nothing is written.
    pub fn location(&self, field: &str) -> Location {
        let mut path = field;
        loop {
            if let Some(node) = self.map.get(path) {
                return Location {
                    path: self.display.clone(),
                    line: node.line,
                    column: node.column,
                };
            }
            match path.rfind(['.', '[']) {
                Some(cut) => path = &path[..cut],
                None if path.is_empty() => {
                    return Location {
                        path: self.display.clone(),
                        line: 1,
                        column: 1,
                    };
                }
                None => path = "",
            }
        }
    }

    /// The path of the configuration file for messages, as given.
    pub fn display_path(&self) -> &str {
        &self.display
    }

    /// `relative` resolved from the configuration's directory (absolute paths stay).
    pub fn resolve(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// The tenant named `name`.
    pub fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.config.tenants.iter().find(|t| t.name == name)
    }

    /// The local directory of `source.repo` (resolved from the configuration's
    /// directory, `file://` stripped), or `None` when it is a remote URL.
    pub fn local_repository(&self) -> Option<PathBuf> {
        let repo = self.config.source.repo.as_str();
        if let Some(path) = repo.strip_prefix("file://") {
            return Some(self.resolve(path));
        }
        let remote = repo.contains("://") || (repo.contains('@') && repo.contains(':'));
        (!remote).then(|| self.resolve(repo))
    }

    /// The manifests folder inside the repository (`source.path`), `""` for its root.
    pub fn manifests_folder(&self) -> &str {
        self.config.source.path.as_deref().unwrap_or("")
    }

    /// Every semantic problem of the configuration at once, sorted: durations, 5-field cron
    /// expressions, IANA time zones, unique tenant names, tenant URLs, `promoteFrom` (an
    /// existing tenant of the same platform, no cycles), credentials that name a variable or
    /// file rather than hold a token, literal header values only for non-secret headers,
    /// auth on every non-emulated tenant, a token source on every forge reporter.
    pub fn validate(&self) -> Diagnostics {
        validate::validate(self)
    }
}

/// Read, parse and validate the configuration file at `path`.
///
/// # Errors
/// Every problem, sorted: the file cannot be read, is not UTF-8, is not valid YAML, has
/// unknown or missing fields or wrong types, or fails the validation pass.
pub fn load(path: &Path) -> Result<LoadedConfig, Diagnostics> {
    let bytes = std::fs::read(path).map_err(|e| {
        Diagnostics(vec![Diagnostic::file(
            display(path),
            format!("cannot read the configuration: {e}; pass the right file with --config"),
        )])
    })?;
    let loaded = parse(path, &bytes)?;
    loaded.validate().into_result(loaded)
}

fn display(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

/// Parse configuration `bytes` read from `path` (used for messages and to resolve relative
/// paths), without the semantic validation pass.
///
/// # Errors
/// The file is not UTF-8, not valid YAML, or does not match the configuration types.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<LoadedConfig, Diagnostics> {
    let shown = display(path);
    let text = yaml::decode(bytes, &shown).map_err(|d| Diagnostics(vec![d]))?;
    if yaml::split_documents(text).is_empty() {
        return Err(Diagnostics(vec![Diagnostic::file(
            shown,
            "the configuration is empty: describe `source` and `tenants` (see examples/quickstart/ferry.yaml)",
        )]));
    }
    let map = SourceMap::build(text);
    let config: Config =
        serde_saphyr::from_str_with_options(text, yaml::options()).map_err(|e| {
            yaml::diagnose_all(e, text, &shown, 0, &map, |text| {
                serde_saphyr::from_str_with_options::<Config>(text, yaml::options()).err()
            })
        })?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    Ok(LoadedConfig {
        config,
        path: path.to_owned(),
        dir,
        display: shown,
        map,
    })
}
