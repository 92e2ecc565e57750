//! The JSON API of `ferry serve`, under `/api/v1`, and the tenant views it shares with the
//! status page.
//!
//! - `GET /api/v1/tenants`: every configured tenant, whether this replica owns it, its sync
//!   and drift state, open warning count, last applied commit, last outcome and error.
//! - `GET /api/v1/tenants/{name}`: the same plus its connectors (from the inventory, with
//!   the name the tenant shows now) with their sync state, open warnings (connector, kind,
//!   reference), drifted connectors with the fields that changed and their diff
//!   (`driftDetail`, kept by the last check: no call to the tenant), the last applied
//!   commit (short SHA, message, author, read from the source cache; its page on the forge
//!   when known) and recent history.
//! - `POST /api/v1/tenants/{name}/reconcile`: mark the tenant dirty with
//!   [`Reason::Manual`] (202).
//! - `POST /api/v1/tenants/{name}/warnings/ack` with `{"connector": …, "kind": …}`: a
//!   person closes the connector's open warnings of that kind
//!   ([`crate::review::acknowledge`]); the tenant is then marked dirty, so promotion reaches
//!   the tenants downstream once its reconcile finishes (200, 404 when no such warning is
//!   open, naming those that are).
//! - `POST /api/v1/tenants/{name}/suspend` with an optional `{"reason": …}`: stop applying
//!   to the tenant (it is still planned and drift-checked) until
//!   `POST /api/v1/tenants/{name}/resume`, which queues a reconcile. Kept in the state
//!   store, so a restart keeps it (200).
//!
//! When `server.apiTokenEnv` is set, every POST needs `Authorization: Bearer <token>` (401
//! otherwise); read-only endpoints are open. An unknown tenant gets 404 with a JSON
//! `error` naming it; a tenant another replica owns gets 409 on a POST. States are derived here, in one place, from the scheduler, the
//! state store and the source: see [`SyncState`], [`DriftState`], [`ConnectorState`].
//!
//! This module reads; what it changes is a tenant marked dirty through the scheduler and,
//! on a person's acknowledgement, open warnings closed in the state store. SQLite and git2
//! run on the blocking pool.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use tracing::{info, warn};

use crate::daemon::scheduler::{LastReconcile, OutcomeKind, Reason, Reasons, TenantStatus};
use crate::daemon::shard;
use crate::drift::DriftRecord;
use crate::http::state::{AppState, ConfiguredTenant, StatusContext};
use crate::model::Platform;
use crate::names::names;
use crate::store::{self, InventoryRow, Store, history, inventory, suspension, tenant, warnings};

/// How many history entries a tenant view holds.
pub const HISTORY_LIMIT: u32 = 25;

/// Errors of the API. Each maps to an HTTP status and a JSON `{"error": …}` body.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No tenant of that name is configured.
    #[error("no tenant named {name:?} in the configuration; configured tenants: {known}")]
    UnknownTenant {
        /// The name asked for.
        name: String,
        /// The configured tenants, comma-separated.
        known: String,
    },
    /// The tenant belongs to another replica.
    #[error(
        "tenant {name:?} is owned by shard {owner} of {count}, not by this replica (shard {this}); send the request to that replica"
    )]
    NotOwned {
        /// The tenant.
        name: String,
        /// The shard owning it.
        owner: u32,
        /// This replica's shard.
        this: u32,
        /// How many shards there are.
        count: u32,
    },
    /// The request lacks the bearer token, or it is wrong.
    #[error(
        "this call changes state and needs the API token: send Authorization: Bearer <token> with the value of the variable server.apiTokenEnv names"
    )]
    Unauthorized,
    /// The daemon is stopping or its scheduler has stopped.
    #[error("ferry is shutting down and takes no new work; retry against a running replica")]
    ShuttingDown,
    /// The state store could not be read.
    #[error("cannot read the state store: {0}")]
    Store(#[from] store::Error),
    /// The request body is not what the endpoint takes.
    #[error("{0}")]
    BadRequest(String),
    /// No open warning matches the acknowledgement.
    #[error("{0}")]
    NoOpenWarning(String),
    /// This server keeps no state store (nothing to acknowledge in).
    #[error(
        "this server keeps no state store; acknowledge warnings on the replica that reconciles the tenant"
    )]
    NoStore,
}

impl Error {
    fn status(&self) -> StatusCode {
        match self {
            Error::UnknownTenant { .. } => StatusCode::NOT_FOUND,
            Error::NotOwned { .. } => StatusCode::CONFLICT,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::ShuttingDown | Error::NoStore => StatusCode::SERVICE_UNAVAILABLE,
            Error::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::NoOpenWarning(_) => StatusCode::NOT_FOUND,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(json!({"error": self.to_string()}))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The configured tenant called `name`, or [`Error::UnknownTenant`] listing the others.
fn configured<'c>(ctx: &'c StatusContext, name: &str) -> Result<&'c ConfiguredTenant, Error> {
    ctx.tenant(name).ok_or_else(|| Error::UnknownTenant {
        name: name.to_owned(),
        known: ctx
            .tenants()
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// A tenant's sync state: is it at the commit its branch points to?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// The last reconcile succeeded at the branch head.
    InSync,
    /// A newer commit, or a trigger, waits for a reconcile; or the first one has not run.
    Pending,
    /// A reconcile is running now.
    Syncing,
    /// The last reconcile left connectors blocked (conflict, window, promotion, …).
    Blocked,
    /// The last reconcile failed (invalid manifests, failed actions, refused credentials).
    Failed,
    /// The last reconcile could not reach the tenant (retried with backoff).
    Error,
    /// Another replica owns the tenant, or nothing is known yet.
    Unknown,
}

names! {
    /// `in_sync`, `pending`, … as in JSON.
    SyncState {
        InSync => "in_sync",
        Pending => "pending",
        Syncing => "syncing",
        Blocked => "blocked",
        Failed => "failed",
        Error => "error",
        Unknown => "unknown",
    }
}

impl SyncState {
    /// The words people read: `In sync`, `Pending`, …
    pub fn label(self) -> &'static str {
        match self {
            SyncState::InSync => "In sync",
            SyncState::Pending => "Pending",
            SyncState::Syncing => "Syncing",
            SyncState::Blocked => "Blocked",
            SyncState::Failed => "Failed",
            SyncState::Error => "Unreachable",
            SyncState::Unknown => "Unknown",
        }
    }
}

/// Whether a tenant's live connectors still hold what ferry applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftState {
    /// The last check found every connector as applied.
    None,
    /// Connectors were changed outside ferry.
    Drifted,
    /// Not checked yet, or another replica owns the tenant.
    Unknown,
}

names! {
    /// `none`, `drifted`, `unknown`.
    DriftState {
        None => "none",
        Drifted => "drifted",
        Unknown => "unknown",
    }
}

impl DriftState {
    /// The words people read.
    pub fn label(self) -> &'static str {
        match self {
            DriftState::None => "No drift",
            DriftState::Drifted => "Drifted",
            DriftState::Unknown => "Not checked",
        }
    }
}

