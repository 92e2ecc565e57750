//! Sync windows: whether a tenant may be changed at a given instant.
//!
//! This module owns the evaluation of a tenant's `windows:` (allow and deny windows, each a
//! 5-field cron schedule in an IANA time zone plus a duration) into a [`WindowDecision`]
//! the planner folds into its plan. It reads no clock: callers pass `now`, so the same
//! instant always gives the same answer and tests never depend on wall-clock time.
//!
//! # Rules
//!
//! - A window is *active* at `now` when its most recent occurrence at or before `now`
//!   (evaluated in the window's time zone) plus its duration is after `now`. The duration is
//!   elapsed time, so a 62 h window that spans a daylight-saving change ends 62 real hours
//!   after it opened, one hour earlier or later on the wall clock.
//! - Deny wins over allow: inside any active deny window, changes wait.
//! - When a tenant has allow windows, changes run only inside one of them.
//! - With no windows at all, the tenant is always open.

use std::fmt;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde::{Deserialize, Serialize};

use crate::config::{Window, WindowKind};

/// How far [`decide`] looks ahead for the moment a closed tenant opens again.
const REOPEN_STEPS: usize = 64;

/// Whether changes may run now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum WindowDecision {
    /// Changes may run.
    Open,
    /// Changes wait.
    Closed {
        /// Which window closes the tenant, for people.
        reason: String,
        /// When changes may run again, if that is known within the look-ahead.
        reopens: Option<DateTime<Utc>>,
    },
}

impl WindowDecision {
    /// Whether changes may run.
    pub fn is_open(&self) -> bool {
        matches!(self, WindowDecision::Open)
    }
}

impl fmt::Display for WindowDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowDecision::Open => f.write_str("open"),
            WindowDecision::Closed {
                reason,
                reopens: Some(at),
            } => {
                write!(
                    f,
                    "closed: {reason}; reopens at {}",
                    at.format("%Y-%m-%d %H:%M UTC")
                )
            }
            WindowDecision::Closed {
                reason,
                reopens: None,
            } => write!(f, "closed: {reason}"),
        }
    }
}

