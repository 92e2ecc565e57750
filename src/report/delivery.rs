//! Delivery that loses nothing and spams nobody: the [`Deliverer`] owns the reporters, the
//! notification receivers and the outbox.
//!
//! `submit` records a status for every reporter, skips reporters that already show it,
//! and tries the rest at once. What a forge could not take (unreachable, 5xx, rate
//! limited) stays in the outbox and is retried by `drain` with exponential backoff and
//! jitter, or at the time the forge asked for (`Retry-After`, `X-RateLimit-Reset`), across
//! restarts. What a forge refused for good (401, 403, 404, 422) is logged once and
//! dropped. Deliveries of one (reporter, commit, context) slot are serialized, and each
//! attempt sends the newest status of its slot, so a forge never ends on an older one.
//!
//! Notices for receivers (Slack, Teams, webhooks, Alertmanager) take the same path: the
//! notify room records them in the outbox (in the transaction that records the condition
//! they report) and calls [`Deliverer::deliver_to`]. One receiver's notices are sent one
//! at a time, in the order they were made; a notice over the receiver's rate limit waits
//! in the outbox until the budget allows it (none is dropped).
//!
//! Time comes from `tokio::time`, anchored to the wall clock when the `Deliverer` is
//! made, so tests drive retries with a paused clock. This module does not build requests
//! (the reporters do) and does not run its own loop: the daemon calls `drain`, and
//! `serve --once` calls `flush` before it exits.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::error::{ReportError, Result, RetryAt};
use super::limit::Bucket;
use super::notice::{RECEIVER_ID_PREFIX, Receiver};
use super::outbox::{self, Enqueued, Message, OutboxDb, OutboxItem, OutboxKey, Outcome};
use super::reporter::{Reporter, check_sha};
use super::status::CommitStatus;
use crate::backoff::Backoff;

/// Log at `$level` with the destination as `forge = …` (a commit status) or
/// `receiver = …` (a notification), the outbox row `$key` names (`reporter`, `sha`,
/// `context`), then the given fields and message.
macro_rules! log_to {
    ($level:ident, $label:expr, $key:expr, $($rest:tt)*) => {
        if $label.notice {
            tracing::$level!(receiver = %$label.name, reporter = %$key.reporter, sha = %$key.sha, context = %$key.context, $($rest)*)
        } else {
            tracing::$level!(forge = %$label.name, reporter = %$key.reporter, sha = %$key.sha, context = %$key.context, $($rest)*)
        }
    };
}

/// Most outbox items one `drain` looks at.
const DRAIN_BATCH: usize = 1000;

/// How long delivery records are kept (older commits re-post once if reconciled again).
const DELIVERED_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Exponential backoff for statuses a forge could not take (1 s doubling to 5 min by
/// default): ferry's one retry policy, [`Backoff`].
pub type RetryPolicy = Backoff;

/// What a `submit` or `drain` did, per reporter and status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Statuses the forges took.
    pub delivered: usize,
    /// Statuses a reporter already showed; nothing was sent.
    pub unchanged: usize,
    /// Statuses left in the outbox for a later `drain`.
    pub queued: usize,
    /// Statuses refused for good, logged and dropped.
    pub dropped: usize,
}

impl DeliveryReport {
    fn add(&mut self, other: DeliveryReport) {
        self.delivered += other.delivered;
        self.unchanged += other.unchanged;
        self.queued += other.queued;
        self.dropped += other.dropped;
    }
}

/// What [`Deliverer::flush`] could not deliver: statuses still waiting in the outbox, and
/// statuses refused for good since the `Deliverer` started, per reporter with the last
/// reason given. Its `Display` says how many and why, in one line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Undelivered {
    /// Per reporter id: (waiting, refused, last reason).
    pub by_reporter: BTreeMap<String, (u64, u64, Option<String>)>,
}

impl Undelivered {
    /// How many statuses were not delivered.
    pub fn count(&self) -> u64 {
        self.by_reporter.values().map(|(w, r, _)| w + r).sum()
    }
}

impl std::fmt::Display for Undelivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.count();
        let notices = self
            .by_reporter
            .keys()
            .filter(|id| id.starts_with(RECEIVER_ID_PREFIX))
            .count();
        let what = match (notices, self.by_reporter.len() - notices) {
            (0, _) if n == 1 => "commit status was",
            (0, _) => "commit statuses were",
            (_, 0) if n == 1 => "notification was",
            (_, 0) => "notifications were",
            _ => "commit statuses and notifications were",
        };
        write!(f, "{n} {what} not delivered")?;
        for (i, (reporter, (waiting, refused, reason))) in self.by_reporter.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{reporter}: ")?;
            match (*waiting, *refused) {
                (w, 0) => write!(f, "{w} waiting in the outbox")?,
                (0, r) => write!(f, "{r} refused")?,
                (w, r) => write!(f, "{w} waiting in the outbox, {r} refused")?,
            }
            if let Some(reason) = reason {
                write!(f, " ({reason})")?;
            }
        }
        Ok(())
    }
}