/// One connector's sync state (the `state` label of `ferry_connectors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorState {
    /// Applied as in git.
    InSync,
    /// A newer commit waits for the tenant's next reconcile.
    Pending,
    /// The plan blocked it (the history entry says why).
    Blocked,
    /// Its last action failed.
    Failed,
    /// Changed in the tenant since ferry applied it.
    Drifted,
}

names! {
    /// `in_sync`, `pending`, `blocked`, `failed`, `drifted`.
    ConnectorState {
        InSync => "in_sync",
        Pending => "pending",
        Blocked => "blocked",
        Failed => "failed",
        Drifted => "drifted",
    }
}

impl ConnectorState {
    /// The words people read.
    pub fn label(self) -> &'static str {
        match self {
            ConnectorState::InSync => "In sync",
            ConnectorState::Pending => "Pending",
            ConnectorState::Blocked => "Blocked",
            ConnectorState::Failed => "Failed",
            ConnectorState::Drifted => "Drifted",
        }
    }
}

/// A commit as people recognise it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitInfo {
    /// Full object id.
    pub sha: String,
    /// First 7 characters.
    pub short_sha: String,
    /// The first line of the message (`None` when the commit is not in the source cache).
    pub message: Option<String>,
    /// The author's name.
    pub author: Option<String>,
    /// The commit time.
    pub time: Option<DateTime<Utc>>,
    /// Its page on the forge, when the configuration tells where that is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl CommitInfo {
    fn bare(sha: &str) -> Self {
        CommitInfo {
            sha: sha.to_owned(),
            short_sha: short_sha(sha).to_owned(),
            message: None,
            author: None,
            time: None,
            url: None,
        }
    }
}

/// The first 7 characters of a commit id.
pub fn short_sha(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// One tenant in the list.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantSummary {
    /// Name.
    pub name: String,
    /// Platform.
    pub platform: Option<Platform>,
    /// The branch it follows.
    pub branch: Option<String>,
    /// Whether this replica owns (reconciles) it.
    pub owned: bool,
    /// The shard owning it.
    pub shard: u32,
    /// Sync state.
    pub sync_state: SyncState,
    /// Drift state.
    pub drift_state: DriftState,
    /// Drifted connectors.
    pub drifted: usize,
    /// Open import warnings.
    pub open_warnings: usize,
    /// Connectors in the inventory.
    pub connectors: usize,
    /// Whether a reconcile runs now.
    pub running: bool,
    /// Reasons waiting for the next reconcile.
    pub pending_reasons: Option<Reasons>,
    /// The head of the followed branch.
    pub head_commit: Option<CommitInfo>,
    /// The last commit applied without failed actions.
    pub last_applied_commit: Option<CommitInfo>,
    /// How the last reconcile ended: `applied`, `warning`, `noop`, `failed`, `error`,
    /// `blocked` (from the history), or `ok` when the reconciler kept no history.
    pub last_outcome: Option<String>,
    /// Why the last reconcile failed.
    pub last_error: Option<String>,
    /// The last reconcile's one-line summary (the commit status description).
    pub last_summary: Option<String>,
    /// When the last reconcile finished.
    pub last_reconcile_at: Option<DateTime<Utc>>,
    /// When and why a person suspended the tenant: it is planned and drift-checked, and
    /// nothing is applied until it is resumed. `null` when it is not suspended.
    pub suspended: Option<suspension::Suspension>,
    /// The tenant in the platform's web app (`uiUrl`), when configured.
    pub ui_url: Option<String>,
    /// The number of the last reconcile asked for with `POST …/reconcile` since the
    /// daemon started (0: none).
    pub last_request: u64,
    /// The highest request number a finished reconcile answered: request `n` is done once
    /// this is at least `n`, and `lastOutcome`, `syncState` tell how it ended.
    pub finished_request: u64,
}

/// An open import warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WarningView {
    /// `metadata.name` of the connector.
    pub connector: String,
    /// `agentic-workflow`, `seeding-filter-group`, `field-reference`, `vcs-credentials`.
    pub kind: String,
    /// The reference that did not resolve, or what to do.
    pub reference: String,
    /// The connector's live id.
    pub live_id: String,
    /// When ferry first saw it.
    pub opened_at: String,
}

/// A connector of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorView {
    /// `metadata.name`.
    pub connector: String,
    /// Manifest kind.
    pub kind: String,
    /// The tenant-side name: as the tenant's list showed it at the last check, else as
    /// ferry applied it.
    pub name: String,
    /// The name ferry applied, when the tenant shows another one now (renamed by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_name: Option<String>,
    /// The platform's id (none when it was never created).
    pub live_id: Option<String>,
    /// Sync state.
    pub sync_state: ConnectorState,
    /// The revision it was last applied at (short).
    pub revision: Option<String>,
    /// Whether ferry created it.
    pub created_by_ferry: bool,
    /// Open warnings on it.
    pub open_warnings: usize,
    /// What the last reconcile said about it, when it failed or was blocked.
    pub message: Option<String>,
}