/// A window that cannot be evaluated. `index` is the position in the tenant's `windows:`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The schedule is not a 5-field cron expression.
    #[error(
        "windows[{index}]: schedule `{schedule}` is not a 5-field cron expression ({message}); \
         write it as `minute hour day-of-month month day-of-week`, for example `0 18 * * 5`"
    )]
    InvalidSchedule {
        /// Position in `windows:`.
        index: usize,
        /// The schedule as written.
        schedule: String,
        /// What the cron parser said.
        message: String,
    },
    /// The schedule parses but never fires (for example the 31st of February).
    #[error("windows[{index}]: schedule `{schedule}` never fires; fix the day and month fields")]
    NeverFires {
        /// Position in `windows:`.
        index: usize,
        /// The schedule as written.
        schedule: String,
    },
    /// The time zone is not an IANA name.
    #[error(
        "windows[{index}]: time zone `{zone}` is not an IANA time zone name; \
         use a name such as `Europe/Berlin`, `America/New_York` or `UTC`"
    )]
    UnknownTimeZone {
        /// Position in `windows:`.
        index: usize,
        /// The time zone as written.
        zone: String,
    },
    /// The duration is not a positive duration.
    #[error(
        "windows[{index}]: duration `{duration}` is not a positive duration; \
         write it like `30m`, `62h`, `1h30m` or `2d`"
    )]
    InvalidDuration {
        /// Position in `windows:`.
        index: usize,
        /// The duration as written.
        duration: String,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A window ready to evaluate.
#[derive(Debug)]
struct Compiled {
    kind: WindowKind,
    schedule: String,
    cron: Cron,
    tz: Tz,
    duration: TimeDelta,
}

impl Compiled {
    fn new(index: usize, window: &Window) -> Result<Self> {
        let cron = crate::config::compile_cron(&window.schedule).map_err(|message| {
            Error::InvalidSchedule {
                index,
                schedule: window.schedule.clone(),
                message,
            }
        })?;
        let tz = match &window.time_zone {
            None => Tz::UTC,
            Some(zone) => zone.parse::<Tz>().map_err(|_| Error::UnknownTimeZone {
                index,
                zone: zone.clone(),
            })?,
        };
        let duration = parse_duration(&window.duration).ok_or_else(|| Error::InvalidDuration {
            index,
            duration: window.duration.clone(),
        })?;
        let compiled = Compiled {
            kind: window.kind,
            schedule: window.schedule.clone(),
            cron,
            tz,
            duration,
        };
        // A schedule that matches no date (30 2 31 2 *) parses; find that out now.
        let probe = DateTime::<Utc>::from_timestamp(0, 0).expect("epoch is valid");
        match compiled
            .cron
            .find_next_occurrence(&probe.with_timezone(&tz), false)
        {
            Ok(_) => Ok(compiled),
            Err(_) => Err(Error::NeverFires {
                index,
                schedule: window.schedule.clone(),
            }),
        }
    }

    /// The occurrence that makes this window active at `at`, with its end.
    fn active_at(&self, at: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let whole = at.with_nanosecond(0).unwrap_or(at);
        let local = whole.with_timezone(&self.tz);
        // No occurrence within the search limit (about a year) before `at`: not active.
        let start = self
            .cron
            .find_previous_occurrence(&local, true)
            .ok()?
            .with_timezone(&Utc);
        let end = start + self.duration;
        (end > at).then_some((start, end))
    }

    /// The first occurrence strictly after `at`.
    fn next_start(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&self.tz);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    fn describe(&self) -> String {
        format!(
            "{} window `{}` ({}, {})",
            match self.kind {
                WindowKind::Allow => "allow",
                WindowKind::Deny => "deny",
            },
            self.schedule,
            self.tz.name(),
            format_duration(self.duration)
        )
    }
}

/// Check every window, returning every problem at once (for `ferry validate`).
pub fn validate(windows: &[Window]) -> Vec<Error> {
    windows
        .iter()
        .enumerate()
        .filter_map(|(i, w)| Compiled::new(i, w).err())
        .collect()
}

/// Decide whether changes may run at `now`.
///
/// # Errors
///
/// The first window that cannot be evaluated (bad schedule, time zone or duration);
/// [`validate`] lists them all.
pub fn decide(windows: &[Window], now: DateTime<Utc>) -> Result<WindowDecision> {
    let compiled = windows
        .iter()
        .enumerate()
        .map(|(i, w)| Compiled::new(i, w))
        .collect::<Result<Vec<_>>>()?;
    let Some(closed) = closed_at(&compiled, now) else {
        return Ok(WindowDecision::Open);
    };
    Ok(WindowDecision::Closed {
        reason: closed.reason,
        reopens: reopens(&compiled, now, closed.next),
    })
}

/// Why the tenant is closed at an instant, and the next instant worth checking.
struct Closure {
    reason: String,
    next: Option<DateTime<Utc>>,
}

fn closed_at(windows: &[Compiled], at: DateTime<Utc>) -> Option<Closure> {
    let denies: Vec<_> = windows
        .iter()
        .filter(|w| w.kind == WindowKind::Deny)
        .filter_map(|w| w.active_at(at).map(|(start, end)| (w, start, end)))
        .collect();
    if let Some((w, start, _)) = denies.iter().max_by_key(|(_, _, end)| *end) {
        // The latest-ending deny window decides when this closure can end.
        let next = denies.iter().map(|(_, _, end)| *end).max();
        return Some(Closure {
            reason: format!(
                "inside the {} since {}",
                w.describe(),
                start.format("%Y-%m-%d %H:%M UTC")
            ),
            next,
        });
    }
    let allows: Vec<_> = windows
        .iter()
        .filter(|w| w.kind == WindowKind::Allow)
        .collect();
    if allows.is_empty() || allows.iter().any(|w| w.active_at(at).is_some()) {
        return None;
    }
    let names: Vec<_> = allows.iter().map(|w| format!("`{}`", w.schedule)).collect();
    Some(Closure {
        reason: format!("outside every allow window ({})", names.join(", ")),
        next: allows.iter().filter_map(|w| w.next_start(at)).min(),
    })
}

/// Walk forward from closure to closure until the tenant is open.
fn reopens(
    windows: &[Compiled],
    now: DateTime<Utc>,
    mut next: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    for _ in 0..REOPEN_STEPS {
        let at = next.filter(|t| *t > now)?;
        match closed_at(windows, at) {
            None => return Some(at),
            Some(closure) => next = closure.next,
        }
    }
    None
}

/// A window's duration, as [`crate::config::parse_duration`] reads it (`90s`, `30m`,
/// `62h`, `1h30m`, `2d`). `None` for anything else, zero included.
pub fn parse_duration(text: &str) -> Option<TimeDelta> {
    crate::config::parse_duration(text)
        .ok()
        .filter(|d| !d.is_zero())
        .and_then(|d| TimeDelta::from_std(d).ok())
}

fn format_duration(d: TimeDelta) -> String {
    let s = d.num_seconds();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (h, 0, 0) => format!("{h}h"),
        (0, m, 0) => format!("{m}m"),
        (h, m, 0) => format!("{h}h{m}m"),
        _ => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    fn window(kind: WindowKind, schedule: &str, duration: &str, tz: Option<&str>) -> Window {
        Window {
            kind,
            schedule: schedule.to_owned(),
            duration: duration.to_owned(),
            time_zone: tz.map(str::to_owned),
        }
    }

    /// Whether `windows` let changes through at `at`.
    fn open_at(windows: &[Window], at: &str) -> bool {
        decide(windows, utc(at)).unwrap().is_open()
    }

    /// Closed for `reason` until `reopens`.
    fn closed(reason: &str, reopens: &str) -> WindowDecision {
        WindowDecision::Closed {
            reason: reason.to_owned(),
            reopens: Some(utc(reopens)),
        }
    }

    /// When `windows`, closed at `at`, open again.
    fn reopens_after(windows: &[Window], at: &str) -> Option<DateTime<Utc>> {
        let decision = decide(windows, utc(at)).unwrap();
        let WindowDecision::Closed { reopens, .. } = decision else {
            panic!("expected closed at {at}, got {decision:?}")
        };
        reopens
    }

    /// The DESIGN example: no changes from Friday 18:00 Berlin time for 62 hours.
    fn weekend_freeze() -> Vec<Window> {
        vec![window(
            WindowKind::Deny,
            "0 18 * * 5",
            "62h",
            Some("Europe/Berlin"),
        )]
    }

    #[test]
    fn no_windows_is_open() {
        assert_eq!(
            decide(&[], utc("2024-06-07T16:00:00Z")).unwrap(),
            WindowDecision::Open
        );
    }

    #[test]
    fn deny_window_closes_from_friday_evening_until_monday_morning() {
        let windows = weekend_freeze();
        // Friday 2024-06-07 17:59 CEST = 15:59 UTC: still open.
        assert!(open_at(&windows, "2024-06-07T15:59:59Z"));
        // 18:00 CEST = 16:00 UTC: closed, and reopens 62 h later (Monday 08:00 CEST).
        let decision = decide(&windows, utc("2024-06-07T16:00:00Z")).unwrap();
        let WindowDecision::Closed { reason, reopens } = decision else {
            panic!("expected closed, got {decision:?}")
        };
        assert_eq!(reopens, Some(utc("2024-06-10T06:00:00Z")));
        assert!(
            reason.contains("deny window `0 18 * * 5` (Europe/Berlin, 62h)"),
            "{reason}"
        );
        assert!(reason.contains("since 2024-06-07 16:00 UTC"), "{reason}");
        // Sunday noon: closed. Monday 07:59:59 CEST: closed. Monday 08:00 CEST: open.
        assert!(!open_at(&windows, "2024-06-09T10:00:00Z"));
        assert!(!open_at(&windows, "2024-06-10T05:59:59Z"));
        assert!(open_at(&windows, "2024-06-10T06:00:00Z"));
    }

    #[test]
    fn duration_is_elapsed_time_across_the_autumn_dst_change() {
        // Berlin leaves summer time on Sunday 2024-10-27 at 03:00 CEST (01:00 UTC).
        // Friday 2024-10-25 18:00 CEST = 16:00 UTC; + 62 h = Monday 06:00 UTC = 07:00 CET.
        let windows = weekend_freeze();
        assert_eq!(
            decide(&windows, utc("2024-10-26T12:00:00Z")).unwrap(),
            closed(
                "inside the deny window `0 18 * * 5` (Europe/Berlin, 62h) since 2024-10-25 16:00 UTC",
                "2024-10-28T06:00:00Z"
            )
        );
        // Monday 07:30 CET (06:30 UTC): the window ended at 07:00 wall-clock time.
        assert!(open_at(&windows, "2024-10-28T06:30:00Z"));
    }

    #[test]
    fn next_friday_after_the_spring_dst_change_starts_at_local_time() {
        // Berlin enters summer time on 2024-03-31. Friday 2024-03-29 18:00 CET = 17:00 UTC;
        // Friday 2024-04-05 18:00 CEST = 16:00 UTC.
        let windows = weekend_freeze();
        assert!(open_at(&windows, "2024-03-29T16:30:00Z"));
        assert!(!open_at(&windows, "2024-03-29T17:00:00Z"));
        assert!(!open_at(&windows, "2024-04-05T16:00:00Z"));
        assert!(open_at(&windows, "2024-04-05T15:59:00Z"));
    }

    #[test]
    fn allow_windows_restrict_changes_to_their_hours() {
        // Weekdays 09:00-17:00 UTC.
        let windows = vec![window(WindowKind::Allow, "0 9 * * 1-5", "8h", None)];
        assert!(open_at(&windows, "2024-06-05T10:00:00Z"));
        assert_eq!(
            decide(&windows, utc("2024-06-05T18:00:00Z")).unwrap(),
            closed(
                "outside every allow window (`0 9 * * 1-5`)",
                "2024-06-06T09:00:00Z"
            )
        );
        // Saturday: reopens Monday.
        assert_eq!(
            reopens_after(&windows, "2024-06-08T12:00:00Z"),
            Some(utc("2024-06-10T09:00:00Z"))
        );
    }

    #[test]
    fn deny_wins_over_allow() {
        let windows = vec![
            window(WindowKind::Allow, "0 0 * * *", "24h", None),
            window(WindowKind::Deny, "0 12 * * *", "1h", None),
        ];
        assert!(open_at(&windows, "2024-06-05T11:59:00Z"));
        assert_eq!(
            decide(&windows, utc("2024-06-05T12:30:00Z")).unwrap(),
            closed(
                "inside the deny window `0 12 * * *` (UTC, 1h) since 2024-06-05 12:00 UTC",
                "2024-06-05T13:00:00Z"
            )
        );
    }

    #[test]
    fn reopening_waits_until_no_window_holds_the_tenant() {
        use WindowKind::{Allow, Deny};
        for (windows, at, reopens) in [
            // Allowed 09:00-17:00; denied 16:00-18:00. At 16:30, the deny ends at 18:00,
            // which is outside the allow window, so the tenant reopens at 09:00 the next day.
            (
                [(Allow, "0 9 * * *", "8h"), (Deny, "0 16 * * *", "2h")],
                "2024-06-05T16:30:00Z",
                "2024-06-06T09:00:00Z",
            ),
            // Overlapping deny windows reopen after the last one.
            (
                [(Deny, "0 10 * * *", "2h"), (Deny, "0 11 * * *", "3h")],
                "2024-06-05T11:30:00Z",
                "2024-06-05T14:00:00Z",
            ),
        ] {
            let windows =
                windows.map(|(kind, schedule, duration)| window(kind, schedule, duration, None));
            assert_eq!(reopens_after(&windows, at), Some(utc(reopens)), "{at}");
        }
    }

    #[test]
    fn errors_name_the_window_and_the_fix() {
        let bad = vec![
            window(WindowKind::Deny, "0 18 * *", "1h", None),
            window(WindowKind::Deny, "0 18 * * 5", "62 hours", None),
            window(WindowKind::Deny, "0 18 * * 5", "1h", Some("Mars/Olympus")),
            window(WindowKind::Deny, "0 0 31 2 *", "1h", None),
            window(WindowKind::Deny, "0 18 * * 5", "0h", None),
        ];
        let errors: Vec<String> = validate(&bad).iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(
            errors[0]
                .starts_with("windows[0]: schedule `0 18 * *` is not a 5-field cron expression ("),
            "{}",
            errors[0]
        );
        assert!(
            errors[0].ends_with("for example `0 18 * * 5`"),
            "{}",
            errors[0]
        );
        assert_eq!(
            errors[1],
            "windows[1]: duration `62 hours` is not a positive duration; write it like `30m`, `62h`, `1h30m` or `2d`"
        );
        assert_eq!(
            errors[2],
            "windows[2]: time zone `Mars/Olympus` is not an IANA time zone name; use a name such as `Europe/Berlin`, `America/New_York` or `UTC`"
        );
        assert_eq!(
            errors[3],
            "windows[3]: schedule `0 0 31 2 *` never fires; fix the day and month fields"
        );
        assert!(
            errors[4].starts_with("windows[4]: duration `0h`"),
            "{}",
            errors[4]
        );
        assert_eq!(
            decide(&bad[1..2], utc("2024-06-05T11:30:00Z")).unwrap_err(),
            Error::InvalidDuration {
                index: 0,
                duration: "62 hours".into()
            }
        );
    }

    #[test]
    fn six_field_schedules_are_refused() {
        let windows = vec![window(WindowKind::Deny, "0 0 18 * * 5", "1h", None)];
        assert!(matches!(
            decide(&windows, utc("2024-06-05T11:30:00Z")),
            Err(Error::InvalidSchedule { index: 0, .. })
        ));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30m"), Some(TimeDelta::minutes(30)));
        assert_eq!(parse_duration("62h"), Some(TimeDelta::hours(62)));
        assert_eq!(parse_duration("1h30m"), Some(TimeDelta::minutes(90)));
        assert_eq!(parse_duration("2d"), Some(TimeDelta::days(2)));
        assert_eq!(parse_duration("90s"), Some(TimeDelta::seconds(90)));
        assert_eq!(parse_duration(" 5m "), Some(TimeDelta::minutes(5)));
        for bad in [
            "",
            "h",
            "30",
            "30x",
            "-5m",
            "0m",
            "1.5h",
            "5 m",
            "99999999999999999h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
