//! Which actions of one apply wait for which.
//!
//! Apply runs a tenant's actions several at once; this module says which of them must
//! still run one after another, in the plan's order. Two actions are ordered when they
//! touch one thing in common: the same connector (an adoption and the replace that
//! follows it), the same live object (a duplicate's source, an object renamed, replaced
//! or pruned), the same tenant-side name or API name (a rename freeing a name another
//! action takes, a replace's aside name, a CDE copy's `<name> - Copy`), and every prune
//! with every action that creates an object (a pruned object may hold an API name or
//! other key the tenant does not list). The steps of one action (a replace's rename
//! aside, create and delete) are one action and so always stay in order.
//!
//! It must not decide what to change (the plan did) nor call anything: it only orders.

use std::collections::HashMap;

use crate::model::{Body, LiveSummary};
use crate::plan::{Action, Op};

use super::aside_name;

/// For each action of `actions` (by index), the earlier indices it waits for. Only the
/// actions where `runs` is true take part; the others wait for nothing and nothing waits
/// for them.
pub(super) fn waits_for(
    actions: &[Action],
    runs: &[bool],
    live: &[LiveSummary],
) -> Vec<Vec<usize>> {
    let mut holder: HashMap<String, usize> = HashMap::new();
    let mut last_prune: Option<usize> = None;
    let mut creates_since_prune: Vec<usize> = Vec::new();
    let mut waits: Vec<Vec<usize>> = vec![Vec::new(); actions.len()];
    for (i, action) in actions.iter().enumerate() {
        if !runs[i] {
            continue;
        }
        let mut before: Vec<usize> = Vec::new();
        for key in keys(action, live) {
            if let Some(earlier) = holder.insert(key, i).filter(|&e| e != i) {
                before.push(earlier);
            }
        }
        match &action.op {
            Op::Prune { .. } => {
                before.append(&mut creates_since_prune);
                before.extend(last_prune);
                last_prune = Some(i);
            }
            Op::Create { .. } | Op::Duplicate { .. } | Op::Replace { .. } => {
                before.extend(last_prune);
                creates_since_prune.push(i);
            }
            _ => {}
        }
        before.sort_unstable();
        before.dedup();
        debug_assert!(
            before.iter().all(|&b| b < i),
            "waits only for earlier actions"
        );
        waits[i] = before;
    }
    waits
}

/// What `action` touches: its connector, the live objects, names and API names.
fn keys(action: &Action, live: &[LiveSummary]) -> Vec<String> {
    let mut keys = vec![format!(
        "connector\0{:?}\0{}",
        action.kind, action.connector
    )];
    let mut name = |n: &str| keys.push(format!("name\0{}", n.to_lowercase()));
    name(&action.name);
    let live_name = |id: &str| live.iter().find(|s| s.id == id).map(|s| s.name.as_str());
    let mut ids: Vec<&str> = Vec::new();
    let mut api_names: Vec<&str> = Vec::new();
    match &action.op {
        Op::Create { body, .. } => {
            created(body, &mut name, &mut api_names);
        }
        Op::Duplicate {
            source_id,
            name: new_name,
            api_name,
            ..
        } => {
            ids.push(source_id);
            name(new_name);
            api_names.push(api_name);
        }
        Op::Replace {
            live_id,
            body,
            hash,
            ..
        } => {
            ids.push(live_id);
            created(body, &mut name, &mut api_names);
            let old = live_name(live_id).unwrap_or(body.name());
            name(old);
            name(&aside_name(old, hash));
        }
        Op::Rename {
            live_id, from, to, ..
        } => {
            ids.push(live_id);
            name(from);
            name(to);
        }
        Op::Adopt { live_id, .. } | Op::Prune { live_id } => {
            ids.push(live_id);
            if let Some(n) = live_name(live_id) {
                name(n);
            }
        }
        Op::Noop { .. } | Op::Blocked { .. } => {}
    }
    keys.extend(ids.into_iter().map(|id| format!("id\0{id}")));
    keys.extend(
        api_names
            .into_iter()
            .map(|a| format!("api\0{}", a.to_lowercase())),
    );
    keys
}