/// Wall-clock milliseconds that advance with `tokio::time`.
#[derive(Debug, Clone, Copy)]
struct Clock {
    base_ms: i64,
    base: tokio::time::Instant,
}

impl Clock {
    fn new() -> Self {
        let base_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Clock {
            base_ms,
            base: tokio::time::Instant::now(),
        }
    }

    fn now_ms(&self) -> i64 {
        self.base_ms + self.base.elapsed().as_millis() as i64
    }
}

/// Owns the reporters and the outbox. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Deliverer {
    inner: Arc<Inner>,
    policy: RetryPolicy,
}

#[derive(Debug)]
struct Inner {
    reporters: Vec<(String, Arc<dyn Reporter>)>,
    receivers: Vec<(String, Arc<dyn Receiver>)>,
    /// Per receiver: its message budget.
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Per receiver: one turn at a time, so its notices leave in order.
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    db: OutboxDb,
    clock: Clock,
    /// One async lock per slot being worked on.
    slots: Mutex<HashMap<OutboxKey, Arc<tokio::sync::Mutex<()>>>>,
    /// Reporters a forge rate-limited, until this Unix time in milliseconds.
    blocked: Mutex<HashMap<String, i64>>,
    /// Per reporter: statuses refused for good since start, and the last refusal.
    refused: Mutex<BTreeMap<String, (u64, String)>>,
}

enum Attempt {
    Delivered,
    Retrying,
    Dropped,
    /// Nothing (left) to send for this slot.
    Nothing,
    /// The slot's message waits for a later time (put off by another attempt).
    NotDue,
}

/// Where an outbox row goes.
#[derive(Debug, Clone)]
enum Destination {
    Reporter(Arc<dyn Reporter>),
    Receiver(Arc<dyn Receiver>),
}

impl Deliverer {
    /// Open the SQLite state store at `path` (creating the outbox tables) and deliver to
    /// `reporters`.
    ///
    /// Refusals recorded before this start are forgotten, so a status refused with a bad
    /// token is tried once more after the token is fixed and ferry restarted.
    ///
    /// # Errors
    /// [`ReportError::Store`] when the store cannot be opened or migrated.
    pub async fn open(path: &Path, reporters: Vec<Box<dyn Reporter>>) -> Result<Self> {
        let path = path.to_path_buf();
        let db = tokio::task::spawn_blocking(move || OutboxDb::open(&path))
            .await
            .map_err(|e| ReportError::task("open the state store", e))??;
        Self::with_db(db, reporters, Vec::new()).await
    }

    /// Deliver to `reporters` with the outbox in a connection the state store owns (its
    /// migration runner has applied [`outbox::MIGRATIONS`]).
    ///
    /// # Errors
    /// [`ReportError::Store`] when the outbox cannot be read.
    pub async fn new(
        conn: Arc<Mutex<Connection>>,
        reporters: Vec<Box<dyn Reporter>>,
    ) -> Result<Self> {
        Self::with_db(OutboxDb::new(conn), reporters, Vec::new()).await
    }

    /// [`Deliverer::new`] that also delivers notices to `receivers`.
    ///
    /// # Errors
    /// [`ReportError::Store`] when the outbox cannot be read.
    pub async fn with_receivers(
        conn: Arc<Mutex<Connection>>,
        reporters: Vec<Box<dyn Reporter>>,
        receivers: Vec<Arc<dyn Receiver>>,
    ) -> Result<Self> {
        Self::with_db(OutboxDb::new(conn), reporters, receivers).await
    }

    async fn with_db(
        db: OutboxDb,
        reporters: Vec<Box<dyn Reporter>>,
        receivers: Vec<Arc<dyn Receiver>>,
    ) -> Result<Self> {
        db.run("forget refused statuses", outbox::forget_rejected)
            .await?;
        let reporters = reporters
            .into_iter()
            .map(|r| {
                let r: Arc<dyn Reporter> = Arc::from(r);
                (r.id(), r)
            })
            .collect();
        let receivers = receivers.into_iter().map(|r| (r.id(), r)).collect();
        Ok(Deliverer {
            inner: Arc::new(Inner {
                reporters,
                receivers,
                buckets: Mutex::new(HashMap::new()),
                turns: Mutex::new(HashMap::new()),
                db,
                clock: Clock::new(),
                slots: Mutex::new(HashMap::new()),
                blocked: Mutex::new(HashMap::new()),
                refused: Mutex::new(BTreeMap::new()),
            }),
            policy: RetryPolicy::default(),
        })
    }

