//! Reports of a run: text for people, JUnit XML for CI (JSON is the [`Report`] itself).

use std::fmt::Write;

use super::compare::{Cell, RowDiff};
use super::outcome::{CaseResult, Failure, Report, Status};

fn cell(c: &Cell) -> String {
    match c {
        None => "NULL".to_owned(),
        Some(v) => format!("{v:?}"),
    }
}

fn row(r: &[(String, Cell)]) -> String {
    r.iter()
        .map(|(c, v)| format!("{c}={}", cell(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn failure_lines(f: &Failure, indent: &str, out: &mut String) {
    match &f.at {
        Some(at) => {
            let _ = writeln!(out, "{indent}{at}: {}", f.message);
        }
        None => {
            let _ = writeln!(out, "{indent}{}", f.message);
        }
    }
    if let Some(diff) = &f.diff {
        for example in &diff.examples {
            let line = match example {
                RowDiff::Changed { key, changes } => format!(
                    "changed {}: {}",
                    row(key),
                    changes
                        .iter()
                        .map(|c| format!(
                            "{} expected {}, got {}",
                            c.column,
                            cell(&c.expected),
                            cell(&c.actual)
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                RowDiff::Missing { row: r } => format!("missing {}", row(r)),
                RowDiff::Extra { row: r } => format!("extra   {}", row(r)),
            };
            let _ = writeln!(out, "{indent}  {line}");
        }
        let shown = diff.examples.len();
        let total = diff.missing_rows + diff.extra_rows + diff.changed_rows;
        if total > shown {
            let _ = writeln!(out, "{indent}  … and {} more", total - shown);
        }
    }
}

/// The report as text: one block per connector, then a summary line.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    for o in &report.outcomes {
        let tenant = o
            .tenant
            .as_ref()
            .map(|t| format!(" [{t}]"))
            .unwrap_or_default();
        let status = match o.status {
            Status::Passed => "passed",
            Status::Failed => "FAILED",
            Status::Skipped => "skipped",
        };
        let _ = writeln!(out, "{}{tenant}: {status}", o.connector);
        if let Some(reason) = &o.reason {
            let _ = writeln!(out, "  {}: {reason}", o.location);
        }
        for note in &o.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        for f in &o.failures {
            failure_lines(f, "  ", &mut out);
        }
        for case in &o.cases {
            match &case.result {
                CaseResult::Passed => {
                    let _ = writeln!(out, "  ok    {}", case.name);
                }
                CaseResult::Failed(failures) => {
                    let _ = writeln!(out, "  FAIL  {}", case.name);
                    for f in failures {
                        failure_lines(f, "        ", &mut out);
                    }
                }
            }
        }
    }
    let (passed, failed, skipped) = report.counts();
    let engine = report
        .engine
        .as_ref()
        .map(|e| {
            format!(
                " on {} (engine start {:.2} s)",
                e.describe(),
                e.start_seconds
            )
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "ferry test: {} connector{}: {passed} passed, {failed} failed, {skipped} skipped{engine}",
        report.outcomes.len(),
        if report.outcomes.len() == 1 { "" } else { "s" }
    );
    out
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// The report as JUnit XML: a test suite per connector, a test case per case.
pub fn junit(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let (_, failed, skipped) = report.counts();
    let _ = writeln!(
        out,
        "<testsuites name=\"ferry test\" tests=\"{}\" failures=\"{failed}\" skipped=\"{skipped}\">",
        report.outcomes.len()
    );
    for o in &report.outcomes {
        let name = match &o.tenant {
            Some(t) => format!("{} [{t}]", o.connector),
            None => o.connector.clone(),
        };
        let failures = o
            .cases
            .iter()
            .filter(|c| matches!(c.result, CaseResult::Failed(_)))
            .count()
            + o.failures.len();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{}\" file=\"{}\">",
            xml(&name),
            o.cases.len().max(1),
            usize::from(o.status == Status::Skipped),
            xml(&o.location.path)
        );
        if o.status == Status::Skipped {
            let _ = writeln!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\"><skipped message=\"{}\"/></testcase>",
                xml(&o.connector),
                xml(&name),
                xml(o.reason.as_deref().unwrap_or_default())
            );
        }
        for f in &o.failures {
            let mut body = String::new();
            failure_lines(f, "", &mut body);
            let _ = writeln!(
                out,
                "    <testcase name=\"engine version\" classname=\"{}\"><failure message=\"{}\">{}</failure></testcase>",
                xml(&name),
                xml(&f.message),
                xml(&body)
            );
        }
        for case in &o.cases {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{}\"",
                xml(&case.name),
                xml(&name),
                xml(&case.location.path),
                case.location.line
            );
            match &case.result {
                CaseResult::Passed => out.push_str("/>\n"),
                CaseResult::Failed(failures) => {
                    let mut body = String::new();
                    for f in failures {
                        failure_lines(f, "", &mut body);
                    }
                    let _ = writeln!(
                        out,
                        "><failure message=\"{}\">{}</failure></testcase>",
                        xml(&failures[0].message),
                        xml(&body)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
