//! Planner properties over generated tenants: manifests in every situation a connector can
//! be in (in sync, changed, renamed, drifted, activated, deleted by hand, new, name taken),
//! objects that left git, hand-made objects, and every policy knob.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use ferry::config::OnConflict;
use ferry::model::{Catalog, Desired, LiveObject, Platform};
use ferry::plan::testing::{self, DesiredBuilder, entry, in_sync, live_id, object, summary};
use ferry::plan::window::WindowDecision;
use ferry::plan::{
    BlockReason, InventoryEntry, LiveView, Op, OpKind, Plan, Policy, Promotion, needs_export, plan,
};
use proptest::prelude::*;

const POOL: [&str; 10] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
];

/// Where a desired connector stands before planning.
#[derive(Debug, Clone, Copy)]
enum Situation {
    InSync,
    ChangedInGit,
    RenamedInGit,
    Drifted,
    Activated,
    DeletedByHand,
    New,
    NameTaken { same_content: bool },
}

fn situation() -> impl Strategy<Value = Situation> {
    prop_oneof![
        Just(Situation::InSync),
        Just(Situation::ChangedInGit),
        Just(Situation::RenamedInGit),
        Just(Situation::Drifted),
        Just(Situation::Activated),
        Just(Situation::DeletedByHand),
        Just(Situation::New),
        any::<bool>().prop_map(|same_content| Situation::NameTaken { same_content }),
    ]
}

#[derive(Debug, Clone)]
struct PolicySpec {
    on_conflict: OnConflict,
    prune: bool,
    heal_drift: bool,
    closed: bool,
    promotion: Option<u8>,
}

fn policy_spec() -> impl Strategy<Value = PolicySpec> {
    (
        prop_oneof![
            Just(OnConflict::Fail),
            Just(OnConflict::Adopt),
            Just(OnConflict::Replace)
        ],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(any::<u8>()),
    )
        .prop_map(
            |(on_conflict, prune, heal_drift, closed, promotion)| PolicySpec {
                on_conflict,
                prune,
                heal_drift,
                closed,
                promotion,
            },
        )
}

#[derive(Debug, Clone)]
struct WorldSpec {
    platform: Platform,
    connectors: BTreeMap<usize, (Situation, u8)>,
    /// Connectors that left git: (created by ferry, still in the tenant).
    gone: Vec<(bool, bool)>,
    hand_made: usize,
    policy: PolicySpec,
}

fn world_spec() -> impl Strategy<Value = WorldSpec> {
    (
        prop_oneof![
            Just(Platform::Kizen),
            Just(Platform::AgentStudio),
            Just(Platform::ProductsupCde)
        ],
        prop::collection::btree_map(0..POOL.len(), (situation(), any::<u8>()), 0..8),
        prop::collection::vec((any::<bool>(), any::<bool>()), 0..4),
        0..3usize,
        policy_spec(),
    )
        .prop_map(
            |(platform, connectors, gone, hand_made, policy)| WorldSpec {
                platform,
                connectors,
                gone,
                hand_made,
                policy,
            },
        )
}

/// A manifest of the world's platform, its content chosen by `variant`.
fn manifest(platform: Platform, connector: &str, variant: u8) -> DesiredBuilder {
    match platform {
        Platform::Kizen => testing::kizen(connector).sql(&format!("select {variant}\n")),
        Platform::AgentStudio => {
            let bindings: &[&str] = if variant.is_multiple_of(2) {
                &["Workday"]
            } else {
                &[]
            };
            testing::plugin(connector).bindings(bindings)
        }
        Platform::ProductsupCde => {
            testing::cde(connector).arguments(&format!("app.php import --batch {variant}"))
        }
    }
}

/// A generated tenant: what git wants, what the tenant holds, what ferry recorded, every
/// export the tenant could give, and the policy.
struct World {
    desired: Vec<Desired>,
    summaries: Vec<ferry::model::LiveSummary>,
    inventory: Vec<InventoryEntry>,
    exports: HashMap<String, LiveObject>,
    policy: Policy,
}

