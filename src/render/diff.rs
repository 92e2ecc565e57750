//! Diffs between the live content a replace removes and git's content it creates, and
//! between what ferry applied and what a drifted connector holds now, split into the
//! sections a person reads: SQL, reference data, sample file, settings.
//!
//! Sample files are the one part the platform warns may hold personal data, and their
//! live side comes from the tenant, not from git. A plan ends up in terminals, CI logs and
//! pull-request comments, so a sample file's diff is shown as line counts only; its git
//! side is already visible in the commit. SQL, reference data and settings get full
//! unified diffs, cut after [`MAX_DIFF_LINES`] lines.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use similar::{ChangeTag, TextDiff};

use crate::model::Body;

/// Longest unified diff shown per section.
pub(crate) const MAX_DIFF_LINES: usize = 200;

/// A diff bigger than this much work is cut short (similar falls back to a coarser diff).
const DIFF_TIMEOUT: Duration = Duration::from_secs(2);

/// One section's difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SectionDiff {
    /// A unified diff (`---`/`+++` headers, hunks), possibly cut.
    Unified {
        /// Section name (`liveSql`, …).
        label: &'static str,
        /// Diff lines without trailing newlines.
        lines: Vec<String>,
        /// Lines left out after [`MAX_DIFF_LINES`].
        omitted: usize,
    },
    /// Line counts only.
    Counts {
        /// Section name.
        label: &'static str,
        /// Lines added.
        added: usize,
        /// Lines removed.
        removed: usize,
    },
}

/// How a section is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Show {
    Full,
    CountsOnly,
}

struct Section {
    label: &'static str,
    show: Show,
    text: String,
}

/// Keys whose string values are credentials. Manifests must not hold them (they hold
/// references), and platforms do not return them; a renderer still never prints one.
const CREDENTIAL_KEYS: [&str; 9] = [
    "token",
    "password",
    "passwd",
    "secret",
    "api_key",
    "apiKey",
    "client_secret",
    "clientSecret",
    "private_key",
];

/// A copy of `value` with credential-looking string values replaced by `***`.
fn redacted(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let hidden = CREDENTIAL_KEYS.contains(&k.as_str()) && v.is_string();
                    let v = if hidden { json!("***") } else { redacted(v) };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

fn pretty(value: &serde_json::Value) -> String {
    let mut text = serde_json::to_string_pretty(&redacted(value)).unwrap_or_default();
    text.push('\n');
    text
}

fn sections(body: &Body) -> Vec<Section> {
    let full = |label, text: String| Section {
        label,
        show: Show::Full,
        text,
    };
    match body {
        Body::Kizen(p) => vec![
            full(
                "settings",
                pretty(&json!({
                    "name": p.name,
                    "apiName": p.api_name,
                    "type": p.kind,
                    "references": p.references,
                })),
            ),
            full("liveSql", p.live_sql.clone()),
            full(
                "referenceData",
                p.reference_data.clone().unwrap_or_default(),
            ),
            Section {
                label: "sampleFile",
                show: Show::CountsOnly,
                text: p.sample_file.clone().unwrap_or_default(),
            },
        ],
        Body::AgentStudio(p) => vec![
            full(
                "plugin",
                pretty(&json!({
                    "name": p.name,
                    "description": p.description,
                    "state": p.state,
                    "trigger": p.trigger,
                    "connectors": p.connectors,
                })),
            ),
            full("actions", pretty(&p.actions)),
        ],
        Body::ProductsupCde(c) => vec![
            full(
                "connector",
                pretty(&json!({
                    "name": c.name,
                    "type": c.kind,
                    "description": c.description,
                    "flow": c.flow,
                })),
            ),
            full("config", pretty(&c.config)),
        ],
    }
}

/// The differing sections between the live body and git's, in reading order. Bodies of
/// different platforms compare as wholly different.
pub(crate) fn body_diff(old: &Body, new: &Body) -> Vec<SectionDiff> {
    diff_between(old, new, ("live", "git"))
}

/// The differing sections between `old` and `new`, headed `--- <old side>/<section>` and
/// `+++ <new side>/<section>`.
fn diff_between(old: &Body, new: &Body, sides: (&str, &str)) -> Vec<SectionDiff> {
    let old_sections = sections(old);
    let new_sections = sections(new);
    let mut out = Vec::new();
    for new_section in &new_sections {
        let old_text = old_sections
            .iter()
            .find(|s| s.label == new_section.label)
            .map_or("", |s| s.text.as_str());
        if old_text == new_section.text {
            continue;
        }
        out.push(section_diff(new_section, old_text, sides));
    }
    out
}

/// One section of a drift: what ferry applied (`--- applied/<section>`) against what the
/// tenant holds now (`+++ live/<section>`), as the API, the status page, `ferry status`
/// and the notifications carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffSection {
    /// `settings`, `liveSql`, `referenceData`, `sampleFile` (Kizen), `plugin`, `actions`
    /// (Agent Studio), `connector`, `config` (CDE).
    pub section: String,
    /// The unified diff's lines, headers included; empty when only counts are shown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
    /// Diff lines left out after the first [`MAX_DIFF_LINES`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted: usize,
    /// For a sample file: how many lines changed, its contents withheld.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl DiffSection {
    /// The section as plain text: its diff lines, then `… N more diff lines`, or its note.
    pub fn text_lines(&self) -> Vec<String> {
        let mut out = self.lines.clone();
        if self.omitted > 0 {
            out.push(format!("… {} more diff lines", self.omitted));
        }
        out.extend(self.note.clone());
        out
    }
}