    /// Use this backoff instead of the default (1 s doubling up to 5 min).
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Report `status` on commit `sha` through every reporter: record it in the outbox,
    /// skip reporters that already show exactly this status, and try the others now
    /// (reporters in parallel). Failures do not fail the call: transient ones stay queued
    /// for [`Deliverer::drain`], permanent ones are logged and dropped.
    ///
    /// # Errors
    /// [`ReportError::InvalidSha`] for a `sha` that is not a full object id;
    /// [`ReportError::Store`] when the outbox cannot be written (nothing was sent then).
    pub async fn submit(&self, sha: &str, status: &CommitStatus) -> Result<DeliveryReport> {
        check_sha(sha)?;
        let report = self.submit_all(sha, status).await;
        self.record_depth().await;
        report
    }

    async fn submit_all(&self, sha: &str, status: &CommitStatus) -> Result<DeliveryReport> {
        let mut tasks = JoinSet::new();
        for (id, reporter) in &self.inner.reporters {
            let inner = self.inner.clone();
            let policy = self.policy;
            let reporter = reporter.clone();
            let key = OutboxKey {
                reporter: id.clone(),
                sha: sha.to_owned(),
                context: status.context.clone(),
            };
            let status = status.clone();
            let span = tracing::debug_span!("report", reporter = %key.reporter, sha = %key.sha, context = %key.context);
            tasks.spawn(
                async move {
                    inner
                        .submit_one(Destination::Reporter(reporter), key, status, policy)
                        .await
                }
                .instrument(span),
            );
        }
        join_all(tasks, DeliveryReport::default(), "submit a status").await
    }

    /// Retry every waiting status that is due, oldest first; reporters in parallel, one
    /// request at a time per reporter, and a reporter's turn ends at its first transient
    /// failure (its other statuses wait for the next drain). Statuses of reporters no
    /// longer configured are dropped. Call it on start and periodically (see
    /// [`Deliverer::next_due`]).
    ///
    /// # Errors
    /// [`ReportError::Store`] when the outbox cannot be read or written.
    pub async fn drain(&self) -> Result<DeliveryReport> {
        let report = self.drain_due(None).await;
        self.record_depth().await;
        report
    }

    /// [`Deliverer::drain`] for the receivers `ids` only ([`Receiver::id`]): what the
    /// notify room calls right after recording their notices. The report's `queued` is
    /// how many of their messages still wait, due or not.
    ///
    /// # Errors
    /// [`ReportError::Store`] when the outbox cannot be read or written.
    pub(crate) async fn deliver_to(&self, ids: &[String]) -> Result<DeliveryReport> {
        let mut report = self.drain_due(Some(ids)).await?;
        let ids = ids.to_vec();
        report.queued = self
            .inner
            .db
            .run("count waiting notices", move |c| {
                ids.iter()
                    .map(|id| outbox::waiting_for(c, id))
                    .sum::<rusqlite::Result<u64>>()
            })
            .await? as usize;
        self.record_depth().await;
        Ok(report)
    }

