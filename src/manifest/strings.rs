//! Checks on the text a manifest carries, beyond its shape: credentials written anywhere
//! inside its strings, and control or bidirectional formatting characters where people
//! read it (names and other fields, the Live SQL, CSV headers).
//!
//! Credentials are recognised by the one set of detectors in [`crate::sensitive`] (the
//! sample-data scan's); control characters by [`crate::printable`]. Each check returns
//! where and what, with the offending text escaped or redacted; the loader turns them
//! into diagnostics. This module reads no files.

use crate::printable::{first_hostile, printable};
use crate::sensitive::secrets::embedded;

use super::types::{Metadata, Spec};

/// One problem in a field of the manifest: its path (`spec.name`,
/// `spec.config.vcs.url`) and the message.
pub(crate) type FieldProblem = (String, String);

/// Problems in the strings of `metadata` and `spec`: credentials inside any of them
/// (except `spec.config`, whose secret rules run with the CDE checks), and control or
/// bidirectional formatting characters in any of them (line breaks allowed only in
/// descriptions, annotations and the CDE `config`).
pub(crate) fn fields(metadata: &Metadata, spec: &Spec) -> Vec<FieldProblem> {
    let mut out = Vec::new();
    let spec_value = match spec {
        Spec::SmartConnector(s) => serde_json::to_value(s),
        Spec::Plugin(s) => serde_json::to_value(s),
        Spec::CdeConnector(s) => serde_json::to_value(s),
    };
    let values = [
        ("metadata", serde_json::to_value(metadata)),
        ("spec", spec_value),
    ];
    for (root, value) in values {
        let Ok(value) = value else { continue };
        walk(&value, root, &mut |path, text| {
            if matches!(path, "metadata.name" | "spec.apiName") {
                // Their own patterns allow letters, digits and a few marks only.
                return;
            }
            let in_config = path.starts_with("spec.config.") || path == "spec.config";
            let free_text = in_config
                || path.ends_with(".description")
                || path.starts_with("metadata.annotations.");
            let allowed: &[char] = if free_text { &['\n'] } else { &[] };
            if let Some((_, what)) = first_hostile(text, allowed) {
                out.push((
                    path.to_owned(),
                    format!(
                        "{path} `{}` contains {what}: a terminal, a commit status or a page would interpret it, so what a reviewer reads is not what ferry applies; remove it",
                        shorten(&printable(text))
                    ),
                ));
            }
            if !in_config && let Some(found) = embedded(text) {
                out.push((path.to_owned(), found.message(&format!("`{path}`"))));
            }
        });
    }
    out
}

/// Control or bidirectional formatting characters in the Live SQL, at most one per line:
/// 1-based line and column, and the message. Tabs, line feeds and carriage returns are
/// allowed.
pub(crate) fn sql(text: &str) -> Vec<(u64, u64, String)> {
    let mut out = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if let Some((at, what)) = first_hostile(line, &['\r']) {
            out.push((
                i as u64 + 1,
                column(line, at),
                format!(
                    "the Live SQL contains {what}: it makes the script read differently from how it runs (`{}`); remove it",
                    shorten(&printable(line.trim_end_matches('\r')))
                ),
            ));
        }
    }
    out
}

/// Control or bidirectional formatting characters in the header (first line) of a CSV or
/// TSV file: the column and the message. Tabs are allowed (TSV), and a final `\r`.
pub(crate) fn csv_header(text: &str) -> Option<(u64, String)> {
    let header = text.split('\n').next().unwrap_or_default();
    let header = header.strip_suffix('\r').unwrap_or(header);
    let (at, what) = first_hostile(header, &[])?;
    Some((
        column(header, at),
        format!(
            "the CSV header contains {what}: column names are shown in plans, test reports and on the platform; remove it (`{}`)",
            shorten(&printable(header))
        ),
    ))
}

/// The 1-based column (in characters) of byte `at` of `line`.
fn column(line: &str, at: usize) -> u64 {
    line[..at].chars().count() as u64 + 1
}

/// At most 60 characters, `…` where cut.
fn shorten(text: &str) -> String {
    const MAX: usize = 60;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(MAX - 1).collect();
        cut.push('…');
        cut
    }
}

/// Call `on(path, text)` for every string in `value`; paths are written as the manifest's
/// fields (`spec.references.agenticWorkflows[0]`).
fn walk(value: &serde_json::Value, path: &str, on: &mut impl FnMut(&str, &str)) {
    use serde_json::Value;
    match value {
        Value::String(s) => on(path, s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{path}[{i}]"), on);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                walk(item, &format!("{path}.{key}"), on);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::types::CdeConnectorSpec;

    fn cde(name: &str, description: Option<&str>, config: serde_json::Value) -> Spec {
        Spec::CdeConnector(CdeConnectorSpec {
            name: name.to_owned(),
            kind: "datasource".to_owned(),
            description: description.map(str::to_owned),
            flow: "default".to_owned(),
            config,
        })
    }

    fn meta() -> Metadata {
        Metadata {
            name: "feed".to_owned(),
            ..Metadata::default()
        }
    }

    #[test]
    fn names_with_escapes_or_overrides_are_refused_with_the_text_escaped() {
        let spec = cde(
            "Feed\u{1b}[2K\u{202e}",
            Some("line one\nline two"),
            serde_json::json!({"application": {"name": "a\nb"}}),
        );
        let problems = fields(&meta(), &spec);
        assert_eq!(
            problems,
            [(
                "spec.name".to_owned(),
                "spec.name `Feed\\u{1b}[2K\\u{202e}` contains U+001B (a control character): a terminal, a commit status or a page would interpret it, so what a reviewer reads is not what ferry applies; remove it".to_owned()
            )]
        );
    }

    #[test]
    fn credentials_anywhere_in_a_field_are_named_with_a_redacted_excerpt() {
        let spec = cde(
            "Feed",
            Some("clone https://ghp_16C7e42F292c6912E7710c838347Ae178B4a@github.com/acme/feed"),
            serde_json::json!({"vcs": {"url": "https://u:p@h/x"}}),
        );
        let problems = fields(&meta(), &spec);
        assert_eq!(
            problems.len(),
            1,
            "the config is left to the CDE checks: {problems:?}"
        );
        assert_eq!(problems[0].0, "spec.description");
        assert_eq!(
            problems[0].1,
            "`spec.description` holds an API token (`clone https://***@github.com/acme/feed`): use a secret reference `{{secret:NAME}}` instead and keep the value out of git"
        );
    }

    #[test]
    fn sql_lines_and_csv_headers() {
        let found = sql("SELECT 1\r\n-- ok\t\nSELECT '\u{202e}x' -- \u{1b}\n");
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].0, found[0].1), (3, 9));
        assert!(found[0].2.contains("U+202E"), "{}", found[0].2);
        assert_eq!(sql("SELECT 1\r\nFROM t\n"), []);
        assert_eq!(csv_header("id\tname\r\n1\t\u{1b}\n"), None);
        let (col, message) = csv_header("id,na\u{1b}[31mme\n").unwrap();
        assert_eq!(col, 6);
        assert!(message.contains("`id,na\\u{1b}[31mme`"), "{message}");
    }
}
