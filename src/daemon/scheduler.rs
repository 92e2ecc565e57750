//! The reconcile scheduler: the one place that decides when a tenant reconciles.
//!
//! Triggers (poll, webhook, file watch, drift cron, promotion, a person) only *mark* a
//! tenant dirty with a [`Reason`]. The scheduler, modelled on kube-runtime's scheduler:
//!
//! - keeps one entry per tenant, so a tenant marked twice before it runs runs once, with
//!   the reasons merged;
//! - debounces: a run starts `debounce` after the last mark (default 250 ms), but never
//!   later than [`MAX_DEBOUNCE_FACTOR`] × `debounce` after the first, so a stream of
//!   marks cannot starve a tenant;
//! - caps how many reconciles run at once (`--concurrency`, default 4), starting the
//!   tenants that have waited longest first;
//! - never runs one tenant twice at once: a tenant marked while running runs again right
//!   after it finishes;
//! - retries transient failures per tenant with jittered exponential backoff (1 s
//!   doubling to 5 min); a permanent failure waits for the next mark.
//!
//! **Promotion.** The scheduler knows the `promoteFrom` graph (see
//! [`SchedulerOptions::with_promotions_from`]): when a tenant's reconcile finishes with
//! [`ReconcileOutcome::Ok`] or [`ReconcileOutcome::Permanent`] (it may have applied some
//! connectors cleanly before one failed), every tenant promoting from it is marked dirty
//! at once with [`Reason::Promotion`]. A transient failure marks nothing: its retry will.
//! Keeping the graph here means no reconciler implementation can forget it; a dependent
//! with nothing new to promote costs one list call (invariant 7's no-op price).
//!
//! A tenant whose reconcile is slow, failing or hung holds one concurrency slot and
//! nothing else (invariant 5). The scheduler must not fetch, plan or apply anything
//! itself; it only calls the [`Reconciler`]. All timing goes through `tokio::time`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span, debug, error, info, info_span, warn};

use crate::config;
use crate::names::names;

/// Why a tenant was marked dirty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// The daemon started.
    Startup,
    /// The poll saw the followed branch move.
    Poll,
    /// A forge webhook announced a push to the followed branch.
    Webhook,
    /// The file watch saw the local repository's refs change.
    Watch,
    /// The tenant's drift schedule fired.
    Drift,
    /// The tenant this one promotes from finished a reconcile.
    Promotion,
    /// A person asked (CLI or API).
    Manual,
    /// An earlier reconcile failed transiently and is retried.
    Retry,
}

names! {
    /// Lower-case name, as in logs and JSON.
    Reason {
        Startup => "startup",
        Poll => "poll",
        Webhook => "webhook",
        Watch => "watch",
        Drift => "drift",
        Promotion => "promotion",
        Manual => "manual",
        Retry => "retry",
    }
}

/// The merged reasons of one run: every mark since the tenant last started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reasons(BTreeSet<Reason>);

impl Reasons {
    /// One reason.
    pub fn of(reason: Reason) -> Reasons {
        Reasons(BTreeSet::from([reason]))
    }

    /// Add a reason.
    pub fn insert(&mut self, reason: Reason) {
        self.0.insert(reason);
    }

    /// Whether `reason` is among them.
    pub fn contains(&self, reason: Reason) -> bool {
        self.0.contains(&reason)
    }

    /// The reasons, in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = Reason> + '_ {
        self.0.iter().copied()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the run is only a drift check (no change in git asked for it).
    pub fn is_drift_only(&self) -> bool {
        self.0.len() == 1 && self.contains(Reason::Drift)
    }
}

impl FromIterator<Reason> for Reasons {
    fn from_iter<I: IntoIterator<Item = Reason>>(iter: I) -> Self {
        Reasons(iter.into_iter().collect())
    }
}

impl fmt::Display for Reasons {
    /// `poll+drift`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            f.write_str(r.as_str())?;
        }
        Ok(())
    }
}

/// How one reconcile ended, as the [`Reconciler`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReconcileOutcome {
    /// The tenant is in line with git (or as close as policy allows).
    Ok,
    /// Failed for a reason that may pass (tenant unreachable, rate limited, fetch failed):
    /// retried with backoff. The message is shown in statuses; it must hold no secret.
    Transient(String),
    /// Failed until something changes (invalid manifests, refused credentials, failed
    /// actions): waits for the next mark. The message must hold no secret.
    Permanent(String),
}

impl ReconcileOutcome {
    /// The outcome without its message.
    pub fn kind(&self) -> OutcomeKind {
        match self {
            ReconcileOutcome::Ok => OutcomeKind::Ok,
            ReconcileOutcome::Transient(_) => OutcomeKind::Transient,
            ReconcileOutcome::Permanent(_) => OutcomeKind::Permanent,
        }
    }