    /// Now, in Unix milliseconds, on the clock the outbox schedules by.
    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Publish the outbox depth on `ferry_status_outbox_depth` (a failed count is logged
    /// and leaves the gauge as it was).
    async fn record_depth(&self) {
        match self.pending_count().await {
            Ok(n) => crate::metrics::get().set_outbox_depth(i64::try_from(n).unwrap_or(i64::MAX)),
            Err(e) => tracing::debug!(error = %e, "cannot count the outbox for its metric"),
        }
    }

    async fn drain_due(&self, only: Option<&[String]>) -> Result<DeliveryReport> {
        let now = self.inner.clock.now_ms();
        let retention = now - DELIVERED_RETENTION.as_millis() as i64;
        self.inner
            .db
            .run("forget old delivery records", move |c| {
                outbox::prune_delivered(c, retention)
            })
            .await?;
        let items = self
            .inner
            .db
            .run("read the outbox", move |c| outbox::due(c, now, DRAIN_BATCH))
            .await?;

        let mut by_reporter: HashMap<String, Vec<OutboxItem>> = HashMap::new();
        for item in items {
            if only.is_some_and(|ids| !ids.contains(&item.key.reporter)) {
                continue;
            }
            by_reporter
                .entry(item.key.reporter.clone())
                .or_default()
                .push(item);
        }
        let mut report = DeliveryReport::default();
        let mut tasks = JoinSet::new();
        for (id, items) in by_reporter {
            let Some(destination) = self.inner.destination(&id) else {
                let dropped = items.len();
                let gone = id.clone();
                self.inner
                    .db
                    .run("drop statuses of a removed reporter", move |c| {
                        outbox::remove_reporter(c, &gone)
                    })
                    .await?;
                tracing::warn!(reporter = %id, dropped, "statuses waiting for a reporter that is no longer configured were dropped");
                report.dropped += dropped;
                continue;
            };
            let inner = self.inner.clone();
            let policy = self.policy;
            let span = tracing::debug_span!("report_drain", reporter = %id);
            tasks.spawn(
                async move { inner.drain_reporter(destination, items, policy).await }
                    .instrument(span),
            );
        }
        join_all(tasks, report, "drain the outbox").await
    }

    /// Retry waiting statuses as they fall due (as [`Deliverer::drain`] does) until the
    /// outbox is empty or `within` has passed, then say what was not delivered: what still
    /// waits, and what was refused for good since this `Deliverer` started. An attempt
    /// still running at the deadline is left behind (its status stays in the outbox).
    /// For `serve --once`, which has no background drain.
    ///
    /// # Errors
    /// [`ReportError::Store`] when the outbox cannot be read or written.
    pub async fn flush(&self, within: Duration) -> Result<Undelivered> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.drain()).await {
                Ok(report) => {
                    report?;
                }
                Err(_) => break,
            }
            let wait = match self.next_due().await? {
                None => break,
                Some(wait) => wait,
            };
            if tokio::time::Instant::now() + wait >= deadline {
                // Nothing falls due before the deadline.
                break;
            }
            tokio::time::sleep(wait).await;
        }
        self.undelivered().await
    }

    /// What is not delivered now: statuses waiting in the outbox, and those refused for
    /// good since this `Deliverer` started.
    ///
    /// # Errors
    /// [`ReportError::Store`] when the outbox cannot be read.
    pub async fn undelivered(&self) -> Result<Undelivered> {
        let waiting = self
            .inner
            .db
            .run("read the outbox", outbox::waiting_by_reporter)
            .await?;
        let mut undelivered = Undelivered::default();
        for (reporter, count, reason) in waiting {
            undelivered.by_reporter.insert(reporter, (count, 0, reason));
        }
        let refused = self
            .inner
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for (reporter, (count, reason)) in refused {
            let entry = undelivered
                .by_reporter
                .entry(reporter)
                .or_insert((0, 0, None));
            entry.1 += count;
            entry.2.get_or_insert(reason);
        }
        Ok(undelivered)
    }

    /// How many statuses wait in the outbox (for the outbox-depth metric).
    ///
    /// # Errors
    /// [`ReportError::Store`] when the outbox cannot be read.
    pub async fn pending_count(&self) -> Result<u64> {
        self.inner.db.run("count the outbox", outbox::count).await
    }

    /// Deliver statuses waiting in the outbox, when they are due, until `stop` fires (the
    /// daemon's outbox task). `queued` is notified when a status is left in the outbox, so
    /// that its first retry comes when it is due, not at the next idle check.
    pub async fn drain_until(self, queued: Arc<Notify>, stop: CancellationToken) {
        loop {
            match self.drain().await {
                Ok(r) if r.delivered > 0 => {
                    tracing::info!(
                        delivered = r.delivered,
                        "delivered what waited in the outbox"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "draining the status outbox failed"),
            }
            let wait = match self.next_due().await {
                Ok(Some(d)) => d.clamp(Duration::from_millis(200), Duration::from_secs(30)),
                _ => Duration::from_secs(30),
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
                () = queued.notified() => {}
            }
        }
    }

    /// How long until the earliest waiting status is due (zero when one is due now), or
    /// `None` when the outbox is empty.
    ///
    /// # Errors
    /// [`ReportError::Store`] when the outbox cannot be read.
    pub async fn next_due(&self) -> Result<Option<Duration>> {
        let next = self
            .inner
            .db
            .run("read the outbox", outbox::next_due)
            .await?;
        let now = self.inner.clock.now_ms();
        Ok(next.map(|due| Duration::from_millis((due - now).max(0) as u64)))
    }
}

