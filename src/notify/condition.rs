//! Conditions and their tracking: what is wrong with a tenant after a pass, and which of
//! it each receiver has already been told.
//!
//! A pass ends in an [`Observation`]: the conditions it found (drift, failure, warnings,
//! blocked connectors), and which kinds it could tell at all (a pass stopped by invalid
//! manifests cannot tell whether a connector drifted; its open drift stays open). The
//! table `notify_conditions` of the state store remembers, per receiver, tenant, kind and
//! subject (the connector, or the tenant as a whole), the conditions the receiver was told
//! of; [`track`] compares an observation with it and returns what opened and what cleared.
//! So a condition is announced once when it appears and once when it clears, whatever
//! the number of reconciles in between, and across restarts.
//!
//! This module decides nothing about formats or delivery (`event.rs`, the receivers and
//! `notifier.rs` do) and reads nothing from the platforms.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use crate::apply::ApplyReport;
use crate::config::NotifyEvent;
use crate::names::names;
use crate::plan::{BlockReason, Op, Plan};
use crate::store::warnings::OpenWarning;

/// The table of conditions each receiver was told of. Idempotent.
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS notify_conditions (
    receiver   TEXT NOT NULL,
    tenant     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    summary    TEXT NOT NULL,
    facts      TEXT NOT NULL,
    opened_at  TEXT NOT NULL,
    sha        TEXT NOT NULL,
    PRIMARY KEY (receiver, tenant, kind, subject)
)";

/// Create the table when it is missing.
pub(crate) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)
}

/// The longest `diff` fact of a drift, in characters: the whole diff is on the status page.
const DIFF_FACT_LIMIT: usize = 8_000;

/// What can be wrong with a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConditionKind {
    /// A connector's live content differs from what ferry applied, and ferry did not
    /// restore it.
    Drift,
    /// The reconcile failed: invalid manifests, failed actions, an unreachable tenant.
    Failure,
    /// A connector carries open import warnings.
    Warning,
    /// A connector cannot be applied until a person acts.
    Blocked,
}

names! {
    all;
    /// `drift`, `failure`, `warning`, `blocked`: the name of the event in `events`.
    ConditionKind {
        Drift => "drift",
        Failure => "failure",
        Warning => "warning",
        Blocked => "blocked",
    }
}

impl ConditionKind {
    /// The configuration's event that announces this kind.
    pub fn event(self) -> NotifyEvent {
        match self {
            ConditionKind::Drift => NotifyEvent::Drift,
            ConditionKind::Failure => NotifyEvent::Failure,
            ConditionKind::Warning => NotifyEvent::Warning,
            ConditionKind::Blocked => NotifyEvent::Blocked,
        }
    }
}

/// One thing wrong with a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// What kind.
    pub kind: ConditionKind,
    /// The connector (`metadata.name`) it is about; `None` for the tenant as a whole.
    pub connector: Option<String>,
    /// One line for people: what is wrong and what to do.
    pub summary: String,
    /// Facts for machines and cards (`liveName`, `liveId`, `kind`, …). A drift also carries
    /// `fields` (the fields that changed, comma-separated) and `diff` (the unified diff of
    /// what ferry applied against what the tenant holds, sample files as line counts).
    pub facts: BTreeMap<String, String>,
}

impl Condition {
    fn subject(&self) -> &str {
        self.connector.as_deref().unwrap_or("")
    }
}

/// What one pass of one tenant found.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The tenant.
    pub tenant: String,
    /// The commit the pass reconciled.
    pub sha: String,
    /// When the pass ended.
    pub at: DateTime<Utc>,
    /// The kinds this pass could tell; conditions of other kinds stay as they were.
    pub known: BTreeSet<ConditionKind>,
    /// What is wrong now (of the known kinds).
    pub conditions: Vec<Condition>,
}

impl Observation {
    /// A pass that stopped before it could look at the tenant's connectors (invalid
    /// manifests, an unreachable tenant, refused credentials): only the failure is known.
    pub fn failed(tenant: &str, sha: &str, summary: &str) -> Self {
        Observation {
            tenant: tenant.to_owned(),
            sha: sha.to_owned(),
            at: Utc::now(),
            known: BTreeSet::from([ConditionKind::Failure]),
            conditions: vec![Condition {
                kind: ConditionKind::Failure,
                connector: None,
                summary: one_line(summary),
                facts: BTreeMap::new(),
            }],
        }
    }