/// The names and API names a create of `body` takes (a CDE copy is `<name> - Copy` until
/// it is renamed).
fn created<'a>(body: &'a Body, name: &mut impl FnMut(&str), api_names: &mut Vec<&'a str>) {
    name(body.name());
    match body {
        Body::Kizen(p) => api_names.push(&p.api_name),
        Body::ProductsupCde(c) => name(&format!("{} - Copy", c.name)),
        Body::AgentStudio(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ContentHash, Kind};
    use crate::plan::testing;

    fn action(connector: &str, name: &str, op: Op) -> Action {
        Action {
            connector: connector.into(),
            kind: Kind::SmartConnector,
            name: name.into(),
            op,
            reason: None,
            modelled: Vec::new(),
        }
    }

    fn create(connector: &str, name: &str) -> Action {
        let d = testing::kizen(connector).name(name).build();
        action(
            connector,
            name,
            Op::Create {
                body: d.body.clone(),
                hash: d.hash.clone(),
                source_hash: d.source_hash.clone(),
                via: crate::plan::CreateVia::Import,
                expected_warnings: Vec::new(),
            },
        )
    }

    fn rename(connector: &str, id: &str, from: &str, to: &str) -> Action {
        action(
            connector,
            to,
            Op::Rename {
                live_id: id.into(),
                from: from.into(),
                to: to.into(),
                hash: ContentHash("h".into()),
                source_hash: ContentHash("s".into()),
            },
        )
    }

    fn prune(connector: &str, id: &str, name: &str) -> Action {
        action(connector, name, Op::Prune { live_id: id.into() })
    }

    #[test]
    fn independent_creates_wait_for_nothing() {
        let actions = vec![create("a", "A"), create("b", "B"), create("c", "C")];
        let waits = waits_for(&actions, &[true; 3], &[]);
        assert_eq!(waits, vec![Vec::<usize>::new(); 3]);
    }

    #[test]
    fn a_name_freed_by_a_rename_is_taken_after_it() {
        // `b` renames its object from "Orders" to "Orders Old"; `c` creates "Orders".
        let actions = vec![
            create("a", "Leads"),
            rename("b", "sc_1", "Orders", "Orders Old"),
            create("c", "orders"),
        ];
        let waits = waits_for(&actions, &[true; 3], &[]);
        assert_eq!(waits, vec![vec![], vec![], vec![1]]);
    }

    #[test]
    fn the_same_connector_and_object_stay_in_plan_order() {
        let actions = vec![
            action(
                "a",
                "A",
                Op::Adopt {
                    live_id: "sc_1".into(),
                    live_hash: ContentHash("h".into()),
                    version: 1,
                },
            ),
            create("a", "A"),
            rename("z", "sc_1", "X", "Y"),
        ];
        let waits = waits_for(&actions, &[true; 3], &[]);
        assert_eq!(waits, vec![vec![], vec![0], vec![0]]);
    }

    #[test]
    fn prunes_and_creates_wait_for_each_other_in_plan_order() {
        let actions = vec![
            create("a", "A"),
            prune("b", "sc_9", "B"),
            create("c", "C"),
            rename("d", "sc_4", "D", "E"),
        ];
        let waits = waits_for(&actions, &[true; 4], &[]);
        assert_eq!(waits, vec![vec![], vec![0], vec![1], vec![]]);
    }

    #[test]
    fn actions_that_do_not_run_are_left_out() {
        let actions = vec![create("a", "A"), create("b", "A")];
        assert_eq!(
            waits_for(&actions, &[true, true], &[]),
            vec![vec![], vec![0]]
        );
        assert_eq!(
            waits_for(&actions, &[false, true], &[]),
            vec![Vec::<usize>::new(); 2]
        );
    }
}
