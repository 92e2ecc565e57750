//! The daemon's reconciler: one tenant, one pass of fetch result → snapshot → plan → apply
//! → record → report. The scheduler decides when it runs; this decides nothing about
//! timing and nothing about what to change (the planner does).
//!
//! A commit's manifests are parsed once and shared by every tenant that reconciles it. A
//! revision with an invalid manifest is applied to no tenant that manifest reaches (its
//! kind and labels tell which, see [`manifest::Broken`]; when they cannot be told, every
//! tenant): each such tenant reports a failure status listing the first error, and keeps
//! its last good state (invariant 2). The other tenants reconcile the revision's valid
//! manifests, and their status names the broken files as meant for other tenants. An
//! unreachable tenant reports `error` and is retried with backoff by the scheduler; the
//! other tenants are not affected (invariant 5). A tenant a person suspended is planned and
//! drift-checked but nothing is applied to it until it is resumed; its status says so.
//! Each drifted connector is recorded with its changed fields and diff
//! ([`crate::drift`]), so the API and the status page show them without calling the
//! tenant. Every pass ends by telling the notifier what it found ([`crate::notify`]),
//! which alerts the receivers of what changed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use git2::Oid;
use serde_json::json;
use tokio::sync::{Notify, OnceCell};
use tracing::{Span, info, warn};

use crate::apply::ApplyReport;
use crate::daemon::scheduler::{Reasons, ReconcileOutcome, Reconciler};
use crate::drift::DriftRecord;
use crate::engine::{DriftMode, Engine};
use crate::manifest::{self, ManifestSet};
use crate::notify::{Notifier, Observation};
use crate::plan::{BlockReason, Op, Plan};
use crate::report::{CommitStatus, Deliverer, StatusState};
use crate::source::CommitSnapshot;
use crate::source::remote::Remote;
use crate::store::{self, history, suspension, tenant as tenant_state, warnings};

type Parsed = Arc<Loaded>;

/// A commit's manifests: the valid ones, and the problems of the rest with the tenants
/// each reaches.
struct Loaded {
    set: ManifestSet,
    broken: manifest::Broken,
}

/// How many parsed commits are kept (tenants following different branches, and the
/// commit before the newest while tenants catch up).
const PARSED_CACHE: usize = 4;

/// The reconciler `ferry serve` runs.
pub struct EngineReconciler {
    engine: Arc<Engine>,
    remote: Remote,
    branches: BTreeMap<String, String>,
    deliverer: Option<Deliverer>,
    notifier: Option<Notifier>,
    external_url: Option<String>,
    parsed: Mutex<Vec<(Oid, Arc<OnceCell<Parsed>>)>>,
    /// Notified when a status is left in the outbox.
    outbox_queued: Arc<Notify>,
}

impl EngineReconciler {
    /// A reconciler over `engine`, reading commits from `remote`'s cache, following
    /// `branches` (tenant → branch), posting statuses through `deliverer`.
    pub fn new(
        engine: Arc<Engine>,
        remote: Remote,
        branches: BTreeMap<String, String>,
        deliverer: Option<Deliverer>,
    ) -> Self {
        let external_url = engine.config().config.server.external_url.clone();
        EngineReconciler {
            engine,
            remote,
            branches,
            deliverer,
            notifier: None,
            external_url,
            parsed: Mutex::new(Vec::new()),
            outbox_queued: Arc::new(Notify::new()),
        }
    }

