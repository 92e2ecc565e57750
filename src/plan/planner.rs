//! The planning algorithm: classify each desired connector against the inventory and the
//! live list, pick an operation, then pass it through the gates (platform limits,
//! promotion, sync window). Pure: same input, same plan, whatever the input order.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::capability::Capability;
use crate::config::OnConflict;
use crate::model::{
    Body, Desired, Kind, KizenPackage, LiveObject, LiveSummary, PluginState, PluginTrigger,
    Warning, WarningKind,
};
use crate::plan::window::WindowDecision;
use crate::sensitive;

use super::types::{
    Action, BlockReason, CreateVia, DriftItem, InventoryEntry, LiveView, Op, OpKind, Plan, Policy,
    ReplaceCause, ReplaceStrategy, SensitiveFile,
};

/// How many findings per file a plan lists (the total is always given).
const MAX_FINDINGS_PER_FILE: usize = 10;

/// The live ids the caller must export before [`plan`]:
///
/// - managed objects whose live `version` moved since ferry's record (possible drift);
/// - managed objects whose desired content differs from what ferry applied (to show a diff);
/// - unmanaged objects whose name a desired connector claims, when `onConflict` is `adopt`
///   or `replace` (to compare).
///
/// A reconcile where nothing changed anywhere needs none. Sorted, without duplicates.
pub fn needs_export(
    desired: &[Desired],
    summaries: &[LiveSummary],
    inventory: &[InventoryEntry],
    policy: &Policy,
) -> Vec<String> {
    let index = Index::new(summaries, inventory);
    let mut ids = BTreeSet::new();
    for d in desired {
        match index.situation(d) {
            Situation::Managed { entry, live } => {
                if live.version != entry.live_version || d.hash != entry.applied_hash {
                    ids.insert(live.id.clone());
                }
            }
            Situation::Absent {
                conflict: Some(Conflict::Unmanaged(live)),
                ..
            } if policy.on_conflict != OnConflict::Fail => {
                ids.insert(live.id.clone());
            }
            Situation::Absent { .. } => {}
        }
    }
    ids.into_iter().collect()
}

/// Plan one tenant: what to do for every desired connector and every inventory entry whose
/// connector left git. See the module documentation for the rules.
///
/// `live.exported` should hold the objects [`needs_export`] named; where an export is
/// missing the planner claims no drift and blocks an adoption rather than guess.
///
/// # Guarantees
///
/// - Deterministic: the same input in any order gives the same plan.
/// - At most one content-changing action per connector, except an adoption followed by the
///   replace of what was adopted.
/// - Never a prune of an object ferry did not create, nor while `prune` is off.
/// - A tenant already holding what git wants gets only noops.
pub fn plan(
    desired: &[Desired],
    live: &LiveView,
    inventory: &[InventoryEntry],
    policy: &Policy,
) -> Plan {
    let mut ordered: Vec<&Desired> = desired.iter().collect();
    ordered.sort_by(|a, b| (&a.connector, a.kind, &a.hash).cmp(&(&b.connector, b.kind, &b.hash)));
    ordered.dedup_by(|a, b| a.connector == b.connector && a.kind == b.kind);

    let mut planner = Planner {
        index: Index::new(&live.summaries, inventory),
        exported: &live.exported,
        policy,
        actions: Vec::new(),
        drift: Vec::new(),
    };
    for d in &ordered {
        planner.connector(d);
    }
    let in_git: HashSet<(&str, Kind)> = ordered
        .iter()
        .map(|d| (d.connector.as_str(), d.kind))
        .collect();
    planner.prunes(&in_git);

    let Planner {
        mut actions,
        mut drift,
        ..
    } = planner;
    // Stable: keeps an adoption before the replace that follows it.
    actions.sort_by(|a, b| (&a.connector, a.kind).cmp(&(&b.connector, b.kind)));
    drift.sort_by(|a, b| (&a.connector, a.kind).cmp(&(&b.connector, b.kind)));
    Plan {
        tenant: policy.tenant.clone(),
        platform: policy.platform,
        revision: policy.revision.clone(),
        actions,
        drift,
        tests: None,
    }
}

