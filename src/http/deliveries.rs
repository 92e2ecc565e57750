//! The webhook deliveries already received: forges send each delivery with an id
//! (`X-GitHub-Delivery`, `X-Gitea-Delivery` or `X-Forgejo-Delivery`,
//! `X-Gitlab-Event-UUID`); a signed delivery sent again with the same id is a replay and
//! triggers nothing.
//!
//! Ids are remembered for [`WINDOW`], at most [`CAPACITY`] of them (the oldest go first).
//! Only deliveries that passed the signature or token check are recorded, so a forged
//! request cannot fill the memory or shadow a real delivery. Ids are kept as given up to
//! 128 bytes, longer ones by their SHA-256.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::Instant;

/// How long a delivery id is remembered: a day.
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);

/// The most delivery ids remembered at once.
pub const CAPACITY: usize = 10_000;

/// Delivery ids seen within the window.
#[derive(Debug)]
pub(crate) struct Deliveries {
    window: Duration,
    capacity: usize,
    seen: HashMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

impl Default for Deliveries {
    fn default() -> Self {
        Deliveries::new(WINDOW, CAPACITY)
    }
}

impl Deliveries {
    /// Remember ids for `window`, at most `capacity` of them.
    pub(crate) fn new(window: Duration, capacity: usize) -> Self {
        Deliveries {
            window,
            capacity: capacity.max(1),
            seen: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Record delivery `id` received at `now`: `true` the first time, `false` when it was
    /// already received within the window (a replay or a redelivery).
    pub(crate) fn first_time(&mut self, id: &str, now: Instant) -> bool {
        while self
            .order
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) >= self.window)
        {
            self.forget_oldest();
        }
        let key = if id.len() <= 128 {
            id.to_owned()
        } else {
            hex::encode(Sha256::digest(id.as_bytes()))
        };
        if self.seen.contains_key(&key) {
            return false;
        }
        while self.order.len() >= self.capacity {
            self.forget_oldest();
        }
        self.seen.insert(key.clone(), now);
        self.order.push_back((now, key));
        true
    }

    fn forget_oldest(&mut self) {
        if let Some((at, key)) = self.order.pop_front()
            && self.seen.get(&key) == Some(&at)
        {
            self.seen.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_delivery_id_is_new_once_within_the_window() {
        let mut d = Deliveries::new(Duration::from_secs(60), 3);
        let t0 = Instant::now();
        assert!(d.first_time("a", t0));
        assert!(!d.first_time("a", t0 + Duration::from_secs(59)));
        assert!(d.first_time("b", t0 + Duration::from_secs(1)));
        // After the window, an id is new again.
        assert!(d.first_time("a", t0 + Duration::from_secs(61)));
        // The capacity bounds memory: the oldest id goes first, even within the window.
        let t1 = t0 + Duration::from_secs(62);
        assert!(d.first_time("c", t1));
        assert!(d.first_time("d", t1));
        assert!(!d.first_time("c", t1));
        assert!(d.first_time("e", t1));
        assert!(d.first_time("a", t1), "the oldest was let go for `e`");
        let long = "x".repeat(500);
        assert!(d.first_time(&long, t1));
        assert!(!d.first_time(&long, t1));
    }
}
