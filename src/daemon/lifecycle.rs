//! The daemon's lifecycle: one root cancellation token, one task tracker, signals, and the
//! shutdown sequence.
//!
//! Every long-lived task of `ferry serve` is spawned through [`Lifecycle`], instrumented
//! with a span, and tracked. On the first SIGINT or SIGTERM the root token is cancelled:
//! triggers stop, the scheduler starts nothing new, and the in-flight reconciles get the
//! grace period to finish ([`Lifecycle::drain`]). A second signal ends the wait at once.
//!
//! This module must not know what the tasks do; it only starts, stops and waits for them.
//! Exit codes: [`EXIT_OK`] clean shutdown, [`EXIT_FAILURE`] the grace period ran out with
//! work still running, [`EXIT_CONFIG`] a configuration or usage error before any work
//! started, [`EXIT_INTERRUPTED`] a second signal.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, Span};

/// Clean exit.
pub const EXIT_OK: u8 = 0;
/// Work failed, or was cut short by the end of the grace period.
pub const EXIT_FAILURE: u8 = 1;
/// Configuration or usage error, before any port was bound or work started.
pub const EXIT_CONFIG: u8 = 64;
/// A second signal ended the shutdown at once (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The root cancellation token and the tracker of every spawned task. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    cancel: CancellationToken,
    tracker: TaskTracker,
}

/// How a shutdown ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Every tracked task finished within the grace period.
    Clean,
    /// The grace period ran out while tasks were still running.
    GraceExpired,
    /// A second signal arrived while waiting.
    Interrupted,
}

impl Shutdown {
    /// The process exit code for this ending.
    pub fn exit_code(self) -> u8 {
        match self {
            Shutdown::Clean => EXIT_OK,
            Shutdown::GraceExpired => EXIT_FAILURE,
            Shutdown::Interrupted => EXIT_INTERRUPTED,
        }
    }
}

impl Lifecycle {
    /// A fresh lifecycle: token not cancelled, tracker open.
    pub fn new() -> Self {
        Lifecycle::default()
    }

    /// The root token. Tasks that must finish their own work on shutdown (the scheduler)
    /// watch it themselves.
    pub fn token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The tracker every task is spawned on.
    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Spawn a tracked task that handles cancellation itself (it watches
    /// [`Lifecycle::token`] and winds down its own work).
    pub fn spawn<F>(&self, span: Span, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task.instrument(span))
    }

    /// Spawn a tracked task that is dropped as soon as shutdown begins (triggers: poll,
    /// file watch, cron). It must hold no work that needs finishing.
    pub fn spawn_until_cancelled<F>(&self, span: Span, task: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        self.tracker.spawn(
            async move {
                cancel.run_until_cancelled(task).await;
            }
            .instrument(span),
        )
    }

    /// Begin shutdown: cancel the root token and close the tracker, so that
    /// [`Lifecycle::drain`] can tell when the last task ends.
    pub fn begin_shutdown(&self) {
        self.cancel.cancel();
        self.tracker.close();
    }

    /// Begin shutdown, then wait for every tracked task to finish, at most `grace`, or
    /// until `interrupt` completes (a second signal).
    pub async fn drain(&self, grace: Duration, interrupt: impl Future) -> Shutdown {
        self.begin_shutdown();
        tokio::select! {
            () = self.tracker.wait() => Shutdown::Clean,
            () = tokio::time::sleep(grace) => Shutdown::GraceExpired,
            _ = interrupt => Shutdown::Interrupted,
        }
    }
}

/// The termination signals `ferry serve` listens to. Install them before starting work so
/// that a signal during start-up is handled, not fatal.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    /// Install handlers for SIGINT and SIGTERM.
    ///
    /// # Errors
    /// The operating system refused to install a handler.
    pub fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    /// Wait for the next signal and return its name (`SIGINT` or `SIGTERM`).
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => "SIGINT",
                _ = self.term.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use tracing::info_span;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drain_waits_for_running_work_within_the_grace_period() {
        let lc = Lifecycle::new();
        let finished = Arc::new(AtomicBool::new(false));
        let f = finished.clone();
        let token = lc.token().clone();
        lc.spawn(info_span!("work"), async move {
            token.cancelled().await;
            tokio::time::sleep(Duration::from_secs(5)).await; // finishing in-flight work
            f.store(true, Ordering::SeqCst);
        });
        let outcome = lc
            .drain(Duration::from_secs(30), std::future::pending::<()>())
            .await;
        assert_eq!(outcome, Shutdown::Clean);
        assert_eq!(outcome.exit_code(), 0);
        assert!(finished.load(Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn drain_gives_up_after_the_grace_period() {
        let lc = Lifecycle::new();
        lc.spawn(info_span!("stuck"), std::future::pending::<()>());
        let started = tokio::time::Instant::now();
        let outcome = lc
            .drain(Duration::from_secs(30), std::future::pending::<()>())
            .await;
        assert_eq!(outcome, Shutdown::GraceExpired);
        assert_eq!(outcome.exit_code(), EXIT_FAILURE);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_signal_ends_the_wait_at_once() {
        let lc = Lifecycle::new();
        lc.spawn(info_span!("stuck"), std::future::pending::<()>());
        let outcome = lc
            .drain(
                Duration::from_secs(30),
                tokio::time::sleep(Duration::from_secs(2)),
            )
            .await;
        assert_eq!(outcome, Shutdown::Interrupted);
        assert_eq!(outcome.exit_code(), 130);
    }

    #[tokio::test(start_paused = true)]
    async fn triggers_are_dropped_on_cancel() {
        let lc = Lifecycle::new();
        let ticks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let t = ticks.clone();
        lc.spawn_until_cancelled(info_span!("poll"), async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                t.fetch_add(1, Ordering::SeqCst);
            }
        });
        tokio::time::sleep(Duration::from_millis(3500)).await;
        assert!(!lc.is_shutting_down());
        let outcome = lc
            .drain(Duration::from_secs(30), std::future::pending::<()>())
            .await;
        assert_eq!(outcome, Shutdown::Clean);
        assert!(lc.is_shutting_down());
        let n = ticks.load(Ordering::SeqCst);
        assert_eq!(n, 3);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), n, "the loop stopped");
    }
}
