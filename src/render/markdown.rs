//! The pull-request comment: a one-line summary across tenants, a note when the plans
//! were read from a working tree with uncommitted changes, then per tenant a heading, a
//! summary, a table of actions, one collapsible `<details>` block of diffs per replace,
//! and the drift found.

use std::fmt::Write as _;

use crate::plan::{Plan, Summary};
use crate::printable::{printable, printable_lines};

use super::diff::SectionDiff;
use super::view::view;

/// Where the plans were read from, for the comment's header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlannedFrom {
    /// Files (repository-relative) that differ from the commit planned, when the plans were
    /// read from a working tree. Empty: a clean tree, or a commit (`--rev`).
    pub uncommitted: Vec<String>,
}

/// Render plans as GitHub-flavoured Markdown. Noops are counted, not listed.
pub fn markdown(plans: &[Plan]) -> String {
    markdown_from(plans, &PlannedFrom::default())
}

/// [`markdown()`], saying so first when the working tree planned has uncommitted changes.
pub fn markdown_from(plans: &[Plan], source: &PlannedFrom) -> String {
    let mut out = String::new();
    if plans.len() > 1 {
        across(&mut out, plans);
    }
    if !source.uncommitted.is_empty() {
        uncommitted(&mut out, &source.uncommitted);
    }
    for plan in plans {
        tenant(&mut out, plan);
    }
    out
}

/// `**4 tenants: 2 to create, 1 blocked** · 2 in sync`: the counts of every plan added up.
fn across(out: &mut String, plans: &[Plan]) {
    let mut total = Summary::default();
    let mut in_sync = 0;
    for plan in plans {
        let s = plan.summary();
        total.create += s.create;
        total.duplicate += s.duplicate;
        total.replace += s.replace;
        total.rename += s.rename;
        total.adopt += s.adopt;
        total.prune += s.prune;
        total.blocked += s.blocked;
        total.unchanged += s.unchanged;
        total.drift += s.drift;
        if plan.is_empty() && plan.drift.is_empty() {
            in_sync += 1;
        }
    }
    let _ = write!(out, "**{} tenants: {total}**", plans.len());
    if in_sync > 0 {
        let _ = write!(out, " · {in_sync} in sync");
    }
    out.push_str("\n\n");
}

/// A quoted warning naming the uncommitted files (the first ten).
fn uncommitted(out: &mut String, files: &[String]) {
    const SHOWN: usize = 10;
    let names: Vec<String> = files
        .iter()
        .take(SHOWN)
        .map(|f| format!("`{}`", cell(f)))
        .collect();
    let _ = write!(
        out,
        "> **Uncommitted changes.** Planned from the working tree, which differs from the commit named below in {}: {}",
        if files.len() == 1 {
            "1 file".to_owned()
        } else {
            format!("{} files", files.len())
        },
        names.join(", ")
    );
    if files.len() > SHOWN {
        let _ = write!(out, " and {} more", files.len() - SHOWN);
    }
    out.push_str(". Commit them, or plan a commit with `--rev`.\n\n");
}