/// Look-ups over the live list and the inventory, independent of input order.
struct Index<'a> {
    by_id: HashMap<&'a str, &'a LiveSummary>,
    /// The object holding each name (the lowest id if a platform allowed several).
    by_name: HashMap<&'a str, &'a LiveSummary>,
    /// One inventory entry per connector: one whose object is listed, else the lowest id.
    entries: BTreeMap<(&'a str, Kind), &'a InventoryEntry>,
    /// The entry owning each live id.
    owners: HashMap<&'a str, &'a InventoryEntry>,
}

impl<'a> Index<'a> {
    fn new(summaries: &'a [LiveSummary], inventory: &'a [InventoryEntry]) -> Self {
        let mut by_id = HashMap::new();
        let mut by_name: HashMap<&str, &LiveSummary> = HashMap::new();
        for s in summaries {
            by_id.insert(s.id.as_str(), s);
            by_name
                .entry(s.name.as_str())
                .and_modify(|held| {
                    if s.id < held.id {
                        *held = s;
                    }
                })
                .or_insert(s);
        }
        let mut sorted: Vec<&InventoryEntry> = inventory.iter().collect();
        sorted.sort_by(|a, b| {
            let listed = |e: &InventoryEntry| !by_id.contains_key(e.live_id.as_str());
            (&a.connector, a.kind, listed(a), &a.live_id).cmp(&(
                &b.connector,
                b.kind,
                listed(b),
                &b.live_id,
            ))
        });
        let mut entries = BTreeMap::new();
        let mut owners = HashMap::new();
        for e in sorted {
            entries.entry((e.connector.as_str(), e.kind)).or_insert(e);
            owners.entry(e.live_id.as_str()).or_insert(e);
        }
        Index {
            by_id,
            by_name,
            entries,
            owners,
        }
    }

    fn situation(&self, d: &Desired) -> Situation<'a> {
        let entry = self.entries.get(&(d.connector.as_str(), d.kind)).copied();
        if let Some(entry) = entry
            && let Some(live) = self.by_id.get(entry.live_id.as_str())
        {
            return Situation::Managed { entry, live };
        }
        Situation::Absent {
            deleted: entry.is_some(),
            conflict: self.conflict(d, None),
        }
    }

    /// Who holds `d`'s name, other than the object `except`.
    fn conflict(&self, d: &Desired, except: Option<&str>) -> Option<Conflict<'a>> {
        let holder = *self.by_name.get(d.body.name())?;
        if Some(holder.id.as_str()) == except {
            return None;
        }
        Some(match self.owners.get(holder.id.as_str()) {
            Some(by) if by.connector != d.connector || by.kind != d.kind => {
                Conflict::Managed { live: holder, by }
            }
            _ => Conflict::Unmanaged(holder),
        })
    }
}

/// Where a desired connector stands.
enum Situation<'a> {
    /// ferry manages it and the object exists.
    Managed {
        entry: &'a InventoryEntry,
        live: &'a LiveSummary,
    },
    /// No object: new in git, or deleted by a person (`deleted`).
    Absent {
        deleted: bool,
        conflict: Option<Conflict<'a>>,
    },
}

/// Someone else holds the name.
enum Conflict<'a> {
    /// An object ferry does not manage.
    Unmanaged(&'a LiveSummary),
    /// An object ferry manages for another connector.
    Managed {
        live: &'a LiveSummary,
        by: &'a InventoryEntry,
    },
}

/// Which gates an operation passes through.
#[derive(Clone, Copy)]
enum Gates {
    /// Writes the manifest's content: platform limits, promotion, window.
    Content,
    /// Changes the tenant without writing content from git: promotion, window.
    Promoted,
    /// Touches the tenant or ferry's record only: window.
    Window,
}

struct Planner<'a> {
    index: Index<'a>,
    exported: &'a HashMap<String, LiveObject>,
    policy: &'a Policy,
    actions: Vec<Action>,
    drift: Vec<DriftItem>,
}