    /// The error message of a failure.
    pub fn error(&self) -> Option<&str> {
        match self {
            ReconcileOutcome::Ok => None,
            ReconcileOutcome::Transient(e) | ReconcileOutcome::Permanent(e) => Some(e),
        }
    }
}

/// [`ReconcileOutcome`] without its message, for statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    /// Succeeded.
    Ok,
    /// Failed; retried with backoff.
    Transient,
    /// Failed; waits for the next change.
    Permanent,
}

/// One tenant's reconcile: fetch → snapshot → plan → apply → record → report.
///
/// The scheduler calls it inside an `info_span!("reconcile", tenant, reasons, commit)`
/// whose `commit` field is empty: implementations record it with
/// `tracing::Span::current().record("commit", sha)` once they know it. The scheduler
/// never calls it twice at once for the same tenant. It is not cancelled on shutdown:
/// the daemon waits for it within the grace period, so it should finish promptly.
#[async_trait]
pub trait Reconciler: Send + Sync + 'static {
    /// Reconcile `tenant`, marked dirty for `reasons`.
    async fn reconcile(&self, tenant: &str, reasons: &Reasons) -> ReconcileOutcome;
}

/// The span every reconcile runs in: `reconcile{tenant, reasons, commit}`. `commit` starts
/// empty; the reconciler records it once it has resolved the branch head.
pub fn reconcile_span(tenant: &str, reasons: &Reasons) -> Span {
    info_span!(
        "reconcile",
        tenant = %tenant,
        reasons = %reasons,
        commit = tracing::field::Empty
    )
}

pub use crate::backoff::Backoff;

/// The longest a tenant's run is pushed back by repeated marks, in units of the debounce.
pub const MAX_DEBOUNCE_FACTOR: u32 = 4;

/// Scheduler settings.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Reconciles running at once, across tenants (at least 1).
    pub concurrency: usize,
    /// Quiet time after the last mark before a tenant runs.
    pub debounce: Duration,
    /// Retry delays of transient failures.
    pub backoff: Backoff,
    /// Tenant → the tenants whose `promoteFrom` names it.
    pub promotions: BTreeMap<String, Vec<String>>,
}

impl Default for SchedulerOptions {
    /// Concurrency 4, debounce 250 ms, 1 s → 5 min backoff, no promotions.
    fn default() -> Self {
        SchedulerOptions {
            concurrency: 4,
            debounce: Duration::from_millis(250),
            backoff: Backoff::default(),
            promotions: BTreeMap::new(),
        }
    }
}

impl SchedulerOptions {
    /// Fill [`SchedulerOptions::promotions`] from the tenants' `promoteFrom`.
    pub fn with_promotions_from(mut self, tenants: &[config::Tenant]) -> Self {
        self.promotions.clear();
        for t in tenants {
            if let Some(from) = &t.promote_from {
                self.promotions
                    .entry(from.clone())
                    .or_default()
                    .push(t.name.clone());
            }
        }
        self
    }
}

/// The last finished reconcile of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastReconcile {
    /// How it ended.
    pub outcome: OutcomeKind,
    /// The failure's message.
    pub error: Option<String>,
    /// Why it ran.
    pub reasons: Reasons,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
}

/// What the scheduler knows about one tenant, for readiness and status pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    /// The tenant.
    pub name: String,
    /// Whether a reconcile is running now.
    pub running: bool,
    /// Reasons waiting for the next run, if one is due.
    pub pending: Option<Reasons>,
    /// When the next run is due (debounce end or retry time).
    pub next_run_at: Option<DateTime<Utc>>,
    /// Reconciles finished since start.
    pub reconciles: u64,
    /// Transient failures in a row.
    pub consecutive_failures: u32,
    /// The last finished reconcile.
    pub last: Option<LastReconcile>,
    /// The number of the last reconcile requested with [`SchedulerHandle::request`]
    /// (0: none yet).
    pub last_request: u64,
    /// The highest request number a finished reconcile started after: request `n` is done
    /// once this is at least `n`, and `last` tells how it ended.
    pub finished_request: u64,
}

impl TenantStatus {
    fn new(name: String) -> Self {
        TenantStatus {
            name,
            running: false,
            pending: None,
            next_run_at: None,
            reconciles: 0,
            consecutive_failures: 0,
            last: None,
            last_request: 0,
            finished_request: 0,
        }
    }
}