    /// A pass that planned and applied: drift that was not restored, failed actions,
    /// connectors blocked for a reason a person must resolve (waiting for a window or a
    /// promotion is not blocked). Warnings are added from the state store with
    /// [`Observation::with_warnings`].
    pub fn finished(tenant: &str, sha: &str, plan: &Plan, report: &ApplyReport) -> Self {
        let mut conditions = Vec::new();
        for d in plan.drift.iter().filter(|d| !d.healed) {
            let record = crate::drift::DriftRecord::of(d);
            let changed = if record.fields.is_empty() {
                String::new()
            } else {
                format!(" (changed: {})", record.fields.join(", "))
            };
            let mut facts = BTreeMap::from([
                ("kind".to_owned(), d.kind.to_string()),
                ("liveName".to_owned(), d.name.clone()),
                ("liveId".to_owned(), d.live_id.clone()),
                ("appliedHash".to_owned(), d.applied_hash.to_string()),
                ("liveHash".to_owned(), d.live_hash.to_string()),
            ]);
            if !record.fields.is_empty() {
                facts.insert("fields".to_owned(), record.fields.join(", "));
            }
            if !record.diff.is_empty() {
                facts.insert(
                    "diff".to_owned(),
                    crate::report::truncate_chars(&record.diff_text(), DIFF_FACT_LIMIT)
                        .into_owned(),
                );
            }
            conditions.push(Condition {
                kind: ConditionKind::Drift,
                connector: Some(d.connector.clone()),
                summary: format!(
                    "{} `{}` was changed in the tenant since ferry applied it{changed}; bring the change into git, or restore git's content (`drift.selfHeal`, or `ferry apply`)",
                    d.kind, d.name
                ),
                facts,
            });
        }
        if report.failed() {
            let failures = report.failures();
            let first = report.first_failure().unwrap_or_default();
            let summary = if failures > 1 {
                format!("{first} (+{} more)", failures - 1)
            } else {
                first
            };
            conditions.push(Condition {
                kind: ConditionKind::Failure,
                connector: None,
                summary: one_line(&summary),
                facts: BTreeMap::from([("failedActions".to_owned(), failures.to_string())]),
            });
        }
        for action in &plan.actions {
            let Op::Blocked { reason, .. } = &action.op else {
                continue;
            };
            if matches!(
                reason,
                BlockReason::WaitingForPromotion { .. } | BlockReason::OutsideWindow { .. }
            ) {
                continue;
            }
            conditions.push(Condition {
                kind: ConditionKind::Blocked,
                connector: Some(action.connector.clone()),
                summary: one_line(&reason.to_string()),
                facts: BTreeMap::from([
                    ("kind".to_owned(), action.kind.to_string()),
                    ("name".to_owned(), action.name.clone()),
                ]),
            });
        }
        Observation {
            tenant: tenant.to_owned(),
            sha: sha.to_owned(),
            at: Utc::now(),
            known: ConditionKind::ALL.into_iter().collect(),
            conditions,
        }
    }

    /// Add the tenant's open import warnings, one condition per connector.
    pub fn with_warnings(mut self, open: &[OpenWarning]) -> Self {
        let mut by_connector: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for w in open {
            by_connector
                .entry(&w.connector)
                .or_default()
                .push(format!("{} `{}`", w.warning.kind, w.warning.reference));
        }
        for (connector, warnings) in by_connector {
            self.conditions.push(Condition {
                kind: ConditionKind::Warning,
                connector: Some(connector.to_owned()),
                summary: format!(
                    "{} open import warning{}: {}; resolve them in the tenant before turning the connector on",
                    warnings.len(),
                    if warnings.len() == 1 { "" } else { "s" },
                    warnings.join(", ")
                ),
                facts: BTreeMap::from([("warnings".to_owned(), warnings.len().to_string())]),
            });
        }
        self
    }
}

/// A condition a receiver was told of, with when it opened and on which commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    /// The condition (its latest summary and facts).
    pub condition: Condition,
    /// When ferry first saw it.
    pub opened_at: DateTime<Utc>,
    /// The commit of the pass that first saw it.
    pub sha: String,
}

/// What changed for one receiver in one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transition {
    /// Conditions that appeared.
    pub opened: Vec<Tracked>,
    /// Conditions that cleared.
    pub resolved: Vec<Tracked>,
}