impl Inner {
    fn destination(&self, id: &str) -> Option<Destination> {
        let reporter = self.reporters.iter().find(|(rid, _)| rid == id);
        if let Some((_, r)) = reporter {
            return Some(Destination::Reporter(r.clone()));
        }
        self.receivers
            .iter()
            .find(|(rid, _)| rid == id)
            .map(|(_, r)| Destination::Receiver(r.clone()))
    }

    fn turn(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
        turns.entry(id.to_owned()).or_default().clone()
    }

    /// Take one message from `receiver`'s budget: `None` when it may be sent now, else
    /// how many milliseconds until it may.
    fn spend(&self, receiver: &dyn Receiver, id: &str, now: i64) -> Option<i64> {
        let limit = receiver.rate_limit()?;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets
            .entry(id.to_owned())
            .or_insert_with(|| Bucket::full(limit, now))
            .take(limit, now)
    }

    fn slot(&self, key: &OutboxKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(key.clone()).or_default().clone()
    }

    /// Forget the slot's lock when nobody else holds or waits for it.
    fn release_slot(&self, key: &OutboxKey, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(&lock) == 2 {
            slots.remove(key);
        }
    }

    fn blocked_until(&self, reporter: &str, now: i64) -> Option<i64> {
        let blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        blocked.get(reporter).copied().filter(|until| *until > now)
    }

    fn block(&self, reporter: &str, until: i64) {
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        blocked.insert(reporter.to_owned(), until);
    }

    async fn submit_one(
        &self,
        reporter: Destination,
        key: OutboxKey,
        status: CommitStatus,
        policy: RetryPolicy,
    ) -> Result<DeliveryReport> {
        let lock = self.slot(&key);
        let result = {
            let _held = lock.lock().await;
            self.submit_locked(&reporter, &key, status, policy).await
        };
        self.release_slot(&key, lock);
        result
    }

    async fn submit_locked(
        &self,
        reporter: &Destination,
        key: &OutboxKey,
        status: CommitStatus,
        policy: RetryPolicy,
    ) -> Result<DeliveryReport> {
        let now = self.clock.now_ms();
        let k = key.clone();
        let message = Message::Status(status);
        let enqueued = self
            .db
            .run("record a status in the outbox", move |c| {
                outbox::enqueue(c, &k, &message, now)
            })
            .await?;
        let mut report = DeliveryReport::default();
        match enqueued {
            Enqueued::Unchanged => {
                tracing::debug!(reporter = %key.reporter, sha = %key.sha, context = %key.context, "status unchanged; not sent");
                report.unchanged += 1;
            }
            Enqueued::Queued { due_at_ms }
                if due_at_ms > now || self.blocked_until(&key.reporter, now).is_some() =>
            {
                report.queued += 1;
            }
            Enqueued::Queued { .. } => match self.attempt_locked(reporter, key, policy, now).await?
            {
                Attempt::Delivered => report.delivered += 1,
                Attempt::Retrying => report.queued += 1,
                Attempt::Dropped => report.dropped += 1,
                Attempt::Nothing => report.unchanged += 1,
                Attempt::NotDue => report.queued += 1,
            },
        }
        Ok(report)
    }

    async fn drain_reporter(
        &self,
        reporter: Destination,
        items: Vec<OutboxItem>,
        policy: RetryPolicy,
    ) -> Result<DeliveryReport> {
        // A receiver's notices go one turn at a time, in order; a turn ends at the first
        // notice that cannot go now, so that no younger one overtakes it.
        let in_order = matches!(reporter, Destination::Receiver(_));
        let turn = in_order.then(|| self.turn(&items[0].key.reporter));
        let _turn = match &turn {
            Some(t) => Some(t.lock().await),
            None => None,
        };
        let mut report = DeliveryReport::default();
        let mut remaining = items.len();
        for item in items {
            let now = self.clock.now_ms();
            if self.blocked_until(&item.key.reporter, now).is_some() {
                report.queued += remaining;
                break;
            }
            remaining -= 1;
            let lock = self.slot(&item.key);
            let attempt = {
                let _held = lock.lock().await;
                self.attempt_locked(&reporter, &item.key, policy, now).await
            };
            self.release_slot(&item.key, lock);
            match attempt? {
                Attempt::Delivered => report.delivered += 1,
                Attempt::Dropped => report.dropped += 1,
                Attempt::Nothing => {}
                Attempt::NotDue if !in_order => {}
                Attempt::NotDue | Attempt::Retrying => {
                    report.queued += 1 + remaining;
                    break;
                }
            }
        }
        Ok(report)
    }

