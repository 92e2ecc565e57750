//! The triggers of `ferry serve`, and `ferry serve --once`.
//!
//! [`Controller`] ties the tracked source ([`Remote`]) to the scheduler: it fetches and
//! marks tenants dirty when their followed branch moves. Triggers:
//!
//! - **poll**: every `source.interval` (±10% jitter); a failed fetch (any trigger's,
//!   start-up included) is retried sooner, with jittered backoff from 1 s up to the
//!   interval, when [`remote::Error::is_transient`];
//! - **file watch**: for a local source (path or `file://`), the refs of the repository
//!   (`refs/heads/**`, `packed-refs`, `HEAD` in its git directory) are watched, so a local
//!   commit or push is noticed within a second;
//! - **drift cron**: a 5-field cron expression per tenant (`drift.schedule`, in
//!   `drift.timeZone`, default UTC) marks the tenant with [`Reason::Drift`];
//! - **webhooks**: [`Controller::on_push`], called by the webhook receiver after it has
//!   checked the signature; [`Controller::push_fetch`] coalesces the fetches of pushes
//!   arriving while one runs into one more fetch.
//!
//! It also runs `ferry serve --once` ([`run_once`]). The controller must not reconcile
//! anything itself: it only marks tenants dirty; the scheduler decides when they run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::config;
use crate::daemon::coalesce::Coalescer;
use crate::daemon::lifecycle::Lifecycle;
use crate::daemon::scheduler::{
    Backoff, Reason, Reasons, ReconcileOutcome, Reconciler, SchedulerHandle, reconcile_span,
};
use crate::source::remote::{self, FetchReport, Remote};

/// Errors of setting up the triggers. All are configuration errors found at start-up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tenant's `drift.schedule` is not a 5-field cron expression.
    #[error(
        "tenant {tenant}: drift.schedule {schedule:?} is not a 5-field cron expression (minute hour day-of-month month day-of-week, for example \"*/10 * * * *\"): {reason}"
    )]
    InvalidSchedule {
        /// The tenant.
        tenant: String,
        /// The expression.
        schedule: String,
        /// What the cron parser said.
        reason: String,
    },
    /// A tenant's `drift.timeZone` is not an IANA time zone name.
    #[error(
        "tenant {tenant}: drift.timeZone {zone:?} is not an IANA time zone name such as \"UTC\" or \"Europe/Berlin\""
    )]
    UnknownTimeZone {
        /// The tenant.
        tenant: String,
        /// The configured zone.
        zone: String,
    },
    /// `source.interval` is not a duration.
    #[error("source.interval {value:?} cannot be used: {reason}")]
    InvalidInterval {
        /// The configured value.
        value: String,
        /// What is wrong.
        reason: String,
    },
}

/// A 5-field cron expression in a time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: croner::Cron,
    zone: chrono_tz::Tz,
}

/// Why a cron schedule could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleError {
    /// The expression is not a 5-field cron expression; the parser's message.
    Cron(String),
    /// The time zone is not an IANA name.
    TimeZone(String),
}

impl CronSchedule {
    /// Parse `expression` (exactly 5 fields: minute hour day-of-month month day-of-week)
    /// in `zone` (an IANA name; `None` means UTC).
    ///
    /// # Errors
    /// [`ScheduleError`] naming what is wrong.
    pub fn parse(expression: &str, zone: Option<&str>) -> Result<CronSchedule, ScheduleError> {
        let cron = config::compile_cron(expression).map_err(ScheduleError::Cron)?;
        let zone = match zone {
            None => chrono_tz::UTC,
            Some(z) => z
                .parse::<chrono_tz::Tz>()
                .map_err(|_| ScheduleError::TimeZone(z.to_owned()))?,
        };
        Ok(CronSchedule { cron, zone })
    }

    /// The first occurrence strictly after `t`, or `None` if there is none.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&t.with_timezone(&self.zone), false)
            .ok()
            .map(|n| n.with_timezone(&Utc))
    }
}

/// Controller settings.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// Poll period (jittered by ±10%).
    pub poll_interval: Duration,
    /// Watch the refs of a local source repository.
    pub watch: bool,
    /// Quiet time after a burst of ref changes before fetching.
    pub watch_debounce: Duration,
}

