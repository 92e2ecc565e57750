//! The emulator's clock: system time plus an offset that `POST /_emulator/clock` moves
//! forward (or back), so installation links can expire in a test without waiting a day.
//! Every timestamp the emulator writes and every expiry it checks reads this clock.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

/// System time plus an adjustable offset.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// A clock starting at the given offset (milliseconds).
    pub(crate) fn with_offset_ms(offset_ms: i64) -> Self {
        Clock {
            offset_ms: AtomicI64::new(offset_ms),
        }
    }

    /// The emulator's current time.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now() + TimeDelta::milliseconds(self.offset_ms())
    }

    /// The offset from system time, in milliseconds.
    pub(crate) fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// Move the clock by `secs` seconds (negative moves it back).
    pub(crate) fn advance_secs(&self, secs: i64) {
        self.offset_ms
            .fetch_add(secs.saturating_mul(1000), Ordering::Relaxed);
    }
}

/// RFC 3339 with a `Z` suffix and whole seconds: Kizen and Agent Studio style.
pub(crate) fn rfc3339_z(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// RFC 3339 with a numeric offset and whole seconds: Productsup CDE style
/// (`2026-05-11T14:12:28+00:00`).
pub(crate) fn rfc3339_offset(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_by_the_offset() {
        let clock = Clock::default();
        clock.advance_secs(86_400);
        assert_eq!(clock.offset_ms(), 86_400_000);
        let skew = clock.now() - Utc::now();
        assert!(skew >= TimeDelta::hours(23), "now moved by {skew}");
        clock.advance_secs(-86_400);
        assert_eq!(clock.offset_ms(), 0);
    }

    #[test]
    fn formats_follow_platform_style() {
        let t = DateTime::parse_from_rfc3339("2026-05-11T12:00:00.250Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(rfc3339_z(t), "2026-05-11T12:00:00Z");
        assert_eq!(rfc3339_offset(t), "2026-05-11T12:00:00+00:00");
    }
}