/// One past reconcile.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryView {
    /// Row id.
    pub id: i64,
    /// The commit reconciled.
    pub commit: CommitInfo,
    /// Start time (RFC 3339).
    pub started_at: String,
    /// End time (RFC 3339).
    pub finished_at: String,
    /// `applied`, `warning`, `failed`, `noop`, `error`, `blocked`.
    pub outcome: String,
    /// One line for people.
    pub summary: String,
    /// Machine-readable detail.
    pub detail: serde_json::Value,
}

/// The scheduler's view of a tenant.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleView {
    /// When the next run is due.
    pub next_run_at: Option<DateTime<Utc>>,
    /// Reconciles since the daemon started.
    pub reconciles: u64,
    /// Transient failures in a row.
    pub consecutive_failures: u32,
}

/// One tenant in full.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantDetail {
    /// The list fields.
    #[serde(flatten)]
    pub summary: TenantSummary,
    /// Connectors (inventory, plus those the last reconcile could not create).
    pub connector_list: Vec<ConnectorView>,
    /// Open warnings.
    pub warnings: Vec<WarningView>,
    /// Drifted connectors.
    pub drift: Vec<String>,
    /// Each drifted connector with its live name and id, the fields that changed and the
    /// unified diff of what ferry applied (`---`) against what the tenant holds (`+++`),
    /// as found by the last check.
    pub drift_detail: Vec<DriftRecord>,
    /// Recent reconciles, newest first.
    pub history: Vec<HistoryView>,
    /// Scheduling.
    pub schedule: Option<ScheduleView>,
}

/// The source as the views show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceView {
    /// URL or path (no credentials).
    pub url: String,
    /// When a fetch last succeeded.
    pub last_fetch_at: Option<DateTime<Utc>>,
    /// The last fetch error.
    pub last_fetch_error: Option<String>,
}

/// This replica's shard as the views show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardView {
    /// This replica's shard.
    pub index: u32,
    /// How many shards.
    pub count: u32,
    /// The hash placing tenants (`fnv1a-64`).
    pub hash: &'static str,
    /// The tenants this replica owns.
    pub owned: Vec<String>,
}

/// The body of `GET /api/v1/tenants`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantList {
    /// The source.
    pub source: SourceView,
    /// This replica's shard.
    pub shard: ShardView,
    /// Every configured tenant, in configuration order.
    pub tenants: Vec<TenantSummary>,
}

/// The overview the status page renders: the list plus each tenant's open warnings.
#[derive(Debug, Clone)]
pub struct Overview {
    /// The list.
    pub list: TenantList,
    /// Open warnings per tenant.
    pub warnings: BTreeMap<String, Vec<WarningView>>,
}

/// What the store holds about one tenant.
#[derive(Debug, Default)]
struct Stored {
    state: tenant::TenantState,
    warnings: Vec<warnings::OpenWarning>,
    inventory: Vec<InventoryRow>,
    history: Vec<history::Entry>,
    suspension: Option<suspension::Suspension>,
}

async fn read_store(
    store: Option<&Store>,
    tenants: Vec<String>,
    history_limit: u32,
) -> Result<BTreeMap<String, Stored>, Error> {
    let Some(store) = store else {
        return Ok(BTreeMap::new());
    };
    let read = store
        .call(move |c| {
            let mut out = BTreeMap::new();
            for t in tenants {
                let stored = Stored {
                    state: tenant::get(c, &t)?,
                    warnings: warnings::for_tenant(c, &t)?,
                    inventory: inventory::list(c, &t)?,
                    history: history::recent(c, &t, history_limit)?,
                    suspension: suspension::get(c, &t)?,
                };
                out.insert(t, stored);
            }
            Ok(out)
        })
        .await?;
    Ok(read)
}

/// Read commits from the source cache (a bare repository) on the blocking pool. A commit
/// that cannot be read keeps only its id.
async fn read_commits(cache: PathBuf, shas: BTreeSet<String>) -> HashMap<String, CommitInfo> {
    let fallback: HashMap<String, CommitInfo> = shas
        .iter()
        .map(|s| (s.clone(), CommitInfo::bare(s)))
        .collect();
    if shas.is_empty() {
        return fallback;
    }
    let read = tokio::task::spawn_blocking(move || {
        let mut out = HashMap::new();
        let Ok(repo) = git2::Repository::open(&cache) else {
            return out;
        };
        for sha in shas {
            let Ok(oid) = git2::Oid::from_str(&sha) else {
                continue;
            };
            let Ok(commit) = repo.find_commit(oid) else {
                continue;
            };
            let author = commit.author();
            let info = CommitInfo {
                short_sha: short_sha(&sha).to_owned(),
                message: commit.summary().ok().flatten().map(str::to_owned),
                author: author.name().ok().map(str::to_owned),
                time: DateTime::from_timestamp(commit.time().seconds(), 0),
                url: None,
                sha,
            };
            out.insert(info.sha.clone(), info);
        }
        out
    })
    .await;
    match read {
        Ok(read) => fallback.into_iter().chain(read).collect(),
        Err(e) => {
            warn!(error = %e, "reading commits from the source cache failed");
            fallback
        }
    }
}

/// The source as people should read it: a local repository as its absolute, clean path
/// (not `examples/quickstart/../..`), a remote one as its URL without credentials.
fn source_display(remote: &crate::source::remote::Remote) -> String {
    match remote.local_path() {
        Some(path) => std::fs::canonicalize(path)
            .unwrap_or_else(|_| clean_path(path))
            .to_string_lossy()
            .into_owned(),
        None => remote.display_url().to_owned(),
    }
}

/// `path` with `.` and `name/..` taken out, without asking the file system.
fn clean_path(path: &std::path::Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The outcome of the newest reconcile, from the history or, when the scheduler has seen
/// a newer one (a failure before anything was recorded), from the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Latest {
    outcome: String,
    error: Option<String>,
    at: Option<DateTime<Utc>>,
}