struct Shared {
    statuses: Mutex<BTreeMap<String, TenantStatus>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, TenantStatus>> {
        // Updates are plain field assignments: a poisoned map is still consistent.
        self.statuses.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Marks tenants dirty and reads their status. Cheap to clone; hand one to every trigger.
#[derive(Clone)]
pub struct SchedulerHandle {
    tx: mpsc::UnboundedSender<(String, Reason)>,
    shared: Arc<Shared>,
}

impl fmt::Debug for SchedulerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedulerHandle").finish_non_exhaustive()
    }
}

impl SchedulerHandle {
    /// Mark `tenant` dirty for `reason`. Returns `false` (and does nothing) for a tenant
    /// the scheduler does not own, or once the scheduler has stopped.
    pub fn mark_dirty(&self, tenant: &str, reason: Reason) -> bool {
        if !self.shared.lock().contains_key(tenant) {
            debug!(tenant, %reason, "ignoring a mark for a tenant this scheduler does not own");
            return false;
        }
        self.tx.send((tenant.to_owned(), reason)).is_ok()
    }

    /// Ask for a reconcile of `tenant` for `reason`, numbered so the caller can tell when it
    /// finished: the number is done once [`TenantStatus::finished_request`] reaches it,
    /// which the first reconcile starting after this call does. `None` for a tenant the
    /// scheduler does not own, or once it has stopped.
    pub fn request(&self, tenant: &str, reason: Reason) -> Option<u64> {
        let number = {
            let mut statuses = self.shared.lock();
            let status = statuses.get_mut(tenant)?;
            status.last_request += 1;
            status.last_request
        };
        self.mark_dirty(tenant, reason).then_some(number)
    }

    /// Mark every owned tenant dirty for `reason`.
    pub fn mark_all(&self, reason: Reason) {
        for t in self.tenants() {
            self.mark_dirty(&t, reason);
        }
    }

    /// The owned tenants, sorted.
    pub fn tenants(&self) -> Vec<String> {
        self.shared.lock().keys().cloned().collect()
    }

    /// Every owned tenant's status, sorted by name.
    pub fn statuses(&self) -> Vec<TenantStatus> {
        self.shared.lock().values().cloned().collect()
    }

    /// The owned tenants reconciling now, sorted by name.
    pub fn running(&self) -> Vec<String> {
        self.shared
            .lock()
            .values()
            .filter(|s| s.running)
            .map(|s| s.name.clone())
            .collect()
    }

    /// One tenant's status.
    pub fn status(&self, tenant: &str) -> Option<TenantStatus> {
        self.shared.lock().get(tenant).cloned()
    }

    /// Whether every owned tenant has finished at least one reconcile (readiness).
    pub fn all_reconciled(&self) -> bool {
        self.shared.lock().values().all(|s| s.reconciles > 0)
    }
}

/// The scheduler: build it with [`Scheduler::new`], hand out [`Scheduler::handle`]s, then
/// drive it with [`Scheduler::run`].
pub struct Scheduler<R> {
    reconciler: Arc<R>,
    options: SchedulerOptions,
    rx: mpsc::UnboundedReceiver<(String, Reason)>,
    handle: SchedulerHandle,
}

struct Pending {
    reasons: Reasons,
    due: Instant,
    /// When the current debounce window opened (the cap counts from here).
    window_start: Instant,
}

#[derive(Default)]
struct Entry {
    pending: Option<Pending>,
    running: bool,
    failures: u32,
}

struct Started {
    tenant: String,
    /// The last request number when it started: the requests it answers.
    answers: u64,
    reasons: Reasons,
    started_at: DateTime<Utc>,
    span: Span,
}

impl<R: Reconciler> Scheduler<R> {
    /// A scheduler owning `tenants`, calling `reconciler`. Nothing runs until tenants are
    /// marked and [`Scheduler::run`] is polled.
    pub fn new(
        reconciler: Arc<R>,
        tenants: impl IntoIterator<Item = impl Into<String>>,
        mut options: SchedulerOptions,
    ) -> Self {
        options.concurrency = options.concurrency.max(1);
        let statuses = tenants
            .into_iter()
            .map(|t| {
                let t = t.into();
                (t.clone(), TenantStatus::new(t))
            })
            .collect();
        let (tx, rx) = mpsc::unbounded_channel();
        Scheduler {
            reconciler,
            options,
            rx,
            handle: SchedulerHandle {
                tx,
                shared: Arc::new(Shared {
                    statuses: Mutex::new(statuses),
                }),
            },
        }
    }

    /// A handle to mark tenants dirty and read statuses.
    pub fn handle(&self) -> SchedulerHandle {
        self.handle.clone()
    }