    /// Send the newest waiting message of `key` if it is due. The slot lock is held.
    async fn attempt_locked(
        &self,
        destination: &Destination,
        key: &OutboxKey,
        policy: RetryPolicy,
        now: i64,
    ) -> Result<Attempt> {
        let k = key.clone();
        let Some(item) = self
            .db
            .run("read the outbox", move |c| outbox::get(c, &k))
            .await?
        else {
            return Ok(Attempt::Nothing);
        };
        if item.due_at_ms > now {
            return Ok(Attempt::NotDue);
        }
        let label = Label::of(destination);
        let sent = match (destination, &item.message) {
            (Destination::Reporter(reporter), Message::Status(status)) => {
                reporter.post(&key.sha, status).await
            }
            (Destination::Receiver(receiver), Message::Notice(notice)) => {
                if !notice.heartbeat
                    && let Some(wait) = self.spend(receiver.as_ref(), &key.reporter, now)
                {
                    return self.hold(item, &label, wait, now).await;
                }
                receiver.send(notice).await
            }
            _ => {
                tracing::warn!(reporter = %key.reporter, context = %key.context, "an outbox row does not fit its destination (a status for a receiver, or a notice for a forge); dropped");
                let done_at = self.clock.now_ms();
                self.db
                    .run("drop a misrouted row", move |c| {
                        outbox::finish(c, &item, Outcome::Rejected(None), done_at)
                    })
                    .await?;
                return Ok(Attempt::Dropped);
            }
        };
        match sent {
            Ok(()) => {
                let done_at = self.clock.now_ms();
                self.db
                    .run("record a delivery", move |c| {
                        outbox::finish(c, &item, Outcome::Delivered, done_at)
                    })
                    .await?;
                log_to!(debug, label, key, "{} delivered", label.noun);
                label.record("delivered");
                Ok(Attempt::Delivered)
            }
            Err(err) if err.is_transient() => {
                let now = self.clock.now_ms();
                let attempts = item.attempts.saturating_add(1);
                let delay = match err.retry_at() {
                    Some(RetryAt::After(d)) => d.as_millis() as i64,
                    Some(RetryAt::AtEpochSeconds(at)) => (at.saturating_mul(1000) - now).max(0),
                    None => policy.delay(attempts).as_millis() as i64,
                };
                let due = now + delay;
                if err.is_rate_limited() {
                    self.block(&key.reporter, due);
                }
                let message = err.to_string();
                log_to!(
                    warn,
                    label,
                    key,
                    attempt = attempts,
                    retry_in_ms = delay,
                    error = %message,
                    "{} not delivered; kept in the outbox",
                    label.noun
                );
                label.record("deferred");
                self.db
                    .run("schedule a retry", move |c| {
                        outbox::reschedule(c, &item, attempts, due, &message)
                    })
                    .await?;
                Ok(Attempt::Retrying)
            }
            Err(err) => {
                log_to!(
                    error,
                    label,
                    key,
                    error = %err,
                    "{} refused; not retried",
                    label.noun
                );
                label.record("refused");
                {
                    let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
                    let entry = refused
                        .entry(key.reporter.clone())
                        .or_insert((0, String::new()));
                    entry.0 += 1;
                    entry.1 = err.to_string();
                }
                let done_at = self.clock.now_ms();
                let code = err.http_status();
                self.db
                    .run("record a refusal", move |c| {
                        outbox::finish(c, &item, Outcome::Rejected(code), done_at)
                    })
                    .await?;
                Ok(Attempt::Dropped)
            }
        }
    }

    /// Keep a notice over its receiver's budget in the outbox for `wait_ms`, and pause the
    /// receiver until then (its younger notices wait behind it).
    async fn hold(
        &self,
        item: OutboxItem,
        label: &Label,
        wait_ms: i64,
        now: i64,
    ) -> Result<Attempt> {
        let due = now + wait_ms;
        self.block(&item.key.reporter, due);
        tracing::info!(
            receiver = %label.name,
            context = %item.key.context,
            retry_in_ms = wait_ms,
            "notification held back by the receiver's rateLimit; it waits in the outbox"
        );
        label.record("limited");
        let attempts = item.attempts;
        self.db
            .run("hold a notice back", move |c| {
                outbox::reschedule(
                    c,
                    &item,
                    attempts,
                    due,
                    "held back by the receiver's rateLimit",
                )
            })
            .await?;
        Ok(Attempt::Retrying)
    }
}