fn build(spec: &WorldSpec) -> World {
    let p = spec.platform;
    let mut desired = Vec::new();
    let mut summaries = Vec::new();
    let mut inventory = Vec::new();
    let mut exports = HashMap::new();
    let export = |exports: &mut HashMap<String, LiveObject>, o: LiveObject| {
        exports.insert(o.summary.id.clone(), o);
    };
    for (&i, &(situation, variant)) in &spec.connectors {
        let connector = POOL[i];
        let id = live_id(connector);
        let d = manifest(p, connector, variant).build();
        let name = d.body.name().to_owned();
        match situation {
            Situation::InSync => {
                inventory.push(entry(&d, &id, 1));
                summaries.push(summary(&id, &name, 1));
                export(&mut exports, object(&id, 1, &d.body));
            }
            Situation::ChangedInGit => {
                let old = manifest(p, connector, variant.wrapping_add(1)).build();
                inventory.push(entry(&old, &id, 1));
                summaries.push(summary(&id, &name, 1));
                export(&mut exports, object(&id, 1, &old.body));
            }
            Situation::RenamedInGit => {
                inventory.push(entry(&d, &id, 1));
                summaries.push(summary(&id, &name, 1));
                export(&mut exports, object(&id, 1, &d.body));
                let renamed = manifest(p, connector, variant)
                    .name(&format!("{name} Renamed"))
                    .build();
                desired.push(renamed);
                continue;
            }
            Situation::Drifted => {
                let edited = manifest(p, connector, variant.wrapping_add(7)).build();
                inventory.push(entry(&d, &id, 1));
                summaries.push(summary(&id, &name, 2));
                export(&mut exports, object(&id, 2, &edited.body));
            }
            Situation::Activated => {
                inventory.push(entry(&d, &id, 1));
                let mut s = summary(&id, &name, 2);
                s.active = true;
                summaries.push(s.clone());
                let mut o = object(&id, 2, &d.body);
                o.summary = s;
                export(&mut exports, o);
            }
            Situation::DeletedByHand => inventory.push(entry(&d, &id, 1)),
            Situation::New => {}
            Situation::NameTaken { same_content } => {
                let hand_id = format!("hand-{connector}");
                let body = if same_content {
                    d.body.clone()
                } else {
                    manifest(p, connector, variant.wrapping_add(3)).build().body
                };
                summaries.push(summary(&hand_id, &name, 5));
                export(&mut exports, object(&hand_id, 5, &body));
            }
        }
        desired.push(d);
    }
    for (n, &(created_by_ferry, live)) in spec.gone.iter().enumerate() {
        let d = manifest(p, &format!("gone-{n}"), 0).build();
        let id = live_id(&d.connector);
        let mut e = entry(&d, &id, 1);
        e.created_by_ferry = created_by_ferry;
        inventory.push(e);
        if live {
            summaries.push(summary(&id, d.body.name(), 1));
            export(&mut exports, object(&id, 1, &d.body));
        }
    }
    for n in 0..spec.hand_made {
        let d = manifest(p, &format!("hand-made-{n}"), 0).build();
        let id = format!("manual-{n}");
        summaries.push(summary(&id, d.body.name(), 1));
        export(&mut exports, object(&id, 1, &d.body));
    }

    let ps = &spec.policy;
    let promotion = ps.promotion.map(|mask| Promotion {
        from: "sandbox".into(),
        clean_source_hashes: desired
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << (i % 8)) != 0)
            .map(|(_, d)| d.source_hash.clone())
            .collect(),
        source_ids: desired
            .iter()
            .map(|d| (d.connector.clone(), format!("sbx-{}", d.connector)))
            .collect(),
    });
    let policy = Policy {
        on_conflict: ps.on_conflict,
        prune: ps.prune,
        heal_drift: ps.heal_drift,
        window: if ps.closed {
            WindowDecision::Closed {
                reason: "inside a deny window".into(),
                reopens: DateTime::<Utc>::from_timestamp(1_718_000_000, 0),
            }
        } else {
            WindowDecision::Open
        },
        promotion,
        catalog: Catalog {
            connectors: vec!["Workday".into()],
            ..Catalog::default()
        },
        ..Policy::new("generated", p)
    };
    World {
        desired,
        summaries,
        inventory,
        exports,
        policy,
    }
}

/// Plan as a caller does: list, export what the planner asks for, plan.
fn plan_world(world: &World) -> (Vec<String>, Plan) {
    let wanted = needs_export(
        &world.desired,
        &world.summaries,
        &world.inventory,
        &world.policy,
    );
    let mut live = LiveView::listed(world.summaries.clone());
    for id in &wanted {
        let object = world
            .exports
            .get(id)
            .unwrap_or_else(|| panic!("asked to export {id}, which is not listed"));
        live = live.with_export(object.clone());
    }
    let plan = plan(&world.desired, &live, &world.inventory, &world.policy);
    (wanted, plan)
}

/// A deterministic permutation from a seed (Fisher-Yates over a linear congruential
/// sequence).
fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut out = items.to_vec();
    let mut state = seed | 1;
    for i in (1..out.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = (state >> 33) as usize % (i + 1);
        out.swap(i, j);
    }
    out
}

