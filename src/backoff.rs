//! Retry delays: exponential backoff with one jitter, the one policy every retry in ferry
//! uses — provider requests, commit-status delivery to forges and the outbox, the
//! scheduler's retries of failed reconciles and the source's fetch retries.
//!
//! The `n`-th failure in a row waits about `initial · 2^(n−1)`, capped at `max`, and
//! [`jitter`] shortens each wait by up to a fifth at random, so that many tenants or
//! statuses failing together do not retry in lockstep, and a wait never exceeds its
//! ceiling. Periodic work (the source poll) is spread with [`spread`] instead.

use std::time::Duration;

use rand::RngExt;

/// Exponential backoff between `initial` and `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure (before jitter).
    pub initial: Duration,
    /// Longest delay (before jitter).
    pub max: Duration,
}

impl Default for Backoff {
    /// 1 s doubling to 5 min.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The ceiling of the wait after `failures` failures in a row (0 counts as 1):
    /// `min(max, initial · 2^(failures−1))`.
    pub fn ceiling(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(31));
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The wait after `failures` failures in a row: [`jitter`] of [`Backoff::ceiling`],
    /// always within `[0.8 · ceiling, ceiling]`.
    pub fn delay(&self, failures: u32) -> Duration {
        jitter(self.ceiling(failures))
    }
}

/// `d` shortened by up to 20% at random: a uniform duration in `[0.8 · d, d]`.
pub fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::rng().random_range(0.8..=1.0))
}

/// A period spread by ±10% at random, so that replicas polling the same source do not
/// fetch at the same instant.
pub fn spread(period: Duration) -> Duration {
    period.mul_f64(rand::rng().random_range(0.9..=1.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_stay_within_their_bounds() {
        let b = Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(10),
        };
        assert_eq!(b.ceiling(0), Duration::from_millis(200));
        assert_eq!(b.ceiling(1), Duration::from_millis(200));
        assert_eq!(b.ceiling(3), Duration::from_millis(800));
        assert_eq!(b.ceiling(10), Duration::from_secs(10));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(10));
        let waits: Vec<Duration> = (0..200).map(|_| b.delay(3)).collect();
        assert!(
            waits
                .iter()
                .all(|w| *w <= Duration::from_millis(800) && *w >= Duration::from_millis(640))
        );
        assert!(waits.iter().any(|w| *w != waits[0]), "jittered");
    }

    #[test]
    fn a_spread_period_stays_within_ten_percent() {
        let p = Duration::from_secs(60);
        for _ in 0..200 {
            let d = spread(p);
            assert!(
                d >= Duration::from_secs(54) && d <= Duration::from_secs(66),
                "{d:?}"
            );
        }
    }
}