fn latest(
    newest: Option<&history::Entry>,
    last: Option<&LastReconcile>,
    state: &tenant::TenantState,
) -> Option<Latest> {
    let from_history = newest.map(|h| {
        let failed = matches!(h.outcome.as_str(), "failed" | "error" | "blocked");
        Latest {
            outcome: h.outcome.clone(),
            error: failed.then(|| {
                state
                    .last_error
                    .clone()
                    .unwrap_or_else(|| h.summary.clone())
            }),
            at: parse_time(&h.finished_at),
        }
    });
    let from_scheduler = last.map(|l| Latest {
        outcome: match l.outcome {
            OutcomeKind::Ok => "ok",
            OutcomeKind::Transient => "error",
            OutcomeKind::Permanent => "failed",
        }
        .to_owned(),
        error: l.error.clone(),
        at: Some(l.finished_at),
    });
    match (from_history, last) {
        (Some(h), Some(l)) => {
            // A history entry written during or after the scheduler's last run describes
            // that run; otherwise the run ended before recording anything.
            let recorded =
                h.at.is_some_and(|at| at >= l.started_at - chrono::Duration::seconds(1));
            if recorded { Some(h) } else { from_scheduler }
        }
        (Some(h), None) => Some(h),
        (None, _) => from_scheduler,
    }
}

fn sync_state(
    owned: bool,
    status: Option<&TenantStatus>,
    latest: Option<&Latest>,
    state: &tenant::TenantState,
    head: Option<&str>,
    blocked_connectors: bool,
) -> SyncState {
    if !owned {
        return SyncState::Unknown;
    }
    if status.is_some_and(|s| s.running) {
        return SyncState::Syncing;
    }
    let waiting = status.and_then(|s| s.pending.as_ref()).is_some_and(|p| {
        p.iter()
            .any(|r| !matches!(r, Reason::Drift | Reason::Retry))
    });
    let Some(latest) = latest else {
        return if waiting || status.is_some() {
            SyncState::Pending
        } else {
            SyncState::Unknown
        };
    };
    match latest.outcome.as_str() {
        "failed" => SyncState::Failed,
        "error" => SyncState::Error,
        "blocked" => SyncState::Blocked,
        _ if blocked_connectors => SyncState::Blocked,
        _ => {
            let behind = match (head, state.seen_revision.as_deref()) {
                (Some(head), Some(seen)) => head != seen,
                _ => false,
            };
            if behind || waiting {
                SyncState::Pending
            } else {
                SyncState::InSync
            }
        }
    }
}

fn drift_state(owned: bool, stored: &Stored) -> DriftState {
    if !owned {
        DriftState::Unknown
    } else if !stored.state.drift.is_empty() {
        DriftState::Drifted
    } else if stored.state.updated_at.is_some() || !stored.history.is_empty() {
        DriftState::None
    } else {
        DriftState::Unknown
    }
}

/// Per-connector results of a history entry whose `detail` carries the apply report's
/// `results` (`connector`, `kind`, `name`, `outcome`, `liveId`/`live_id`, `message`).
fn results_of(entry: Option<&history::Entry>) -> Vec<&serde_json::Value> {
    entry
        .and_then(|e| e.detail.get("results"))
        .and_then(|r| r.as_array())
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn str_field<'v>(v: &'v serde_json::Value, names: &[&str]) -> Option<&'v str> {
    names
        .iter()
        .find_map(|n| v.get(*n).and_then(|x| x.as_str()))
}

fn connectors(stored: &Stored, tenant_state: SyncState) -> Vec<ConnectorView> {
    let results = results_of(stored.history.first());
    let result_of = |connector: &str| {
        results
            .iter()
            .find(|r| str_field(r, &["connector"]) == Some(connector))
    };
    let drifted: BTreeSet<&str> = stored.state.drift.iter().map(String::as_str).collect();
    let warning_count = |connector: &str| {
        stored
            .warnings
            .iter()
            .filter(|w| w.connector == connector)
            .count()
    };
    let state_of = |connector: &str, result: Option<&&serde_json::Value>| {
        if drifted.contains(connector) {
            return (ConnectorState::Drifted, None);
        }
        let outcome = result.and_then(|r| str_field(r, &["outcome"]));
        let message = result
            .and_then(|r| str_field(r, &["message"]))
            .map(str::to_owned);
        match outcome {
            Some("failed") => (ConnectorState::Failed, message),
            Some("skipped" | "blocked") => (ConnectorState::Blocked, message),
            _ if tenant_state == SyncState::Pending => (ConnectorState::Pending, None),
            _ => (ConnectorState::InSync, None),
        }
    };
    let mut out: Vec<ConnectorView> = stored
        .inventory
        .iter()
        .map(|row| {
            let (sync_state, message) = state_of(&row.connector, result_of(&row.connector));
            // The name the tenant showed at the last check, when it was of this object.
            let live_name = stored
                .state
                .live_seen
                .get(&row.connector)
                .filter(|seen| seen.live_id == row.live_id)
                .map(|seen| seen.name.clone());
            ConnectorView {
                connector: row.connector.clone(),
                kind: row.kind.as_str().to_owned(),
                applied_name: live_name
                    .as_ref()
                    .filter(|live| **live != row.name)
                    .map(|_| row.name.clone()),
                name: live_name.unwrap_or_else(|| row.name.clone()),
                live_id: Some(row.live_id.clone()),
                sync_state,
                revision: Some(short_sha(&row.revision).to_owned()),
                created_by_ferry: row.created_by_ferry,
                open_warnings: warning_count(&row.connector),
                message,
            }
        })
        .collect();
    for r in &results {
        let Some(connector) = str_field(r, &["connector"]) else {
            continue;
        };
        if out.iter().any(|c| c.connector == connector) {
            continue;
        }
        let (sync_state, message) = state_of(connector, Some(r));
        if sync_state == ConnectorState::InSync {
            // Applied but not in the inventory: pruned or renamed since.
            continue;
        }
        out.push(ConnectorView {
            connector: connector.to_owned(),
            kind: str_field(r, &["kind"]).unwrap_or_default().to_owned(),
            name: str_field(r, &["name"]).unwrap_or(connector).to_owned(),
            applied_name: None,
            live_id: str_field(r, &["liveId", "live_id"]).map(str::to_owned),
            sync_state,
            revision: None,
            created_by_ferry: false,
            open_warnings: warning_count(connector),
            message,
        });
    }
    out.sort_by(|a, b| a.connector.cmp(&b.connector));
    out
}