impl ControllerOptions {
    /// Poll every `source.interval`, watch local repositories, 100 ms watch debounce.
    ///
    /// # Errors
    /// [`Error::InvalidInterval`].
    pub fn from_config(config: &config::Config) -> Result<ControllerOptions, Error> {
        let value = &config.source.interval;
        let poll_interval =
            config::parse_duration(value).map_err(|reason| Error::InvalidInterval {
                value: value.clone(),
                reason,
            })?;
        if poll_interval < Duration::from_secs(1) {
            return Err(Error::InvalidInterval {
                value: value.clone(),
                reason: "it must be at least 1s".to_owned(),
            });
        }
        Ok(ControllerOptions {
            poll_interval,
            watch: true,
            watch_debounce: Duration::from_millis(100),
        })
    }
}

/// The branch each tenant follows: its own `branch`, or `source.branch`.
pub fn followed_branches(config: &config::Config) -> BTreeMap<String, String> {
    config
        .tenants
        .iter()
        .map(|t| {
            let branch = t
                .branch
                .clone()
                .unwrap_or_else(|| config.source.branch.clone());
            (t.name.clone(), branch)
        })
        .collect()
}

struct Inner {
    remote: Remote,
    scheduler: SchedulerHandle,
    /// Owned tenant → followed branch.
    branches: BTreeMap<String, String>,
    drift: Vec<(String, CronSchedule)>,
    options: ControllerOptions,
    /// Woken when a fetch fails transiently, so the poll retries it with backoff.
    fetch_failed: tokio::sync::Notify,
    /// The fetches webhooks trigger: one running, at most one more queued.
    push_fetches: Coalescer,
}

/// Fetches the source and marks tenants dirty when their branch moves. Cheap to clone.
#[derive(Clone)]
pub struct Controller {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("remote", &self.inner.remote)
            .field("branches", &self.inner.branches)
            .finish_non_exhaustive()
    }
}

/// The drift schedule of tenant `t`, if it has one.
///
/// # Errors
/// [`Error::InvalidSchedule`], [`Error::UnknownTimeZone`].
pub fn drift_schedule(t: &config::Tenant) -> Result<Option<CronSchedule>, Error> {
    let Some(d) = &t.drift else {
        return Ok(None);
    };
    CronSchedule::parse(&d.schedule, d.time_zone.as_deref())
        .map(Some)
        .map_err(|e| match e {
            ScheduleError::Cron(reason) => Error::InvalidSchedule {
                tenant: t.name.clone(),
                schedule: d.schedule.clone(),
                reason,
            },
            ScheduleError::TimeZone(zone) => Error::UnknownTimeZone {
                tenant: t.name.clone(),
                zone,
            },
        })
}

impl Controller {
    /// A controller for the tenants `scheduler` owns, as configured in `config`. Parses
    /// every drift schedule now, so a bad one stops start-up.
    ///
    /// # Errors
    /// [`Error::InvalidSchedule`], [`Error::UnknownTimeZone`].
    pub fn new(
        config: &config::Config,
        remote: Remote,
        scheduler: SchedulerHandle,
        options: ControllerOptions,
    ) -> Result<Controller, Error> {
        let owned: BTreeSet<String> = scheduler.tenants().into_iter().collect();
        let branches = followed_branches(config)
            .into_iter()
            .filter(|(t, _)| owned.contains(t))
            .collect();
        let mut drift = Vec::new();
        for t in config.tenants.iter().filter(|t| owned.contains(&t.name)) {
            if let Some(schedule) = drift_schedule(t)? {
                drift.push((t.name.clone(), schedule));
            }
        }
        Ok(Controller {
            inner: Arc::new(Inner {
                remote,
                scheduler,
                branches,
                drift,
                options,
                fetch_failed: tokio::sync::Notify::new(),
                push_fetches: Coalescer::default(),
            }),
        })
    }

    /// The tracked source.
    pub fn remote(&self) -> &Remote {
        &self.inner.remote
    }

    /// The scheduler the controller marks tenants on.
    pub fn scheduler(&self) -> &SchedulerHandle {
        &self.inner.scheduler
    }

