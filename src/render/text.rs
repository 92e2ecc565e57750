//! The terminal rendering: one block per tenant, terraform-plan-like, then a summary line
//! per tenant (`prod: 2 to create, 1 to replace, 1 blocked`).

use std::fmt::Write as _;

use crate::plan::{OpKind, Plan};
use crate::printable::{printable, printable_lines};

use super::diff::{SectionDiff, line_style};
use super::view::view;

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const BLUE: &str = "\x1b[34m";
const CYAN: &str = "\x1b[36m";
const BOLD_RED: &str = "\x1b[1;31m";

/// ANSI colouring, or none.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn paint(self, style: &str, text: &str) -> String {
        if self.0 && !text.is_empty() {
            format!("{style}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }
}

fn style_of(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Create | OpKind::Duplicate => GREEN,
        OpKind::Replace => YELLOW,
        OpKind::Rename => CYAN,
        OpKind::Adopt => BLUE,
        OpKind::Prune => RED,
        OpKind::Blocked => BOLD_RED,
        OpKind::Noop => "",
    }
}

/// One line of a unified diff, indented under its action and coloured by what it is:
/// file headers bold, additions green, removals red, hunk headers cyan.
fn diff_line(out: &mut String, paint: Paint, line: &str) {
    let line = &*printable(line);
    let style = line_style(line, [BOLD, GREEN, RED, CYAN]);
    let _ = writeln!(out, "      {}", paint.paint(style, line));
}

/// Render plans for a terminal. Noops are counted, not listed. With `color`, actions and
/// diff lines carry ANSI colours; without, the output is plain text. Text from manifests
/// and platforms (names, reasons, SQL and data lines) has its control and bidirectional
/// formatting characters shown as escapes (`\u{1b}`), so it cannot move the cursor,
/// recolour or reorder what the reviewer reads.
pub fn text(plans: &[Plan], color: bool) -> String {
    let paint = Paint(color);
    let mut out = String::new();
    for (i, plan) in plans.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        tenant(&mut out, plan, paint);
    }
    out
}

fn tenant(out: &mut String, plan: &Plan, paint: Paint) {
    let mut header = format!("ferry plan for {} ({})", plan.tenant, plan.platform);
    if let Some(revision) = &plan.revision {
        let _ = write!(header, " at {revision}");
    }
    let _ = writeln!(out, "{}\n", paint.paint(BOLD, &header));

    let views: Vec<_> = plan.actions.iter().filter_map(view).collect();
    let width = views
        .iter()
        .map(|v| v.action.connector.len())
        .max()
        .unwrap_or(0);
    if views.is_empty() {
        let _ = writeln!(out, "  no changes");
    }
    for v in &views {
        let style = style_of(v.action.op.kind());
        let head = paint.paint(style, &format!("{} {:<9}", v.symbol, v.verb));
        let _ = writeln!(
            out,
            "  {head} {:<width$}  {}  ({})",
            printable(&v.action.connector),
            printable(&v.action.name),
            printable(&v.detail)
        );
        for note in &v.notes {
            for line in printable_lines(note).lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
        for diff in &v.diffs {
            match diff {
                SectionDiff::Unified { lines, omitted, .. } => {
                    for line in lines {
                        diff_line(out, paint, line);
                    }
                    if *omitted > 0 {
                        let _ = writeln!(out, "      … {omitted} more diff lines");
                    }
                }
                SectionDiff::Counts {
                    label,
                    added,
                    removed,
                } => {
                    let _ = writeln!(
                        out,
                        "      {}",
                        SectionDiff::counts_note(label, *added, *removed)
                    );
                }
            }
        }
    }
    if let Some(tests) = &plan.tests {
        let style = if tests.failed().is_empty() {
            GREEN
        } else {
            RED
        };
        let _ = writeln!(
            out,
            "\n  {} ({})",
            paint.paint(style, &tests.summary()),
            printable(&tests.how())
        );
        for (connector, outcome, message) in tests.messages() {
            let _ = writeln!(
                out,
                "      {} {outcome}: {}",
                printable(connector),
                printable_lines(message)
            );
        }
    }
    if !plan.drift.is_empty() {
        out.push('\n');
        for item in &plan.drift {
            let head = paint.paint(YELLOW, "* drift    ");
            let _ = writeln!(
                out,
                "  {head} {:<width$}  {}",
                printable(&item.connector),
                printable(&item.describe())
            );
            // What changed, as what ferry applied against what the tenant holds.
            if let (Some(applied), Some(live)) = (&item.applied, &item.live) {
                for section in super::diff::drift_diff(applied, live) {
                    for line in section.text_lines() {
                        diff_line(out, paint, &line);
                    }
                }
            }
        }
    }
    let _ = writeln!(out, "\n{}: {}", plan.tenant, plan.summary());
}