/// Connectors per sync state, every state present (for `ferry_connectors`).
pub fn count_states(connectors: &[ConnectorView]) -> BTreeMap<&'static str, i64> {
    let mut counts: BTreeMap<&'static str, i64> = crate::metrics::CONNECTOR_STATES
        .iter()
        .map(|s| (*s, 0))
        .collect();
    for c in connectors {
        *counts.entry(c.sync_state.as_str()).or_default() += 1;
    }
    counts
}

fn warning_views(stored: &Stored) -> Vec<WarningView> {
    stored
        .warnings
        .iter()
        .map(|w| WarningView {
            connector: w.connector.clone(),
            kind: w.warning.kind.as_str().to_owned(),
            reference: w.warning.reference.clone(),
            live_id: w.live_id.clone(),
            opened_at: w.opened_at.clone(),
        })
        .collect()
}

struct Gathered {
    source: SourceView,
    shard: ShardView,
    rows: Vec<(TenantSummary, Stored, Option<TenantStatus>)>,
    commits: HashMap<String, CommitInfo>,
}

async fn gather(
    app: &AppState,
    only: Option<&str>,
    history_limit: u32,
    with_commits: bool,
) -> Result<Gathered, Error> {
    let ctx = app.status();
    let scheduler = app.scheduler();
    let owned: BTreeSet<String> = scheduler.tenants().into_iter().collect();
    let selected: Vec<&ConfiguredTenant> = match only {
        Some(name) => vec![configured(ctx, name)?],
        None => ctx.tenants().iter().collect(),
    };
    let to_read: Vec<String> = selected
        .iter()
        .filter(|t| owned.contains(&t.name))
        .map(|t| t.name.clone())
        .collect();
    let mut stored = read_store(ctx.store(), to_read, history_limit).await?;
    let remote = app.remote();
    let mut shas = BTreeSet::new();
    let mut rows = Vec::new();
    for t in selected {
        let is_owned = owned.contains(&t.name);
        let s = stored.remove(&t.name).unwrap_or_default();
        let status = scheduler.status(&t.name);
        let branch = t
            .branch
            .clone()
            .or_else(|| app.controller().branch_of(&t.name).map(str::to_owned));
        let head = branch
            .as_deref()
            .and_then(|b| remote.head(b).ok())
            .map(|o| o.to_string());
        let newest = latest(
            s.history.first(),
            status.as_ref().and_then(|st| st.last.as_ref()),
            &s.state,
        );
        let blocked_connectors = results_of(s.history.first())
            .iter()
            .any(|r| matches!(str_field(r, &["outcome"]), Some("skipped" | "blocked")));
        let sync = sync_state(
            is_owned,
            status.as_ref(),
            newest.as_ref(),
            &s.state,
            head.as_deref(),
            blocked_connectors,
        );
        shas.extend(head.clone());
        shas.extend(s.state.applied_revision.clone());
        shas.extend(s.history.iter().map(|h| h.revision.clone()));
        let summary = TenantSummary {
            name: t.name.clone(),
            platform: t.platform,
            branch,
            owned: is_owned,
            shard: t.shard,
            sync_state: sync,
            drift_state: drift_state(is_owned, &s),
            drifted: s.state.drift.len(),
            open_warnings: s.warnings.len(),
            connectors: s.inventory.len(),
            running: status.as_ref().is_some_and(|st| st.running),
            pending_reasons: status.as_ref().and_then(|st| st.pending.clone()),
            head_commit: head.as_deref().map(CommitInfo::bare),
            last_applied_commit: s.state.applied_revision.as_deref().map(CommitInfo::bare),
            last_outcome: newest.as_ref().map(|l| l.outcome.clone()),
            last_error: newest.as_ref().and_then(|l| l.error.clone()),
            last_summary: s.history.first().map(|h| h.summary.clone()),
            last_reconcile_at: newest.as_ref().and_then(|l| l.at),
            suspended: s.suspension.clone(),
            ui_url: t.ui_url.clone(),
            last_request: status.as_ref().map_or(0, |st| st.last_request),
            finished_request: status.as_ref().map_or(0, |st| st.finished_request),
        };
        rows.push((summary, s, status));
    }
    shas.retain(|s| git2::Oid::from_str(s).is_ok());
    if !with_commits {
        shas.clear();
    }
    let mut commits = read_commits(remote.cache_path().to_path_buf(), shas).await;
    for c in commits.values_mut() {
        c.url = ctx.commit_url(&c.sha);
    }
    let fill = |c: &mut Option<CommitInfo>| {
        if let Some(info) = c.as_mut().and_then(|c| commits.get(&c.sha)) {
            *c = Some(info.clone());
        }
    };
    for (summary, _, _) in &mut rows {
        fill(&mut summary.head_commit);
        fill(&mut summary.last_applied_commit);
    }
    let source = SourceView {
        url: source_display(remote),
        last_fetch_at: remote.last_success(),
        last_fetch_error: remote.last_fetch_error().map(|f| f.message),
    };
    let shard = ShardView {
        index: ctx.shard().index,
        count: ctx.shard().count,
        hash: shard::HASH_NAME,
        owned: owned.into_iter().collect(),
    };
    Ok(Gathered {
        source,
        shard,
        rows,
        commits,
    })
}

/// Every tenant, with the open warnings of each (the status page's overview).
///
/// # Errors
/// [`Error::Store`].
pub async fn overview(app: &AppState) -> Result<Overview, Error> {
    let g = gather(app, None, 1, true).await?;
    let mut warnings = BTreeMap::new();
    let mut tenants = Vec::new();
    for (summary, stored, _) in g.rows {
        warnings.insert(summary.name.clone(), warning_views(&stored));
        tenants.push(summary);
    }
    Ok(Overview {
        list: TenantList {
            source: g.source,
            shard: g.shard,
            tenants,
        },
        warnings,
    })
}