fn tenant(out: &mut String, plan: &Plan) {
    // Names, reasons and diff lines come from manifests and platforms: control and
    // bidirectional formatting characters are shown as escapes, never passed on.
    let _ = write!(out, "### ferry plan: `{}` ({})", plan.tenant, plan.platform);
    if let Some(revision) = &plan.revision {
        let _ = write!(out, " at `{revision}`");
    }
    out.push_str("\n\n");
    let summary = plan.summary();
    let _ = write!(out, "**{}: {}**", plan.tenant, summary);
    if summary.unchanged > 0 {
        let _ = write!(out, " · {} unchanged", summary.unchanged);
    }
    out.push_str("\n\n");

    let views: Vec<_> = plan.actions.iter().filter_map(view).collect();
    if !views.is_empty() {
        out.push_str("| | action | connector | name | details |\n");
        out.push_str("|:-:|---|---|---|---|\n");
        for v in &views {
            let mut details = vec![cell(&v.detail)];
            details.extend(v.notes.iter().map(|n| cell(n)));
            let _ = writeln!(
                out,
                "| `{}` | {} | `{}` | {} | {} |",
                v.symbol,
                v.verb,
                cell(&v.action.connector),
                cell(&v.action.name),
                details.join("<br>")
            );
        }
        out.push('\n');
    }

    for v in views.iter().filter(|v| !v.diffs.is_empty()) {
        let labels: Vec<&str> = v
            .diffs
            .iter()
            .map(|d| match d {
                SectionDiff::Unified { label, .. } | SectionDiff::Counts { label, .. } => *label,
            })
            .collect();
        let _ = writeln!(
            out,
            "<details><summary>{} <code>{}</code>: {}</summary>\n",
            v.verb,
            html(&v.action.connector),
            labels.join(", ")
        );
        for diff in &v.diffs {
            match diff {
                SectionDiff::Unified { lines, omitted, .. } => {
                    let fence = fence_for(lines);
                    let _ = writeln!(out, "{fence}diff");
                    for line in lines {
                        let _ = writeln!(out, "{}", printable(line));
                    }
                    let _ = writeln!(out, "{fence}");
                    if *omitted > 0 {
                        let _ = writeln!(out, "\n… {omitted} more diff lines");
                    }
                    out.push('\n');
                }
                SectionDiff::Counts {
                    label,
                    added,
                    removed,
                } => {
                    let _ = writeln!(
                        out,
                        "{}\n",
                        cell(&SectionDiff::counts_note(label, *added, *removed))
                    );
                }
            }
        }
        out.push_str("</details>\n\n");
    }

    if let Some(tests) = &plan.tests {
        let _ = writeln!(
            out,
            "**{}** ({})\n",
            cell(&tests.summary()),
            cell(&tests.how())
        );
        for (connector, outcome, message) in tests.messages() {
            let _ = writeln!(out, "- `{}` {outcome}: {}", cell(connector), cell(message));
        }
        out.push('\n');
    }

    if !plan.drift.is_empty() {
        out.push_str("**Drift**\n\n");
        for item in &plan.drift {
            let _ = writeln!(
                out,
                "- `{}`: {}",
                cell(&item.connector),
                cell(&item.describe())
            );
        }
        out.push('\n');
    }
}

/// A fence longer than any run of backticks in the content.
fn fence_for(lines: &[String]) -> String {
    let longest = lines
        .iter()
        .flat_map(|l| l.split(|c| c != '`'))
        .map(str::len)
        .max()
        .unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// Text safe inside a table cell: pipes escaped, HTML escaped outside code spans, one line,
/// control and bidirectional formatting characters shown as escapes.
fn cell(text: &str) -> String {
    let text = printable_lines(text);
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '<' if !in_code => out.push_str("&lt;"),
            '>' if !in_code => out.push_str("&gt;"),
            '&' if !in_code => out.push_str("&amp;"),
            _ => out.push(c),
        }
    }
    out
}

/// Text safe inside HTML, control characters escaped.
fn html(text: &str) -> String {
    printable(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_escape_pipes_and_html_but_not_code() {
        assert_eq!(cell("a | b <c> & `<d>`"), "a \\| b &lt;c&gt; &amp; `<d>`");
        assert_eq!(cell("one\ntwo"), "one two");
        assert_eq!(cell("a\u{1b}[31m\u{202e}b"), "a\\u{1b}[31m\\u{202e}b");
    }

    #[test]
    fn uncommitted_files_are_named_up_to_ten() {
        let files: Vec<String> = (0..12).map(|i| format!("connectors/c{i}.yaml")).collect();
        let mut out = String::new();
        uncommitted(&mut out, &files[..1]);
        assert_eq!(
            out,
            "> **Uncommitted changes.** Planned from the working tree, which differs from the commit named below in 1 file: `connectors/c0.yaml`. Commit them, or plan a commit with `--rev`.\n\n"
        );
        let mut out = String::new();
        uncommitted(&mut out, &files);
        assert!(out.contains("in 12 files: `connectors/c0.yaml`"), "{out}");
        assert!(out.contains("`connectors/c9.yaml` and 2 more."), "{out}");
        assert!(!out.contains("c10"), "{out}");
    }

    #[test]
    fn fences_outgrow_the_content() {
        assert_eq!(fence_for(&["plain".into()]), "```");
        assert_eq!(fence_for(&["+ ```sql".into()]), "````");
    }
}