/// What changed in a drifted connector: what ferry applied against what the tenant holds,
/// section by section, in the form `plan` shows a replace (sample files as line counts).
pub fn drift_diff(applied: &Body, live: &Body) -> Vec<DiffSection> {
    diff_between(applied, live, ("applied", "live"))
        .into_iter()
        .map(|d| match d {
            SectionDiff::Unified {
                label,
                lines,
                omitted,
            } => DiffSection {
                section: label.to_owned(),
                lines,
                omitted,
                note: None,
            },
            SectionDiff::Counts {
                label,
                added,
                removed,
            } => DiffSection {
                section: label.to_owned(),
                lines: Vec::new(),
                omitted: 0,
                note: Some(SectionDiff::counts_note(label, added, removed)),
            },
        })
        .collect()
}

fn section_diff(section: &Section, old: &str, (old_side, new_side): (&str, &str)) -> SectionDiff {
    let diff = TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(old, section.text.as_str());
    match section.show {
        Show::CountsOnly => {
            let (mut added, mut removed) = (0, 0);
            for change in diff.iter_all_changes() {
                match change.tag() {
                    ChangeTag::Insert => added += 1,
                    ChangeTag::Delete => removed += 1,
                    ChangeTag::Equal => {}
                }
            }
            SectionDiff::Counts {
                label: section.label,
                added,
                removed,
            }
        }
        Show::Full => {
            let old_name = format!("{old_side}/{}", section.label);
            let new_name = format!("{new_side}/{}", section.label);
            let text = diff
                .unified_diff()
                .context_radius(3)
                .header(&old_name, &new_name)
                .to_string();
            let all: Vec<String> = text.lines().map(str::to_owned).collect();
            let omitted = all.len().saturating_sub(MAX_DIFF_LINES);
            SectionDiff::Unified {
                label: section.label,
                lines: all.into_iter().take(MAX_DIFF_LINES).collect(),
                omitted,
            }
        }
    }
}

/// The style of a line of a unified diff, from a renderer's `[header, added, removed,
/// hunk]` styles: `---`/`+++` file headers, `+` additions, `-` removals, `@@` hunk
/// headers; `""` for context lines.
pub(crate) fn line_style(
    line: &str,
    [header, added, removed, hunk]: [&'static str; 4],
) -> &'static str {
    if line.starts_with("+++") || line.starts_with("---") {
        header
    } else if line.starts_with('+') {
        added
    } else if line.starts_with('-') {
        removed
    } else if line.starts_with("@@") {
        hunk
    } else {
        ""
    }
}