/// One tenant in full (the status page's tenant page).
///
/// # Errors
/// [`Error::UnknownTenant`], [`Error::Store`].
pub async fn tenant_detail(app: &AppState, name: &str) -> Result<TenantDetail, Error> {
    Ok(tenant_page(app, name).await?.0)
}

/// One tenant in full, with the source and shard (the status page's tenant page).
///
/// # Errors
/// [`Error::UnknownTenant`], [`Error::Store`].
pub async fn tenant_page(
    app: &AppState,
    name: &str,
) -> Result<(TenantDetail, SourceView, ShardView), Error> {
    let g = gather(app, Some(name), HISTORY_LIMIT, true).await?;
    let (source, shard) = (g.source, g.shard);
    let commits = g.commits;
    let Some((summary, stored, status)) = g.rows.into_iter().next() else {
        return Err(configured(app.status(), name)
            .err()
            .unwrap_or(Error::UnknownTenant {
                name: name.to_owned(),
                known: String::new(),
            }));
    };
    let connector_list = connectors(&stored, summary.sync_state);
    let history = stored
        .history
        .iter()
        .map(|h| HistoryView {
            id: h.id,
            commit: commits.get(&h.revision).cloned().unwrap_or_else(|| {
                let mut bare = CommitInfo::bare(&h.revision);
                bare.url = app.status().commit_url(&h.revision);
                bare
            }),
            started_at: h.started_at.clone(),
            finished_at: h.finished_at.clone(),
            outcome: h.outcome.clone(),
            summary: h.summary.clone(),
            detail: h.detail.clone(),
        })
        .collect();
    let detail = TenantDetail {
        warnings: warning_views(&stored),
        drift: stored.state.drift.clone(),
        drift_detail: stored.state.drift_detail.clone(),
        schedule: status.map(|s| ScheduleView {
            next_run_at: s.next_run_at,
            reconciles: s.reconciles,
            consecutive_failures: s.consecutive_failures,
        }),
        connector_list,
        history,
        summary,
    };
    Ok((detail, source, shard))
}

/// Set the store-derived gauges of every owned tenant (`ferry_connectors`,
/// `ferry_drifted_connectors`, `ferry_open_warnings`) from the state store, with the same
/// states the API shows. `/metrics` calls it before encoding, so the gauges are current at
/// every scrape whoever recorded last.
///
/// # Errors
/// [`Error::Store`].
pub async fn refresh_gauges(
    app: &AppState,
    metrics: &crate::metrics::Metrics,
) -> Result<(), Error> {
    let g = gather(app, None, 1, false).await?;
    for (summary, stored, _) in g.rows.iter().filter(|(s, _, _)| s.owned) {
        let list = connectors(stored, summary.sync_state);
        metrics.set_connectors(&summary.name, &count_states(&list));
        metrics.set_drifted(
            &summary.name,
            i64::try_from(summary.drifted).unwrap_or(i64::MAX),
        );
        metrics.set_open_warnings(
            &summary.name,
            i64::try_from(summary.open_warnings).unwrap_or(i64::MAX),
        );
    }
    Ok(())
}

/// The `/api/v1` routes, waiting for a state.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants", get(list))
        .route("/api/v1/tenants/{name}", get(one))
        .route("/api/v1/tenants/{name}/reconcile", post(reconcile))
        .route("/api/v1/tenants/{name}/warnings/ack", post(acknowledge))
        .route("/api/v1/tenants/{name}/suspend", post(suspend))
        .route("/api/v1/tenants/{name}/resume", post(resume))
}

async fn list(State(app): State<AppState>) -> Result<Json<TenantList>, Error> {
    Ok(Json(overview(&app).await?.list))
}

async fn one(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<TenantDetail>, Error> {
    Ok(Json(tenant_detail(&app, &name).await?))
}

fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then_some(token)
}

/// The checks every state-changing call passes: the bearer token (when configured), a
/// configured tenant, owned by this replica.
fn admit<'a>(
    app: &'a AppState,
    name: &str,
    headers: &HeaderMap,
    what: &str,
) -> Result<&'a ConfiguredTenant, Error> {
    let ctx = app.status();
    if let Some(token) = ctx.api_token()
        && !bearer(headers).is_some_and(|given| token.matches(given))
    {
        warn!(tenant = %name, "refused a {what} request without a valid API token");
        return Err(Error::Unauthorized);
    }
    let tenant = configured(ctx, name)?;
    if !app.scheduler().tenants().contains(&tenant.name) {
        return Err(Error::NotOwned {
            name: name.to_owned(),
            owner: tenant.shard,
            this: ctx.shard().index,
            count: ctx.shard().count,
        });
    }
    Ok(tenant)
}

async fn reconcile(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    admit(&app, &name, &headers, "reconcile")?;
    let request = match app.lifecycle().is_shutting_down() {
        true => None,
        false => app.scheduler().request(&name, Reason::Manual),
    };
    let Some(request) = request else {
        return Err(Error::ShuttingDown);
    };
    info!(tenant = %name, reason = "manual", request, "reconcile requested through the API");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "tenant": name,
            "status": "queued",
            "reason": Reason::Manual,
            "request": request,
        })),
    )
        .into_response())
}

/// Body of `POST /api/v1/tenants/{name}/warnings/ack`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AckRequest {
    /// `metadata.name`.
    connector: String,
    /// `agentic-workflow`, `seeding-filter-group`, `field-reference`, `vcs-credentials`.
    kind: crate::model::WarningKind,
}