/// Compare `observation` with what `receiver` was told of the tenant, for the `kinds`
/// it tracks (of those the observation knows), and record the outcome: new conditions
/// are stored, cleared ones removed, and those still open get their latest summary.
pub(crate) fn track(
    conn: &Connection,
    receiver: &str,
    observation: &Observation,
    kinds: &BTreeSet<ConditionKind>,
) -> rusqlite::Result<Transition> {
    let mut transition = Transition::default();
    let kinds: Vec<ConditionKind> = kinds.intersection(&observation.known).copied().collect();
    if kinds.is_empty() {
        return Ok(transition);
    }
    let open: Vec<Tracked> = rows(conn, receiver, Some(&observation.tenant))?
        .into_iter()
        .map(|(_, t)| t)
        .filter(|t| kinds.contains(&t.condition.kind))
        .collect();
    let now: BTreeMap<(ConditionKind, &str), &Condition> = observation
        .conditions
        .iter()
        .filter(|c| kinds.contains(&c.kind))
        .map(|c| ((c.kind, c.subject()), c))
        .collect();
    for tracked in &open {
        let key = (tracked.condition.kind, tracked.condition.subject());
        if !now.contains_key(&key) {
            conn.execute(
                "DELETE FROM notify_conditions
                 WHERE receiver = ?1 AND tenant = ?2 AND kind = ?3 AND subject = ?4",
                params![receiver, observation.tenant, key.0.as_str(), key.1],
            )?;
            transition.resolved.push(tracked.clone());
        }
    }
    for (key, condition) in now {
        let facts = serde_json::to_string(&condition.facts).unwrap_or_else(|_| "{}".into());
        let known = open
            .iter()
            .find(|t| (t.condition.kind, t.condition.subject()) == key);
        if known.is_some_and(|known| {
            known.condition.summary == condition.summary && known.condition.facts == condition.facts
        }) {
            continue;
        }
        // A known condition gets its new summary and facts (the first six values), a new
        // one its whole row.
        let opened_at = observation
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let row = params![
            receiver,
            observation.tenant,
            key.0.as_str(),
            key.1,
            condition.summary,
            facts,
            opened_at,
            observation.sha
        ];
        if known.is_some() {
            conn.execute(
                "UPDATE notify_conditions SET summary = ?5, facts = ?6
                 WHERE receiver = ?1 AND tenant = ?2 AND kind = ?3 AND subject = ?4",
                &row[..6],
            )?;
            continue;
        }
        conn.execute(
            "INSERT INTO notify_conditions
                 (receiver, tenant, kind, subject, summary, facts, opened_at, sha)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            row,
        )?;
        transition.opened.push(Tracked {
            condition: condition.clone(),
            opened_at: observation.at,
            sha: observation.sha.clone(),
        });
    }
    Ok(transition)
}

/// The conditions `receiver` was told of and that are still open, per tenant (all
/// tenants when `tenant` is `None`), in a stable order.
pub(crate) fn rows(
    conn: &Connection,
    receiver: &str,
    tenant: Option<&str>,
) -> rusqlite::Result<Vec<(String, Tracked)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT tenant, kind, subject, summary, facts, opened_at, sha FROM notify_conditions
         WHERE receiver = ?1 AND (?2 IS NULL OR tenant = ?2)
         ORDER BY tenant, kind, subject",
    )?;
    let rows = stmt.query_map(params![receiver, tenant], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (tenant, kind, subject, summary, facts, opened_at, sha) = row?;
        // A row ferry cannot read any more (a kind from a newer version) is skipped.
        let Some(kind) = ConditionKind::parse(&kind) else {
            continue;
        };
        let opened_at = DateTime::parse_from_rfc3339(&opened_at)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|_| Utc::now());
        out.push((
            tenant,
            Tracked {
                condition: Condition {
                    kind,
                    connector: (!subject.is_empty()).then_some(subject),
                    summary,
                    facts: serde_json::from_str(&facts).unwrap_or_default(),
                },
                opened_at,
                sha,
            },
        ));
    }
    Ok(out)
}

/// Forget what receivers were told that no longer applies: rows of receivers not
/// configured any more, and of tenants or kinds a receiver no longer hears of (`keep`
/// answers for receiver, tenant and kind). Nothing is sent for them.
pub(crate) fn forget(
    conn: &Connection,
    keep: &dyn Fn(&str, &str, ConditionKind) -> bool,
) -> rusqlite::Result<usize> {
    let mut stmt = conn.prepare("SELECT DISTINCT receiver, tenant, kind FROM notify_conditions")?;
    let groups: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut removed = 0;
    for (receiver, tenant, kind) in groups {
        let kept = ConditionKind::parse(&kind).is_some_and(|k| keep(&receiver, &tenant, k));
        if !kept {
            removed += conn.execute(
                "DELETE FROM notify_conditions WHERE receiver = ?1 AND tenant = ?2 AND kind = ?3",
                params![receiver, tenant, kind],
            )?;
        }
    }
    Ok(removed)
}

