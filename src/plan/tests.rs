//! One test per planning rule.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};

use crate::capability::{Capability, CapabilitySet};
use crate::config::OnConflict;
use crate::model::{
    Catalog, ContentHash, Desired, Kind, Location, Platform, PluginState, PluginTrigger, Warning,
    WarningKind,
};
use crate::plan::window::WindowDecision;
use crate::sensitive::{Finding, FindingKind};

use super::testing::{cde, entry, in_sync, kizen, live_id, object, plugin, summary};
use super::*;

fn kizen_policy() -> Policy {
    Policy::new("prod", Platform::Kizen)
}

/// The plan of `desired` for a tenant that holds nothing and where ferry recorded nothing.
fn plan_empty(desired: &[Desired], policy: &Policy) -> Plan {
    plan(desired, &LiveView::default(), &[], policy)
}

fn ops(plan: &Plan) -> Vec<(String, OpKind)> {
    plan.actions
        .iter()
        .map(|a| (a.connector.clone(), a.op.kind()))
        .collect()
}

fn only(plan: &Plan) -> &Action {
    assert_eq!(plan.actions.len(), 1, "{:#?}", plan.actions);
    &plan.actions[0]
}

/// The warnings the one action of `plan`, a create, expects.
fn create_warnings(plan: &Plan) -> &[Warning] {
    match &only(plan).op {
        Op::Create {
            expected_warnings, ..
        } => expected_warnings,
        other => panic!("expected a create, got {other:?}"),
    }
}

fn block_reason(action: &Action) -> &BlockReason {
    match &action.op {
        Op::Blocked { reason, .. } => reason,
        other => panic!("expected blocked, got {other:?}"),
    }
}