    /// The branch `tenant` follows.
    pub fn branch_of(&self, tenant: &str) -> Option<&str> {
        self.inner.branches.get(tenant).map(String::as_str)
    }

    /// The owned tenants following `branch`, sorted.
    pub fn tenants_following(&self, branch: &str) -> Vec<String> {
        self.inner
            .branches
            .iter()
            .filter(|(_, b)| *b == branch)
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Fetch, then mark dirty with `reason` every tenant whose branch moved.
    ///
    /// # Errors
    /// The fetch error; it is also logged, and the heads stay where they were.
    pub async fn refresh(&self, reason: Reason) -> Result<FetchReport, remote::Error> {
        let failing_before = self
            .inner
            .remote
            .last_fetch_error()
            .is_some_and(|f| f.branch.is_none());
        match self.inner.remote.fetch().await {
            Ok(report) => {
                if failing_before {
                    // The source is back: every tenant reports again, so the error
                    // statuses of the outage are replaced even where no branch moved.
                    info!("the source can be fetched again");
                    self.inner.scheduler.mark_all(reason);
                }
                for branch in &report.moved {
                    let commit = report
                        .heads
                        .get(branch)
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    let tenants = self.tenants_following(branch);
                    info!(%reason, branch, commit, ?tenants, "branch moved");
                    for t in &tenants {
                        self.inner.scheduler.mark_dirty(t, reason);
                    }
                }
                if let Some(failure) = self.inner.remote.last_fetch_error() {
                    warn!(error = %failure.message, "fetch succeeded, but a followed branch is missing");
                }
                Ok(report)
            }
            Err(e) => {
                warn!(
                    error = %e,
                    transient = e.is_transient(),
                    "fetch failed; tenants keep the last fetched commit"
                );
                if !failing_before {
                    // The first failure of an outage: every tenant reports it (an `error`
                    // status on the commit it is kept at). Retries mark nothing more.
                    self.inner.scheduler.mark_all(reason);
                }
                if e.is_transient() {
                    self.inner.fetch_failed.notify_one();
                }
                Err(e)
            }
        }
    }

    /// A forge announced a push to `branch`: fetch, then mark dirty (with
    /// [`Reason::Webhook`]) every tenant whose branch moved. A push ferry has already
    /// fetched (through the poll or the watch, or a redelivered webhook) marks nothing.
    /// Returns the tenants following `branch`.
    ///
    /// # Errors
    /// The fetch error: then nothing is marked, and the poll picks the change up later.
    pub async fn on_push(&self, branch: &str) -> Result<Vec<String>, remote::Error> {
        let tenants = self.tenants_following(branch);
        if tenants.is_empty() {
            return Ok(tenants);
        }
        self.refresh(Reason::Webhook).await?;
        Ok(tenants)
    }

    /// A forge announced a push (the receiver checked that a tenant follows its branch):
    /// the fetch to run, as a future for the caller to spawn, or `None` when a fetch for
    /// earlier pushes is running and this push folds into the one more fetch it runs
    /// after it. Either way, every tenant whose branch moved is marked dirty with
    /// [`Reason::Webhook`] once the fetch that sees the push is done.
    pub fn push_fetch(&self) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        if !self.inner.push_fetches.request() {
            debug!("a webhook fetch is running; this push is fetched right after it");
            return None;
        }
        let this = self.clone();
        Some(async move {
            loop {
                // A failure is logged by `refresh`; the poll picks the change up later.
                let _ = this.refresh(Reason::Webhook).await;
                if !this.inner.push_fetches.finished() {
                    break;
                }
            }
        })
    }

    /// The start-up pass: fetch once (a failure is logged and the cached heads are used),
    /// then mark every owned tenant dirty with [`Reason::Startup`].
    pub async fn startup(&self) {
        let _ = self.refresh(Reason::Startup).await;
        self.inner.scheduler.mark_all(Reason::Startup);
    }