    /// Run until `cancel` fires. Then no new reconcile starts, and this returns once the
    /// running ones have finished (the caller bounds that wait with its grace period).
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut entries: BTreeMap<String, Entry> = self
            .handle
            .tenants()
            .into_iter()
            .map(|t| (t, Entry::default()))
            .collect();
        let mut running: JoinSet<ReconcileOutcome> = JoinSet::new();
        let mut started: HashMap<tokio::task::Id, Started> = HashMap::new();
        info!(
            concurrency = self.options.concurrency,
            debounce_ms = self.options.debounce.as_millis() as u64,
            tenants = entries.len(),
            "scheduler started"
        );
        loop {
            self.start_due(&mut entries, &mut running, &mut started);
            let next_due = (running.len() < self.options.concurrency)
                .then(|| {
                    entries
                        .values()
                        .filter(|e| !e.running)
                        .filter_map(|e| e.pending.as_ref().map(|p| p.due))
                        .min()
                })
                .flatten();
            let wake = async move {
                match next_due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                    self.finish(&mut entries, &mut started, done, true);
                }
                Some((tenant, reason)) = self.rx.recv() => {
                    self.mark(&mut entries, &tenant, reason, Instant::now());
                }
                () = wake => {}
            }
        }
        if !running.is_empty() {
            let names: Vec<&str> = started.values().map(|s| s.tenant.as_str()).collect();
            info!(in_flight = ?names, "scheduler stopping: no new reconcile starts; waiting for the running ones");
        }
        while let Some(done) = running.join_next_with_id().await {
            self.finish(&mut entries, &mut started, done, false);
        }
        info!("scheduler stopped");
    }

    fn mark(
        &self,
        entries: &mut BTreeMap<String, Entry>,
        tenant: &str,
        reason: Reason,
        now: Instant,
    ) {
        let Some(entry) = entries.get_mut(tenant) else {
            return;
        };
        let debounce = self.options.debounce;
        let want = now + debounce;
        match &mut entry.pending {
            None => {
                entry.pending = Some(Pending {
                    reasons: Reasons::of(reason),
                    due: want,
                    window_start: now,
                });
            }
            Some(p) => {
                p.reasons.insert(reason);
                if want < p.due {
                    // Waiting for a retry: a new change runs sooner (the earliest time wins).
                    p.due = want;
                    p.window_start = now;
                } else if p.due > now {
                    // Still debouncing: push back, but not past the cap.
                    p.due = want.min(p.window_start + debounce * MAX_DEBOUNCE_FACTOR);
                }
                // Already due and waiting for a slot: keep its place in line.
            }
        }
        debug!(tenant, %reason, "tenant marked dirty");
        self.publish(tenant, entry, now);
    }

    fn start_due(
        &self,
        entries: &mut BTreeMap<String, Entry>,
        running: &mut JoinSet<ReconcileOutcome>,
        started: &mut HashMap<tokio::task::Id, Started>,
    ) {
        let now = Instant::now();
        while running.len() < self.options.concurrency {
            let next = entries
                .iter()
                .filter(|(_, e)| !e.running)
                .filter_map(|(t, e)| e.pending.as_ref().map(|p| (p.due, t)))
                .filter(|(due, _)| *due <= now)
                .min()
                .map(|(_, t)| t.clone());
            let Some(tenant) = next else { break };
            let Some(entry) = entries.get_mut(&tenant) else {
                break;
            };
            let Some(pending) = entry.pending.take() else {
                break;
            };
            entry.running = true;
            let reasons = pending.reasons;
            let span = reconcile_span(&tenant, &reasons);
            let reconciler = self.reconciler.clone();
            let (t, r) = (tenant.clone(), reasons.clone());
            let task = running.spawn(
                async move {
                    debug!("reconcile started");
                    reconciler.reconcile(&t, &r).await
                }
                .instrument(span.clone()),
            );
            let answers = self
                .handle
                .shared
                .lock()
                .get(&tenant)
                .map_or(0, |s| s.last_request);
            started.insert(
                task.id(),
                Started {
                    tenant: tenant.clone(),
                    answers,
                    reasons,
                    started_at: Utc::now(),
                    span,
                },
            );
            self.publish(&tenant, entry, now);
        }
    }

    fn finish(
        &self,
        entries: &mut BTreeMap<String, Entry>,
        started: &mut HashMap<tokio::task::Id, Started>,
        done: Result<(tokio::task::Id, ReconcileOutcome), tokio::task::JoinError>,
        follow_up: bool,
    ) {
        let (id, outcome) = match done {
            Ok((id, outcome)) => (id, outcome),
            Err(e) => (
                e.id(),
                ReconcileOutcome::Transient(format!(
                    "the reconcile stopped unexpectedly ({}); it is retried",
                    if e.is_panic() { "panic" } else { "cancelled" }
                )),
            ),
        };
        let Some(run) = started.remove(&id) else {
            return;
        };
        let Some(entry) = entries.get_mut(&run.tenant) else {
            return;
        };
        let now = Instant::now();
        entry.running = false;
        let _enter = run.span.enter();
        match &outcome {
            ReconcileOutcome::Ok => {
                entry.failures = 0;
                info!(outcome = "ok", "reconcile finished");
            }
            ReconcileOutcome::Permanent(e) => {
                entry.failures = 0;
                error!(outcome = "permanent", error = %e, "reconcile failed; waiting for the next change");
            }
            ReconcileOutcome::Transient(e) => {
                entry.failures += 1;
                let delay = self.options.backoff.delay(entry.failures);
                match &mut entry.pending {
                    Some(p) => p.reasons.insert(Reason::Retry),
                    None => {
                        entry.pending = Some(Pending {
                            reasons: Reasons::of(Reason::Retry),
                            due: now + delay,
                            window_start: now,
                        });
                    }
                }
                warn!(
                    outcome = "transient",
                    error = %e,
                    failures = entry.failures,
                    retry_in_ms = delay.as_millis() as u64,
                    "reconcile failed; retrying with backoff"
                );
            }
        }
        drop(_enter);
        {
            let mut statuses = self.handle.shared.lock();
            if let Some(s) = statuses.get_mut(&run.tenant) {
                s.reconciles += 1;
                s.finished_request = s.finished_request.max(run.answers);
                s.last = Some(LastReconcile {
                    outcome: outcome.kind(),
                    error: outcome.error().map(str::to_owned),
                    reasons: run.reasons,
                    started_at: run.started_at,
                    finished_at: Utc::now(),
                });
            }
        }
        self.publish(&run.tenant, entry, now);
        if follow_up && !matches!(outcome, ReconcileOutcome::Transient(_)) {
            for dependent in self
                .options
                .promotions
                .get(&run.tenant)
                .into_iter()
                .flatten()
            {
                self.mark(entries, dependent, Reason::Promotion, now);
            }
        }
    }

    /// Copy an entry's scheduling state into the shared status.
    fn publish(&self, tenant: &str, entry: &Entry, now: Instant) {
        let mut statuses = self.handle.shared.lock();
        if let Some(s) = statuses.get_mut(tenant) {
            s.running = entry.running;
            s.consecutive_failures = entry.failures;
            s.pending = entry.pending.as_ref().map(|p| p.reasons.clone());
            s.next_run_at = entry.pending.as_ref().map(|p| {
                Utc::now()
                    + chrono::Duration::from_std(p.due.saturating_duration_since(now))
                        .unwrap_or_default()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::config::testing::tenant;

    #[derive(Debug, Clone)]
    struct Call {
        tenant: String,
        reasons: Reasons,
        at: Duration,
    }

    #[derive(Clone)]
    enum Behaviour {
        Take(Duration, ReconcileOutcome),
        Hang,
    }

    /// A reconciler that records every call and behaves per tenant as told.
    struct Fake {
        t0: Instant,
        calls: Mutex<Vec<Call>>,
        behaviour: Mutex<HashMap<String, Behaviour>>,
        active: AtomicUsize,
        max_active: AtomicUsize,
        active_per_tenant: Mutex<HashMap<String, usize>>,
        max_per_tenant: AtomicUsize,
    }

    impl Fake {
        fn new() -> Arc<Fake> {
            Arc::new(Fake {
                t0: Instant::now(),
                calls: Mutex::default(),
                behaviour: Mutex::default(),
                active: AtomicUsize::new(0),
                max_active: AtomicUsize::new(0),
                active_per_tenant: Mutex::default(),
                max_per_tenant: AtomicUsize::new(0),
            })
        }

        fn behave(&self, tenant: &str, b: Behaviour) {
            self.behaviour.lock().unwrap().insert(tenant.to_owned(), b);
        }

        /// `tenant`'s reconciles take `d` and succeed.
        fn succeeds_after(&self, tenant: &str, d: Duration) {
            self.behave(tenant, Behaviour::Take(d, ReconcileOutcome::Ok));
        }

        /// `tenant`'s reconciles end at once with `outcome`.
        fn ends_at_once(&self, tenant: &str, outcome: ReconcileOutcome) {
            self.behave(tenant, Behaviour::Take(Duration::ZERO, outcome));
        }

        fn calls(&self) -> Vec<Call> {
            self.calls.lock().unwrap().clone()
        }

        fn calls_of(&self, tenant: &str) -> Vec<Call> {
            self.calls()
                .into_iter()
                .filter(|c| c.tenant == tenant)
                .collect()
        }
    }

    #[async_trait]
    impl Reconciler for Fake {
        async fn reconcile(&self, tenant: &str, reasons: &Reasons) -> ReconcileOutcome {
            self.calls.lock().unwrap().push(Call {
                tenant: tenant.to_owned(),
                reasons: reasons.clone(),
                at: Instant::now() - self.t0,
            });
            let now_active = self.active.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_active.fetch_max(now_active, Ordering::SeqCst);
            {
                let mut per = self.active_per_tenant.lock().unwrap();
                let n = per.entry(tenant.to_owned()).or_default();
                *n += 1;
                self.max_per_tenant.fetch_max(*n, Ordering::SeqCst);
            }
            let behaviour = self
                .behaviour
                .lock()
                .unwrap()
                .get(tenant)
                .cloned()
                .unwrap_or(Behaviour::Take(
                    Duration::from_millis(10),
                    ReconcileOutcome::Ok,
                ));
            let outcome = match behaviour {
                Behaviour::Take(d, outcome) => {
                    tokio::time::sleep(d).await;
                    outcome
                }
                Behaviour::Hang => std::future::pending().await,
            };
            self.active.fetch_sub(1, Ordering::SeqCst);
            *self
                .active_per_tenant
                .lock()
                .unwrap()
                .get_mut(tenant)
                .unwrap() -= 1;
            outcome
        }
    }

    /// A running scheduler of `tenants` with a fresh [`Fake`] reconciler.
    fn start(
        tenants: &[&str],
        options: SchedulerOptions,
    ) -> (
        Arc<Fake>,
        SchedulerHandle,
        CancellationToken,
        tokio::task::JoinHandle<()>,
    ) {
        let fake = Fake::new();
        let scheduler = Scheduler::new(fake.clone(), tenants.iter().copied(), options);
        let handle = scheduler.handle();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(scheduler.run(cancel.clone()));
        (fake, handle, cancel, task)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    async fn sleep(d: Duration) {
        tokio::time::sleep(d).await;
    }

    #[tokio::test(start_paused = true)]
    async fn marks_before_a_run_are_merged_into_one_run() {
        let (fake, h, _cancel, _task) = start(&["sandbox", "prod"], SchedulerOptions::default());
        assert!(h.mark_dirty("sandbox", Reason::Poll));
        assert!(h.mark_dirty("sandbox", Reason::Drift));
        assert!(h.mark_dirty("sandbox", Reason::Poll));
        sleep(ms(50)).await;
        assert!(h.mark_dirty("sandbox", Reason::Webhook));
        sleep(Duration::from_secs(5)).await;
        let calls = fake.calls();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0].tenant, "sandbox");
        assert_eq!(calls[0].reasons.to_string(), "poll+webhook+drift");
        assert!(fake.calls_of("prod").is_empty());
        assert!(
            !h.mark_dirty("unknown", Reason::Manual),
            "a tenant not owned is refused"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_is_done_only_by_a_run_that_started_after_it() {
        let (fake, h, _cancel, _task) = start(&["prod"], SchedulerOptions::default());
        fake.succeeds_after("prod", Duration::from_secs(10));
        let first = h.request("prod", Reason::Manual).unwrap();
        assert_eq!(first, 1);
        sleep(Duration::from_secs(1)).await;
        assert!(h.status("prod").unwrap().running);
        // Asked while the first run is under way: that run does not answer it.
        let second = h.request("prod", Reason::Manual).unwrap();
        assert_eq!(second, 2);
        sleep(Duration::from_secs(10)).await;
        let status = h.status("prod").unwrap();
        assert_eq!(status.finished_request, first, "{status:?}");
        assert_eq!(status.last_request, second);
        sleep(Duration::from_secs(15)).await;
        let status = h.status("prod").unwrap();
        assert_eq!(status.finished_request, second, "{status:?}");
        assert_eq!(fake.calls_of("prod").len(), 2);
        assert_eq!(h.request("staging", Reason::Manual), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_waits_for_the_debounce_after_the_last_mark() {
        let options = SchedulerOptions {
            debounce: ms(250),
            ..SchedulerOptions::default()
        };
        let (fake, h, _cancel, _task) = start(&["sandbox"], options);
        h.mark_dirty("sandbox", Reason::Watch);
        sleep(ms(200)).await;
        assert!(fake.calls().is_empty(), "still debouncing");
        h.mark_dirty("sandbox", Reason::Watch);
        sleep(ms(200)).await;
        assert!(
            fake.calls().is_empty(),
            "the second mark pushed the run back"
        );
        sleep(ms(100)).await;
        let calls = fake.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].at, ms(450), "250 ms after the last mark");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_of_marks_cannot_postpone_a_run_forever() {
        let (fake, h, _cancel, _task) = start(&["sandbox"], SchedulerOptions::default());
        for _ in 0..40 {
            h.mark_dirty("sandbox", Reason::Webhook);
            sleep(ms(100)).await;
        }
        let calls = fake.calls();
        assert!(
            !calls.is_empty(),
            "marks every 100 ms must not starve the tenant"
        );
        assert_eq!(calls[0].at, ms(250) * MAX_DEBOUNCE_FACTOR);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_is_capped_and_every_tenant_runs() {
        let tenants = ["a", "b", "c", "d", "e"];
        let options = SchedulerOptions {
            concurrency: 2,
            ..SchedulerOptions::default()
        };
        let (fake, h, _cancel, _task) = start(&tenants, options);
        for t in tenants {
            fake.succeeds_after(t, Duration::from_secs(1));
        }
        h.mark_all(Reason::Startup);
        sleep(Duration::from_secs(10)).await;
        assert_eq!(fake.calls().len(), 5);
        assert_eq!(fake.max_active.load(Ordering::SeqCst), 2);
        assert!(h.all_reconciled());
        let last = fake.calls().last().unwrap().at;
        assert_eq!(
            last,
            ms(250) + Duration::from_secs(2),
            "third wave after two full slots"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_tenant_marked_while_running_runs_again_right_after() {
        let (fake, h, _cancel, _task) = start(&["a", "b"], SchedulerOptions::default());
        fake.succeeds_after("a", Duration::from_secs(2));
        h.mark_dirty("a", Reason::Poll);
        sleep(ms(500)).await;
        assert_eq!(fake.calls().len(), 1);
        assert!(h.status("a").unwrap().running);
        h.mark_dirty("a", Reason::Drift);
        h.mark_dirty("a", Reason::Webhook);
        sleep(ms(500)).await;
        // Other work wakes the scheduler while `a` is still running and due again.
        h.mark_dirty("b", Reason::Poll);
        sleep(Duration::from_secs(10)).await;
        let calls = fake.calls_of("a");
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_eq!(
            fake.max_per_tenant.load(Ordering::SeqCst),
            1,
            "never twice at once"
        );
        assert_eq!(calls[1].at, ms(2250), "right after the first run ended");
        assert_eq!(calls[1].reasons.to_string(), "webhook+drift");
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_back_off_with_growing_delays_up_to_the_cap() {
        let (fake, h, _cancel, _task) = start(&["a"], SchedulerOptions::default());
        fake.ends_at_once(
            "a",
            ReconcileOutcome::Transient("tenant unreachable".into()),
        );
        h.mark_dirty("a", Reason::Startup);
        sleep(Duration::from_secs(60 * 60)).await;
        let calls = fake.calls();
        let gaps: Vec<Duration> = calls.windows(2).map(|w| w[1].at - w[0].at).collect();
        assert!(gaps.len() >= 10, "{gaps:?}");
        assert!(
            gaps[0] >= ms(800) && gaps[0] <= Duration::from_secs(1),
            "{gaps:?}"
        );
        for (i, pair) in gaps.windows(2).enumerate().take(8) {
            assert!(pair[1] > pair[0], "gap {i} then {}: {gaps:?}", i + 1);
        }
        let cap = Duration::from_secs(300);
        assert!(gaps.iter().all(|g| *g <= cap), "{gaps:?}");
        assert!(
            gaps.iter().rev().take(3).all(|g| *g >= cap.mul_f64(0.8)),
            "{gaps:?}"
        );
        assert!(
            calls[1..]
                .iter()
                .all(|c| c.reasons == Reasons::of(Reason::Retry))
        );
        let status = h.status("a").unwrap();
        assert_eq!(status.consecutive_failures as usize, calls.len());
        assert_eq!(
            status.last.unwrap().error.as_deref(),
            Some("tenant unreachable")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn success_resets_the_backoff() {
        let (fake, h, _cancel, _task) = start(&["a"], SchedulerOptions::default());
        fake.ends_at_once("a", ReconcileOutcome::Transient("down".into()));
        h.mark_dirty("a", Reason::Startup);
        sleep(Duration::from_secs(20)).await;
        assert!(h.status("a").unwrap().consecutive_failures >= 3);
        fake.ends_at_once("a", ReconcileOutcome::Ok);
        sleep(Duration::from_secs(60)).await;
        let status = h.status("a").unwrap();
        assert_eq!(status.consecutive_failures, 0);
        assert_eq!(status.pending, None, "no retry after success");
        let n = fake.calls().len();
        sleep(Duration::from_secs(600)).await;
        assert_eq!(fake.calls().len(), n);
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_failure_waits_for_the_next_change() {
        let (fake, h, _cancel, _task) = start(&["a"], SchedulerOptions::default());
        fake.ends_at_once("a", ReconcileOutcome::Permanent("invalid manifest".into()));
        h.mark_dirty("a", Reason::Poll);
        sleep(Duration::from_secs(3600)).await;
        assert_eq!(fake.calls().len(), 1, "no retry");
        let status = h.status("a").unwrap();
        assert_eq!(
            status.last.as_ref().unwrap().outcome,
            OutcomeKind::Permanent
        );
        assert_eq!(status.consecutive_failures, 0);
        h.mark_dirty("a", Reason::Poll);
        sleep(Duration::from_secs(1)).await;
        assert_eq!(fake.calls().len(), 2, "a new change runs it");
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_change_does_not_wait_for_a_long_retry() {
        let (fake, h, _cancel, _task) = start(&["a"], SchedulerOptions::default());
        fake.ends_at_once("a", ReconcileOutcome::Transient("down".into()));
        h.mark_dirty("a", Reason::Startup);
        sleep(Duration::from_secs(200)).await; // retries now wait about two minutes
        let before = fake.calls().len();
        h.mark_dirty("a", Reason::Webhook);
        sleep(ms(300)).await;
        let calls = fake.calls();
        assert_eq!(calls.len(), before + 1);
        assert_eq!(calls.last().unwrap().reasons.to_string(), "webhook+retry");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_tenant_does_not_delay_the_others() {
        let options = SchedulerOptions {
            concurrency: 2,
            ..SchedulerOptions::default()
        };
        let (fake, h, _cancel, _task) = start(&["stuck", "b", "c", "d"], options);
        fake.behave("stuck", Behaviour::Hang);
        h.mark_dirty("stuck", Reason::Startup);
        sleep(Duration::from_secs(1)).await;
        for t in ["b", "c", "d"] {
            h.mark_dirty(t, Reason::Poll);
        }
        sleep(Duration::from_secs(2)).await;
        for t in ["b", "c", "d"] {
            assert_eq!(fake.calls_of(t).len(), 1, "{t} ran");
            assert!(h.status(t).unwrap().last.is_some());
        }
        assert!(h.status("stuck").unwrap().running);
        assert!(!h.all_reconciled(), "the stuck tenant has not finished");
    }

    #[tokio::test(start_paused = true)]
    async fn promotion_marks_dependents_when_the_source_finishes() {
        let tenants = vec![
            tenant("sandbox", None),
            tenant("prod", Some("sandbox")),
            tenant("eu", Some("sandbox")),
            tenant("other", None),
        ];
        let options = SchedulerOptions::default().with_promotions_from(&tenants);
        let names: Vec<&str> = tenants.iter().map(|t| t.name.as_str()).collect();
        let (fake, h, _cancel, _task) = start(&names, options);
        fake.succeeds_after("sandbox", Duration::from_secs(1));
        h.mark_dirty("sandbox", Reason::Webhook);
        sleep(Duration::from_secs(5)).await;
        for t in ["prod", "eu"] {
            let calls = fake.calls_of(t);
            assert_eq!(calls.len(), 1, "{t}");
            assert_eq!(calls[0].reasons, Reasons::of(Reason::Promotion));
            assert!(calls[0].at >= ms(1250), "after sandbox finished");
        }
        assert!(fake.calls_of("other").is_empty());

        fake.ends_at_once("sandbox", ReconcileOutcome::Transient("down".into()));
        h.mark_dirty("sandbox", Reason::Poll);
        sleep(ms(500)).await;
        assert_eq!(
            fake.calls_of("prod").len(),
            1,
            "a transient failure promotes nothing"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_lets_the_running_reconcile_finish_and_starts_nothing_new() {
        let (fake, h, cancel, task) = start(&["a", "b"], SchedulerOptions::default());
        fake.succeeds_after("a", Duration::from_secs(5));
        h.mark_dirty("a", Reason::Startup);
        sleep(Duration::from_secs(1)).await;
        h.mark_dirty("b", Reason::Poll);
        cancel.cancel();
        task.await.unwrap();
        assert_eq!(
            h.status("a").unwrap().reconciles,
            1,
            "a finished before run returned"
        );
        assert!(
            fake.calls_of("b").is_empty(),
            "b was not started after cancel"
        );
        assert!(
            !h.mark_dirty("a", Reason::Manual),
            "a stopped scheduler takes no marks"
        );
    }

    #[test]
    fn backoff_delays_stay_within_their_bounds() {
        let b = Backoff::default();
        for n in 1..=20u32 {
            let d = b.delay(n);
            let full = Duration::from_secs(1u64 << (n - 1).min(20)).min(b.max);
            assert!(
                d <= full && d >= full.mul_f64(0.8),
                "{n}: {d:?} vs {full:?}"
            );
        }
        assert!(b.delay(u32::MAX) <= b.max);
    }
}
