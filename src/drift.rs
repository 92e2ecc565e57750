//! Drift as people read it: for each connector changed in a tenant since ferry applied it,
//! which fields changed and the unified diff of what ferry applied against what the tenant
//! holds (the form `plan` shows a replace in), with the connector's live name and id.
//!
//! The reconciler turns the planner's [`DriftItem`]s into [`DriftRecord`]s and keeps them in
//! the state store, so the API, the status page and `ferry status` show a drift without
//! calling the tenant; the commit status gets the short form of [`short_form`], and the
//! notifications carry the same fields and diff in their facts.
//!
//! This module formats what the planner found; it decides nothing and does no I/O. Sample
//! files are shown as line counts only, as in every rendering of a plan.

use serde::{Deserialize, Serialize};

use crate::model::Kind;
use crate::plan::DriftItem;
use crate::render::{DiffSection, drift_diff};

/// What ferry keeps of one drifted connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftRecord {
    /// `metadata.name`.
    pub connector: String,
    /// Manifest kind.
    pub kind: Kind,
    /// The connector's name in the tenant now.
    pub live_name: String,
    /// The platform's id.
    pub live_id: String,
    /// The fields that differ (`name`, `liveSql`, …); empty when ferry no longer knows
    /// what it applied.
    #[serde(default)]
    pub fields: Vec<String>,
    /// What ferry applied (`---`) against what the tenant holds (`+++`), section by
    /// section; empty when either side is unknown.
    #[serde(default)]
    pub diff: Vec<DiffSection>,
}

impl DriftRecord {
    /// The record of a drift the planner found.
    pub fn of(item: &DriftItem) -> Self {
        let diff = match (&item.applied, &item.live) {
            (Some(applied), Some(live)) => drift_diff(applied, live),
            _ => Vec::new(),
        };
        DriftRecord {
            connector: item.connector.clone(),
            kind: item.kind,
            live_name: item.name.clone(),
            live_id: item.live_id.clone(),
            fields: item.fields.clone(),
            diff,
        }
    }

    /// `orders-sync (name, liveSql)`, or the connector alone when the fields are unknown.
    pub fn label(&self) -> String {
        if self.fields.is_empty() {
            self.connector.clone()
        } else {
            format!("{} ({})", self.connector, self.fields.join(", "))
        }
    }

    /// The whole diff as text, one line each, sections in order (what a notification's
    /// `diff` fact and `ferry status TENANT` show).
    pub fn diff_text(&self) -> String {
        self.diff
            .iter()
            .flat_map(DiffSection::text_lines)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The records of the drift a plan found and did not restore.
pub fn unhealed(drift: &[DriftItem]) -> Vec<DriftRecord> {
    drift
        .iter()
        .filter(|d| !d.healed)
        .map(DriftRecord::of)
        .collect()
}

/// The records of the drift left after `report` applied the plan that found `drift`: what
/// the plan did not restore, and what it meant to restore but whose action failed.
pub fn left_after(drift: &[DriftItem], report: &crate::apply::ApplyReport) -> Vec<DriftRecord> {
    let failed = |connector: &str| {
        report
            .results
            .iter()
            .any(|r| r.connector == connector && r.outcome == crate::apply::Outcome::Failed)
    };
    drift
        .iter()
        .filter(|d| !d.healed || failed(&d.connector))
        .map(DriftRecord::of)
        .collect()
}

/// How many characters the drift part of a commit status may take: GitHub's limit on a
/// description, the smallest of the forges.
pub const SHORT_FORM_LIMIT: usize = 140;

/// The short form a commit status carries: `drift: orders (name, liveSql), refunds
/// (config) (+2 more)`, within [`SHORT_FORM_LIMIT`] characters. Fields give way to a count
/// (`orders (4 fields)`), then to the names alone, when the whole does not fit; of those
/// forms the one naming the most connectors is taken, the rest counted as `(+N more)`.
/// The first connector is always named. No records: `no drift`.
pub fn short_form(records: &[DriftRecord]) -> String {
    if records.is_empty() {
        return "no drift".to_owned();
    }
    let full = |r: &DriftRecord| r.label();
    let counted = |r: &DriftRecord| match r.fields.len() {
        0 => r.connector.clone(),
        1 => format!("{} ({})", r.connector, r.fields[0]),
        n => format!("{} ({n} fields)", r.connector),
    };
    let bare = |r: &DriftRecord| r.connector.clone();
    let styles: [&dyn Fn(&DriftRecord) -> String; 3] = [&full, &counted, &bare];
    let mut fallback = None;
    for style in styles {
        let (text, shown) = fit(records, style);
        if shown == records.len() {
            return text;
        }
        if fallback
            .as_ref()
            .is_none_or(|(_, best): &(String, usize)| shown > *best)
        {
            fallback = Some((text, shown));
        }
    }
    fallback.map(|(text, _)| text).unwrap_or_default()
}

/// As many entries as fit, in order, then `(+N more)`; the first always.
fn fit(records: &[DriftRecord], entry: &dyn Fn(&DriftRecord) -> String) -> (String, usize) {
    let mut text = String::from("drift: ");
    let mut shown = 0;
    for (i, r) in records.iter().enumerate() {
        let piece = if i == 0 {
            entry(r)
        } else {
            format!(", {}", entry(r))
        };
        let rest = records.len() - i - 1;
        let tail = if rest > 0 {
            format!(" (+{rest} more)").chars().count()
        } else {
            0
        };
        let fits = text.chars().count() + piece.chars().count() + tail <= SHORT_FORM_LIMIT;
        if !fits && i > 0 {
            break;
        }
        text.push_str(&piece);
        shown += 1;
    }
    if shown < records.len() {
        text.push_str(&format!(" (+{} more)", records.len() - shown));
    }
    (text, shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(connector: &str, fields: &[&str]) -> DriftRecord {
        DriftRecord {
            connector: connector.into(),
            kind: Kind::SmartConnector,
            live_name: connector.to_uppercase(),
            live_id: format!("id-{connector}"),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            diff: Vec::new(),
        }
    }

    #[test]
    fn the_short_form_names_connectors_and_their_fields() {
        assert_eq!(short_form(&[]), "no drift");
        assert_eq!(
            short_form(&[
                record("orders", &["name", "liveSql"]),
                record("refunds", &[])
            ]),
            "drift: orders (name, liveSql), refunds"
        );
    }

    #[test]
    fn the_short_form_stays_within_the_forge_s_limit() {
        let many: Vec<DriftRecord> = (0..12)
            .map(|i| {
                record(
                    &format!("connector-number-{i}"),
                    &["name", "liveSql", "referenceData", "references"],
                )
            })
            .collect();
        let text = short_form(&many);
        assert!(text.chars().count() <= SHORT_FORM_LIMIT, "{text}");
        // As many names as fit, then the count of the others.
        assert_eq!(
            text,
            "drift: connector-number-0, connector-number-1, connector-number-2, connector-number-3, connector-number-4, connector-number-5 (+6 more)"
        );
        // Every connector fits with a count of fields, not with their names.
        let three: Vec<DriftRecord> = many[..3].to_vec();
        let text = short_form(&three);
        assert_eq!(
            text,
            "drift: connector-number-0 (4 fields), connector-number-1 (4 fields), connector-number-2 (4 fields)"
        );
        // One very long name is still named.
        let long = record(&"x".repeat(200), &["name"]);
        assert!(short_form(&[long]).starts_with("drift: xxx"));
    }
}
