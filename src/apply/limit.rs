//! How many calls of one apply are in flight at once: additive increase, multiplicative
//! decrease.
//!
//! The limit starts at the tenant's `concurrency`. When an action finishes and the
//! platform answered `429 Too Many Requests` since the last look (the provider counts
//! them, retried or not), the limit is halved, down to 1; after as many successive
//! actions without a 429 as the limit allows at once, it goes up by one, back to the
//! configured ceiling. Each change is logged once, and the `ferry_apply_concurrency`
//! gauge shows the limit in force; apply passes it to its [`Gate`](super::gate::Gate).
//!
//! It must not sleep or retry: the HTTP layer honours `Retry-After`; this only decides how
//! many calls may be in flight.

use tracing::{info, warn};

/// The concurrency limit of one apply to one tenant.
#[derive(Debug)]
pub(super) struct Limit {
    /// The tenant's `concurrency`.
    ceiling: usize,
    /// The limit in force.
    current: usize,
    /// The lowest the limit went.
    lowest: usize,
    /// The provider's count of 429 answers at the last look.
    seen: u64,
    /// Actions finished without a new 429 since the last change.
    streak: usize,
}

impl Limit {
    /// A limit of `ceiling` (at least 1) for `tenant`; `rate_limited` is the provider's
    /// count of 429 answers now (those before the apply do not count).
    pub(super) fn new(tenant: &str, ceiling: usize, rate_limited: u64) -> Self {
        let ceiling = ceiling.max(1);
        crate::metrics::get().set_apply_concurrency(tenant, ceiling as i64);
        Limit {
            ceiling,
            current: ceiling,
            lowest: ceiling,
            seen: rate_limited,
            streak: 0,
        }
    }

    /// How many calls may be in flight now.
    pub(super) fn current(&self) -> usize {
        self.current
    }

    /// The lowest the limit went during the apply.
    pub(super) fn lowest(&self) -> usize {
        self.lowest
    }

    /// One action finished; `rate_limited` is the provider's count of 429 answers now.
    pub(super) fn finished(&mut self, tenant: &str, rate_limited: u64) {
        if rate_limited > self.seen {
            self.seen = rate_limited;
            self.streak = 0;
            let lowered = (self.current / 2).max(1);
            if lowered < self.current {
                warn!(
                    tenant,
                    concurrency = lowered,
                    from = self.current,
                    "the platform answers 429 Too Many Requests: lowering the calls in flight at once"
                );
                self.set(tenant, lowered);
            }
            return;
        }
        self.streak += 1;
        if self.current < self.ceiling && self.streak >= self.current {
            self.streak = 0;
            let raised = self.current + 1;
            info!(
                tenant,
                concurrency = raised,
                ceiling = self.ceiling,
                "no 429 for a while: raising the calls in flight at once"
            );
            self.set(tenant, raised);
        }
    }

    fn set(&mut self, tenant: &str, limit: usize) {
        self.current = limit;
        self.lowest = self.lowest.min(limit);
        crate::metrics::get().set_apply_concurrency(tenant, limit as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_on_429_down_to_one_and_climbs_back_one_per_streak() {
        let mut limit = Limit::new("t", 8, 5);
        limit.finished("t", 5);
        assert_eq!(limit.current(), 8, "429s before the apply do not count");
        limit.finished("t", 6);
        assert_eq!(limit.current(), 4);
        limit.finished("t", 6);
        limit.finished("t", 9);
        assert_eq!(
            limit.current(),
            2,
            "one halving per look, however many 429s"
        );
        limit.finished("t", 10);
        limit.finished("t", 11);
        assert_eq!(limit.current(), 1);
        assert_eq!(limit.lowest(), 1);
        limit.finished("t", 11);
        assert_eq!(limit.current(), 2, "a streak of 1 at limit 1");
        limit.finished("t", 11);
        assert_eq!(limit.current(), 2);
        limit.finished("t", 11);
        assert_eq!(limit.current(), 3, "a streak of 2 at limit 2");
        for _ in 0..100 {
            limit.finished("t", 11);
        }
        assert_eq!(limit.current(), 8, "never above the ceiling");
        assert_eq!(limit.lowest(), 1);
    }

    #[test]
    fn a_ceiling_of_one_stays_one() {
        let mut limit = Limit::new("t", 1, 0);
        limit.finished("t", 3);
        limit.finished("t", 3);
        assert_eq!((limit.current(), limit.lowest()), (1, 1));
    }
}