async fn acknowledge(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Error> {
    admit(&app, &name, &headers, "warning acknowledgement")?;
    let req: AckRequest = serde_json::from_slice(&body).map_err(|e| {
        Error::BadRequest(format!(
            "send {{\"connector\": \"<metadata.name>\", \"kind\": \"vcs-credentials\"}} (kinds: agentic-workflow, seeding-filter-group, field-reference, vcs-credentials): {e}"
        ))
    })?;
    let store = app.status().store().ok_or(Error::NoStore)?;
    let (t, connector, kind) = (name.clone(), req.connector.clone(), req.kind);
    let acked = store
        .call(move |c| Ok(crate::review::acknowledge(c, &t, &connector, kind)))
        .await?
        .map_err(|e| match e {
            crate::review::Error::Store(e) => Error::Store(e),
            other => Error::NoOpenWarning(other.to_string()),
        })?;
    info!(tenant = %name, connector = %req.connector, kind = %req.kind, closed = acked.closed.len(), "warnings acknowledged through the API");
    // The tenant's next reconcile finishing marks the tenants promoting from it.
    let queued =
        !app.lifecycle().is_shutting_down() && app.scheduler().mark_dirty(&name, Reason::Manual);
    Ok((
        StatusCode::OK,
        Json(json!({
            "tenant": name,
            "connector": req.connector,
            "kind": req.kind,
            "closed": acked.closed,
            "remaining": acked.remaining,
            "released": acked.released,
            "reconcile": if queued { "queued" } else { "not queued: shutting down" },
        })),
    )
        .into_response())
}

/// Body of `POST /api/v1/tenants/{name}/suspend` (optional).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SuspendRequest {
    /// Why, for the people who see the badge.
    #[serde(default)]
    reason: Option<String>,
}

async fn suspend(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Error> {
    admit(&app, &name, &headers, "suspend")?;
    let req: SuspendRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SuspendRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            Error::BadRequest(format!(
                "send no body, or {{\"reason\": \"<why, for the people who see the badge>\"}}: {e}"
            ))
        })?
    };
    let reason = req
        .reason
        .map(|r| crate::printable::printable(&crate::sensitive::redact(r.trim())).into_owned())
        .filter(|r| !r.is_empty());
    let store = app.status().store().ok_or(Error::NoStore)?;
    let t = name.clone();
    let suspended = store
        .call(move |c| suspension::suspend(c, &t, reason.as_deref()))
        .await?;
    info!(tenant = %name, reason = suspended.reason.as_deref().unwrap_or(""), "tenant suspended through the API: planned and drift-checked, nothing applied");
    Ok((
        StatusCode::OK,
        Json(json!({"tenant": name, "suspended": suspended})),
    )
        .into_response())
}

