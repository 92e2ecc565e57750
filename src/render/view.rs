//! What every rendering shows of one action: a symbol, a verb, a detail, notes and diffs.

use crate::plan::{Action, Op};

use super::diff::{SectionDiff, body_diff};

/// One action as people read it.
pub(crate) struct ActionView<'a> {
    /// The action.
    pub action: &'a Action,
    /// `+`, `~`, `>`, `=`, `-`, `!`.
    pub symbol: char,
    /// `create`, `duplicate`, `replace`, `rename`, `adopt`, `prune`, `blocked`.
    pub verb: &'static str,
    /// A short qualifier: how, from what, what it would have done.
    pub detail: String,
    /// The reason and the expected warnings, one per line.
    pub notes: Vec<String>,
    /// For a replace: what changes, section by section.
    pub diffs: Vec<SectionDiff>,
}

/// The view of an action; `None` for a noop (renderings count noops, they do not list them).
pub(crate) fn view(action: &Action) -> Option<ActionView<'_>> {
    let mut notes: Vec<String> = action.reason.iter().cloned().collect();
    let mut diffs = Vec::new();
    let (symbol, detail) = match &action.op {
        Op::Noop { .. } => return None,
        Op::Create {
            via,
            expected_warnings,
            ..
        } => {
            notes.extend(
                expected_warnings
                    .iter()
                    .map(|w| format!("expected warning: {} `{}`", w.kind, w.reference)),
            );
            ('+', via.to_string())
        }
        Op::Duplicate {
            source_name,
            expected_warnings,
            ..
        } => {
            notes.extend(
                expected_warnings
                    .iter()
                    .map(|w| format!("expected warning: {} `{}`", w.kind, w.reference)),
            );
            ('+', format!("from `{source_name}`"))
        }
        Op::Replace {
            old,
            body,
            cause,
            via,
            expected_warnings,
            live_id,
            ..
        } => {
            notes.extend(
                expected_warnings
                    .iter()
                    .map(|w| format!("expected warning: {} `{}`", w.kind, w.reference)),
            );
            match old {
                Some(old) => diffs = body_diff(old, body),
                None => notes.push(format!("live content of {live_id} not exported: no diff")),
            }
            ('~', format!("{}, {via}", cause.as_str()))
        }
        Op::Rename { from, to, .. } => ('>', format!("`{from}` → `{to}`")),
        Op::Adopt {
            live_id, version, ..
        } => ('=', format!("id {live_id}, version {version}")),
        Op::Prune { live_id } => ('-', format!("id {live_id}")),
        Op::Blocked { intended, .. } => ('!', format!("would {intended}")),
    };
    Some(ActionView {
        action,
        symbol,
        verb: action.op.kind().as_str(),
        detail,
        notes,
        diffs,
    })
}