    /// Tell `notifier` what each pass found.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// The notifier, if notifications are configured.
    pub fn notifier(&self) -> Option<&Notifier> {
        self.notifier.as_ref()
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The status deliverer, if statuses are posted.
    pub fn deliverer(&self) -> Option<&Deliverer> {
        self.deliverer.as_ref()
    }

    /// Notified whenever a status could not be delivered at once and waits in the outbox:
    /// whoever drains the outbox wakes up to retry it when it is due.
    pub fn outbox_queued(&self) -> Arc<Notify> {
        self.outbox_queued.clone()
    }

    /// Parse the manifests of `commit`, once per commit: tenants reconciling the same
    /// commit at the same time wait for one parse rather than each making its own.
    async fn manifests_at(&self, commit: Oid) -> Result<Parsed, String> {
        let cell = {
            let mut cache = self.lock();
            match cache.iter().find(|(c, _)| *c == commit) {
                Some((_, cell)) => cell.clone(),
                None => {
                    let cell = Arc::new(OnceCell::new());
                    cache.push((commit, cell.clone()));
                    if cache.len() > PARSED_CACHE {
                        cache.remove(0);
                    }
                    cell
                }
            }
        };
        cell.get_or_try_init(|| self.parse(commit))
            .await
            .map(Arc::clone)
    }

    /// Read and parse the manifests of `commit`, reusing the newest set parsed so far:
    /// only what changed since it is parsed again (and files that had problems).
    async fn parse(&self, commit: Oid) -> Result<Parsed, String> {
        let cache: PathBuf = self.remote.cache_path().to_path_buf();
        let folder = self.engine.config().manifests_folder().to_owned();
        let previous = self
            .lock()
            .iter()
            .rev()
            .find_map(|(c, cell)| cell.get().map(|p| (*c, Arc::clone(p))));
        tokio::task::spawn_blocking(move || -> Result<Parsed, String> {
            let repo = git2::Repository::open_bare(&cache)
                .map_err(|e| format!("cannot open the source cache {}: {e}", cache.display()))?;
            let changed = match &previous {
                Some((from, _)) => crate::source::changed_paths(&repo, *from, commit).ok(),
                None => None,
            };
            let snapshot =
                CommitSnapshot::from_repository(repo, commit).map_err(|e| e.to_string())?;
            let (set, diagnostics) = match (&previous, changed) {
                (Some((_, prev)), Some(changed)) => {
                    let changed: std::collections::HashSet<String> = changed.into_iter().collect();
                    manifest::load_changed_all(&snapshot, &folder, &prev.set, &changed)
                }
                _ => manifest::load_all(&snapshot, &folder),
            };
            let broken = manifest::Broken::find(&snapshot, &diagnostics);
            Ok(Arc::new(Loaded { set, broken }))
        })
        .await
        .map_err(|e| format!("reading manifests failed: {e}"))?
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Oid, Arc<OnceCell<Parsed>>)>> {
        self.parsed.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn post(&self, sha: &str, status: CommitStatus) {
        let Some(deliverer) = &self.deliverer else {
            return;
        };
        let status = match status.target_url_for(self.external_url.as_deref(), sha) {
            Some(url) => status.with_target_url(url),
            None => status,
        };
        match deliverer.submit(sha, &status).await {
            Ok(report) if report.queued > 0 => self.outbox_queued.notify_one(),
            Ok(_) => {}
            Err(e) => {
                warn!(context = %status.context, error = %e, "could not record a commit status; it is not lost if the outbox holds it")
            }
        }
    }

    /// Hand what a pass found to the notifier (before the pass is recorded, so that a
    /// reconcile in the history has told the receivers); wake the outbox drain when
    /// notices wait.
    async fn notify(&self, observation: Observation) {
        if let Some(notifier) = &self.notifier
            && notifier.observe(observation).await
        {
            self.outbox_queued.notify_one();
        }
    }

    /// Record a finished reconcile: a history entry and the tenant's state.
    async fn record(&self, tenant: &str, entry: history::Entry, state: TenantUpdate) {
        let seconds = chrono::DateTime::parse_from_rfc3339(&entry.started_at)
            .map(|s| (chrono::Utc::now() - s.with_timezone(&chrono::Utc)).as_seconds_f64())
            .unwrap_or_default();
        crate::metrics::get().reconcile_finished(tenant, &entry.outcome, seconds.max(0.0));
        let t = tenant.to_owned();
        let sha_s = entry.revision.clone();
        let result = self
            .engine
            .store()
            .call(move |c| {
                let mut st = tenant_state::get(c, &t)?;
                let set_drift = |st: &mut tenant_state::TenantState, checked: Checked| {
                    st.drift = checked.drift.iter().map(|d| d.connector.clone()).collect();
                    st.drift_detail = checked.drift;
                    st.live_seen = checked.live_seen;
                };
                match state {
                    TenantUpdate::Applied { checked } => {
                        st.seen_revision = Some(sha_s.clone());
                        st.applied_revision = Some(sha_s.clone());
                        set_drift(&mut st, checked);
                        st.last_error = None;
                    }
                    TenantUpdate::Failed { error, checked } => {
                        st.seen_revision = Some(sha_s.clone());
                        if let Some(checked) = checked {
                            set_drift(&mut st, checked);
                        }
                        st.last_error = Some(error);
                    }
                    TenantUpdate::Suspended { checked } => {
                        // Nothing was applied: the tenant stays at the revision it had.
                        set_drift(&mut st, checked);
                        st.last_error = None;
                    }
                }
                tenant_state::put(c, &t, &st)?;
                history::append(c, &t, &entry)?;
                Ok(())
            })
            .await;
        if let Err(e) = result {
            warn!(tenant, error = %e, "could not record the reconcile in the state store");
        }
    }

    /// Whether the last check recorded drift in `tenant`.
    async fn drift_recorded(&self, tenant: &str) -> bool {
        self.read(tenant, |c, t| tenant_state::get(c, t))
            .await
            .is_ok_and(|st| !st.drift.is_empty())
    }

    async fn open_warning_count(&self, tenant: &str) -> u32 {
        self.read(tenant, |c, t| warnings::count(c, t))
            .await
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .unwrap_or(0)
    }

    /// `read(connection, tenant)` in the state store, off the runtime's workers.
    async fn read<R: Send + 'static>(
        &self,
        tenant: &str,
        read: impl FnOnce(&mut rusqlite::Connection, &str) -> store::Result<R> + Send + 'static,
    ) -> store::Result<R> {
        let t = tenant.to_owned();
        self.engine.store().call(move |c| read(c, &t)).await
    }
}

/// A history entry for a reconcile of `sha` that started at `started` and ends now.
fn entry(
    sha: &str,
    started: String,
    outcome: &str,
    summary: String,
    detail: serde_json::Value,
) -> history::Entry {
    history::Entry {
        id: 0,
        revision: sha.to_owned(),
        started_at: started,
        finished_at: store::now(),
        outcome: outcome.to_owned(),
        summary,
        detail,
    }
}

/// What a pass that planned found in the tenant: the drift it did not restore, and each
/// connector's live id and name.
struct Checked {
    drift: Vec<DriftRecord>,
    live_seen: BTreeMap<String, tenant_state::LiveSeen>,
}

impl Checked {
    fn of(planned: &crate::engine::Planned) -> Self {
        let by_id: std::collections::HashMap<&str, &crate::model::LiveSummary> = planned
            .live
            .summaries
            .iter()
            .map(|s| (s.id.as_str(), s))
            .collect();
        let mut live_seen = BTreeMap::new();
        for action in &planned.plan.actions {
            let Some(id) = action.op.live_id() else {
                continue;
            };
            if let Some(s) = by_id.get(id) {
                live_seen.insert(
                    action.connector.clone(),
                    tenant_state::LiveSeen {
                        live_id: s.id.clone(),
                        name: s.name.clone(),
                    },
                );
            }
        }
        Checked {
            drift: crate::drift::unhealed(&planned.plan.drift),
            live_seen,
        }
    }
}

enum TenantUpdate {
    Applied {
        checked: Checked,
    },
    Failed {
        error: String,
        checked: Option<Checked>,
    },
    /// A suspended tenant was planned and drift-checked, and nothing applied.
    Suspended {
        checked: Checked,
    },
}

/// The sync status of `ferry/<tenant>` for a finished apply (shared by `serve` and
/// `apply --report`). A Kizen tenant's status with open warnings says that Kizen also
/// e-mails them.
pub(crate) fn sync_status(
    tenant: &str,
    plan: &Plan,
    report: &ApplyReport,
    connectors: usize,
    warnings: u32,
) -> CommitStatus {
    let status = if report.failed() {
        failed_status(tenant, report)
    } else {
        blocked_status(tenant, plan, warnings)
            .unwrap_or_else(|| CommitStatus::in_sync(tenant, connectors, warnings))
    }
    .noting_tests(plan.tests.as_deref());
    if plan.platform == crate::model::Platform::Kizen {
        status.noting_kizen_email()
    } else {
        status
    }
}

/// The status of an apply with failed actions: the first failure and how many more.
fn failed_status(tenant: &str, report: &ApplyReport) -> CommitStatus {
    CommitStatus::failed(
        tenant,
        &report.first_failure().unwrap_or_default(),
        report.failures().saturating_sub(1),
    )
}

/// The status of a plan with blocked connectors, if it has any: failed when one needs a
/// person, pending when they only wait for a window or a promotion.
fn blocked_status(tenant: &str, plan: &Plan, warnings: u32) -> Option<CommitStatus> {
    let (waiting, hard): (Vec<&BlockReason>, Vec<&BlockReason>) = plan
        .actions
        .iter()
        .filter_map(|a| match &a.op {
            Op::Blocked { reason, .. } => Some(reason),
            _ => None,
        })
        .partition(|r| r.only_waits());
    if let Some(first) = hard.first() {
        let more = hard.len() - 1;
        return Some(
            CommitStatus::new(
                crate::report::sync_context(tenant),
                StatusState::Failure,
                format!(
                    "blocked: {first}{}",
                    if more > 0 {
                        format!(" (+{more} more)")
                    } else {
                        String::new()
                    }
                ),
            )
            .with_warnings(warnings),
        );
    }
    if let Some(why) = waiting.first() {
        return Some(
            CommitStatus::new(
                crate::report::sync_context(tenant),
                StatusState::Pending,
                format!("{} waiting: {why}", waiting.len()),
            )
            .with_warnings(warnings),
        );
    }
    None
}

#[async_trait]
impl Reconciler for EngineReconciler {
    async fn reconcile(&self, tenant: &str, _reasons: &Reasons) -> ReconcileOutcome {
        let started = store::now();
        let Some(branch) = self.branches.get(tenant) else {
            return ReconcileOutcome::Permanent(format!(
                "tenant {tenant} is not in the configuration"
            ));
        };
        let commit = match self.remote.head(branch) {
            Ok(c) => c,
            Err(e) if e.is_transient() => return ReconcileOutcome::Transient(e.to_string()),
            Err(e) => return ReconcileOutcome::Permanent(e.to_string()),
        };
        let sha = commit.to_string();
        Span::current().record("commit", tracing::field::display(&sha));

        let parsed = match self.manifests_at(commit).await {
            Ok(p) => p,
            Err(e) => return ReconcileOutcome::Transient(e),
        };
        let cfg = match self.engine.tenant(tenant) {
            Ok(cfg) => cfg,
            Err(e) => return ReconcileOutcome::Permanent(e.to_string()),
        };
        let problems = parsed.broken.for_tenant(cfg);
        let broken_elsewhere = parsed.broken.elsewhere(cfg);
        let desired = if problems.is_empty() {
            crate::desired::desired_for(&parsed.set, cfg)
        } else {
            Err(problems)
        };
        if !broken_elsewhere.is_empty() {
            warn!(tenant, files = ?broken_elsewhere, "manifests meant for other tenants are invalid; this tenant does not take them");
        }
        let desired = match desired {
            Ok(d) => d,
            Err(diagnostics) => {
                let first = diagnostics
                    .iter()
                    .next()
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                warn!(tenant, problems = diagnostics.len(), first = %first, "invalid manifests: nothing is applied");
                self.post(
                    &sha,
                    CommitStatus::invalid_manifests(tenant, &first, diagnostics.len()),
                )
                .await;
                let summary =
                    crate::report::invalid_manifests_description(&first, diagnostics.len());
                self.notify(Observation::failed(tenant, &sha, &summary))
                    .await;
                let detail = json!({"errors": diagnostics.iter().map(|d| d.to_string()).collect::<Vec<_>>()});
                self.record(
                    tenant,
                    entry(
                        &sha,
                        started,
                        "failed",
                        format!("invalid manifests: {first}"),
                        detail,
                    ),
                    TenantUpdate::Failed {
                        error: first.clone(),
                        checked: None,
                    },
                )
                .await;
                return ReconcileOutcome::Permanent(format!("invalid manifests: {first}"));
            }
        };

        if let Err(e) = self.engine.recover(tenant).await {
            return self.unreachable(tenant, &sha, started, e).await;
        }
        let suspended = self.suspension(tenant).await;
        // A suspended tenant is planned and drift-checked, never healed nor applied.
        let drift_mode = if suspended.is_some() {
            DriftMode::Report
        } else {
            DriftMode::FromConfig
        };
        let mut planned = match self
            .engine
            .plan(tenant, &desired, &sha, drift_mode, chrono::Utc::now())
            .await
        {
            Ok(p) => p,
            Err(e) => return self.unreachable(tenant, &sha, started, e).await,
        };
        if let Err(e) = self
            .engine
            .gate_tests(&mut planned.plan, &parsed.set, tenant)
            .await
        {
            return ReconcileOutcome::Permanent(e.to_string());
        }
        if let Some(suspension) = suspended {
            return self
                .suspended_pass(tenant, &sha, started, &planned, desired.len(), &suspension)
                .await;
        }
        let changes = planned.plan.changes();
        if changes > 0 {
            self.post(&sha, CommitStatus::applying(tenant, changes))
                .await;
        }
        let report = match self.engine.apply(&planned).await {
            Ok(r) => r,
            Err(e) => return self.unreachable(tenant, &sha, started, e).await,
        };
        let warnings = self.open_warning_count(tenant).await;
        let checked = Checked::of(&planned);
        let drifted: Vec<String> = checked.drift.iter().map(|d| d.connector.clone()).collect();
        let mut status = sync_status(tenant, &planned.plan, &report, desired.len(), warnings);
        if let Some(failure) = self
            .remote
            .last_fetch_error()
            .filter(|f| f.branch.is_none())
            && status.state != StatusState::Failure
        {
            // The tenant is in line with the last commit ferry could fetch; say that newer
            // commits cannot be seen.
            status = CommitStatus::new(
                crate::report::sync_context(tenant),
                StatusState::Error,
                format!(
                    "cannot fetch the source: {}; kept at this commit",
                    failure.message
                ),
            )
            .with_warnings(warnings);
        }
        let status = status.noting_broken_elsewhere(&broken_elsewhere);
        let failed = status.state == StatusState::Failure;
        self.post(&sha, status.clone()).await;
        let tenant_cfg_has_drift = self
            .engine
            .tenant(tenant)
            .map(|t| t.drift.is_some())
            .unwrap_or(false);
        // A tenant without drift checks gets a drift status when drift appears, and the
        // one saying it cleared.
        if tenant_cfg_has_drift || !drifted.is_empty() || self.drift_recorded(tenant).await {
            self.post(&sha, CommitStatus::drift_found(tenant, &checked.drift))
                .await;
        }
        if !drifted.is_empty() {
            warn!(tenant, drifted = ?drifted, "drift: live connectors differ from what ferry applied");
        }
        let outcome = if failed {
            "failed"
        } else if report.results.is_empty() && !drifted.is_empty() {
            // Nothing to apply, and connectors changed in the tenant: the pass found drift.
            "drift"
        } else if report.results.is_empty() {
            "noop"
        } else if report
            .results
            .iter()
            .all(|r| r.outcome == crate::apply::Outcome::Skipped)
        {
            "blocked"
        } else if report.warning_count() > 0 {
            "warning"
        } else {
            "applied"
        };
        self.notify(Observation::finished(tenant, &sha, &planned.plan, &report))
            .await;
        let detail = json!({"plan": crate::render::json_of_changes(std::slice::from_ref(&planned.plan)), "results": report.results, "drift": drifted, "brokenElsewhere": broken_elsewhere});
        let summary = if outcome == "drift" {
            format!(
                "{} · {}",
                status.description,
                crate::drift::short_form(&checked.drift)
            )
        } else {
            status.description.clone()
        };
        let update = if failed {
            TenantUpdate::Failed {
                error: status.description.clone(),
                checked: Some(checked),
            }
        } else {
            TenantUpdate::Applied { checked }
        };
        self.record(
            tenant,
            entry(&sha, started, outcome, summary, detail),
            update,
        )
        .await;
        info!(
            tenant,
            outcome,
            changes,
            warnings,
            drifted = drifted.len(),
            "reconciled"
        );
        if failed {
            ReconcileOutcome::Permanent(status.description)
        } else {
            ReconcileOutcome::Ok
        }
    }
}

impl EngineReconciler {
    /// The tenant's suspension, if a person suspended it. A store that cannot be read
    /// counts as not suspended (and is logged): the tenant then reconciles as configured.
    async fn suspension(&self, tenant: &str) -> Option<suspension::Suspension> {
        match self.read(tenant, |c, t| suspension::get(c, t)).await {
            Ok(s) => s,
            Err(e) => {
                warn!(tenant, error = %e, "cannot read whether the tenant is suspended");
                None
            }
        }
    }

