//! User-facing validation errors: a place in the repository and what to do about it.

use std::fmt;

use crate::model::Location;

/// One problem found in the configuration or a manifest.
///
/// Displays as `path:line:column: message`, or `path: message` when no line is known.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Diagnostic {
    /// Where the problem is (path relative to the repository root, or the config path).
    pub location: Location,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at `location`.
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        Diagnostic {
            location,
            message: message.into(),
        }
    }

    /// The fix the message ends with, when it names one: the last clause after `; ` or
    /// `: ` that starts with a verb telling what to do (`rename one of them`, `add `group`
    /// under the tenant's `vars` in ferry.yaml`).
    pub fn fix(&self) -> Option<&str> {
        let m = self.message.as_str();
        let mut best = None;
        for (i, _) in m.match_indices("; ").chain(m.match_indices(": ")) {
            let rest = &m[i + 2..];
            let verb = rest.split(' ').next().unwrap_or_default();
            if FIX_VERBS.contains(&verb) && best.is_none_or(|b: usize| i > b) {
                best = Some(i);
            }
        }
        best.map(|i| &m[i + 2..])
    }

    /// A diagnostic about a whole file (no line or column).
    pub fn file(path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            location: Location {
                path: path.into(),
                line: 0,
                column: 0,
            },
            message: message.into(),
        }
    }
}

/// The verbs a fix starts with in ferry's messages.
const FIX_VERBS: &[&str] = &[
    "add", "check", "copy", "create", "fix", "give", "make", "move", "name", "pass", "point",
    "put", "quote", "remove", "rename", "replace", "save", "set", "use", "write",
];

/// The known word closest to `word`, when one is close enough to be a likely typo (an edit
/// distance of at most a third of the word, and at least 1): for "did you mean" hints.
pub fn did_you_mean<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    known
        .iter()
        .map(|k| (edit_distance(&word.to_lowercase(), &k.to_lowercase()), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Location { path, line, column } = &self.location;
        if *line == 0 {
            write!(f, "{path}: {}", self.message)
        } else {
            write!(f, "{path}:{line}:{column}: {}", self.message)
        }
    }
}

/// Every problem found, sorted by path, line and column once [`Diagnostics::sort`] ran
/// (the loaders return them sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// No problems yet.
    pub fn new() -> Self {
        Diagnostics(Vec::new())
    }

    /// Add a problem.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.0.push(diagnostic);
    }

    /// Add a problem at `location`.
    pub fn at(&mut self, location: Location, message: impl Into<String>) {
        self.0.push(Diagnostic::new(location, message));
    }

    /// Add every problem of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Whether there are no problems.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The problems in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// Sort by path, line, column and message, dropping exact duplicates.
    pub fn sort(&mut self) {
        self.0.sort();
        self.0.dedup();
    }

    /// `Ok(value)` when there are no problems, otherwise the sorted problems.
    pub fn into_result<T>(mut self, value: T) -> Result<T, Diagnostics> {
        if self.is_empty() {
            Ok(value)
        } else {
            self.sort();
            Err(self)
        }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_close_words_only() {
        let known = ["health-check", "command", "arguments"];
        assert_eq!(did_you_mean("helth-check", &known), Some("health-check"));
        assert_eq!(did_you_mean("comand", &known), Some("command"));
        assert_eq!(did_you_mean("Arguments", &known), Some("arguments"));
        assert_eq!(did_you_mean("image", &known), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn the_fix_is_the_last_clause_telling_what_to_do() {
        let fix = |m: &str| Diagnostic::file("f.yaml", m).fix().map(str::to_owned);
        for (message, expected) in [
            (
                "metadata.name `a` is already used by the manifest at b.yaml:4:9: names must be unique across all manifests; rename one of them",
                Some("rename one of them"),
            ),
            (
                "undefined variable `${group}` for tenant `prod`: add `group` under the tenant's `vars` in ferry.yaml",
                Some("add `group` under the tenant's `vars` in ferry.yaml"),
            ),
            ("unknown field `branh`", None),
            (
                "spec.type: unknown variant `csv`, expected one of spreadsheet, webhook",
                None,
            ),
        ] {
            assert_eq!(fix(message).as_deref(), expected, "{message}");
        }
    }

    fn loc(path: &str, line: u64, column: u64) -> Location {
        Location {
            path: path.into(),
            line,
            column,
        }
    }

    #[test]
    fn displays_path_line_column_and_sorts() {
        let mut d = Diagnostics::new();
        d.at(loc("b.yaml", 1, 1), "second file");
        d.at(loc("a.yaml", 10, 2), "later line");
        d.at(loc("a.yaml", 2, 7), "earlier line");
        d.push(Diagnostic::file("a.yaml", "whole file"));
        d.at(loc("a.yaml", 2, 7), "earlier line");
        let d = d.into_result(()).unwrap_err();
        assert_eq!(
            d.to_string(),
            "a.yaml: whole file\na.yaml:2:7: earlier line\na.yaml:10:2: later line\nb.yaml:1:1: second file"
        );
    }
}
