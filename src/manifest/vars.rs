//! `${var}` substitution in manifest string values.
//!
//! A tenant's `vars` fill `${name}` in every string of a manifest's `spec` (except file
//! references and `apiName`, which must be the same for every tenant). `$${` writes a
//! literal `${`; any other `$` is literal. Variable names are letters, digits, `_` and `-`,
//! starting with a letter or `_`. Referenced files (SQL, CSV, actions JSON) are used as
//! they are: no substitution happens inside them.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use super::{Diagnostic, Diagnostics};
use crate::model::Location;

/// A problem with one `${…}` occurrence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum VarError {
    /// `${` without a closing `}`.
    #[error("`${{` is not closed: end the variable with `}}`, or write `$${{` for a literal `${{`")]
    Unterminated,
    /// A name with characters a variable name cannot have.
    #[error(
        "`${{{0}}}` is not a valid variable name: use letters, digits, `_` and `-`, starting with a letter or `_` (write `$${{` for a literal `${{`)"
    )]
    InvalidName(String),
    /// A variable the tenant does not define.
    #[error(
        "undefined variable `${{{name}}}` for tenant `{tenant}`: add `{name}` under the tenant's `vars` in ferry.yaml"
    )]
    Undefined {
        /// The variable name.
        name: String,
        /// The tenant being built.
        tenant: String,
    },
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Byte offsets of every `${` that starts a variable (escapes `$${` skipped), in order.
/// Applied to a scalar's raw source text, the n-th offset is where the n-th occurrence of
/// its value is written.
pub(crate) fn occurrences(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
        } else if bytes[i..].starts_with(b"$${") {
            i += 3;
        } else if bytes[i..].starts_with(b"${") {
            out.push(i);
            i = text[i..].find('}').map_or(bytes.len(), |end| i + end + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Substitute `${name}` in `text` with `lookup(name)`; `None` from `lookup` leaves the
/// occurrence as written. Problems come back with the index of their occurrence.
pub(crate) fn substitute<'a>(
    text: &'a str,
    mut lookup: impl FnMut(&str) -> Option<Result<&'a str, VarError>>,
) -> (Cow<'a, str>, Vec<(usize, VarError)>) {
    if !text.contains('$') {
        return (Cow::Borrowed(text), Vec::new());
    }
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut occurrence = 0;
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let index = occurrence;
            occurrence += 1;
            let Some(end) = after.find('}') else {
                errors.push((index, VarError::Unterminated));
                out.push_str(tail);
                rest = "";
                break;
            };
            let name = &after[..end];
            if !valid_name(name) {
                errors.push((index, VarError::InvalidName(name.to_owned())));
                out.push_str(&tail[..end + 3]);
            } else {
                match lookup(name) {
                    Some(Ok(value)) => out.push_str(value),
                    Some(Err(e)) => {
                        errors.push((index, e));
                        out.push_str(&tail[..end + 3]);
                    }
                    None => out.push_str(&tail[..end + 3]),
                }
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    (Cow::Owned(out), errors)
}

/// Where one string value of a spec is written and where each of its `${` occurrences is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Site {
    /// The value's own location (fallback when an occurrence is not found in the source).
    pub value: Location,
    /// The location of each `${` occurrence, in order.
    pub occurrences: Vec<Location>,
}

/// Substitutes variables in the strings of one manifest for one tenant (or, without a
/// tenant, only checks their syntax), collecting every problem with its location.
pub(crate) struct Substitution<'a> {
    vars: Option<(&'a str, &'a BTreeMap<String, String>)>,
    sites: &'a HashMap<String, Site>,
    fallback: &'a Location,
    pub(crate) diagnostics: Diagnostics,
    /// Whether any string given held `${` (a variable or the `$${` escape): only then can
    /// the result differ from the text as written, or between tenants.
    pub(crate) touched: bool,
}

impl<'a> Substitution<'a> {
    /// Check syntax only: every `${…}` stays as written.
    pub(crate) fn check(sites: &'a HashMap<String, Site>, fallback: &'a Location) -> Self {
        Substitution {
            vars: None,
            sites,
            fallback,
            diagnostics: Diagnostics::new(),
            touched: false,
        }
    }

