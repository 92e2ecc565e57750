//! A watchdog for blocking git network operations.
//!
//! libgit2 waits on a server that stopped answering for as long as the operating system
//! keeps the connection open, which can be forever; its own time-out settings are global
//! and can only be set through `unsafe` code, which ferry forbids. So [`Watchdog::run`] runs
//! each network operation on a thread of its own and waits for it, for as long as the
//! operation shows progress: every libgit2 callback (credentials asked, objects received,
//! a progress line from the server, a ref updated) calls [`Progress::tick`]. When no tick
//! comes for the time-out, the caller gets [`Stalled::NoProgress`] at once and the thread
//! is abandoned: from then on every tick answers `false`, so the operation stops at its
//! next callback, and the thread ends when libgit2 returns.
//!
//! This module owns the thread and the deadline; it knows nothing of git (the callbacks
//! are built in `connection.rs`) and never blocks an async runtime worker (callers run on
//! the blocking pool).
//!
//! # Caveats
//! An abandoned thread lives until the operating system gives up on its connection. At
//! most [`MAX_ABANDONED`] abandoned operations per watchdog are left running; beyond that
//! [`Watchdog::run`] refuses to start another ([`Stalled::TooManyAbandoned`]) until one
//! of them returns, so a server that hangs every connection costs a bounded number of
//! threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Abandoned operations a watchdog leaves running before it refuses to start more.
pub(crate) const MAX_ABANDONED: usize = 4;

/// Why an operation gave no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stalled {
    /// Nothing happened for this long; the operation was abandoned.
    NoProgress {
        /// The time-out.
        after: Duration,
    },
    /// Earlier abandoned operations have not returned yet; this one was not started.
    TooManyAbandoned {
        /// How many are still running.
        running: usize,
    },
    /// The operation's thread could not be started, or panicked.
    Thread(String),
}

/// Runs blocking operations with a no-progress time-out. Clones share the count of
/// abandoned operations.
#[derive(Debug, Clone)]
pub(crate) struct Watchdog {
    timeout: Duration,
    abandoned: Arc<AtomicUsize>,
}

/// The operation's side of the watchdog: report progress, learn whether it was abandoned.
#[derive(Debug, Clone)]
pub(crate) struct Progress(Arc<Mutex<Tracker>>);

#[derive(Debug)]
struct Tracker {
    last: Instant,
    abandoned: bool,
    finished: bool,
}

