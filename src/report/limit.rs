//! Message budgets: a token bucket per receiver, so that a flapping tenant cannot flood a
//! channel. A notice over budget is not dropped: it waits in the outbox until the bucket
//! has refilled enough.
//!
//! Time is given in milliseconds by the caller (the deliverer's clock), so that tests
//! drive it with a paused clock. The buckets live in memory: after a restart each
//! receiver starts with a full budget.

use std::time::Duration;

/// At most `messages` per `per`, refilled evenly; a full bucket allows a burst of
/// `messages`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// The bucket's size, and how many messages a period refills.
    pub messages: u32,
    /// The period.
    pub per: Duration,
}

/// The state of one receiver's budget, in exact integer units: one message costs
/// `per` (in ms) units, and each millisecond refills `messages` units.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    units: i128,
    at_ms: i64,
}

impl Bucket {
    /// A full bucket at `now_ms`.
    pub(crate) fn full(limit: RateLimit, now_ms: i64) -> Self {
        Bucket {
            units: capacity(limit),
            at_ms: now_ms,
        }
    }

    /// Take one message's worth at `now_ms`: `None` when the budget allowed it, else how
    /// many milliseconds until it will.
    pub(crate) fn take(&mut self, limit: RateLimit, now_ms: i64) -> Option<i64> {
        let cost = cost(limit);
        let refill = i128::from(limit.messages.max(1));
        let elapsed = i128::from((now_ms - self.at_ms).max(0));
        self.units = (self.units + elapsed * refill).min(capacity(limit));
        self.at_ms = self.at_ms.max(now_ms);
        if self.units >= cost {
            self.units -= cost;
            None
        } else {
            let missing = cost - self.units;
            let wait = (missing + refill - 1) / refill;
            Some(i64::try_from(wait).unwrap_or(i64::MAX).max(1))
        }
    }
}

fn cost(limit: RateLimit) -> i128 {
    i128::try_from(limit.per.as_millis())
        .unwrap_or(i128::MAX / 4)
        .max(1)
}

fn capacity(limit: RateLimit) -> i128 {
    cost(limit).saturating_mul(i128::from(limit.messages.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_share_of_the_period() {
        let limit = RateLimit {
            messages: 3,
            per: Duration::from_secs(60),
        };
        let mut bucket = Bucket::full(limit, 0);
        assert_eq!(bucket.take(limit, 0), None);
        assert_eq!(bucket.take(limit, 0), None);
        assert_eq!(bucket.take(limit, 0), None);
        // Empty: the next token comes after a third of the period.
        assert_eq!(bucket.take(limit, 0), Some(20_000));
        assert_eq!(bucket.take(limit, 10_000), Some(10_000));
        assert_eq!(bucket.take(limit, 20_000), None);
        assert_eq!(bucket.take(limit, 20_000), Some(20_000));
        // A long quiet time refills to the bucket's size, not beyond.
        let later = 20_000 + 3_600_000;
        for _ in 0..3 {
            assert_eq!(bucket.take(limit, later), None);
        }
        assert!(bucket.take(limit, later).is_some());
    }
}
