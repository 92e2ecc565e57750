//! Work that must not pile up: requests made while a run is in progress fold into exactly
//! one more run after it, however many arrive.
//!
//! The controller uses it for the fetches webhooks trigger: a burst of pushes (or
//! deliveries of one push to several hooks) while a fetch runs costs one more fetch, not
//! one each. The run after the current one is needed: the current fetch may have started
//! before the pushed commit existed.

use std::sync::Mutex;

#[derive(Debug, Default)]
struct State {
    running: bool,
    again: bool,
}

/// Folds requests into runs (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Coalescer {
    state: Mutex<State>,
}

impl Coalescer {
    /// Ask for a run. `true`: no run is in progress, the caller must start one (and call
    /// [`Coalescer::finished`] after each run); `false`: the request is folded into the
    /// run in progress, which runs once more.
    pub(crate) fn request(&self) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.running {
            st.again = true;
            false
        } else {
            st.running = true;
            true
        }
    }

    /// A run ended: `true` when requests came during it and the runner must run again,
    /// `false` when it stops (the next request starts a new runner).
    pub(crate) fn finished(&self) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.again {
            st.again = false;
            true
        } else {
            st.running = false;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_during_a_run_cost_one_more_run() {
        let coalescer = Arc::new(Coalescer::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let runner = |c: Arc<Coalescer>, runs: Arc<AtomicUsize>| async move {
            loop {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(1)).await;
                if !c.finished() {
                    break;
                }
            }
        };
        assert!(coalescer.request());
        let task = tokio::spawn(runner(coalescer.clone(), runs.clone()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        for _ in 0..10 {
            assert!(!coalescer.request(), "folded into the running one");
        }
        task.await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2, "ten requests, one more run");

        // Idle again: the next request starts a runner.
        assert!(coalescer.request());
        runner(coalescer.clone(), runs.clone()).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }
}