/// Who a message goes to, for logs and metrics.
struct Label {
    /// `commit status` or `notification`.
    noun: &'static str,
    /// The forge (`github`, …) or the receiver's configured name.
    name: String,
    notice: bool,
}

impl Label {
    fn of(destination: &Destination) -> Self {
        match destination {
            Destination::Reporter(r) => Label {
                noun: "commit status",
                name: r.name().to_owned(),
                notice: false,
            },
            Destination::Receiver(r) => Label {
                noun: "notification",
                name: r.name().to_owned(),
                notice: true,
            },
        }
    }

    fn record(&self, outcome: &'static str) {
        if self.notice {
            crate::metrics::get().notification(&self.name, outcome);
        } else {
            crate::metrics::get().status_delivery(&self.name, outcome);
        }
    }
}

/// Wait for every task of `tasks` and add what each delivered to `report`. The first
/// error (a failed delivery, or a task that panicked while doing `what`) wins, once every
/// task has finished.
async fn join_all(
    mut tasks: JoinSet<Result<DeliveryReport>>,
    mut report: DeliveryReport,
    what: &'static str,
) -> Result<DeliveryReport> {
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(r)) => report.add(r),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(ReportError::task(what, e));
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;

    /// A forge that answers 503 to the first `failures` posts and takes the others, or
    /// refuses every post with 401.
    #[derive(Debug)]
    struct Forge {
        id: &'static str,
        failures: usize,
        refuse: bool,
        /// Posts so far, shared with the test.
        posts: Arc<AtomicUsize>,
    }

    impl Forge {
        fn boxed(id: &'static str, failures: usize, refuse: bool) -> Box<dyn Reporter> {
            Box::new(Forge {
                id,
                failures,
                refuse,
                posts: Arc::new(AtomicUsize::new(0)),
            })
        }
    }

    #[async_trait]
    impl Reporter for Forge {
        fn name(&self) -> &str {
            "github"
        }

        fn id(&self) -> String {
            self.id.to_owned()
        }

        async fn post(&self, _sha: &str, _status: &CommitStatus) -> Result<()> {
            let n = self.posts.fetch_add(1, Ordering::SeqCst);
            if self.refuse {
                Err(ReportError::Unauthorized {
                    forge: "github",
                    repo: "o/r".to_owned(),
                    status: 401,
                    message: "Bad credentials".to_owned(),
                })
            } else if n < self.failures {
                Err(ReportError::ServerError {
                    forge: "github",
                    repo: "o/r".to_owned(),
                    status: 503,
                    message: "Service Unavailable".to_owned(),
                })
            } else {
                Ok(())
            }
        }
    }

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[tokio::test(start_paused = true)]
    async fn flush_retries_until_delivered_within_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let d = Deliverer::open(&dir.path().join("s.db"), vec![Forge::boxed("a", 3, false)])
            .await
            .unwrap();
        let report = d
            .submit(SHA, &CommitStatus::in_sync("sandbox", 1, 0))
            .await
            .unwrap();
        assert_eq!(report.queued, 1);
        // Retries come after about 1, 2 and 4 s.
        let left = d.flush(Duration::from_secs(60)).await.unwrap();
        assert_eq!(left.count(), 0, "{left}");
        assert_eq!(d.pending_count().await.unwrap(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn flush_says_how_many_stayed_undelivered_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let d = Deliverer::open(
            &dir.path().join("s.db"),
            vec![
                Forge::boxed("down", usize::MAX, false),
                Forge::boxed("refusing", 0, true),
            ],
        )
        .await
        .unwrap();
        d.submit(SHA, &CommitStatus::in_sync("sandbox", 1, 0))
            .await
            .unwrap();
        d.submit(SHA, &CommitStatus::in_sync("prod", 2, 0))
            .await
            .unwrap();
        let left = d.flush(Duration::from_secs(10)).await.unwrap();
        assert_eq!(left.count(), 4);
        assert_eq!(
            left.to_string(),
            "4 commit statuses were not delivered: \
             down: 2 waiting in the outbox (github answered 503 for o/r: Service Unavailable; ferry keeps the status in its outbox and retries); \
             refusing: 2 refused (github refused the token for o/r (401): Bad credentials; check that the token is valid and may write commit statuses, then restart ferry)"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_below_the_ceiling() {
        let policy = RetryPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        assert_eq!(policy.ceiling(1), Duration::from_secs(1));
        assert_eq!(policy.ceiling(2), Duration::from_secs(2));
        assert_eq!(policy.ceiling(4), Duration::from_secs(8));
        assert_eq!(policy.ceiling(10), Duration::from_secs(60));
        assert_eq!(policy.ceiling(u32::MAX), Duration::from_secs(60));
        for attempt in 1..12 {
            let d = policy.delay(attempt);
            assert!(d <= policy.ceiling(attempt), "{d:?}");
            assert!(d >= policy.ceiling(attempt) / 2, "{d:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_status_left_in_the_outbox_is_retried_when_due() {
        let dir = tempfile::tempdir().unwrap();
        let posts = Arc::new(AtomicUsize::new(0));
        let flaky = Forge {
            id: "github",
            failures: 1,
            refuse: false,
            posts: posts.clone(),
        };
        let deliverer = Deliverer::open(&dir.path().join("state.db"), vec![Box::new(flaky)])
            .await
            .unwrap();
        let queued = Arc::new(Notify::new());
        let stop = CancellationToken::new();
        let drain = tokio::spawn(deliverer.clone().drain_until(queued.clone(), stop.clone()));
        // The loop has found the outbox empty and waits.
        tokio::time::sleep(Duration::from_secs(1)).await;

        let sha = "0123456789abcdef0123456789abcdef01234567";
        let report = deliverer
            .submit(sha, &CommitStatus::in_sync("sandbox", 1, 0))
            .await
            .unwrap();
        assert_eq!(report.queued, 1);
        queued.notify_one();
        let start = tokio::time::Instant::now();
        while deliverer.pending_count().await.unwrap() > 0 {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the first retry (due after about a second) has not come"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(posts.load(Ordering::SeqCst), 2);
        stop.cancel();
        drain.await.unwrap();
    }

    /// A receiver that records what it was sent, in order.
    #[derive(Debug)]
    struct Channel {
        limit: crate::report::RateLimit,
        got: Arc<Mutex<Vec<(String, tokio::time::Instant)>>>,
    }

    #[async_trait]
    impl Receiver for Channel {
        fn kind(&self) -> &'static str {
            "slack"
        }

        fn name(&self) -> &str {
            "chat"
        }

        fn rate_limit(&self) -> Option<crate::report::RateLimit> {
            Some(self.limit)
        }

        async fn send(&self, notice: &crate::report::Notice) -> Result<()> {
            self.got
                .lock()
                .unwrap()
                .push((notice.key.clone(), tokio::time::Instant::now()));
            Ok(())
        }
    }

    fn notice(key: &str, heartbeat: bool) -> Message {
        Message::Notice(crate::report::Notice {
            key: key.to_owned(),
            summary: key.to_owned(),
            body: "{}".to_owned(),
            heartbeat,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn notices_over_the_rate_limit_wait_their_turn_and_heartbeats_do_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let channel: Arc<dyn Receiver> = Arc::new(Channel {
            limit: crate::report::RateLimit {
                messages: 2,
                per: Duration::from_secs(60),
            },
            got: got.clone(),
        });
        let db = OutboxDb::open(&dir.path().join("s.db")).unwrap();
        let d = Deliverer::with_db(db, Vec::new(), vec![channel.clone()])
            .await
            .unwrap();
        let id = channel.id();
        let start = tokio::time::Instant::now();
        let now = d.now_ms();
        for (key, heartbeat) in [
            ("one", false),
            ("two", false),
            ("beat", true),
            ("three", false),
        ] {
            let k = OutboxKey {
                reporter: id.clone(),
                sha: SHA.to_owned(),
                context: key.to_owned(),
            };
            let m = notice(key, heartbeat);
            d.inner
                .db
                .run("enqueue", move |c| outbox::enqueue(c, &k, &m, now))
                .await
                .unwrap();
        }
        let report = d.deliver_to(std::slice::from_ref(&id)).await.unwrap();
        assert_eq!(report.delivered, 3, "two notices and the heartbeat");
        assert_eq!(report.queued, 1, "the third notice waits");
        let left = d.flush(Duration::from_secs(120)).await.unwrap();
        assert_eq!(left.count(), 0, "{left}");
        let got = got.lock().unwrap().clone();
        let order: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(order, ["one", "two", "beat", "three"]);
        // Two per minute: the third waits for half a minute.
        let waited = got[3].1 - start;
        assert!(
            waited >= Duration::from_secs(30) && waited < Duration::from_secs(32),
            "{waited:?}"
        );
        let metrics = crate::metrics::get().encode();
        assert!(
            metrics.contains("ferry_notifications_total{receiver=\"chat\",outcome=\"limited\"}"),
            "{metrics}"
        );
    }
}