    /// Start the triggers on `lifecycle`: the poll, the file watch (for a local source when
    /// [`ControllerOptions::watch`] is set) and one drift loop per tenant with a schedule.
    /// They stop when shutdown begins. Returns the git directory being watched, if any; a
    /// watch that cannot be set up is logged and polling carries on.
    pub async fn start_triggers(&self, lifecycle: &Lifecycle) -> Option<PathBuf> {
        let poll = self.clone();
        lifecycle.spawn_until_cancelled(info_span!("poll"), async move { poll.poll_loop().await });
        for (tenant, schedule) in &self.inner.drift {
            let scheduler = self.inner.scheduler.clone();
            let t = tenant.clone();
            lifecycle.spawn_until_cancelled(
                info_span!("drift", tenant = %tenant),
                cron_loop(schedule.clone(), Utc::now, move || {
                    scheduler.mark_dirty(&t, Reason::Drift);
                }),
            );
        }
        let path = self.inner.remote.local_path()?.to_path_buf();
        if !self.inner.options.watch {
            return None;
        }
        match watch_refs(path.clone()).await {
            Ok((watcher, gitdir, mut rx)) => {
                info!(path = %gitdir.display(), "watching the source repository for new commits");
                let this = self.clone();
                let debounce = self.inner.options.watch_debounce;
                lifecycle.spawn_until_cancelled(info_span!("watch"), async move {
                    let _watcher = watcher; // dropping it stops the watch
                    while rx.recv().await.is_some() {
                        tokio::time::sleep(debounce).await;
                        while rx.try_recv().is_ok() {}
                        debug!("refs changed");
                        let _ = this.refresh(Reason::Watch).await;
                    }
                });
                Some(gitdir)
            }
            Err(message) => {
                warn!(
                    path = %path.display(),
                    error = %message,
                    "cannot watch the source repository; new commits are noticed by the poll only"
                );
                None
            }
        }
    }

    async fn poll_loop(&self) {
        let interval = self.inner.options.poll_interval;
        let retry = Backoff {
            initial: Duration::from_secs(1).min(interval),
            max: interval,
        };
        loop {
            // A transient failure of any fetch (start-up, webhook, watch or poll) is
            // retried with backoff; otherwise the next poll is one interval away.
            let wait = match self.inner.remote.last_fetch_error() {
                Some(f) if f.branch.is_none() && f.transient => retry.delay(f.consecutive),
                _ => crate::backoff::spread(interval),
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.inner.fetch_failed.notified() => continue,
            }
            let _ = self.refresh(Reason::Poll).await;
        }
    }
}

/// Fire `on_fire` at every occurrence of `schedule`, reading wall-clock time from `now`.
/// Sleeps go through `tokio::time`; an early wake-up (the wall clock stepped back) sleeps
/// again, and occurrences missed while the process was suspended fire once, not each.
pub(crate) async fn cron_loop(
    schedule: CronSchedule,
    now: impl Fn() -> DateTime<Utc>,
    on_fire: impl Fn(),
) {
    let mut after = now();
    loop {
        let Some(next) = schedule.next_after(after) else {
            warn!("the drift schedule has no future occurrence; drift checks stop");
            return;
        };
        loop {
            let current = now();
            if current >= next {
                break;
            }
            tokio::time::sleep((next - current).to_std().unwrap_or_default()).await;
        }
        debug!(at = %next, "drift schedule fired");
        on_fire();
        after = next.max(now());
    }
}

type WatchChannel = (notify::RecommendedWatcher, PathBuf, mpsc::Receiver<()>);

