//! What every rendering shows of one action: a symbol, a verb, a detail, notes and diffs.

use crate::model::{Kind, Warning};
use crate::plan::{Action, Op, ReplaceStrategy};

use super::diff::{SectionDiff, body_diff};

/// One action as people read it.
pub(crate) struct ActionView<'a> {
    /// The action.
    pub action: &'a Action,
    /// `+`, `~`, `>`, `=`, `-`, `!`.
    pub symbol: char,
    /// `create`, `duplicate`, `replace`, `rename`, `adopt`, `prune`, `blocked`.
    pub verb: &'static str,
    /// A short qualifier: how, from what, what it would have done, and the modelled
    /// capabilities it relies on (`modelled: rename, apiName`).
    pub detail: String,
    /// The reason and the expected warnings, one per line.
    pub notes: Vec<String>,
    /// For a replace: what changes, section by section.
    pub diffs: Vec<SectionDiff>,
}

/// The notes of the warnings an action expects from the platform.
fn expected(warnings: &[Warning]) -> impl Iterator<Item = String> + '_ {
    warnings
        .iter()
        .map(|w| format!("expected warning: {} `{}`", w.kind, w.reference))
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
            notes.extend(expected(expected_warnings));
            ('+', via.to_string())
        }
        Op::Duplicate {
            source_name,
            expected_warnings,
            ..
        } => {
            notes.extend(expected(expected_warnings));
            ('+', format!("from `{source_name}`"))
        }
        Op::Replace {
            old,
            body,
            cause,
            via,
            strategy,
            expected_warnings,
            live_id,
            ..
        } => {
            let noun = if action.kind == Kind::Plugin {
                "plugin"
            } else {
                "connector"
            };
            match strategy {
                ReplaceStrategy::RenameAside => {}
                ReplaceStrategy::DeleteFirst => notes.push(format!(
                    "the {noun} is absent between deleting the old one and creating the new one"
                )),
                ReplaceStrategy::CopyThenDelete => notes.push(format!(
                    "the copy is created before the old {noun} goes to the bin, and keeps its `- Copy` name until a person renames it"
                )),
            }
            notes.extend(expected(expected_warnings));
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
    let detail = if action.modelled.is_empty() {
        detail
    } else {
        let caps: Vec<&str> = action.modelled.iter().map(|c| c.as_str()).collect();
        format!("{detail}; modelled: {}", caps.join(", "))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capability::{Capability, CapabilitySet};
    use crate::model::{Body, Platform};
    use crate::plan::testing::{in_sync, live_id, object, plugin};
    use crate::plan::{self, Policy};

    #[test]
    fn a_plugin_update_says_the_plugin_is_absent_between_the_steps() {
        let before = plugin("pto").build();
        let mut after = before.clone();
        if let Body::AgentStudio(p) = std::sync::Arc::make_mut(&mut after.body) {
            p.description = Some("new words".into());
        }
        after.hash = after.body.content_hash();
        let (live, inventory) = in_sync(std::slice::from_ref(&before));
        let live = live.with_export(object(&live_id("pto"), 1, &before.body));
        let policy = Policy::new("assistants", Platform::AgentStudio);
        let planned = plan::plan(std::slice::from_ref(&after), &live, &inventory, &policy);
        let v = view(&planned.actions[0]).unwrap();
        assert_eq!(v.detail, "changed, install; modelled: templates");
        assert!(
            v.notes.contains(
                &"the plugin is absent between deleting the old one and creating the new one"
                    .to_owned()
            ),
            "{:?}",
            v.notes
        );
        let policy = Policy {
            capabilities: CapabilitySet::all().without(Capability::Templates),
            ..policy
        };
        let planned = plan::plan(std::slice::from_ref(&after), &live, &inventory, &policy);
        let v = view(&planned.actions[0]).unwrap();
        assert_eq!(v.verb, "blocked");
        assert_eq!(v.detail, "would replace; modelled: templates");
    }
}