    /// Substitute the variables of tenant `tenant`.
    pub(crate) fn for_tenant(
        tenant: &'a str,
        vars: &'a BTreeMap<String, String>,
        sites: &'a HashMap<String, Site>,
        fallback: &'a Location,
    ) -> Self {
        Substitution {
            vars: Some((tenant, vars)),
            sites,
            fallback,
            diagnostics: Diagnostics::new(),
            touched: false,
        }
    }

    fn location(&self, path: &str, occurrence: usize) -> Location {
        match self.sites.get(path) {
            Some(site) => site
                .occurrences
                .get(occurrence)
                .unwrap_or(&site.value)
                .clone(),
            None => self.fallback.clone(),
        }
    }

    /// The string at spec path `path` with variables substituted.
    pub(crate) fn apply(&mut self, path: &str, text: &str) -> String {
        self.touched |= text.contains("${");
        let vars = self.vars;
        let (out, errors) = substitute(text, |name| {
            let (tenant, vars) = vars?;
            Some(
                vars.get(name)
                    .map(String::as_str)
                    .ok_or_else(|| VarError::Undefined {
                        name: name.to_owned(),
                        tenant: tenant.to_owned(),
                    }),
            )
        });
        for (occurrence, error) in errors {
            let location = self.location(path, occurrence);
            self.diagnostics
                .push(Diagnostic::new(location, error.to_string()));
        }
        out.into_owned()
    }

    /// [`Self::apply`] on an optional string.
    pub(crate) fn apply_opt(&mut self, path: &str, text: Option<&String>) -> Option<String> {
        text.map(|t| self.apply(path, t))
    }

    /// [`Self::apply`] on each item of a list at `path[i]`.
    pub(crate) fn apply_list(&mut self, path: &str, items: &[String]) -> Vec<String> {
        items
            .iter()
            .enumerate()
            .map(|(i, t)| self.apply(&format!("{path}[{i}]"), t))
            .collect()
    }

    /// [`Self::apply`] on every string inside a JSON value (keys are left alone).
    pub(crate) fn apply_json(
        &mut self,
        path: &str,
        value: &serde_json::Value,
    ) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(self.apply(path, s)),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.apply_json(&format!("{path}[{i}]"), v))
                    .collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.apply_json(&format!("{path}.{k}"), v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, vars: &[(&str, &str)]) -> (String, Vec<String>) {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (out, errors) = substitute(text, |name| {
            Some(
                vars.get(name)
                    .map(String::as_str)
                    .ok_or(VarError::Undefined {
                        name: name.into(),
                        tenant: "t".into(),
                    }),
            )
        });
        (
            out.into_owned(),
            errors
                .into_iter()
                .map(|(i, e)| format!("{i}: {e}"))
                .collect(),
        )
    }

    #[test]
    fn substitutes_and_escapes() {
        assert_eq!(
            run("a ${x} b ${y-z}", &[("x", "1"), ("y-z", "2")]).0,
            "a 1 b 2"
        );
        assert_eq!(
            run("cost $5 and $${x} stays", &[]).0,
            "cost $5 and ${x} stays"
        );
        assert_eq!(run("$$", &[]).0, "$$");
        assert_eq!(run("no vars", &[]).0, "no vars");
    }

    #[test]
    fn reports_each_problem_with_its_occurrence() {
        let (_, errors) = run("${ok} ${missing} ${bad name} ${open", &[("ok", "1")]);
        assert_eq!(
            errors,
            [
                "1: undefined variable `${missing}` for tenant `t`: add `missing` under the tenant's `vars` in ferry.yaml",
                "2: `${bad name}` is not a valid variable name: use letters, digits, `_` and `-`, starting with a letter or `_` (write `$${` for a literal `${`)",
                "3: `${` is not closed: end the variable with `}`, or write `$${` for a literal `${`",
            ]
        );
    }

    #[test]
    fn occurrences_match_substitution_order() {
        let raw = "\"a $${x} ${one} $ ${two}\"";
        let offsets = occurrences(raw);
        assert_eq!(
            offsets.iter().map(|&o| &raw[o..o + 5]).collect::<Vec<_>>(),
            ["${one", "${two"]
        );
    }
}