/// Watch the refs of the repository at `path`; every change to a branch ref sends on the
/// returned channel (coalesced: one pending signal at most).
async fn watch_refs(path: PathBuf) -> Result<WatchChannel, String> {
    tokio::task::spawn_blocking(move || {
        use notify::{RecursiveMode, Watcher};
        let repo = git2::Repository::open(&path).map_err(|e| e.message().to_owned())?;
        // Branch refs live in the common directory (shared by worktrees).
        let gitdir = repo.commondir().canonicalize().map_err(|e| e.to_string())?;
        drop(repo);
        let heads = gitdir.join("refs").join("heads");
        let (tx, rx) = mpsc::channel(1);
        let base = gitdir.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event
                    && is_change(&event.kind)
                    && event.paths.iter().any(|p| is_branch_ref(&base, p))
                {
                    let _ = tx.try_send(());
                }
            })
            .map_err(|e| e.to_string())?;
        watcher
            .watch(&gitdir, RecursiveMode::NonRecursive)
            .map_err(|e| e.to_string())?;
        watcher
            .watch(&heads, RecursiveMode::Recursive)
            .map_err(|e| e.to_string())?;
        Ok((watcher, gitdir, rx))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Whether a watch event may change a ref. Opening or reading a ref (every fetch does, so
/// do people's git commands) is not: reacting to it would fetch in a loop. Closing a file
/// written in place is.
fn is_change(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// Whether a changed path is a branch ref, `packed-refs` or `HEAD` of the git directory
/// (lock files git writes before renaming are ignored).
fn is_branch_ref(gitdir: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(gitdir) else {
        return false;
    };
    if rel.extension().is_some_and(|e| e == "lock") {
        return false;
    }
    rel.starts_with("refs/heads") || rel == Path::new("packed-refs") || rel == Path::new("HEAD")
}

/// What `ferry serve --once` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnceReport {
    /// Each tenant's outcome; a tenant missing here was not run (shutdown began first).
    pub outcomes: BTreeMap<String, ReconcileOutcome>,
    /// The tenants that were to run.
    pub tenants: Vec<String>,
}

impl OnceReport {
    /// Whether every tenant ran and succeeded.
    pub fn all_ok(&self) -> bool {
        self.tenants
            .iter()
            .all(|t| self.outcomes.get(t) == Some(&ReconcileOutcome::Ok))
    }

    /// The exit code: 0 when every tenant succeeded, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        if self.all_ok() {
            crate::daemon::lifecycle::EXIT_OK
        } else {
            crate::daemon::lifecycle::EXIT_FAILURE
        }
    }
}

/// One reconcile of every tenant in `tenants`, with at most `concurrency` at once, with
/// [`Reason::Manual`]. A tenant promoting from another of the list runs after it (in
/// waves), so that it sees what was just applied there. When `cancel` fires, no new
/// reconcile starts and the running ones finish.
pub async fn run_once<R: Reconciler>(
    reconciler: Arc<R>,
    tenants: &[config::Tenant],
    concurrency: usize,
    cancel: &CancellationToken,
) -> OnceReport {
    let mut report = OnceReport {
        tenants: tenants.iter().map(|t| t.name.clone()).collect(),
        ..OnceReport::default()
    };
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let reasons = Reasons::of(Reason::Manual);
    for wave in promotion_waves(tenants) {
        let mut set = tokio::task::JoinSet::new();
        for tenant in wave {
            if cancel.is_cancelled() {
                break;
            }
            let acquired = tokio::select! {
                p = permits.clone().acquire_owned() => p,
                () = cancel.cancelled() => break,
            };
            let Ok(permit) = acquired else { break };
            let reconciler = reconciler.clone();
            let reasons = reasons.clone();
            let span = reconcile_span(&tenant, &reasons);
            set.spawn(
                async move {
                    let _permit = permit;
                    let outcome = reconciler.reconcile(&tenant, &reasons).await;
                    match &outcome {
                        ReconcileOutcome::Ok => info!(outcome = "ok", "reconcile finished"),
                        other => warn!(
                            outcome = ?other.kind(),
                            error = other.error().unwrap_or_default(),
                            "reconcile failed"
                        ),
                    }
                    (tenant, outcome)
                }
                .instrument(span),
            );
        }
        while let Some(done) = set.join_next().await {
            if let Ok((tenant, outcome)) = done {
                report.outcomes.insert(tenant, outcome);
            }
        }
        if cancel.is_cancelled() {
            break;
        }
    }
    report
}