impl SectionDiff {
    /// The note shown for a counts-only section.
    pub(crate) fn counts_note(label: &str, added: usize, removed: usize) -> String {
        format!(
            "{label}: {added} {} added, {removed} removed (contents not shown: sample files may hold personal data)",
            if added == 1 { "line" } else { "lines" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testing::{cde, kizen};

    #[test]
    fn only_changed_sections_are_diffed() {
        let old = kizen("orders").sql("select 1\nfrom a\n").build().body;
        let new = kizen("orders").sql("select 2\nfrom a\n").build().body;
        let diffs = body_diff(&old, &new);
        assert_eq!(diffs.len(), 1, "{diffs:?}");
        let SectionDiff::Unified {
            label,
            lines,
            omitted,
        } = &diffs[0]
        else {
            panic!("{diffs:?}")
        };
        assert_eq!(*label, "liveSql");
        assert_eq!(*omitted, 0);
        assert_eq!(
            lines,
            &[
                "--- live/liveSql",
                "+++ git/liveSql",
                "@@ -1,2 +1,2 @@",
                "-select 1",
                "+select 2",
                " from a",
            ]
        );
    }

    #[test]
    fn sample_file_diffs_show_counts_never_contents() {
        let old = kizen("orders")
            .sample("email\nada@example.com\n")
            .build()
            .body;
        let new = kizen("orders")
            .sample("email\nbob@example.com\ncy@example.com\n")
            .build()
            .body;
        let diffs = body_diff(&old, &new);
        assert_eq!(
            diffs,
            vec![SectionDiff::Counts {
                label: "sampleFile",
                added: 2,
                removed: 1
            }]
        );
        assert!(!format!("{diffs:?}").contains("ada@"));
    }

    #[test]
    fn a_drift_reads_from_what_ferry_applied_to_what_the_tenant_holds() {
        let applied = kizen("orders")
            .sql("select 1\n")
            .sample("email\nada@example.com\n")
            .build()
            .body;
        let live = kizen("orders")
            .sql("select 2\n")
            .sample("email\nbob@example.com\n")
            .build()
            .body;
        let diff = drift_diff(&applied, &live);
        assert_eq!(diff.len(), 2, "{diff:?}");
        assert_eq!(diff[0].section, "liveSql");
        assert_eq!(
            diff[0].lines,
            [
                "--- applied/liveSql",
                "+++ live/liveSql",
                "@@ -1 +1 @@",
                "-select 1",
                "+select 2"
            ]
        );
        assert_eq!(diff[1].section, "sampleFile");
        assert!(diff[1].lines.is_empty());
        assert_eq!(
            diff[1].note.as_deref(),
            Some(
                "sampleFile: 1 line added, 1 removed (contents not shown: sample files may hold personal data)"
            )
        );
        let shown = serde_json::to_string(&diff).unwrap();
        assert!(!shown.contains("example.com"), "{shown}");
        assert_eq!(diff[1].text_lines(), [diff[1].note.clone().unwrap()]);
    }

    #[test]
    fn long_diffs_are_cut() {
        let old: String = (0..500).map(|i| format!("{i}\n")).collect();
        let new: String = (0..500).map(|i| format!("{}\n", i * 2)).collect();
        let diffs = body_diff(
            &kizen("a").reference_data(&old).build().body,
            &kizen("a").reference_data(&new).build().body,
        );
        let SectionDiff::Unified { lines, omitted, .. } = &diffs[0] else {
            panic!()
        };
        assert_eq!(lines.len(), MAX_DIFF_LINES);
        assert!(*omitted > 0);
    }

    #[test]
    fn credential_values_are_never_printed() {
        let mut old = cde("amazon").build().body;
        let new = cde("amazon").arguments("app.php export").build().body;
        if let Body::ProductsupCde(c) = std::sync::Arc::make_mut(&mut old) {
            c.config["vcs"]["token"] = json!("ghp_live_value");
            c.config["secret-registrations"] = json!([{ "vault_secret": "amazon/seller" }]);
        }
        let diffs = body_diff(&old, &new);
        let shown = format!("{diffs:?}");
        assert!(!shown.contains("ghp_live_value"), "{shown}");
        assert!(shown.contains(r#"\"token\": \"***\""#), "{shown}");
        assert!(
            shown.contains("amazon/seller"),
            "secret paths are not secrets: {shown}"
        );
    }

    #[test]
    fn cde_config_is_diffed_as_pretty_json() {
        let old = cde("amazon").build().body;
        let new = cde("amazon").arguments("app.php export").build().body;
        let diffs = body_diff(&old, &new);
        let SectionDiff::Unified { label, lines, .. } = &diffs[0] else {
            panic!()
        };
        assert_eq!(*label, "config");
        assert!(
            lines.contains(&"-    \"arguments\": \"app.php import\",".to_owned()),
            "{lines:#?}"
        );
        assert!(
            lines.contains(&"+    \"arguments\": \"app.php export\",".to_owned()),
            "{lines:#?}"
        );
    }
}