/// Newlines and runs of whitespace collapsed: a summary is one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        migrate(&conn).unwrap();
        conn
    }

    fn drift(connector: &str) -> Condition {
        Condition {
            kind: ConditionKind::Drift,
            connector: Some(connector.to_owned()),
            summary: format!("{connector} changed"),
            facts: BTreeMap::new(),
        }
    }

    fn observed(conditions: Vec<Condition>) -> Observation {
        Observation {
            tenant: "prod".into(),
            sha: "c".repeat(40),
            at: Utc::now(),
            known: ConditionKind::ALL.into_iter().collect(),
            conditions,
        }
    }

    fn all() -> BTreeSet<ConditionKind> {
        ConditionKind::ALL.into_iter().collect()
    }

    fn subjects(tracked: &[Tracked]) -> Vec<String> {
        tracked
            .iter()
            .map(|t| format!("{}:{}", t.condition.kind.as_str(), t.condition.subject()))
            .collect()
    }

    #[test]
    fn a_condition_opens_once_and_clears_once() {
        let conn = db();
        let t = track(&conn, "oncall", &observed(vec![drift("orders")]), &all()).unwrap();
        assert_eq!(subjects(&t.opened), ["drift:orders"]);
        assert!(t.resolved.is_empty());
        // Seen again, and again: nothing new.
        for _ in 0..2 {
            let t = track(&conn, "oncall", &observed(vec![drift("orders")]), &all()).unwrap();
            assert_eq!(t, Transition::default());
        }
        // Its summary changed: nothing is sent, the latest summary is kept (a heartbeat
        // to Alertmanager carries it).
        let mut changed = drift("orders");
        changed.summary = "orders changed again".into();
        let t = track(&conn, "oncall", &observed(vec![changed]), &all()).unwrap();
        assert_eq!(t, Transition::default());
        let kept = rows(&conn, "oncall", Some("prod")).unwrap();
        assert_eq!(kept[0].1.condition.summary, "orders changed again");
        // A second connector drifts: only it is new.
        let t = track(
            &conn,
            "oncall",
            &observed(vec![drift("orders"), drift("refunds")]),
            &all(),
        )
        .unwrap();
        assert_eq!(subjects(&t.opened), ["drift:refunds"]);
        // Both restored: both clear, once.
        let t = track(&conn, "oncall", &observed(vec![]), &all()).unwrap();
        assert_eq!(subjects(&t.resolved), ["drift:orders", "drift:refunds"]);
        assert_eq!(
            track(&conn, "oncall", &observed(vec![]), &all()).unwrap(),
            Transition::default()
        );
    }

    #[test]
    fn a_pass_that_cannot_tell_leaves_open_conditions_open() {
        let conn = db();
        track(&conn, "oncall", &observed(vec![drift("orders")]), &all()).unwrap();
        // Invalid manifests: only the failure is known; the drift stays open.
        let failed = Observation::failed("prod", &"c".repeat(40), "invalid manifests:\n  x");
        let t = track(&conn, "oncall", &failed, &all()).unwrap();
        assert_eq!(subjects(&t.opened), ["failure:"]);
        assert_eq!(t.opened[0].condition.summary, "invalid manifests: x");
        assert!(t.resolved.is_empty());
        // The next full pass: the failure clears, the drift is still there.
        let t = track(&conn, "oncall", &observed(vec![drift("orders")]), &all()).unwrap();
        assert_eq!(subjects(&t.resolved), ["failure:"]);
        assert!(t.opened.is_empty());
    }

    #[test]
    fn receivers_and_tenants_are_tracked_apart() {
        let conn = db();
        let drift_only = BTreeSet::from([ConditionKind::Drift]);
        let warning = Condition {
            kind: ConditionKind::Warning,
            connector: Some("orders".into()),
            summary: "1 open import warning".into(),
            facts: BTreeMap::new(),
        };
        let obs = observed(vec![drift("orders"), warning]);
        assert_eq!(
            subjects(&track(&conn, "chat", &obs, &drift_only).unwrap().opened),
            ["drift:orders"]
        );
        assert_eq!(
            subjects(&track(&conn, "pager", &obs, &all()).unwrap().opened),
            ["drift:orders", "warning:orders"]
        );
        let mut sandbox = observed(vec![]);
        sandbox.tenant = "sandbox".into();
        assert_eq!(
            track(&conn, "chat", &sandbox, &all()).unwrap(),
            Transition::default()
        );
        assert_eq!(rows(&conn, "pager", None).unwrap().len(), 2);
        // The chat receiver no longer hears of prod: its rows go, silently.
        let removed = forget(&conn, &|receiver, tenant, _| {
            !(receiver == "chat" && tenant == "prod")
        })
        .unwrap();
        assert_eq!(removed, 1);
        assert_eq!(rows(&conn, "chat", None).unwrap(), []);
        assert_eq!(rows(&conn, "pager", Some("prod")).unwrap().len(), 2);
    }
}
