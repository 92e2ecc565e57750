//! How many calls of one apply are in flight to the tenant at once.
//!
//! Every provider call of an apply passes a [`Gate`]: at most its limit are in flight,
//! the others wait their turn in arrival order. Apply prepares (journals) more actions
//! than the limit, so a call that ends hands its place at once to an action already
//! journaled; recording a finished action and journaling the next one then run beside
//! the calls in flight instead of between them. [`Limit`](super::limit::Limit) moves the
//! gate's limit on 429 answers.
//!
//! It must not decide what to call nor retry: it only makes calls wait.

use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::model::{Catalog, Created, LiveObject, LiveSummary, Platform};
use crate::provider::{CheckResult, CreateFrom, Provider, Result};

/// At most `limit` calls in flight; the limit can move while calls wait or run.
#[derive(Debug)]
pub(super) struct Gate {
    state: Mutex<State>,
    freed: Notify,
}

#[derive(Debug)]
struct State {
    limit: usize,
    in_flight: usize,
}

/// A place in the gate, given back when dropped.
pub(super) struct Pass<'a> {
    gate: &'a Gate,
}

impl Gate {
    /// A gate letting `limit` (at least 1) calls through at once.
    pub(super) fn new(limit: usize) -> Self {
        Gate {
            state: Mutex::new(State {
                limit: limit.max(1),
                in_flight: 0,
            }),
            freed: Notify::new(),
        }
    }

    /// Let `limit` (at least 1) calls through at once from now on. Calls already in
    /// flight above a lowered limit finish; no new one starts until they did. Only a
    /// raised limit wakes the waiting calls: a lowered or unchanged one frees no place.
    pub(super) fn set_limit(&self, limit: usize) {
        let limit = limit.max(1);
        let raised = {
            let mut state = self.lock();
            let raised = limit > state.limit;
            state.limit = limit;
            raised
        };
        if raised {
            self.freed.notify_waiters();
        }
    }

    /// Wait for a place, in arrival order.
    pub(super) async fn enter(&self) -> Pass<'_> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before looking, so a place freed in between is not missed.
            freed.as_mut().enable();
            {
                let mut state = self.lock();
                if state.in_flight < state.limit {
                    state.in_flight += 1;
                    return Pass { gate: self };
                }
            }
            freed.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is two counters, consistent after every statement: a panic elsewhere
        // cannot leave it half-written.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        self.gate.lock().in_flight -= 1;
        self.gate.freed.notify_one();
    }
}

/// `inner` with every call passing `gate` first.
pub(super) struct Gated<'a> {
    pub(super) inner: &'a dyn Provider,
    pub(super) gate: &'a Gate,
}

#[async_trait]
impl Provider for Gated<'_> {
    fn platform(&self) -> Platform {
        self.inner.platform()
    }

    fn tenant(&self) -> &str {
        self.inner.tenant()
    }

    fn rate_limited(&self) -> u64 {
        self.inner.rate_limited()
    }

    async fn list(&self) -> Result<Vec<LiveSummary>> {
        let _pass = self.gate.enter().await;
        self.inner.list().await
    }

    async fn export(&self, id: &str) -> Result<LiveObject> {
        let _pass = self.gate.enter().await;
        self.inner.export(id).await
    }

    async fn create(&self, from: CreateFrom<'_>) -> Result<Created> {
        let _pass = self.gate.enter().await;
        self.inner.create(from).await
    }

    async fn duplicate(
        &self,
        source_id: &str,
        name: &str,
        api_name: Option<&str>,
    ) -> Result<Created> {
        let _pass = self.gate.enter().await;
        self.inner.duplicate(source_id, name, api_name).await
    }

    async fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        let _pass = self.gate.enter().await;
        self.inner.rename(id, new_name).await
    }

    async fn rename_aside(&self, id: &str, aside_name: &str) -> Result<()> {
        let _pass = self.gate.enter().await;
        self.inner.rename_aside(id, aside_name).await
    }

    async fn restore_name(&self, id: &str, name: &str) -> Result<()> {
        let _pass = self.gate.enter().await;
        self.inner.restore_name(id, name).await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        let _pass = self.gate.enter().await;
        self.inner.delete(id).await
    }

    async fn deactivate(&self, id: &str) -> Result<()> {
        let _pass = self.gate.enter().await;
        self.inner.deactivate(id).await
    }

    async fn recheck(&self, id: &str) -> Result<CheckResult> {
        let _pass = self.gate.enter().await;
        self.inner.recheck(id).await
    }

    async fn export_link(&self, id: &str) -> Result<String> {
        let _pass = self.gate.enter().await;
        self.inner.export_link(id).await
    }

    async fn catalog(&self) -> Result<Catalog> {
        let _pass = self.gate.enter().await;
        self.inner.catalog().await
    }

    async fn vcs_authorised(&self, id: &str) -> Result<bool> {
        let _pass = self.gate.enter().await;
        self.inner.vcs_authorised(id).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// Runs `calls` tasks through `gate`, each holding its place for 10 ms, and returns
    /// the most that were inside at once.
    async fn most_inside(gate: Arc<Gate>, calls: usize, lower_to: Option<usize>) -> usize {
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..calls {
            let (gate, inside, most) = (gate.clone(), inside.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                let _pass = gate.enter().await;
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        if let Some(limit) = lower_to {
            tokio::time::sleep(Duration::from_millis(15)).await;
            most.store(0, Ordering::SeqCst);
            gate.set_limit(limit);
            tokio::time::sleep(Duration::from_millis(10)).await;
            most.store(0, Ordering::SeqCst);
        }
        for task in tasks {
            task.await.unwrap();
        }
        most.load(Ordering::SeqCst)
    }

    #[tokio::test(start_paused = true)]
    async fn lets_the_limit_through_and_no_more() {
        assert_eq!(most_inside(Arc::new(Gate::new(3)), 12, None).await, 3);
        assert_eq!(most_inside(Arc::new(Gate::new(1)), 5, None).await, 1);
        assert_eq!(most_inside(Arc::new(Gate::new(0)), 2, None).await, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lowered_limit_holds_once_the_calls_above_it_ended() {
        let gate = Arc::new(Gate::new(4));
        assert_eq!(most_inside(gate.clone(), 40, Some(2)).await, 2);
        gate.set_limit(3);
        assert_eq!(most_inside(gate, 12, None).await, 3, "raised again");
    }
}