/// Tenants grouped so that each one comes after the tenant it promotes from (when that
/// one is in the list). A `promoteFrom` cycle, which validation refuses, puts the rest in
/// one last wave.
fn promotion_waves(tenants: &[config::Tenant]) -> Vec<Vec<String>> {
    let names: BTreeSet<&str> = tenants.iter().map(|t| t.name.as_str()).collect();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut waves = Vec::new();
    let mut left: Vec<&config::Tenant> = tenants.iter().collect();
    while !left.is_empty() {
        let (ready, blocked): (Vec<_>, Vec<_>) = left.into_iter().partition(|t| {
            t.promote_from
                .as_deref()
                .is_none_or(|from| !names.contains(from) || done.contains(from))
        });
        if ready.is_empty() {
            waves.push(blocked.iter().map(|t| t.name.clone()).collect());
            break;
        }
        done.extend(ready.iter().map(|t| t.name.as_str()));
        waves.push(ready.iter().map(|t| t.name.clone()).collect());
        left = blocked;
    }
    waves
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::config::testing::tenant;

    #[test]
    fn the_poll_interval_is_checked() {
        let mut config: config::Config =
            serde_saphyr::from_str("source: {repo: .}\ntenants: []\n").unwrap();
        let options = ControllerOptions::from_config(&config).unwrap();
        assert_eq!(options.poll_interval, Duration::from_secs(60), "default 1m");
        for (interval, error) in [
            ("500ms", "it must be at least 1s"),
            (
                "often",
                "`often` is not a duration: write it like `30s`, `1m`, `2h` or `1h30m` (units d, h, m, s, ms)",
            ),
        ] {
            config.source.interval = interval.to_owned();
            assert_eq!(
                ControllerOptions::from_config(&config)
                    .unwrap_err()
                    .to_string(),
                format!("source.interval \"{interval}\" cannot be used: {error}")
            );
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn cron_schedules_in_a_time_zone() {
        let every10 = CronSchedule::parse("*/10 * * * *", None).unwrap();
        // 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
        let berlin = CronSchedule::parse("0 9 * * *", Some("Europe/Berlin")).unwrap();
        for (schedule, after, next) in [
            (&every10, "2025-03-01T12:03:00Z", "2025-03-01T12:10:00Z"),
            (&every10, "2025-03-01T12:10:00Z", "2025-03-01T12:20:00Z"),
            (&berlin, "2025-01-15T00:00:00Z", "2025-01-15T08:00:00Z"),
            (&berlin, "2025-07-15T00:00:00Z", "2025-07-15T07:00:00Z"),
        ] {
            assert_eq!(schedule.next_after(at(after)), Some(at(next)), "{after}");
        }
    }

    #[test]
    fn cron_errors() {
        assert_eq!(
            CronSchedule::parse("0 */10 * * * *", None).unwrap_err(),
            ScheduleError::Cron("it has 6 fields, not 5".to_owned())
        );
        assert!(matches!(
            CronSchedule::parse("61 * * * *", None),
            Err(ScheduleError::Cron(_))
        ));
        assert_eq!(
            CronSchedule::parse("* * * * *", Some("Mars/Olympus")).unwrap_err(),
            ScheduleError::TimeZone("Mars/Olympus".to_owned())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_drift_loop_fires_at_each_occurrence() {
        let anchor = at("2025-03-01T12:03:00Z");
        let start = tokio::time::Instant::now();
        let clock = move || anchor + chrono::Duration::from_std(start.elapsed()).unwrap();
        let fired = Arc::new(Mutex::new(Vec::new()));
        let f = fired.clone();
        let schedule = CronSchedule::parse("*/10 * * * *", None).unwrap();
        let task = tokio::spawn(cron_loop(schedule, clock, move || {
            f.lock().unwrap().push(clock())
        }));
        tokio::time::sleep(Duration::from_secs(30 * 60)).await;
        task.abort();
        assert_eq!(
            *fired.lock().unwrap(),
            vec![
                at("2025-03-01T12:10:00Z"),
                at("2025-03-01T12:20:00Z"),
                at("2025-03-01T12:30:00Z")
            ]
        );
    }

    struct Noop;

    #[async_trait]
    impl Reconciler for Noop {
        async fn reconcile(&self, _tenant: &str, _reasons: &Reasons) -> ReconcileOutcome {
            ReconcileOutcome::Ok
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_fetch_is_retried_with_backoff_before_the_next_poll() {
        let dir = tempfile::tempdir().unwrap();
        // Port 1 on loopback refuses connections at once: a transient failure.
        let config: config::Config = serde_saphyr::from_str(
            "source: {repo: \"https://127.0.0.1:1/acme/c.git\", interval: 10m}\n\
             tenants: [{name: sandbox, platform: kizen, url: emulator}]\n",
        )
        .unwrap();
        let spec =
            crate::source::remote::RemoteSpec::from_config(&config.source, dir.path()).unwrap();
        let remote = Remote::open(spec, dir.path(), ["main".to_owned()])
            .await
            .unwrap();
        let scheduler = crate::daemon::scheduler::Scheduler::new(
            Arc::new(Noop),
            ["sandbox"],
            Default::default(),
        );
        let options = ControllerOptions::from_config(&config).unwrap();
        let controller =
            Controller::new(&config, remote.clone(), scheduler.handle(), options).unwrap();
        let lifecycle = Lifecycle::new();
        assert_eq!(
            controller.start_triggers(&lifecycle).await,
            None,
            "a remote URL is not watched"
        );
        let failures = || remote.last_fetch_error().map_or(0, |f| f.consecutive);

        tokio::time::sleep(Duration::from_secs(8 * 60)).await;
        assert_eq!(
            failures(),
            0,
            "the first poll waits one (jittered) interval"
        );
        tokio::time::sleep(Duration::from_secs(12 * 60)).await;
        let at_20_min = failures();
        assert!(
            at_20_min >= 6,
            "retries come sooner than the interval: {at_20_min}"
        );
        tokio::time::sleep(Duration::from_secs(40 * 60)).await;
        let later = failures() - at_20_min;
        assert!(
            (1..=6).contains(&later),
            "retry delays grow up to the interval: {later} in 40 min"
        );
        assert!(remote.last_fetch_error().unwrap().transient);
        lifecycle.begin_shutdown();
    }

    /// Counts reconciles per tenant.
    #[derive(Default)]
    struct Counter(Mutex<Vec<String>>);

    #[async_trait]
    impl Reconciler for Counter {
        async fn reconcile(&self, tenant: &str, _reasons: &Reasons) -> ReconcileOutcome {
            self.0.lock().unwrap().push(tenant.to_owned());
            ReconcileOutcome::Ok
        }
    }

    #[tokio::test]
    async fn a_fetch_outage_and_its_end_each_make_every_tenant_report_once() {
        let dir = tempfile::tempdir().unwrap();
        let origin = dir.path().join("origin.git");
        let repo = git2::Repository::init_bare(&origin).unwrap();
        let sig = git2::Signature::now("ferry test", "test@example.com").unwrap();
        let tree = repo
            .find_tree(repo.treebuilder(None).unwrap().write().unwrap())
            .unwrap();
        repo.commit(Some("refs/heads/main"), &sig, &sig, "start", &tree, &[])
            .unwrap();
        let config: config::Config = serde_saphyr::from_str(
            "source: {repo: origin.git, interval: 1h}\n\
             tenants: [{name: sandbox, platform: kizen, url: emulator}, {name: prod, platform: kizen, url: emulator}]\n",
        )
        .unwrap();
        let spec =
            crate::source::remote::RemoteSpec::from_config(&config.source, dir.path()).unwrap();
        let remote = Remote::open(spec, &dir.path().join("cache"), ["main".to_owned()])
            .await
            .unwrap();
        let counter = Arc::new(Counter::default());
        let scheduler = crate::daemon::scheduler::Scheduler::new(
            counter.clone(),
            ["sandbox", "prod"],
            crate::daemon::scheduler::SchedulerOptions {
                debounce: Duration::from_millis(1),
                ..Default::default()
            },
        );
        let options = ControllerOptions::from_config(&config).unwrap();
        let controller =
            Controller::new(&config, remote.clone(), scheduler.handle(), options).unwrap();
        let cancel = CancellationToken::new();
        let run = tokio::spawn(scheduler.run(cancel.clone()));
        let calls = || counter.0.lock().unwrap().len();
        let settle = || tokio::time::sleep(Duration::from_millis(300));

        controller.refresh(Reason::Poll).await.unwrap();
        settle().await;
        assert_eq!(calls(), 2, "the first fetch moves both tenants");

        let moved = dir.path().join("moved.git");
        std::fs::rename(&origin, &moved).unwrap();
        assert!(controller.refresh(Reason::Poll).await.is_err());
        settle().await;
        assert_eq!(calls(), 4, "the outage is reported by every tenant");
        assert!(controller.refresh(Reason::Poll).await.is_err());
        settle().await;
        assert_eq!(calls(), 4, "a retry during the outage marks nothing more");

        std::fs::rename(&moved, &origin).unwrap();
        controller.refresh(Reason::Poll).await.unwrap();
        settle().await;
        assert_eq!(
            calls(),
            6,
            "the end of the outage is reported although no branch moved"
        );
        cancel.cancel();
        run.await.unwrap();
    }

    #[test]
    fn reads_of_refs_are_not_changes() {
        use notify::EventKind;
        use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
        assert!(!is_change(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(!is_change(&EventKind::Access(AccessKind::Read)));
        assert!(is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(is_change(&EventKind::Modify(ModifyKind::Name(
            RenameMode::To
        ))));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
    }

    #[test]
    fn branch_refs() {
        let g = Path::new("/r/.git");
        assert!(is_branch_ref(g, Path::new("/r/.git/refs/heads/main")));
        assert!(is_branch_ref(
            g,
            Path::new("/r/.git/refs/heads/team/feature")
        ));
        assert!(is_branch_ref(g, Path::new("/r/.git/packed-refs")));
        assert!(is_branch_ref(g, Path::new("/r/.git/HEAD")));
        assert!(!is_branch_ref(g, Path::new("/r/.git/refs/heads/main.lock")));
        assert!(!is_branch_ref(g, Path::new("/r/.git/refs/notes/ferry")));
        assert!(!is_branch_ref(g, Path::new("/r/.git/objects/ab/cdef")));
        assert!(!is_branch_ref(g, Path::new("/elsewhere/refs/heads/main")));
    }

    #[test]
    fn promotion_waves_put_sources_first() {
        let tenants = [
            tenant("prod", Some("staging")),
            tenant("staging", Some("sandbox")),
            tenant("sandbox", None),
            tenant("eu", Some("elsewhere")),
        ];
        assert_eq!(
            promotion_waves(&tenants),
            vec![
                vec!["sandbox".to_owned(), "eu".to_owned()],
                vec!["staging".to_owned()],
                vec!["prod".to_owned()]
            ]
        );
        let cycle = [tenant("a", Some("b")), tenant("b", Some("a"))];
        assert_eq!(
            promotion_waves(&cycle),
            vec![vec!["a".to_owned(), "b".to_owned()]]
        );
    }

    struct Recorder {
        order: Mutex<Vec<String>>,
        fail: &'static str,
    }

    #[async_trait]
    impl Reconciler for Recorder {
        async fn reconcile(&self, tenant: &str, _reasons: &Reasons) -> ReconcileOutcome {
            tokio::time::sleep(Duration::from_millis(10)).await;
            self.order.lock().unwrap().push(tenant.to_owned());
            if tenant == self.fail {
                ReconcileOutcome::Permanent("invalid manifest".to_owned())
            } else {
                ReconcileOutcome::Ok
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn once_runs_every_tenant_sources_first_and_reports_failures() {
        let tenants = [
            tenant("prod", Some("sandbox")),
            tenant("sandbox", None),
            tenant("other", None),
        ];
        let ok = Arc::new(Recorder {
            order: Mutex::default(),
            fail: "",
        });
        let report = run_once(ok.clone(), &tenants, 4, &CancellationToken::new()).await;
        assert!(report.all_ok());
        assert_eq!(report.exit_code(), 0);
        let order = ok.order.lock().unwrap().clone();
        assert_eq!(order.len(), 3);
        assert_eq!(order.last().map(String::as_str), Some("prod"));

        let failing = Arc::new(Recorder {
            order: Mutex::default(),
            fail: "other",
        });
        let report = run_once(failing, &tenants, 1, &CancellationToken::new()).await;
        assert_eq!(report.exit_code(), 1);
        assert_eq!(
            report.outcomes.get("other"),
            Some(&ReconcileOutcome::Permanent("invalid manifest".to_owned()))
        );

        let cancelled = CancellationToken::new();
        cancelled.cancel();
        let report = run_once(ok, &tenants, 4, &cancelled).await;
        assert!(report.outcomes.is_empty());
        assert_eq!(
            report.exit_code(),
            1,
            "tenants that did not run are a failure"
        );
    }
}