fn desired_set(platform: Platform, picks: &BTreeMap<usize, u8>) -> Vec<Desired> {
    picks
        .iter()
        .map(|(&i, &variant)| manifest(platform, POOL[i], variant).build())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Invariant 7: a tenant that already holds exactly what git wants costs no export and
    /// plans only noops, whatever the policy.
    #[test]
    fn in_sync_tenant_plans_only_noops_without_exports(
        platform in prop_oneof![Just(Platform::Kizen), Just(Platform::AgentStudio), Just(Platform::ProductsupCde)],
        picks in prop::collection::btree_map(0..POOL.len(), any::<u8>(), 0..10),
        spec in policy_spec(),
    ) {
        let desired = desired_set(platform, &picks);
        let (live, inventory) = in_sync(&desired);
        let world = World {
            desired,
            summaries: live.summaries,
            inventory,
            exports: HashMap::new(),
            policy: build(&WorldSpec {
                platform,
                connectors: BTreeMap::new(),
                gone: vec![],
                hand_made: 0,
                policy: spec,
            })
            .policy,
        };
        let (wanted, plan) = plan_world(&world);
        prop_assert!(wanted.is_empty(), "exports requested: {wanted:?}");
        prop_assert!(plan.is_empty(), "{:#?}", plan.actions);
        prop_assert_eq!(plan.actions.len(), world.desired.len());
        prop_assert!(plan.drift.is_empty());
    }

    /// One content-changing action per connector, except an adoption followed by its replace.
    #[test]
    fn at_most_one_change_per_connector(spec in world_spec()) {
        let world = build(&spec);
        let (_, plan) = plan_world(&world);
        let mut per_connector: BTreeMap<&str, Vec<OpKind>> = BTreeMap::new();
        for a in plan.actions.iter().filter(|a| a.is_change()) {
            per_connector.entry(&a.connector).or_default().push(a.op.kind());
        }
        for (connector, kinds) in per_connector {
            prop_assert!(
                kinds.len() == 1 || kinds == [OpKind::Adopt, OpKind::Replace],
                "{connector}: {kinds:?}"
            );
        }
        // And every connector appears at all: nothing in git is silently skipped.
        let planned: HashSet<&str> = plan.actions.iter().map(|a| a.connector.as_str()).collect();
        for d in &world.desired {
            prop_assert!(planned.contains(d.connector.as_str()), "{} missing", d.connector);
        }
    }

    /// Prune only ever removes an object ferry created whose connector left git.
    #[test]
    fn prune_touches_only_what_ferry_created(spec in world_spec()) {
        let world = build(&spec);
        let (_, plan) = plan_world(&world);
        let in_git: HashSet<&str> = world.desired.iter().map(|d| d.connector.as_str()).collect();
        for a in &plan.actions {
            let live_id = match &a.op {
                Op::Prune { live_id } => live_id,
                Op::Blocked { intended: OpKind::Prune, .. } => {
                    prop_assert!(!in_git.contains(a.connector.as_str()));
                    continue;
                }
                _ => continue,
            };
            prop_assert!(world.policy.prune);
            let owner = world.inventory.iter().find(|e| &e.live_id == live_id);
            prop_assert!(owner.is_some_and(|e| e.created_by_ferry), "pruned {live_id}");
            prop_assert!(!in_git.contains(a.connector.as_str()));
        }
    }

    /// Same input in another order, same plan and same export list.
    #[test]
    fn plans_do_not_depend_on_input_order(spec in world_spec(), seed in any::<u64>()) {
        let world = build(&spec);
        let (wanted, expected) = plan_world(&world);
        let reordered = World {
            desired: shuffled(&world.desired, seed),
            summaries: shuffled(&world.summaries, seed.rotate_left(17)),
            inventory: shuffled(&world.inventory, seed.rotate_left(31)),
            exports: world.exports.clone(),
            policy: world.policy.clone(),
        };
        let (wanted_again, again) = plan_world(&reordered);
        prop_assert_eq!(wanted, wanted_again);
        prop_assert_eq!(expected, again);
    }

    /// Exporting what `needs_export` asks for is always enough: the planner never has to
    /// block on unknown content, and every live id an action names is listed.
    #[test]
    fn requested_exports_are_sufficient(spec in world_spec()) {
        let world = build(&spec);
        let (_, plan) = plan_world(&world);
        let listed: HashSet<&str> = world.summaries.iter().map(|s| s.id.as_str()).collect();
        for a in &plan.actions {
            if let Op::Blocked { reason: BlockReason::ContentUnknown { live_id }, .. } = &a.op {
                prop_assert!(false, "content of {live_id} unknown for {}", a.connector);
            }
            if let Some(id) = a.op.live_id() {
                prop_assert!(listed.contains(id), "{id} is not listed");
            }
        }
    }

    /// With the window closed, nothing but noops and blocked actions.
    #[test]
    fn closed_window_changes_nothing(mut spec in world_spec()) {
        spec.policy.closed = true;
        let world = build(&spec);
        let (_, plan) = plan_world(&world);
        prop_assert_eq!(plan.changes(), 0, "{:#?}", plan.actions);
    }
}