fn closed() -> WindowDecision {
    WindowDecision::Closed {
        reason: "inside the deny window `0 18 * * 5` (Europe/Berlin, 62h)".into(),
        reopens: Some(
            DateTime::parse_from_rfc3339("2024-06-10T06:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        ),
    }
}

#[test]
fn new_connector_is_imported() {
    let d = kizen("orders-sync").build();
    let plan = plan_empty(std::slice::from_ref(&d), &kizen_policy());
    let action = only(&plan);
    assert_eq!(action.name, "Orders Sync");
    assert_eq!(action.reason.as_deref(), Some("new in git"));
    let Op::Create {
        body,
        hash,
        source_hash,
        via,
        expected_warnings,
    } = &action.op
    else {
        panic!("{action:?}")
    };
    assert_eq!(
        (body, hash, source_hash),
        (&d.body, &d.hash, &d.source_hash)
    );
    assert_eq!(via, &CreateVia::Import);
    assert!(expected_warnings.is_empty());
    assert_eq!(plan.changes(), 1);
    assert!(!plan.is_empty());
}

#[test]
fn connector_in_sync_is_a_noop_and_needs_no_export() {
    let desired = vec![kizen("a").build(), kizen("b").build()];
    let (live, inventory) = in_sync(&desired);
    let policy = kizen_policy();
    assert_eq!(
        needs_export(&desired, &live.summaries, &inventory, &policy),
        Vec::<String>::new()
    );
    let plan = plan(&desired, &live, &inventory, &policy);
    assert!(plan.is_empty(), "{:#?}", plan.actions);
    assert_eq!(plan.changes(), 0);
    assert_eq!(plan.summary().unchanged, 2);
    assert_eq!(plan.summary().to_string(), "no changes");
}

#[test]
fn changed_content_is_exported_and_replaced() {
    let before = kizen("orders-sync").build();
    let after = kizen("orders-sync").sql("select 2\n").build();
    let (live, inventory) = in_sync(std::slice::from_ref(&before));
    let id = live_id("orders-sync");
    let policy = kizen_policy();
    assert_eq!(
        needs_export(
            std::slice::from_ref(&after),
            &live.summaries,
            &inventory,
            &policy
        ),
        vec![id.clone()]
    );
    let live = live.with_export(object(&id, 1, &before.body));
    let plan = plan(std::slice::from_ref(&after), &live, &inventory, &policy);
    let action = only(&plan);
    assert_eq!(
        action.reason.as_deref(),
        Some("content changed in git (liveSql)")
    );
    let Op::Replace {
        live_id,
        old,
        body,
        cause,
        hash,
        ..
    } = &action.op
    else {
        panic!("{action:?}")
    };
    assert_eq!(live_id, &id);
    assert_eq!(old.as_ref(), Some(&*before.body));
    assert_eq!(body, &after.body);
    assert_eq!(hash, &after.hash);
    assert_eq!(*cause, ReplaceCause::Changed);
    assert!(plan.drift.is_empty());
}

#[test]
fn only_the_name_changed_is_a_rename() {
    let before = kizen("orders-sync").build();
    let after = kizen("orders-sync").name("Orders Sync EU").build();
    let (live, inventory) = in_sync(std::slice::from_ref(&before));
    let plan = plan(
        std::slice::from_ref(&after),
        &live,
        &inventory,
        &kizen_policy(),
    );
    let action = only(&plan);
    assert_eq!(
        action.op,
        Op::Rename {
            live_id: live_id("orders-sync"),
            from: "Orders Sync".into(),
            to: "Orders Sync EU".into(),
            hash: after.hash.clone(),
            source_hash: after.source_hash.clone(),
        }
    );
    // Name and SQL changed: a replace, not a rename.
    let both = kizen("orders-sync")
        .name("Orders Sync EU")
        .sql("select 3")
        .build();
    let plan = super::plan(&[both], &live, &inventory, &kizen_policy());
    assert_eq!(only(&plan).op.kind(), OpKind::Replace);
}

#[test]
fn object_deleted_by_a_person_is_created_again() {
    let d = kizen("orders-sync").build();
    let (_, inventory) = in_sync(std::slice::from_ref(&d));
    let plan = plan(
        std::slice::from_ref(&d),
        &LiveView::default(),
        &inventory,
        &kizen_policy(),
    );
    let action = only(&plan);
    assert_eq!(action.op.kind(), OpKind::Create);
    assert_eq!(
        action.reason.as_deref(),
        Some("deleted in the tenant by a person; ferry creates it again")
    );
}

/// A managed object someone edited in the tenant: version 2, other SQL.
fn drifted() -> (Desired, LiveView, Vec<InventoryEntry>) {
    let d = kizen("orders-sync").build();
    let id = live_id("orders-sync");
    let edited = kizen("orders-sync").sql("select 'hand edit'").build();
    let inventory = vec![entry(&d, &id, 1)];
    let live = LiveView::listed(vec![summary(&id, "Orders Sync", 2)]).with_export(object(
        &id,
        2,
        &edited.body,
    ));
    (d, live, inventory)
}

#[test]
fn drift_is_reported_and_not_healed_by_default() {
    let (d, live, inventory) = drifted();
    let policy = kizen_policy();
    assert_eq!(
        needs_export(
            std::slice::from_ref(&d),
            &live.summaries,
            &inventory,
            &policy
        ),
        vec![live_id("orders-sync")]
    );
    let plan = plan(std::slice::from_ref(&d), &live, &inventory, &policy);
    let action = only(&plan);
    assert!(
        matches!(
            action.op,
            Op::Noop {
                observed_version: None,
                ..
            }
        ),
        "{action:?}"
    );
    assert!(
        action
            .reason
            .as_deref()
            .unwrap()
            .contains("selfHeal is off"),
        "{action:?}"
    );
    assert_eq!(plan.drift.len(), 1);
    let item = &plan.drift[0];
    assert_eq!(item.connector, "orders-sync");
    assert_eq!(item.applied_hash, d.hash);
    assert_ne!(item.live_hash, d.hash);
    assert!(!item.healed);
    assert!(item.describe().contains("not restored by this plan"));
    // Drift alone is not a change: `plan` exits 0, the drift is reported separately.
    assert!(plan.is_empty());
}

#[test]
fn drift_is_healed_when_the_tenant_heals() {
    let (d, live, inventory) = drifted();
    let policy = Policy {
        heal_drift: true,
        ..kizen_policy()
    };
    let plan = plan(std::slice::from_ref(&d), &live, &inventory, &policy);
    let Op::Replace { cause, old, .. } = &only(&plan).op else {
        panic!("{plan:?}")
    };
    assert_eq!(*cause, ReplaceCause::Drift);
    assert!(old.is_some());
    assert!(plan.drift[0].healed);
}

#[test]
fn turning_the_active_toggle_on_is_not_drift() {
    let d = kizen("orders-sync").build();
    let id = live_id("orders-sync");
    let inventory = vec![entry(&d, &id, 1)];
    let mut activated = summary(&id, "Orders Sync", 2);
    activated.active = true;
    let mut exported = object(&id, 2, &d.body);
    exported.summary.active = true;
    let live = LiveView::listed(vec![activated]).with_export(exported);
    let plan = plan(
        std::slice::from_ref(&d),
        &live,
        &inventory,
        &Policy {
            heal_drift: true,
            ..kizen_policy()
        },
    );
    assert!(plan.drift.is_empty(), "{:?}", plan.drift);
    assert_eq!(
        only(&plan).op,
        Op::Noop {
            live_id: id,
            source_hash: d.source_hash.clone(),
            observed_version: Some(2),
            applied_hash: None,
        }
    );
}

#[test]
fn name_taken_by_an_unmanaged_object_fails_by_default() {
    let d = kizen("orders-sync").build();
    let live = LiveView::listed(vec![summary("hand-1", "Orders Sync", 4)]);
    let policy = kizen_policy();
    assert!(needs_export(std::slice::from_ref(&d), &live.summaries, &[], &policy).is_empty());
    let plan = plan(std::slice::from_ref(&d), &live, &[], &policy);
    let action = only(&plan);
    assert_eq!(
        block_reason(action),
        &BlockReason::NameConflict {
            name: "Orders Sync".into(),
            live_id: "hand-1".into()
        }
    );
    assert_eq!(
        action.reason.as_deref(),
        Some(
            "`Orders Sync` already exists in the tenant (id hand-1) and ferry does not manage it; \
             rename or delete it there, or set `onConflict: adopt` (manage it as it is) or \
             `onConflict: replace` (replace it with git's content) for this tenant"
        )
    );
    assert_eq!(plan.blocked().len(), 1);
    assert_eq!(plan.changes(), 0);
}

#[test]
fn adopt_takes_an_identical_object_as_it_is() {
    let d = kizen("orders-sync").build();
    let live = LiveView::listed(vec![summary("hand-1", "Orders Sync", 4)]);
    let policy = Policy {
        on_conflict: OnConflict::Adopt,
        ..kizen_policy()
    };
    assert_eq!(
        needs_export(std::slice::from_ref(&d), &live.summaries, &[], &policy),
        vec!["hand-1".to_owned()]
    );
    let live = live.with_export(object("hand-1", 4, &d.body));
    let plan = plan(std::slice::from_ref(&d), &live, &[], &policy);
    assert_eq!(
        only(&plan).op,
        Op::Adopt {
            live_id: "hand-1".into(),
            live_hash: d.hash.clone(),
            version: 4
        }
    );
}

#[test]
fn adopt_then_replace_when_the_content_differs() {
    let d = kizen("orders-sync").build();
    let other = kizen("orders-sync").sql("select 'by hand'").build();
    let live = LiveView::listed(vec![summary("hand-1", "Orders Sync", 4)]).with_export(object(
        "hand-1",
        4,
        &other.body,
    ));
    let policy = Policy {
        on_conflict: OnConflict::Adopt,
        ..kizen_policy()
    };
    let plan = plan(std::slice::from_ref(&d), &live, &[], &policy);
    assert_eq!(
        ops(&plan),
        vec![
            ("orders-sync".into(), OpKind::Adopt),
            ("orders-sync".into(), OpKind::Replace)
        ]
    );
    let Op::Replace { live_id, cause, .. } = &plan.actions[1].op else {
        unreachable!()
    };
    assert_eq!(
        (live_id.as_str(), *cause),
        ("hand-1", ReplaceCause::Changed)
    );
    assert_eq!(
        plan.actions[1].reason.as_deref(),
        Some("the adopted object differs from git (liveSql)")
    );
}

#[test]
fn adopt_without_an_export_is_blocked_not_guessed() {
    let d = kizen("orders-sync").build();
    let live = LiveView::listed(vec![summary("hand-1", "Orders Sync", 4)]);
    let policy = Policy {
        on_conflict: OnConflict::Adopt,
        ..kizen_policy()
    };
    let plan = plan(std::slice::from_ref(&d), &live, &[], &policy);
    assert_eq!(
        block_reason(only(&plan)),
        &BlockReason::ContentUnknown {
            live_id: "hand-1".into()
        }
    );
}

#[test]
fn on_conflict_replace_replaces_the_unmanaged_object() {
    let d = kizen("orders-sync").build();
    let other = kizen("orders-sync").sql("select 'by hand'").build();
    let live = LiveView::listed(vec![summary("hand-1", "Orders Sync", 4)]);
    let policy = Policy {
        on_conflict: OnConflict::Replace,
        ..kizen_policy()
    };
    assert_eq!(
        needs_export(std::slice::from_ref(&d), &live.summaries, &[], &policy),
        vec!["hand-1".to_owned()]
    );
    let live = live.with_export(object("hand-1", 4, &other.body));
    let plan = plan(std::slice::from_ref(&d), &live, &[], &policy);
    let action = only(&plan);
    let Op::Replace {
        live_id,
        cause,
        old,
        ..
    } = &action.op
    else {
        panic!("{action:?}")
    };
    assert_eq!(
        (live_id.as_str(), *cause),
        ("hand-1", ReplaceCause::Conflict)
    );
    assert_eq!(old.as_ref(), Some(&*other.body));
    assert_eq!(
        action.reason.as_deref(),
        Some("`Orders Sync` exists and ferry does not manage it; onConflict: replace")
    );
}

#[test]
fn name_held_by_another_managed_connector_is_blocked() {
    // `old-orders` left git but still holds the name `Orders Sync`.
    let old = kizen("old-orders").name("Orders Sync").build();
    let d = kizen("orders-sync").build();
    let (live, inventory) = in_sync(std::slice::from_ref(&old));
    let plan = plan(
        std::slice::from_ref(&d),
        &live,
        &inventory,
        &Policy {
            on_conflict: OnConflict::Replace,
            ..kizen_policy()
        },
    );
    let action = only(&plan);
    assert_eq!(
        block_reason(action),
        &BlockReason::NameTaken {
            name: "Orders Sync".into(),
            live_id: live_id("old-orders"),
            by: "old-orders".into()
        }
    );
}

#[test]
fn renaming_onto_a_taken_name_is_blocked() {
    let before = kizen("orders-sync").build();
    let after = kizen("orders-sync").name("Leads").build();
    let (mut live, inventory) = in_sync(std::slice::from_ref(&before));
    live.summaries.push(summary("hand-1", "Leads", 1));
    let plan = plan(
        std::slice::from_ref(&after),
        &live,
        &inventory,
        &kizen_policy(),
    );
    let Op::Blocked { intended, reason } = &only(&plan).op else {
        panic!("{plan:?}")
    };
    assert_eq!(*intended, OpKind::Rename);
    assert!(matches!(reason, BlockReason::NameConflict { live_id, .. } if live_id == "hand-1"));
}

#[test]
fn prune_only_what_ferry_created_and_only_when_asked() {
    let kept = kizen("kept").build();
    let gone = kizen("gone").build();
    let adopted = kizen("adopted").build();
    let (live, mut inventory) = in_sync(&[kept.clone(), gone.clone(), adopted.clone()]);
    inventory
        .iter_mut()
        .find(|e| e.connector == "adopted")
        .unwrap()
        .created_by_ferry = false;
    let desired = vec![kept];

    // Off by default: nothing deleted.
    let plan_off = plan(&desired, &live, &inventory, &kizen_policy());
    assert_eq!(ops(&plan_off), vec![("kept".into(), OpKind::Noop)]);

    let policy = Policy {
        prune: true,
        ..kizen_policy()
    };
    let plan_on = plan(&desired, &live, &inventory, &policy);
    assert_eq!(
        ops(&plan_on),
        vec![
            ("gone".into(), OpKind::Prune),
            ("kept".into(), OpKind::Noop)
        ]
    );
    let prune = &plan_on.actions[0];
    assert_eq!(
        prune.op,
        Op::Prune {
            live_id: live_id("gone")
        }
    );
    assert_eq!(prune.name, "Gone");

    // Already deleted by hand: nothing to prune.
    let mut live_without = live.clone();
    live_without.summaries.retain(|s| s.id != live_id("gone"));
    let plan_gone = plan(&desired, &live_without, &inventory, &policy);
    assert_eq!(ops(&plan_gone), vec![("kept".into(), OpKind::Noop)]);
}

#[test]
fn unmanaged_objects_are_never_pruned() {
    let d = kizen("kept").build();
    let (mut live, inventory) = in_sync(std::slice::from_ref(&d));
    live.summaries.push(summary("hand-1", "Hand Made", 3));
    let plan = plan(
        std::slice::from_ref(&d),
        &live,
        &inventory,
        &Policy {
            prune: true,
            ..kizen_policy()
        },
    );
    assert_eq!(ops(&plan), vec![("kept".into(), OpKind::Noop)]);
}

fn promotion(clean: &[&ContentHash]) -> Promotion {
    Promotion {
        from: "sandbox".into(),
        clean_source_hashes: clean.iter().map(|h| (*h).clone()).collect(),
        source_ids: BTreeMap::new(),
    }
}

#[test]
fn promotion_waits_for_content_applied_cleanly_in_the_source() {
    let d = kizen("orders-sync").build();
    let waiting = Policy {
        promotion: Some(promotion(&[])),
        ..kizen_policy()
    };
    let plan_waiting = plan_empty(std::slice::from_ref(&d), &waiting);
    let action = only(&plan_waiting);
    assert_eq!(
        block_reason(action),
        &BlockReason::WaitingForPromotion {
            from: "sandbox".into()
        }
    );
    assert_eq!(
        action.reason.as_deref(),
        Some(
            "waiting for promotion: this content has not been applied cleanly in `sandbox` yet; \
             ferry applies it here once `sandbox` has it without failures or open warnings"
        )
    );

    let clean = Policy {
        promotion: Some(promotion(&[&d.source_hash])),
        ..kizen_policy()
    };
    let plan_clean = plan_empty(std::slice::from_ref(&d), &clean);
    assert_eq!(only(&plan_clean).op.kind(), OpKind::Create);

    // Noops are not held back.
    let (live, inventory) = in_sync(std::slice::from_ref(&d));
    let plan_noop = plan(std::slice::from_ref(&d), &live, &inventory, &waiting);
    assert_eq!(only(&plan_noop).op.kind(), OpKind::Noop);
}

#[test]
fn closed_window_blocks_every_change_but_not_noops() {
    let unchanged = kizen("a-unchanged").build();
    let before = kizen("b-changed").build();
    let after = kizen("b-changed").sql("select 2").build();
    let gone = kizen("c-gone").build();
    let new = kizen("d-new").build();
    let (live, inventory) = in_sync(&[unchanged.clone(), before, gone]);
    let policy = Policy {
        window: closed(),
        prune: true,
        ..kizen_policy()
    };
    let plan = plan(&[unchanged, after, new], &live, &inventory, &policy);
    assert_eq!(
        ops(&plan),
        vec![
            ("a-unchanged".into(), OpKind::Noop),
            ("b-changed".into(), OpKind::Blocked),
            ("c-gone".into(), OpKind::Blocked),
            ("d-new".into(), OpKind::Blocked),
        ]
    );
    let intended: Vec<OpKind> = plan
        .blocked()
        .iter()
        .map(|a| match &a.op {
            Op::Blocked { intended, reason } => {
                assert!(matches!(reason, BlockReason::OutsideWindow { .. }));
                *intended
            }
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        intended,
        vec![OpKind::Replace, OpKind::Prune, OpKind::Create]
    );
    assert_eq!(
        plan.actions[3].reason.as_deref(),
        Some(
            "outside the sync window (inside the deny window `0 18 * * 5` (Europe/Berlin, 62h)); \
             ferry applies it when the window reopens at 2024-06-10 06:00 UTC"
        )
    );
    assert_eq!(plan.changes(), 0);
    assert_eq!(plan.summary().to_string(), "3 blocked");
}

#[test]
fn platform_limits_come_before_promotion_and_window() {
    let d = plugin("pto").state(PluginState::Draft).build();
    let policy = Policy {
        platform: Platform::AgentStudio,
        window: closed(),
        promotion: Some(promotion(&[])),
        ..kizen_policy()
    };
    let plan = plan_empty(std::slice::from_ref(&d), &policy);
    assert_eq!(block_reason(only(&plan)), &BlockReason::DraftPlugin);
}

fn plugin_policy() -> Policy {
    Policy {
        catalog: Catalog {
            connectors: vec!["Workday".into()],
            ..Catalog::default()
        },
        ..Policy::new("prod", Platform::AgentStudio)
    }
}

#[test]
fn draft_and_webhook_plugins_are_blocked() {
    let draft = plugin("draft").state(PluginState::Draft).build();
    let webhook = plugin("hook").trigger(PluginTrigger::Webhook).build();
    let plan = plan_empty(&[draft, webhook], &plugin_policy());
    assert_eq!(block_reason(&plan.actions[0]), &BlockReason::DraftPlugin);
    assert_eq!(block_reason(&plan.actions[1]), &BlockReason::WebhookPlugin);
    assert_eq!(
        plan.actions[1].reason.as_deref(),
        Some(
            "manual step: create the webhook plugin in the tenant by hand and copy its assets; \
             webhook-triggered plugins cannot be imported"
        )
    );
    assert!(
        plan.actions[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("publish it (`state: published`)")
    );
}

/// The policy of a tenant in `region` promoting `d` (live there as `sbx-9`) from a
/// sandbox in `us-west`.
fn plugin_promoted_from_region(d: &Desired, region: &str) -> Policy {
    Policy {
        promotion: Some(Promotion {
            source_ids: BTreeMap::from([("pto".into(), "sbx-9".into())]),
            ..promotion(&[&d.source_hash])
        }),
        plugin_source_region: Some("us-west".into()),
        region: Some(region.into()),
        ..plugin_policy()
    }
}

#[test]
fn plugin_promotion_across_regions_is_refused() {
    let d = plugin("pto").build();
    let plan = plan_empty(
        std::slice::from_ref(&d),
        &plugin_promoted_from_region(&d, "eu-central"),
    );
    assert_eq!(
        block_reason(only(&plan)),
        &BlockReason::CrossRegion {
            from: "us-west".into(),
            to: "eu-central".into()
        }
    );
}

#[test]
fn plugin_promotion_in_one_region_installs_from_a_link() {
    let d = plugin("pto").bindings(&["Workday"]).build();
    let plan = plan_empty(
        std::slice::from_ref(&d),
        &plugin_promoted_from_region(&d, "us-west"),
    );
    let Op::Create { via, .. } = &only(&plan).op else {
        panic!("{plan:?}")
    };
    assert_eq!(
        via,
        &CreateVia::InstallFromLink {
            from_tenant: "sandbox".into(),
            from_id: "sbx-9".into()
        }
    );
    // Without promotion, git's definition is installed.
    let direct = plan_empty(&[d], &plugin_policy());
    assert!(matches!(
        &only(&direct).op,
        Op::Create {
            via: CreateVia::Install,
            ..
        }
    ));
}

#[test]
fn plugin_binding_missing_from_the_tenant_is_blocked_at_its_line() {
    let d = plugin("pto").bindings(&["Workday", "BambooHR"]).build();
    let plan = plan_empty(std::slice::from_ref(&d), &plugin_policy());
    let action = only(&plan);
    assert_eq!(
        block_reason(action),
        &BlockReason::MissingBinding {
            connector: "BambooHR".into(),
            location: Some(Location {
                path: "connectors/pto.yaml".into(),
                line: 10,
                column: 7
            }),
        }
    );
    assert_eq!(
        action.reason.as_deref(),
        Some(
            "the plugin binds connector `BambooHR` (at connectors/pto.yaml:10:7), which this \
             tenant does not have; create the connector there (bindings are made by name on \
             install) or remove the binding"
        )
    );
}

fn cde_policy() -> Policy {
    Policy {
        catalog: Catalog {
            secrets: vec!["amazon/seller".into()],
            ..Catalog::default()
        },
        ..Policy::new("prod", Platform::ProductsupCde)
    }
}

#[test]
fn cde_secret_missing_from_the_store_is_blocked_at_its_line() {
    let d = cde("amazon")
        .secrets(&["amazon/seller", "google/io/shopping"])
        .build();
    let plan = plan_empty(std::slice::from_ref(&d), &cde_policy());
    let action = only(&plan);
    assert_eq!(
        action.reason.as_deref(),
        Some(
            "secret `google/io/shopping` (registered at connectors/amazon.yaml:15:9) does not \
             exist in this tenant's secret store; create it there, then ferry copies the connector"
        )
    );
    let ok = cde("amazon").secrets(&["amazon/seller"]).build();
    let plan = plan_empty(&[ok], &cde_policy());
    assert!(matches!(
        &only(&plan).op,
        Op::Create {
            via: CreateVia::Copy,
            ..
        }
    ));
}

#[test]
fn every_cde_copy_with_a_repository_expects_a_credentials_warning() {
    // The copy always comes back `authorization: public` with no username: whatever the
    // manifest says, a person must set or confirm the credentials.
    for authorization in ["public", "basic"] {
        let d = cde("amazon").vcs_authorization(authorization).build();
        let plan = plan_empty(&[d], &cde_policy());
        let expected_warnings = create_warnings(&plan);
        assert_eq!(
            expected_warnings,
            &[Warning {
                kind: WarningKind::VcsCredentials,
                reference: "set VCS credentials for https://git.example.com/import.git".into(),
            }],
            "{authorization}"
        );
    }
    let mut d = cde("no-vcs").build();
    if let crate::model::Body::ProductsupCde(c) = std::sync::Arc::make_mut(&mut d.body) {
        c.config.as_object_mut().unwrap().remove("vcs");
    }
    let plan = plan_empty(&[d], &cde_policy());
    let expected_warnings = create_warnings(&plan);
    assert!(expected_warnings.is_empty());
}

#[test]
fn kizen_references_missing_from_the_catalog_are_expected_warnings_not_blocks() {
    let d = kizen("orders-sync")
        .references(
            &["Lead Router", "Nightly"],
            &["EU Leads"],
            &["contacts.email", "contacts.phone"],
        )
        .build();
    let policy = Policy {
        catalog: Catalog {
            agentic_workflows: vec!["Lead Router".into()],
            fields: vec!["contacts.email".into()],
            ..Catalog::default()
        },
        ..kizen_policy()
    };
    let plan = plan_empty(&[d], &policy);
    let expected_warnings = create_warnings(&plan);
    let w = |kind, reference: &str| Warning {
        kind,
        reference: reference.into(),
    };
    assert_eq!(
        expected_warnings,
        &vec![
            w(WarningKind::AgenticWorkflow, "Nightly"),
            w(WarningKind::SeedingFilterGroup, "EU Leads"),
            w(WarningKind::FieldReference, "contacts.phone"),
        ]
    );
}

#[test]
fn sensitive_sample_data_blocks_only_cross_business_unreviewed_imports() {
    let sample = "name,email,phone\nAda,ada@example.com,+44 20 7946 0958\nBob,n/a,n/a\n";
    let d = kizen("orders-sync")
        .sample(sample)
        .reference_data("code,label\nA,Alpha\n")
        .build();
    let cross = Policy {
        cross_business: true,
        ..kizen_policy()
    };
    let plan = plan_empty(std::slice::from_ref(&d), &cross);
    let action = only(&plan);
    let BlockReason::SensitiveData { files } = block_reason(action) else {
        panic!("{action:?}")
    };
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].file, "sampleFile");
    assert_eq!(
        files[0].findings,
        vec![
            Finding {
                kind: FindingKind::Email,
                line: 2
            },
            Finding {
                kind: FindingKind::Phone,
                line: 2
            }
        ]
    );
    let message = action.reason.as_deref().unwrap();
    assert_eq!(
        message,
        "possible sensitive data, and this tenant belongs to another business: sampleFile \
         (named at connectors/orders-sync.yaml:9:3): e-mail address on line 2; phone number on \
         line 2. Remove it, or after a review annotate the manifest with \
         `ferry.dev/sensitive-data-reviewed: <who, when>`"
    );
    assert!(!message.contains("ada@"), "the data itself never appears");
    let json = serde_json::to_string(&plan).unwrap();
    assert!(!json.contains("ada@example.com\""), "{json}");

    // Same business: no scan.
    let same = super::plan(
        std::slice::from_ref(&d),
        &LiveView::default(),
        &[],
        &kizen_policy(),
    );
    assert_eq!(only(&same).op.kind(), OpKind::Create);
    // Reviewed: no scan.
    let reviewed = kizen("orders-sync").sample(sample).reviewed().build();
    let plan = plan_empty(&[reviewed], &cross);
    assert_eq!(only(&plan).op.kind(), OpKind::Create);
}

#[test]
fn sensitive_findings_are_capped_with_a_total() {
    let sample: String = (0..25).map(|i| format!("user{i}@example.com\n")).collect();
    let d = kizen("orders-sync").sample(&sample).build();
    let plan = plan(
        &[d],
        &LiveView::default(),
        &[],
        &Policy {
            cross_business: true,
            ..kizen_policy()
        },
    );
    let BlockReason::SensitiveData { files } = block_reason(only(&plan)) else {
        panic!()
    };
    assert_eq!((files[0].findings.len(), files[0].total), (10, 25));
    assert!(
        plan.actions[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("(15 more)")
    );
}

#[test]
fn duplicate_of_duplicates_the_named_tenant_connector() {
    let d = kizen("orders-eu").duplicate_of("Orders Template").build();
    let live = LiveView::listed(vec![summary("tpl-1", "Orders Template", 3)]);
    let plan = plan(std::slice::from_ref(&d), &live, &[], &kizen_policy());
    assert_eq!(
        only(&plan).op,
        Op::Duplicate {
            source_id: "tpl-1".into(),
            source_name: "Orders Template".into(),
            name: "Orders Eu".into(),
            api_name: "orders_eu".into(),
            hash: d.hash.clone(),
            source_hash: d.source_hash.clone(),
            expected_warnings: vec![],
        }
    );

    let plan = plan_empty(&[d], &kizen_policy());
    let action = only(&plan);
    assert_eq!(
        action.op,
        Op::Blocked {
            intended: OpKind::Duplicate,
            reason: BlockReason::DuplicateSourceMissing {
                name: "Orders Template".into()
            }
        }
    );
    assert_eq!(
        action.reason.as_deref(),
        Some(
            "`duplicateOf: Orders Template` names no connector in this tenant; create \
             `Orders Template` there first or remove `duplicateOf`"
        )
    );
}

#[test]
fn actions_are_ordered_by_connector_whatever_the_input_order() {
    let desired = vec![
        kizen("zeta").build(),
        kizen("alpha").build(),
        kizen("mid").build(),
    ];
    let plan = plan_empty(&desired, &kizen_policy());
    let names: Vec<&str> = plan.actions.iter().map(|a| a.connector.as_str()).collect();
    assert_eq!(names, ["alpha", "mid", "zeta"]);
}

#[test]
fn plan_serializes_with_stable_tags_and_round_trips() {
    let d = kizen("orders-sync").build();
    let mut plan = plan(
        std::slice::from_ref(&d),
        &LiveView::default(),
        &[],
        &Policy {
            window: closed(),
            ..kizen_policy()
        },
    );
    plan.revision = Some("abc123".into());
    let value = serde_json::to_value(&plan).unwrap();
    assert_eq!(value["platform"], "kizen");
    assert_eq!(value["actions"][0]["op"]["op"], "blocked");
    assert_eq!(value["actions"][0]["op"]["intended"], "create");
    assert_eq!(
        value["actions"][0]["op"]["reason"]["kind"],
        "outside-window"
    );
    assert_eq!(value["actions"][0]["kind"], "SmartConnector");
    let back: Plan = serde_json::from_value(value).unwrap();
    assert_eq!(back, plan);
}

#[test]
fn every_block_reason_says_what_to_do() {
    let loc = Some(Location {
        path: "c.yaml".into(),
        line: 3,
        column: 5,
    });
    let reasons = [
        BlockReason::NameConflict {
            name: "X".into(),
            live_id: "1".into(),
        },
        BlockReason::NameTaken {
            name: "X".into(),
            live_id: "1".into(),
            by: "x".into(),
        },
        BlockReason::WebhookPlugin,
        BlockReason::DraftPlugin,
        BlockReason::CrossRegion {
            from: "us-west".into(),
            to: "eu".into(),
        },
        BlockReason::MissingSecret {
            secret: "s".into(),
            location: loc.clone(),
        },
        BlockReason::MissingBinding {
            connector: "c".into(),
            location: loc,
        },
        BlockReason::SensitiveData { files: vec![] },
        BlockReason::OutsideWindow {
            window: "w".into(),
            reopens: None,
        },
        BlockReason::WaitingForPromotion {
            from: "sandbox".into(),
        },
        BlockReason::DuplicateSourceMissing { name: "T".into() },
        BlockReason::ContentUnknown {
            live_id: "1".into(),
        },
    ];
    let verbs = [
        "rename",
        "give",
        "create",
        "publish",
        "promote",
        "create",
        "create",
        "annotate",
        "applies",
        "applies",
        "create",
        "plan again",
    ];
    for (reason, verb) in reasons.iter().zip(verbs) {
        let text = reason.to_string();
        assert!(
            text.contains(verb),
            "{text:?} should tell the user to {verb}"
        );
    }
}

#[test]
fn duplicate_desired_entries_and_inventory_rows_resolve_deterministically() {
    let d = kizen("orders-sync").build();
    let mut stale = entry(&d, "gone-7", 1);
    stale.applied_hash = ContentHash("old".into());
    let (live, mut inventory) = in_sync(std::slice::from_ref(&d));
    inventory.insert(0, stale);
    let plan = plan(std::slice::from_ref(&d), &live, &inventory, &kizen_policy());
    // The entry whose object is listed wins: the connector is in sync.
    assert_eq!(only(&plan).op.kind(), OpKind::Noop);
    let kinds: HashSet<Kind> = plan.actions.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, HashSet::from([Kind::SmartConnector]));
}

// ---------------------------------------------------------------------------------------
// Capabilities and replace strategies

fn replaced(before: &Desired, after: &Desired, policy: &Policy) -> Action {
    let (live, inventory) = in_sync(std::slice::from_ref(before));
    let id = live_id(&before.connector);
    let live = live.with_export(object(&id, 1, &before.body));
    let plan = plan(std::slice::from_ref(after), &live, &inventory, policy);
    only(&plan).clone()
}

fn strategy(action: &Action) -> ReplaceStrategy {
    match &action.op {
        Op::Replace { strategy, .. } => *strategy,
        other => panic!("expected a replace, got {other:?}"),
    }
}

#[test]
fn a_kizen_replace_moves_aside_through_modelled_calls_or_deletes_first_without_them() {
    let before = kizen("orders-sync").build();
    let after = kizen("orders-sync").sql("select 2\n").build();
    let all = replaced(&before, &after, &kizen_policy());
    assert_eq!(strategy(&all), ReplaceStrategy::RenameAside);
    assert_eq!(all.modelled, [Capability::Rename, Capability::ApiName]);

    for off in [Capability::Rename, Capability::ApiName] {
        let policy = Policy {
            capabilities: CapabilitySet::all().without(off),
            ..kizen_policy()
        };
        let documented = replaced(&before, &after, &policy);
        assert_eq!(strategy(&documented), ReplaceStrategy::DeleteFirst, "{off}");
        assert!(documented.modelled.is_empty(), "{off}: {documented:?}");
    }
}

#[test]
fn a_plugin_update_deletes_and_redeploys_and_creating_from_git_is_modelled() {
    let policy = Policy::new("assistants", Platform::AgentStudio);
    let before = plugin("pto").build();
    let after = plugin("pto").state(PluginState::Published).build();
    let mut after = after;
    if let crate::model::Body::AgentStudio(p) = std::sync::Arc::make_mut(&mut after.body) {
        p.description = Some("new words".into());
    }
    after.hash = after.body.content_hash();
    let update = replaced(&before, &after, &policy);
    assert_eq!(strategy(&update), ReplaceStrategy::DeleteFirst);
    assert_eq!(update.modelled, [Capability::Templates]);

    // Without templates a plugin comes only by promotion: from git alone, a manual step.
    let policy = Policy {
        capabilities: CapabilitySet::all().without(Capability::Templates),
        ..policy
    };
    let d = plugin("pto").build();
    let plan = plan_empty(std::slice::from_ref(&d), &policy);
    let action = only(&plan);
    assert!(
        matches!(
            block_reason(action),
            BlockReason::CapabilityOff {
                capability: Capability::Templates,
                ..
            }
        ),
        "{action:?}"
    );
    assert!(
        action
            .reason
            .as_deref()
            .unwrap()
            .starts_with("manual step: Agent Studio creates plugins by promotion"),
        "{action:?}"
    );
    assert!(
        action
            .reason
            .as_deref()
            .unwrap()
            .ends_with("ferry would use the modelled POST /api/v1/templates, and this tenant switched capability `templates` off"),
        "{action:?}"
    );
}

#[test]
fn a_promoted_plugin_relies_on_no_modelled_capability() {
    let d = plugin("pto").build();
    let policy = Policy {
        promotion: Some(Promotion {
            from: "sandbox".into(),
            clean_source_hashes: HashSet::from([d.source_hash.clone()]),
            source_ids: BTreeMap::from([("pto".to_owned(), "pl_1".to_owned())]),
        }),
        capabilities: CapabilitySet::all().without(Capability::Templates),
        ..Policy::new("assistants", Platform::AgentStudio)
    };
    let plan = plan_empty(std::slice::from_ref(&d), &policy);
    let action = only(&plan);
    assert_eq!(action.op.kind(), OpKind::Create, "{action:?}");
    assert!(action.modelled.is_empty());
}

#[test]
fn a_cde_copy_without_rename_keeps_its_copy_name_until_a_person_renames_it() {
    let policy = Policy {
        catalog: Catalog {
            secrets: vec!["amazon/seller".into()],
            ..Catalog::default()
        },
        ..Policy::new("feeds", Platform::ProductsupCde)
    };
    let d = cde("amazon").secrets(&["amazon/seller"]).build();
    let first = plan_empty(std::slice::from_ref(&d), &policy);
    assert_eq!(
        only(&first).modelled,
        [Capability::Rename, Capability::Secrets]
    );

    let off = Policy {
        capabilities: CapabilitySet::all()
            .without(Capability::Rename)
            .without(Capability::Secrets),
        catalog: Catalog::default(),
        ..policy
    };
    let plan = plan_empty(std::slice::from_ref(&d), &off);
    let create = only(&plan);
    assert_eq!(
        create.op.kind(),
        OpKind::Create,
        "no secret look-up: {create:?}"
    );
    assert!(create.modelled.is_empty());
    assert!(
        create
            .reason
            .as_deref()
            .unwrap()
            .ends_with("the copy keeps the name `Amazon - Copy` until a person renames it to `Amazon` (capability `rename` is off)"),
        "{create:?}"
    );

    // Recorded under the copy's name, the connector plans a rename: a manual step.
    let copy_name = "Amazon - Copy";
    let held = d.body.with_name(copy_name);
    let id = live_id("amazon");
    let mut recorded = entry(&d, &id, 1);
    recorded.applied_hash = held.content_hash();
    recorded.name = copy_name.into();
    let live = LiveView::listed(vec![summary(&id, copy_name, 1)]);
    let plan = super::plan(
        std::slice::from_ref(&d),
        &live,
        std::slice::from_ref(&recorded),
        &off,
    );
    let rename = only(&plan);
    assert!(
        matches!(
            block_reason(rename),
            BlockReason::CapabilityOff {
                capability: Capability::Rename,
                ..
            }
        ),
        "{rename:?}"
    );
    assert!(
        rename
            .reason
            .as_deref()
            .unwrap()
            .starts_with("manual step: rename `Amazon - Copy` to `Amazon` in the tenant by hand"),
        "{rename:?}"
    );

    // Once a person renamed it, the tenant holds git's content: a noop that records it.
    let live =
        LiveView::listed(vec![summary(&id, "Amazon", 2)]).with_export(object(&id, 2, &d.body));
    let plan = super::plan(
        std::slice::from_ref(&d),
        &live,
        std::slice::from_ref(&recorded),
        &off,
    );
    assert_eq!(
        only(&plan).op,
        Op::Noop {
            live_id: id,
            source_hash: d.source_hash.clone(),
            observed_version: Some(2),
            applied_hash: Some(d.hash.clone()),
        }
    );
    assert!(plan.drift.is_empty(), "{:?}", plan.drift);
}

#[test]
fn a_cde_replace_without_rename_copies_before_it_bins() {
    let before = cde("amazon").build();
    let after = cde("amazon").arguments("app.php import --all").build();
    let policy = Policy::new("feeds", Platform::ProductsupCde);
    let all = replaced(&before, &after, &policy);
    assert_eq!(strategy(&all), ReplaceStrategy::RenameAside);
    let off = Policy {
        capabilities: CapabilitySet::all().without(Capability::Rename),
        ..policy
    };
    let documented = replaced(&before, &after, &off);
    assert_eq!(strategy(&documented), ReplaceStrategy::CopyThenDelete);
    assert!(documented.modelled.is_empty(), "{documented:?}");
}
