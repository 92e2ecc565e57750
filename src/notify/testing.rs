//! Builders for the notify room's unit tests.

use std::collections::BTreeMap;

use chrono::{Duration, TimeZone, Utc};

use super::condition::{Condition, ConditionKind, Tracked};
use super::event::{Event, Item, Phase};

/// The commit every test event is about.
pub(crate) const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// A drift event on `prod` about `connectors`, with both links.
pub(crate) fn event(phase: Phase, connectors: &[&str]) -> Event {
    let opened = Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap();
    let at = opened + Duration::minutes(30);
    Event {
        tenant: "prod".into(),
        kind: ConditionKind::Drift,
        phase,
        at,
        sha: SHA.into(),
        status_page: Some(format!(
            "https://ferry.example.com/tenants/prod?commit={SHA}"
        )),
        commit_url: Some(format!("https://github.com/acme/c/commit/{SHA}")),
        items: connectors
            .iter()
            .map(|c| Item {
                tracked: Tracked {
                    condition: Condition {
                        kind: ConditionKind::Drift,
                        connector: Some((*c).to_owned()),
                        summary: format!("{c} changed"),
                        facts: BTreeMap::from([("liveName".to_owned(), format!("{c} (edited)"))]),
                    },
                    opened_at: opened,
                    sha: SHA.into(),
                },
                resolved_at: (phase == Phase::Resolved).then_some(at),
            })
            .collect(),
    }
}

/// A resolved drift event on `prod` about 40 connectors named `connector-{i:02}-` followed by
/// `len` times `fill`: more than a message may list.
pub(crate) fn crowded_event(fill: char, len: usize) -> Event {
    let names: Vec<String> = (0..40)
        .map(|i| format!("connector-{i:02}-{}", fill.to_string().repeat(len)))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    event(Phase::Resolved, &refs)
}