async fn resume(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    admit(&app, &name, &headers, "resume")?;
    let store = app.status().store().ok_or(Error::NoStore)?;
    let t = name.clone();
    let was = store.call(move |c| suspension::resume(c, &t)).await?;
    // What waited while it was suspended is applied now.
    let queued =
        !app.lifecycle().is_shutting_down() && app.scheduler().mark_dirty(&name, Reason::Manual);
    info!(tenant = %name, was_suspended = was.is_some(), "tenant resumed through the API");
    Ok((
        StatusCode::OK,
        Json(json!({
            "tenant": name,
            "suspended": null,
            "wasSuspended": was,
            "reconcile": if queued { "queued" } else { "not queued: shutting down" },
        })),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Warning, WarningKind};

    fn entry(outcome: &str, finished_at: &str, detail: serde_json::Value) -> history::Entry {
        history::Entry {
            id: 1,
            revision: "a".repeat(40),
            started_at: finished_at.to_owned(),
            finished_at: finished_at.to_owned(),
            outcome: outcome.to_owned(),
            summary: format!("{outcome} summary"),
            detail,
        }
    }

    fn last(outcome: OutcomeKind, at: &str, error: Option<&str>) -> LastReconcile {
        let at = parse_time(at).unwrap();
        LastReconcile {
            outcome,
            error: error.map(str::to_owned),
            reasons: Reasons::of(Reason::Poll),
            started_at: at,
            finished_at: at,
        }
    }

    fn status(running: bool, pending: Option<Reason>) -> TenantStatus {
        TenantStatus {
            name: "prod".into(),
            running,
            pending: pending.map(Reasons::of),
            next_run_at: None,
            reconciles: 1,
            consecutive_failures: 0,
            last: None,
            last_request: 0,
            finished_request: 0,
        }
    }

    #[test]
    fn the_token_compares_whole_values_only() {
        use crate::http::state::ApiToken;
        let token = ApiToken::new("s3cret");
        assert!(token.matches(b"s3cret"));
        assert!(!token.matches(b"s3cre"));
        assert!(!token.matches(b"s3cret2"));
        assert!(!token.matches(b""));
        assert_eq!(format!("{token:?}"), "ApiToken(***)");
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer s3cret".parse().unwrap());
        assert_eq!(bearer(&headers), Some(&b"s3cret"[..]));
        headers.insert("authorization", "Basic s3cret".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn an_unset_token_variable_is_an_error_naming_it() {
        use crate::http::state::ApiToken;
        let e = ApiToken::from_env("FERRY_TEST_SURELY_UNSET_TOKEN").unwrap_err();
        assert_eq!(
            e.to_string(),
            "server.apiTokenEnv names FERRY_TEST_SURELY_UNSET_TOKEN, which is not set; export it with the API token, or remove server.apiTokenEnv to leave the reconcile endpoint open"
        );
    }

    #[test]
    fn a_local_source_is_shown_as_a_clean_path() {
        use std::path::Path;
        assert_eq!(
            clean_path(Path::new("examples/quickstart/../..")),
            PathBuf::from(".")
        );
        assert_eq!(
            clean_path(Path::new("/srv/ferry/examples/quickstart/../../repo/.")),
            PathBuf::from("/srv/ferry/repo")
        );
        assert_eq!(clean_path(Path::new("../up")), PathBuf::from("../up"));
    }

    #[test]
    fn the_newest_of_history_and_scheduler_wins() {
        let state = tenant::TenantState::default();
        let h = entry("applied", "2026-01-01T10:00:05Z", json!({}));
        // The scheduler's run is the one the history recorded.
        let same = last(OutcomeKind::Ok, "2026-01-01T10:00:00Z", None);
        assert_eq!(
            latest(Some(&h), Some(&same), &state).unwrap().outcome,
            "applied"
        );
        // A later run failed before writing anything.
        let later = last(
            OutcomeKind::Transient,
            "2026-01-01T11:00:00Z",
            Some("timed out"),
        );
        let l = latest(Some(&h), Some(&later), &state).unwrap();
        assert_eq!(
            (l.outcome.as_str(), l.error.as_deref()),
            ("error", Some("timed out"))
        );
        // A failed history entry carries the tenant's last error.
        let failed = entry("failed", "2026-01-01T10:00:05Z", json!({}));
        let state = tenant::TenantState {
            last_error: Some("orders: import refused".into()),
            ..Default::default()
        };
        let l = latest(Some(&failed), None, &state).unwrap();
        assert_eq!(l.error.as_deref(), Some("orders: import refused"));
    }

    #[test]
    fn sync_state_follows_the_run_the_outcome_and_the_branch_head() {
        let head = "b".repeat(40);
        let seen = tenant::TenantState {
            seen_revision: Some(head.clone()),
            ..Default::default()
        };
        let ok = Latest {
            outcome: "applied".into(),
            error: None,
            at: None,
        };
        let idle = status(false, None);
        assert_eq!(
            sync_state(false, Some(&idle), Some(&ok), &seen, Some(&head), false),
            SyncState::Unknown
        );
        assert_eq!(
            sync_state(
                true,
                Some(&status(true, None)),
                Some(&ok),
                &seen,
                Some(&head),
                false
            ),
            SyncState::Syncing
        );
        assert_eq!(
            sync_state(true, Some(&idle), Some(&ok), &seen, Some(&head), false),
            SyncState::InSync
        );
        let newer = "c".repeat(40);
        assert_eq!(
            sync_state(true, Some(&idle), Some(&ok), &seen, Some(&newer), false),
            SyncState::Pending
        );
        assert_eq!(
            sync_state(
                true,
                Some(&status(false, Some(Reason::Webhook))),
                Some(&ok),
                &seen,
                Some(&head),
                false
            ),
            SyncState::Pending
        );
        assert_eq!(
            sync_state(
                true,
                Some(&status(false, Some(Reason::Drift))),
                Some(&ok),
                &seen,
                Some(&head),
                false
            ),
            SyncState::InSync,
            "a scheduled drift check is not a pending change"
        );
        for (outcome, want) in [
            ("failed", SyncState::Failed),
            ("error", SyncState::Error),
            ("blocked", SyncState::Blocked),
            ("warning", SyncState::InSync),
            ("noop", SyncState::InSync),
        ] {
            let l = Latest {
                outcome: outcome.into(),
                ..ok.clone()
            };
            assert_eq!(
                sync_state(true, Some(&idle), Some(&l), &seen, Some(&head), false),
                want,
                "{outcome}"
            );
        }
        assert_eq!(
            sync_state(true, Some(&idle), None, &seen, Some(&head), false),
            SyncState::Pending
        );
        assert_eq!(
            sync_state(true, Some(&idle), Some(&ok), &seen, Some(&head), true),
            SyncState::Blocked,
            "connectors left blocked (waiting for promotion, outside a window) block the tenant"
        );
    }

    #[test]
    fn connector_states_come_from_drift_the_last_results_and_the_inventory() {
        let stored = Stored {
            state: tenant::TenantState {
                drift: vec!["edited".into()],
                live_seen: BTreeMap::from([
                    (
                        "edited".to_owned(),
                        tenant::LiveSeen {
                            live_id: "live-edited".into(),
                            name: "Edited by hand".into(),
                        },
                    ),
                    (
                        // Seen before a replace gave it another id: not its name now.
                        "orders".to_owned(),
                        tenant::LiveSeen {
                            live_id: "an-older-id".into(),
                            name: "Old orders".into(),
                        },
                    ),
                ]),
                updated_at: Some("now".into()),
                ..Default::default()
            },
            warnings: vec![warnings::OpenWarning {
                connector: "orders".into(),
                live_id: "live-orders".into(),
                warning: Warning {
                    kind: WarningKind::AgenticWorkflow,
                    reference: "Lead Router".into(),
                },
                opened_at: "then".into(),
            }],
            inventory: ["orders", "edited", "broken"]
                .map(InventoryRow::test)
                .into(),
            history: vec![entry(
                "failed",
                "2026-01-01T10:00:00Z",
                json!({"results": [
                    {"connector": "broken", "kind": "SmartConnector", "name": "Broken", "outcome": "failed", "message": "import refused"},
                    {"connector": "new-one", "kind": "SmartConnector", "name": "New One", "outcome": "skipped", "message": "waiting for promotion"},
                    {"connector": "orders", "outcome": "warning"}
                ]}),
            )],
            suspension: None,
        };
        let list = connectors(&stored, SyncState::Failed);
        let edited = list.iter().find(|c| c.connector == "edited").unwrap();
        assert_eq!(
            (edited.name.as_str(), edited.applied_name.as_deref()),
            ("Edited by hand", Some("EDITED")),
            "the live name, and the one ferry applied"
        );
        let orders = list.iter().find(|c| c.connector == "orders").unwrap();
        assert_eq!(
            (orders.name.as_str(), orders.applied_name.as_deref()),
            ("ORDERS", None)
        );
        let states: Vec<(&str, ConnectorState, Option<&str>)> = list
            .iter()
            .map(|c| (c.connector.as_str(), c.sync_state, c.message.as_deref()))
            .collect();
        assert_eq!(
            states,
            vec![
                ("broken", ConnectorState::Failed, Some("import refused")),
                ("edited", ConnectorState::Drifted, None),
                (
                    "new-one",
                    ConnectorState::Blocked,
                    Some("waiting for promotion")
                ),
                ("orders", ConnectorState::InSync, None),
            ]
        );
        assert_eq!(list[3].open_warnings, 1);
        assert_eq!(list[2].live_id, None);
        let counts = count_states(&list);
        assert_eq!(counts["failed"], 1);
        assert_eq!(counts["pending"], 0);
        assert_eq!(counts.len(), 5);
        assert_eq!(drift_state(true, &stored), DriftState::Drifted);
        assert_eq!(drift_state(false, &stored), DriftState::Unknown);
        assert_eq!(drift_state(true, &Stored::default()), DriftState::Unknown);
    }
}