impl Planner<'_> {
    fn connector(&mut self, d: &Desired) {
        match self.index.situation(d) {
            Situation::Managed { entry, live } => self.managed(d, entry, live),
            Situation::Absent { deleted, conflict } => match conflict {
                None => self.create(d, deleted),
                Some(Conflict::Managed { live, by }) => {
                    let reason = BlockReason::NameTaken {
                        name: live.name.clone(),
                        live_id: live.id.clone(),
                        by: by.connector.clone(),
                    };
                    self.block(d, create_kind(d), reason);
                }
                Some(Conflict::Unmanaged(live)) => match self.policy.on_conflict {
                    OnConflict::Fail => {
                        let reason = BlockReason::NameConflict {
                            name: live.name.clone(),
                            live_id: live.id.clone(),
                        };
                        self.block(d, create_kind(d), reason);
                    }
                    OnConflict::Adopt => self.adopt(d, live),
                    OnConflict::Replace => {
                        let old = self.exported.get(&live.id).map(|o| o.body.clone());
                        let why = format!(
                            "`{}` exists and ferry does not manage it; onConflict: replace",
                            live.name
                        );
                        self.replace(d, &live.id, old, ReplaceCause::Conflict, why);
                    }
                },
            },
        }
    }

    fn create(&mut self, d: &Desired, deleted: bool) {
        let why = if deleted {
            "deleted in the tenant by a person; ferry creates it again"
        } else {
            "new in git"
        };
        if let (Some(source), Body::Kizen(package)) = (&d.duplicate_of, &*d.body) {
            let Some(found) = self.index.by_name.get(source.as_str()) else {
                let reason = BlockReason::DuplicateSourceMissing {
                    name: source.clone(),
                };
                self.block(d, OpKind::Duplicate, reason);
                return;
            };
            let op = Op::Duplicate {
                source_id: found.id.clone(),
                source_name: source.clone(),
                name: package.name.clone(),
                api_name: package.api_name.clone(),
                hash: d.hash.clone(),
                source_hash: d.source_hash.clone(),
                expected_warnings: self.expected_warnings(d),
            };
            let why = format!("{why}; duplicated from `{source}`");
            self.push(d, op, Some(why), Gates::Promoted);
            return;
        }
        let op = Op::Create {
            body: d.body.clone(),
            hash: d.hash.clone(),
            source_hash: d.source_hash.clone(),
            via: self.via(d),
            expected_warnings: self.expected_warnings(d),
        };
        let mut why = why.to_owned();
        if let Some(note) = self.copy_name_note(d) {
            why.push_str("; ");
            why.push_str(&note);
        }
        self.push(d, op, Some(why), Gates::Content);
    }

    /// CDE with capability `rename` off: what the copy will be called, and what a person does.
    fn copy_name_note(&self, d: &Desired) -> Option<String> {
        let Body::ProductsupCde(c) = d.body.as_ref() else {
            return None;
        };
        (!self.policy.capabilities.enabled(Capability::Rename)).then(|| {
            format!(
                "the copy keeps the name `{} - Copy` until a person renames it to `{}` \
                 (capability `rename` is off)",
                c.name, c.name
            )
        })
    }

    fn managed(&mut self, d: &Desired, entry: &InventoryEntry, live: &LiveSummary) {
        let export = self.exported.get(&live.id);
        let version_moved = live.version != entry.live_version;
        // Without an export the content is unknown: no drift is claimed, and the version is
        // not recorded, so the next reconcile asks for the export again.
        let live_hash = export
            .filter(|_| version_moved)
            .map(|o| o.body.content_hash());
        // The tenant holds exactly git's content, whatever ferry recorded: nothing to do
        // but record it (a person made the change ferry could not, or made git's change).
        if live_hash.as_ref() == Some(&d.hash) {
            let op = Op::Noop {
                live_id: live.id.clone(),
                source_hash: d.source_hash.clone(),
                observed_version: Some(live.version),
                applied_hash: (d.hash != entry.applied_hash).then(|| d.hash.clone()),
            };
            self.push(d, op, None, Gates::Window);
            return;
        }
        let drifted = live_hash.as_ref().is_some_and(|h| *h != entry.applied_hash);
        let changed = d.hash != entry.applied_hash;
        let rename_only = changed
            && d.body.name() != entry.name
            && d.body.with_name(&entry.name).content_hash() == entry.applied_hash;
        let old = export.map(|o| o.body.clone());

        let before = self.actions.len();
        let heal = drifted && self.policy.heal_drift;
        let new_name_taken = d.body.name() != live.name && (changed || heal);
        if new_name_taken && let Some(conflict) = self.index.conflict(d, Some(&live.id)) {
            let intended = if rename_only && !heal {
                OpKind::Rename
            } else {
                OpKind::Replace
            };
            let reason = match conflict {
                Conflict::Managed { live, by } => BlockReason::NameTaken {
                    name: live.name.clone(),
                    live_id: live.id.clone(),
                    by: by.connector.clone(),
                },
                Conflict::Unmanaged(live) => BlockReason::NameConflict {
                    name: live.name.clone(),
                    live_id: live.id.clone(),
                },
            };
            self.block(d, intended, reason);
        } else if changed && !rename_only {
            let why = match &old {
                Some(old) => format!("content changed in git ({})", changed_fields(old, &d.body)),
                None => "content changed in git".to_owned(),
            };
            self.replace(d, &live.id, old, ReplaceCause::Changed, why);
        } else if heal {
            let why = "drift: changed in the tenant since ferry applied it; selfHeal restores git's content";
            self.replace(d, &live.id, old, ReplaceCause::Drift, why.to_owned());
        } else if rename_only {
            let op = Op::Rename {
                live_id: live.id.clone(),
                from: live.name.clone(),
                to: d.body.name().to_owned(),
                hash: d.hash.clone(),
                source_hash: d.source_hash.clone(),
            };
            self.push(
                d,
                op,
                Some("only the name changed".to_owned()),
                Gates::Promoted,
            );
        } else {
            let op = Op::Noop {
                live_id: live.id.clone(),
                source_hash: d.source_hash.clone(),
                observed_version: (version_moved && live_hash.is_some() && !drifted)
                    .then_some(live.version),
                applied_hash: None,
            };
            let why = drifted.then(|| {
                "drifted: changed in the tenant since ferry applied it; selfHeal is off".to_owned()
            });
            self.push(d, op, why, Gates::Window);
        }

        if let Some(live_hash) = live_hash.filter(|_| drifted) {
            let healed = self.actions[before..]
                .iter()
                .any(|a| matches!(a.op, Op::Replace { .. }));
            // What ferry applied: the body the store kept, or git's when git still holds
            // exactly that content.
            let applied = entry
                .applied_body
                .clone()
                .filter(|b| b.content_hash() == entry.applied_hash)
                .or_else(|| (d.hash == entry.applied_hash).then(|| (*d.body).clone()));
            let live_body = export.map(|o| o.body.clone());
            let fields = match (&applied, &live_body) {
                (Some(a), Some(l)) => differing_fields(a, l),
                _ => Vec::new(),
            };
            self.drift.push(DriftItem {
                connector: d.connector.clone(),
                kind: d.kind,
                name: live.name.clone(),
                live_id: live.id.clone(),
                applied_hash: entry.applied_hash.clone(),
                live_hash,
                healed,
                fields,
                applied,
                live: live_body,
            });
        }
    }

    fn adopt(&mut self, d: &Desired, live: &LiveSummary) {
        let Some(object) = self.exported.get(&live.id) else {
            let reason = BlockReason::ContentUnknown {
                live_id: live.id.clone(),
            };
            self.block(d, OpKind::Adopt, reason);
            return;
        };
        let live_hash = object.body.content_hash();
        let differs = live_hash != d.hash;
        let op = Op::Adopt {
            live_id: live.id.clone(),
            live_hash,
            version: live.version,
        };
        let why = format!(
            "`{}` exists and ferry does not manage it; onConflict: adopt",
            live.name
        );
        self.push(d, op, Some(why), Gates::Window);
        if differs {
            let why = format!(
                "the adopted object differs from git ({})",
                changed_fields(&object.body, &d.body)
            );
            let old = Some(object.body.clone());
            self.replace(d, &live.id, old, ReplaceCause::Changed, why);
        }
    }

    fn replace(
        &mut self,
        d: &Desired,
        live_id: &str,
        old: Option<Body>,
        cause: ReplaceCause,
        why: String,
    ) {
        let strategy = self.replace_strategy(d);
        let op = Op::Replace {
            live_id: live_id.to_owned(),
            old,
            body: d.body.clone(),
            hash: d.hash.clone(),
            source_hash: d.source_hash.clone(),
            cause,
            via: self.via(d),
            strategy,
            expected_warnings: self.expected_warnings(d),
        };
        let mut why = why;
        if let Some(note) = self.copy_name_note(d) {
            why.push_str("; ");
            why.push_str(&note);
        }
        self.push(d, op, Some(why), Gates::Content);
    }

    /// How a replace of `d` makes way for the new object on this tenant.
    fn replace_strategy(&self, d: &Desired) -> ReplaceStrategy {
        let caps = self.policy.capabilities;
        match d.body.as_ref() {
            // "If you need to apply an update to an existing plugin, you will need to delete
            // the existing plugin and redeploy it."
            Body::AgentStudio(_) => ReplaceStrategy::DeleteFirst,
            Body::Kizen(_)
                if caps.enabled(Capability::Rename) && caps.enabled(Capability::ApiName) =>
            {
                ReplaceStrategy::RenameAside
            }
            // "Delete or rename the existing one first if you need to re-import."
            Body::Kizen(_) => ReplaceStrategy::DeleteFirst,
            Body::ProductsupCde(_) if caps.enabled(Capability::Rename) => {
                ReplaceStrategy::RenameAside
            }
            Body::ProductsupCde(_) => ReplaceStrategy::CopyThenDelete,
        }
    }

    fn prunes(&mut self, in_git: &HashSet<(&str, Kind)>) {
        if !self.policy.prune {
            return;
        }
        let candidates: Vec<(&InventoryEntry, &LiveSummary)> = self
            .index
            .entries
            .iter()
            .filter(|(key, entry)| !in_git.contains(key) && entry.created_by_ferry)
            .filter_map(|(_, entry)| {
                let live = self.index.by_id.get(entry.live_id.as_str())?;
                Some((*entry, *live))
            })
            .collect();
        for (entry, live) in candidates {
            let op = Op::Prune {
                live_id: live.id.clone(),
            };
            let action = Action {
                connector: entry.connector.clone(),
                kind: entry.kind,
                name: live.name.clone(),
                op,
                reason: Some("left git; prune is on for this tenant".to_owned()),
                modelled: Vec::new(),
            };
            self.gate_and_push(action, None, Gates::Window);
        }
    }

    /// Push an action for `d` after its gates.
    fn push(&mut self, d: &Desired, op: Op, why: Option<String>, gates: Gates) {
        let action = Action {
            connector: d.connector.clone(),
            kind: d.kind,
            name: d.body.name().to_owned(),
            modelled: self.modelled(&op, d),
            op,
            reason: why,
        };
        self.gate_and_push(action, Some(d), gates);
    }

    fn gate_and_push(&mut self, mut action: Action, d: Option<&Desired>, gates: Gates) {
        if matches!(action.op, Op::Noop { .. }) {
            self.actions.push(action);
            return;
        }
        let reason = self
            .capability_block(&action)
            .or_else(|| {
                d.filter(|_| matches!(gates, Gates::Content))
                    .and_then(|d| self.platform_block(d))
            })
            .or_else(|| {
                d.filter(|_| matches!(gates, Gates::Content | Gates::Promoted))
                    .and_then(|d| self.promotion_block(d))
            })
            .or_else(|| self.window_block());
        if let Some(reason) = reason {
            action.reason = Some(reason.to_string());
            action.op = Op::Blocked {
                intended: action.op.kind(),
                reason,
            };
        }
        self.actions.push(action);
    }

    fn block(&mut self, d: &Desired, intended: OpKind, reason: BlockReason) {
        self.actions.push(Action {
            connector: d.connector.clone(),
            kind: d.kind,
            name: d.body.name().to_owned(),
            reason: Some(reason.to_string()),
            op: Op::Blocked { intended, reason },
            modelled: Vec::new(),
        });
    }

    /// The modelled capabilities `op` relies on, in [`Capability::ALL`] order.
    fn modelled(&self, op: &Op, d: &Desired) -> Vec<Capability> {
        let caps = self.policy.capabilities;
        let mut used = Vec::new();
        let (via, strategy) = match op {
            Op::Create { via, .. } => (Some(via), None),
            Op::Replace { via, strategy, .. } => (Some(via), Some(*strategy)),
            Op::Rename { .. } => {
                used.push(Capability::Rename);
                (None, None)
            }
            _ => (None, None),
        };
        if strategy == Some(ReplaceStrategy::RenameAside) {
            used.push(Capability::Rename);
            if matches!(d.body.as_ref(), Body::Kizen(_)) {
                used.push(Capability::ApiName);
            }
        }
        match via {
            // With a promotion source the plugin comes from its exported link once the
            // source has it (until then the action waits for promotion).
            Some(CreateVia::Install) if self.policy.promotion.is_none() => {
                used.push(Capability::Templates);
            }
            Some(CreateVia::Copy) => {
                if caps.enabled(Capability::Rename) {
                    used.push(Capability::Rename);
                }
                let registers = matches!(d.body.as_ref(), Body::ProductsupCde(c)
                    if !secret_registrations(&c.config).is_empty());
                if registers && caps.enabled(Capability::Secrets) {
                    used.push(Capability::Secrets);
                }
            }
            _ => {}
        }
        used.sort();
        used.dedup();
        used
    }

    /// A change that needs a modelled capability the tenant switched off, with no
    /// documented alternative: a manual step.
    fn capability_block(&self, action: &Action) -> Option<BlockReason> {
        let caps = self.policy.capabilities;
        let off = action.modelled.iter().find(|c| !caps.enabled(**c))?;
        let platform = self.policy.platform;
        let step = match (&action.op, off) {
            (Op::Rename { from, to, .. }, Capability::Rename) => format!(
                "rename `{from}` to `{to}` in the tenant by hand; ferry records the new name when \
                 it next sees it"
            ),
            (_, Capability::Templates) => format!(
                "Agent Studio creates plugins by promotion: publish `{}` in a tenant that has it, \
                 set this tenant's `promoteFrom` to that tenant, or install it here by hand from \
                 an exported link",
                action.name
            ),
            (_, other) => format!(
                "do by hand what ferry would do through `{}` for `{}`",
                other.call(platform),
                action.name
            ),
        };
        Some(BlockReason::CapabilityOff {
            capability: *off,
            platform,
            step,
        })
    }

    /// What the platform cannot take from git as it is.
    fn platform_block(&self, d: &Desired) -> Option<BlockReason> {
        let policy = self.policy;
        match &*d.body {
            Body::AgentStudio(plugin) => {
                if plugin.state == PluginState::Draft {
                    return Some(BlockReason::DraftPlugin);
                }
                if plugin.trigger == PluginTrigger::Webhook {
                    return Some(BlockReason::WebhookPlugin);
                }
                if policy.promotion.is_some()
                    && let (Some(from), Some(to)) = (&policy.plugin_source_region, &policy.region)
                    && from != to
                {
                    return Some(BlockReason::CrossRegion {
                        from: from.clone(),
                        to: to.clone(),
                    });
                }
                plugin
                    .connectors
                    .iter()
                    .enumerate()
                    .find(|(_, c)| !policy.catalog.connectors.contains(c))
                    .map(|(i, c)| BlockReason::MissingBinding {
                        connector: c.clone(),
                        location: d.field_locations.get(&format!("connectors[{i}]")).cloned(),
                    })
            }
            // Without the modelled look-up, the copy's own documented error names the secret.
            Body::ProductsupCde(_) if !policy.capabilities.enabled(Capability::Secrets) => None,
            Body::ProductsupCde(cde) => secret_registrations(&cde.config)
                .into_iter()
                .enumerate()
                .find(|(_, s)| !policy.catalog.secrets.iter().any(|known| known == s))
                .map(|(i, s)| BlockReason::MissingSecret {
                    secret: s.to_owned(),
                    location: d
                        .field_locations
                        .get(&format!("secretRegistrations[{i}]"))
                        .cloned(),
                }),
            Body::Kizen(package) => {
                if !policy.cross_business || d.sensitive_data_reviewed() {
                    return None;
                }
                sensitive_block(d, package)
            }
        }
    }

    fn promotion_block(&self, d: &Desired) -> Option<BlockReason> {
        let promotion = self.policy.promotion.as_ref()?;
        let waiting = !promotion.clean_source_hashes.contains(&d.source_hash)
            || (d.kind == Kind::Plugin && !promotion.source_ids.contains_key(&d.connector));
        waiting.then(|| BlockReason::WaitingForPromotion {
            from: promotion.from.clone(),
        })
    }

    fn window_block(&self) -> Option<BlockReason> {
        match &self.policy.window {
            WindowDecision::Open => None,
            WindowDecision::Closed { reason, reopens } => Some(BlockReason::OutsideWindow {
                window: reason.clone(),
                reopens: *reopens,
            }),
        }
    }

    fn via(&self, d: &Desired) -> CreateVia {
        match &*d.body {
            Body::Kizen(_) => CreateVia::Import,
            Body::ProductsupCde(_) => CreateVia::Copy,
            Body::AgentStudio(_) => match &self.policy.promotion {
                Some(p) => match p.source_ids.get(&d.connector) {
                    Some(id) => CreateVia::InstallFromLink {
                        from_tenant: p.from.clone(),
                        from_id: id.clone(),
                    },
                    // Blocked as waiting for promotion; nothing to install from yet.
                    None => CreateVia::Install,
                },
                None => CreateVia::Install,
            },
        }
    }

    /// Warnings the platform will raise although the create succeeds.
    fn expected_warnings(&self, d: &Desired) -> Vec<Warning> {
        let catalog = &self.policy.catalog;
        let mut warnings = Vec::new();
        match &*d.body {
            Body::Kizen(package) => {
                let refs = &package.references;
                let missing = [
                    (
                        WarningKind::AgenticWorkflow,
                        &refs.agentic_workflows,
                        &catalog.agentic_workflows,
                    ),
                    (
                        WarningKind::SeedingFilterGroup,
                        &refs.filter_groups,
                        &catalog.filter_groups,
                    ),
                    (
                        WarningKind::FieldReference,
                        &refs.field_mappings,
                        &catalog.fields,
                    ),
                ];
                for (kind, wanted, known) in missing {
                    for reference in wanted.iter().filter(|r| !known.contains(r)) {
                        warnings.push(Warning {
                            kind,
                            reference: reference.clone(),
                        });
                    }
                }
            }
            Body::ProductsupCde(cde) => warnings.extend(Warning::vcs_credentials(&cde.config)),
            Body::AgentStudio(_) => {}
        }
        warnings.sort();
        warnings.dedup();
        warnings
    }
}