impl Progress {
    fn new() -> Progress {
        Progress(Arc::new(Mutex::new(Tracker {
            last: Instant::now(),
            abandoned: false,
            finished: false,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Tracker> {
        // Every update is a plain assignment: a panic cannot leave it half written.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Something happened: push the deadline back. Returns `false` once the watchdog has
    /// given up on the operation; a libgit2 callback then returns its "stop" answer.
    pub(crate) fn tick(&self) -> bool {
        let mut t = self.lock();
        t.last = Instant::now();
        !t.abandoned
    }
}

/// Marks the operation finished when its thread ends, panicking or not, and releases its
/// place among the abandoned ones.
struct Finish {
    progress: Progress,
    abandoned: Arc<AtomicUsize>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let mut t = self.progress.lock();
        t.finished = true;
        if t.abandoned {
            self.abandoned.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Watchdog {
    /// A watchdog that gives up after `timeout` without progress.
    pub(crate) fn new(timeout: Duration) -> Watchdog {
        Watchdog {
            timeout,
            abandoned: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Run `op` on a thread named `name` and wait for its result while it makes progress.
    /// Blocks the calling thread: call it from the blocking pool.
    ///
    /// # Errors
    /// [`Stalled::NoProgress`] when `op` reported no progress for the time-out (it is
    /// abandoned), [`Stalled::TooManyAbandoned`] when it was not started,
    /// [`Stalled::Thread`] when its thread could not start or panicked.
    pub(crate) fn run<T, F>(&self, name: &str, op: F) -> Result<T, Stalled>
    where
        T: Send + 'static,
        F: FnOnce(&Progress) -> T + Send + 'static,
    {
        let running = self.abandoned.load(Ordering::SeqCst);
        if running >= MAX_ABANDONED {
            return Err(Stalled::TooManyAbandoned { running });
        }
        let progress = Progress::new();
        let (tx, rx) = mpsc::sync_channel(1);
        let finish = Finish {
            progress: progress.clone(),
            abandoned: self.abandoned.clone(),
        };
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let finish = finish;
                let out = op(&finish.progress);
                // Nobody listens once the operation was abandoned.
                let _ = tx.send(out);
                drop(finish);
            })
            .map_err(|e| Stalled::Thread(format!("cannot start a thread: {e}")))?;
        loop {
            let wait = {
                let t = progress.lock();
                self.timeout.saturating_sub(t.last.elapsed())
            };
            match rx.recv_timeout(wait) {
                Ok(out) => return Ok(out),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Stalled::Thread("the git operation panicked".to_owned()));
                }
                Err(RecvTimeoutError::Timeout) => {
                    let mut t = progress.lock();
                    if t.finished || t.last.elapsed() < self.timeout {
                        // It finished or ticked meanwhile: collect the result, or wait on.
                        continue;
                    }
                    t.abandoned = true;
                    self.abandoned.fetch_add(1, Ordering::SeqCst);
                    return Err(Stalled::NoProgress {
                        after: self.timeout,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_that_returns_gives_its_result() {
        let dog = Watchdog::new(Duration::from_secs(30));
        assert_eq!(dog.run("test", |_| 42), Ok(42));
    }

    #[test]
    fn progress_keeps_a_long_operation_alive() {
        // The operation lasts well beyond the time-out, ticking often.
        let dog = Watchdog::new(Duration::from_secs(2));
        let out = dog.run("test", |p| {
            for _ in 0..15 {
                std::thread::sleep(Duration::from_millis(200));
                assert!(p.tick(), "not abandoned while it makes progress");
            }
            "done"
        });
        assert_eq!(out, Ok("done"));
    }

    #[test]
    fn a_silent_operation_is_abandoned_and_told_so() {
        let dog = Watchdog::new(Duration::from_millis(100));
        let (release, wait) = mpsc::channel::<()>();
        let (told_tx, told) = mpsc::channel::<bool>();
        let out = dog.run("test", move |p| {
            let _ = wait.recv();
            let _ = told_tx.send(p.tick());
        });
        assert_eq!(
            out,
            Err(Stalled::NoProgress {
                after: Duration::from_millis(100)
            })
        );
        assert_eq!(dog.abandoned.load(Ordering::SeqCst), 1);
        release.send(()).unwrap();
        assert!(!told.recv().unwrap(), "the next tick answers stop");
        // Once its thread ends, it no longer counts.
        let deadline = Instant::now() + Duration::from_secs(10);
        while dog.abandoned.load(Ordering::SeqCst) != 0 {
            assert!(
                Instant::now() < deadline,
                "the abandoned thread was not counted out"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn at_most_a_few_abandoned_operations_run() {
        let dog = Watchdog::new(Duration::from_millis(20));
        let (release, wait) = mpsc::channel::<()>();
        let wait = Arc::new(Mutex::new(wait));
        for _ in 0..MAX_ABANDONED {
            let wait = wait.clone();
            let out = dog.run("test", move |_| {
                let _ = wait.lock().unwrap().recv();
            });
            assert!(matches!(out, Err(Stalled::NoProgress { .. })), "{out:?}");
        }
        let refused = dog.run("test", |_| ());
        assert_eq!(
            refused,
            Err(Stalled::TooManyAbandoned {
                running: MAX_ABANDONED
            })
        );
        drop(release);
        let deadline = Instant::now() + Duration::from_secs(10);
        while dog.abandoned.load(Ordering::SeqCst) != 0 {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(dog.run("test", |_| 1), Ok(1));
    }

    #[test]
    fn a_panicking_operation_is_an_error() {
        let dog = Watchdog::new(Duration::from_secs(30));
        let out: Result<(), _> = dog.run("test", |_| panic!("boom"));
        assert!(matches!(out, Err(Stalled::Thread(_))), "{out:?}");
    }
}