    /// The end of a pass over a suspended tenant: nothing applied; the sync status says
    /// the tenant is suspended and how many changes wait, the drift status and the
    /// notifications report what the check found.
    async fn suspended_pass(
        &self,
        tenant: &str,
        sha: &str,
        started: String,
        planned: &crate::engine::Planned,
        connectors: usize,
        suspension: &suspension::Suspension,
    ) -> ReconcileOutcome {
        let changes = planned.plan.changes();
        let warnings = self.open_warning_count(tenant).await;
        let checked = Checked::of(planned);
        let report = ApplyReport {
            tenant: tenant.to_owned(),
            revision: sha.to_owned(),
            results: Vec::new(),
            in_sync: 0,
            closed_warnings: Vec::new(),
            rate_limited: None,
        };
        let otherwise = sync_status(tenant, &planned.plan, &report, connectors, warnings);
        let status = CommitStatus::suspended(changes, otherwise);
        self.post(sha, status.clone()).await;
        let drift_checks = self.engine.tenant(tenant).is_ok_and(|t| t.drift.is_some());
        if drift_checks || !checked.drift.is_empty() || self.drift_recorded(tenant).await {
            self.post(sha, CommitStatus::drift_found(tenant, &checked.drift))
                .await;
        }
        self.notify(Observation::finished(tenant, sha, &planned.plan, &report))
            .await;
        let drifted: Vec<&str> = checked.drift.iter().map(|d| d.connector.as_str()).collect();
        let detail = json!({
            "plan": crate::render::json_of_changes(std::slice::from_ref(&planned.plan)),
            "results": [],
            "drift": drifted,
            "suspended": suspension,
        });
        let mut summary = status.description.clone();
        if !checked.drift.is_empty() {
            summary = format!("{summary} · {}", crate::drift::short_form(&checked.drift));
        }
        info!(
            tenant,
            changes,
            drifted = drifted.len(),
            "suspended: planned and drift-checked, nothing applied"
        );
        self.record(
            tenant,
            entry(sha, started, "suspended", summary, detail),
            TenantUpdate::Suspended { checked },
        )
        .await;
        ReconcileOutcome::Ok
    }

    async fn unreachable(
        &self,
        tenant: &str,
        sha: &str,
        started: String,
        e: crate::engine::Error,
    ) -> ReconcileOutcome {
        let message = e.to_string();
        warn!(tenant, error = %message, "reconcile failed");
        if e.is_transient() {
            self.post(sha, CommitStatus::unreachable(tenant, &message))
                .await;
        } else {
            self.post(sha, CommitStatus::failed(tenant, &message, 0))
                .await;
        }
        self.notify(Observation::failed(tenant, sha, &message))
            .await;
        self.record(
            tenant,
            entry(
                sha,
                started,
                "error",
                message.clone(),
                json!({"error": message}),
            ),
            TenantUpdate::Failed {
                error: message.clone(),
                checked: None,
            },
        )
        .await;
        if e.is_transient() {
            ReconcileOutcome::Transient(message)
        } else {
            ReconcileOutcome::Permanent(message)
        }
    }
}