/// The operation a create for `d` would be.
fn create_kind(d: &Desired) -> OpKind {
    match (&d.duplicate_of, &*d.body) {
        (Some(_), Body::Kizen(_)) => OpKind::Duplicate,
        _ => OpKind::Create,
    }
}

/// Secret paths registered in a CDE connector config
/// (`secret-registrations[].vault_secret`), in order.
fn secret_registrations(config: &serde_json::Value) -> Vec<&str> {
    config
        .get("secret-registrations")
        .and_then(|v| v.as_array())
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    item.get("vault_secret")
                        .and_then(|s| s.as_str())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn sensitive_block(d: &Desired, package: &KizenPackage) -> Option<BlockReason> {
    let files: Vec<SensitiveFile> = [
        ("sampleFile", &package.sample_file),
        ("referenceData", &package.reference_data),
    ]
    .into_iter()
    .filter_map(|(field, text)| {
        let findings = sensitive::scan(text.as_deref()?);
        (!findings.is_empty()).then(|| SensitiveFile {
            file: field.to_owned(),
            location: d.field_locations.get(field).cloned(),
            total: findings.len(),
            findings: findings.into_iter().take(MAX_FINDINGS_PER_FILE).collect(),
        })
    })
    .collect();
    (!files.is_empty()).then_some(BlockReason::SensitiveData { files })
}

/// The top-level fields that differ between two bodies, in manifest spelling
/// (`liveSql, sampleFile`).
fn changed_fields(old: &Body, new: &Body) -> String {
    let changed = differing_fields(old, new);
    if changed.is_empty() {
        "no field differs".to_owned()
    } else {
        changed.join(", ")
    }
}

/// The top-level fields (camelCase, as manifests spell them) whose values differ.
pub(crate) fn differing_fields(old: &Body, new: &Body) -> Vec<String> {
    let to_map = |b: &Body| match serde_json::to_value(b) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (old, new) = (to_map(old), to_map(new));
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .map(|k| camel_case(k))
        .collect()
}

fn camel_case(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}
