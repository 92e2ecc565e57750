//! The plan's data: inputs besides the manifests, actions, block reasons and drift.
//! Every type here serializes (JSON output and the daemon's API) and none holds a secret.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::capability::{Capability, CapabilitySet};
use crate::config::OnConflict;
use crate::model::{
    Body, Catalog, ContentHash, Kind, LiveObject, LiveSummary, Location, Platform, Warning,
};
use crate::names::names;
use crate::plan::window::WindowDecision;
use crate::sensitive::{Finding, FindingKind};

/// What ferry recorded when it last applied or adopted a connector in a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryEntry {
    /// `metadata.name` of the manifest.
    pub connector: String,
    /// Manifest kind.
    pub kind: Kind,
    /// The platform's id of the object.
    pub live_id: String,
    /// Tenant-side name at the time of the record.
    pub name: String,
    /// Hash of the content ferry applied (or found, when it adopted).
    pub applied_hash: ContentHash,
    /// Source hash of the manifest applied (tenant-independent; used for promotion).
    pub source_hash: ContentHash,
    /// The object's `version` right after ferry's last write or adoption.
    pub live_version: u64,
    /// Git revision applied.
    pub revision: String,
    /// Whether ferry created the object (only those are ever pruned).
    pub created_by_ferry: bool,
    /// The content ferry applied, when the state store kept it (its hash is
    /// `applied_hash`): what a drift is compared against. Never serialized.
    #[serde(skip)]
    pub applied_body: Option<Body>,
}

/// What the tenant holds: its one list call, plus the exports [`super::needs_export`] asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveView {
    /// Every object of the tenant.
    pub summaries: Vec<LiveSummary>,
    /// Exported objects by live id.
    pub exported: HashMap<String, LiveObject>,
}

impl LiveView {
    /// A view of a list call with nothing exported yet.
    pub fn listed(summaries: Vec<LiveSummary>) -> Self {
        LiveView {
            summaries,
            exported: HashMap::new(),
        }
    }

    /// Add an export.
    pub fn with_export(mut self, object: LiveObject) -> Self {
        self.exported.insert(object.summary.id.clone(), object);
        self
    }
}

/// Promotion: change a connector only to content already applied cleanly in another tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Promotion {
    /// The `promoteFrom` tenant.
    pub from: String,
    /// Source hashes applied cleanly (no failure, no open warning) in `from`.
    pub clean_source_hashes: HashSet<ContentHash>,
    /// Live ids in `from` by connector (`metadata.name`), from that tenant's inventory:
    /// Agent Studio installs promoted plugins from an installation link exported there.
    pub source_ids: BTreeMap<String, String>,
}

/// Everything about a tenant the planner needs besides manifests and live state.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Tenant name.
    pub tenant: String,
    /// The tenant's platform.
    pub platform: Platform,
    /// Git revision the desired state was read at; copied onto the plan.
    pub revision: Option<String>,
    /// What to do when a name is taken by an object ferry does not manage.
    pub on_conflict: OnConflict,
    /// Delete objects ferry created whose connector left git.
    pub prune: bool,
    /// Replace drifted objects with git's content (`drift.selfHeal`).
    pub heal_drift: bool,
    /// Sync-window decision at planning time ([`crate::plan::window::decide`]).
    pub window: WindowDecision,
    /// `promoteFrom`, when set.
    pub promotion: Option<Promotion>,
    /// The tenant belongs to another business than the source: scan sample and reference
    /// data for sensitive data unless a person recorded a review.
    pub cross_business: bool,
    /// Region of the `promoteFrom` tenant.
    pub plugin_source_region: Option<String>,
    /// Region of this tenant.
    pub region: Option<String>,
    /// What references, bindings and secrets resolve to in this tenant.
    pub catalog: Catalog,
    /// The modelled operations the tenant allows (`capabilities:`).
    pub capabilities: CapabilitySet,
}

impl Policy {
    /// The defaults of a tenant with nothing configured: `onConflict: fail`, no prune, no
    /// self-heal, window open, no promotion, same business, empty catalog, every capability.
    pub fn new(tenant: impl Into<String>, platform: Platform) -> Self {
        Policy {
            tenant: tenant.into(),
            platform,
            revision: None,
            on_conflict: OnConflict::Fail,
            prune: false,
            heal_drift: false,
            window: WindowDecision::Open,
            promotion: None,
            cross_business: false,
            plugin_source_region: None,
            region: None,
            catalog: Catalog::default(),
            capabilities: CapabilitySet::all(),
        }
    }
}

/// What ferry will do in one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Tenant name.
    pub tenant: String,
    /// The tenant's platform.
    pub platform: Platform,
    /// Git revision planned.
    pub revision: Option<String>,
    /// Actions ordered by connector; for one connector, an adoption precedes its replace.
    pub actions: Vec<Action>,
    /// Drift found, ordered by connector.
    pub drift: Vec<DriftItem>,
    /// The SQL tests of the connectors this plan creates or replaces, when the tenant's
    /// `tests` is `advisory` or `required` ([`crate::gate`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<Box<crate::gate::TestGate>>,
}

impl Plan {
    /// Whether the plan holds only noops (nothing to change, nothing blocked).
    pub fn is_empty(&self) -> bool {
        self.actions.iter().all(|a| matches!(a.op, Op::Noop { .. }))
    }

    /// How many actions change something (neither noop nor blocked).
    pub fn changes(&self) -> usize {
        self.actions.iter().filter(|a| a.is_change()).count()
    }

    /// The blocked actions.
    pub fn blocked(&self) -> Vec<&Action> {
        self.actions
            .iter()
            .filter(|a| matches!(a.op, Op::Blocked { .. }))
            .collect()
    }

    /// The actions for one connector (`metadata.name`).
    pub fn actions_for<'a>(&'a self, connector: &'a str) -> impl Iterator<Item = &'a Action> {
        self.actions
            .iter()
            .filter(move |a| a.connector == connector)
    }

    /// Counts per action kind.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for a in &self.actions {
            match a.op.kind() {
                OpKind::Create => s.create += 1,
                OpKind::Duplicate => s.duplicate += 1,
                OpKind::Replace => s.replace += 1,
                OpKind::Rename => s.rename += 1,
                OpKind::Adopt => s.adopt += 1,
                OpKind::Prune => s.prune += 1,
                OpKind::Noop => s.unchanged += 1,
                OpKind::Blocked => s.blocked += 1,
            }
        }
        s.drift = self.drift.len();
        s
    }
}

/// Counts of a plan's actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Creates (import, install, copy).
    pub create: usize,
    /// Duplicates.
    pub duplicate: usize,
    /// Replaces.
    pub replace: usize,
    /// Renames.
    pub rename: usize,
    /// Adoptions.
    pub adopt: usize,
    /// Prunes.
    pub prune: usize,
    /// Blocked actions.
    pub blocked: usize,
    /// Noops.
    pub unchanged: usize,
    /// Drift items.
    pub drift: usize,
}

impl fmt::Display for Summary {
    /// `2 to create, 1 to replace, 1 blocked`, or `no changes`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = [
            (self.create, "to create"),
            (self.duplicate, "to duplicate"),
            (self.replace, "to replace"),
            (self.rename, "to rename"),
            (self.adopt, "to adopt"),
            (self.prune, "to prune"),
            (self.blocked, "blocked"),
            (self.drift, "drifted"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if parts.is_empty() {
            f.write_str("no changes")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// One thing to do (or not) for one connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// `metadata.name` (for a prune, the connector recorded in the inventory).
    pub connector: String,
    /// Manifest kind.
    pub kind: Kind,
    /// Tenant-side name (`spec.name`; for a prune, the live name).
    pub name: String,
    /// What to do.
    pub op: Op,
    /// Why, for people. For a blocked action, the block reason's message.
    pub reason: Option<String>,
    /// The modelled capabilities the action relies on (empty: only documented operations
    /// or ones ferry cannot do without).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modelled: Vec<Capability>,
}

impl Action {
    /// Whether this action changes the tenant or ferry's record (neither noop nor blocked).
    pub fn is_change(&self) -> bool {
        !matches!(self.op, Op::Noop { .. } | Op::Blocked { .. })
    }
}

/// The operation of an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// Create the object (Kizen import, Agent Studio install, CDE copy then rename).
    #[serde(rename_all = "camelCase")]
    Create {
        /// Content to create (shared with the desired state it comes from).
        body: Arc<Body>,
        /// `body`'s content hash (recorded as applied).
        hash: ContentHash,
        /// The manifest's source hash (recorded for promotion).
        source_hash: ContentHash,
        /// How the platform creates it.
        via: CreateVia,
        /// Warnings the platform's checks will raise (references missing from the catalog,
        /// follow-up steps); the import still succeeds.
        expected_warnings: Vec<Warning>,
    },
    /// Kizen: duplicate a connector of the same tenant under a new name and API name.
    #[serde(rename_all = "camelCase")]
    Duplicate {
        /// Live id of the connector duplicated.
        source_id: String,
        /// Its name (`duplicateOf`).
        source_name: String,
        /// New name.
        name: String,
        /// New API name.
        api_name: String,
        /// The manifest's content hash (recorded as applied).
        hash: ContentHash,
        /// The manifest's source hash.
        source_hash: ContentHash,
        /// Warnings the import checks will raise on the duplicate (references of the
        /// manifest missing from the catalog).
        #[serde(default)]
        expected_warnings: Vec<Warning>,
    },
    /// Replace the object: no platform documents an in-place update. How is the
    /// [`ReplaceStrategy`]: Kizen renames the old connector (and its API name) aside,
    /// imports the new one and deletes the old one (or, with capability `rename` or
    /// `apiName` off, deletes first as the vendor's "Delete or rename the existing one
    /// first" allows); Agent Studio deletes the plugin and redeploys it, as its vendor
    /// documents; CDE renames the old connector aside, copies, renames the copy and moves
    /// the old one to the bin (with capability `rename` off: copies, then bins the old one,
    /// and a person renames the copy).
    #[serde(rename_all = "camelCase")]
    Replace {
        /// Live id of the object replaced.
        live_id: String,
        /// Its current content, when exported (for diffs).
        old: Option<Body>,
        /// Content to create (shared with the desired state it comes from).
        body: Arc<Body>,
        /// `body`'s content hash.
        hash: ContentHash,
        /// The manifest's source hash.
        source_hash: ContentHash,
        /// Why it is replaced.
        cause: ReplaceCause,
        /// How the platform creates the new object.
        via: CreateVia,
        /// How the old object makes way for the new one.
        strategy: ReplaceStrategy,
        /// Warnings the platform's checks will raise.
        expected_warnings: Vec<Warning>,
    },
    /// Rename the object; nothing else changed.
    #[serde(rename_all = "camelCase")]
    Rename {
        /// Live id.
        live_id: String,
        /// Current tenant-side name.
        from: String,
        /// New name.
        to: String,
        /// The manifest's content hash (recorded as applied).
        hash: ContentHash,
        /// The manifest's source hash.
        source_hash: ContentHash,
    },
    /// Take an existing object under management as it is (`onConflict: adopt`).
    #[serde(rename_all = "camelCase")]
    Adopt {
        /// Live id.
        live_id: String,
        /// Hash of its content (recorded as applied).
        live_hash: ContentHash,
        /// Its version (recorded).
        version: u64,
    },
    /// Delete an object ferry created whose connector left git.
    #[serde(rename_all = "camelCase")]
    Prune {
        /// Live id.
        live_id: String,
    },
    /// Nothing to do.
    #[serde(rename_all = "camelCase")]
    Noop {
        /// Live id.
        live_id: String,
        /// The manifest's source hash, so the record follows edits that do not change
        /// content (promotion compares source hashes).
        source_hash: ContentHash,
        /// The live version moved without a content change (for example someone turned the
        /// active toggle on): record it, so the next reconcile needs no export.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        observed_version: Option<u64>,
        /// The tenant holds git's content although ferry recorded other content (a person
        /// made the change ferry could not make, such as renaming a CDE copy with capability
        /// `rename` off): record this hash as applied.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        applied_hash: Option<ContentHash>,
    },
    /// A change ferry will not make now.
    #[serde(rename_all = "camelCase")]
    Blocked {
        /// What it would have done.
        intended: OpKind,
        /// Why not, and what to do.
        reason: BlockReason,
    },
}

impl Op {
    /// The kind of operation.
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Create { .. } => OpKind::Create,
            Op::Duplicate { .. } => OpKind::Duplicate,
            Op::Replace { .. } => OpKind::Replace,
            Op::Rename { .. } => OpKind::Rename,
            Op::Adopt { .. } => OpKind::Adopt,
            Op::Prune { .. } => OpKind::Prune,
            Op::Noop { .. } => OpKind::Noop,
            Op::Blocked { .. } => OpKind::Blocked,
        }
    }

    /// The live id of the existing object the operation acts on, if any (not the source
    /// of a duplicate: that object stays as it is).
    pub fn live_id(&self) -> Option<&str> {
        match self {
            Op::Replace { live_id, .. }
            | Op::Rename { live_id, .. }
            | Op::Adopt { live_id, .. }
            | Op::Prune { live_id }
            | Op::Noop { live_id, .. } => Some(live_id),
            Op::Create { .. } | Op::Duplicate { .. } | Op::Blocked { .. } => None,
        }
    }
}

/// The kind of an operation, without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpKind {
    /// [`Op::Create`].
    Create,
    /// [`Op::Duplicate`].
    Duplicate,
    /// [`Op::Replace`].
    Replace,
    /// [`Op::Rename`].
    Rename,
    /// [`Op::Adopt`].
    Adopt,
    /// [`Op::Prune`].
    Prune,
    /// [`Op::Noop`].
    Noop,
    /// [`Op::Blocked`].
    Blocked,
}

names! {
    /// The name used in JSON and text output.
    OpKind {
        Create => "create",
        Duplicate => "duplicate",
        Replace => "replace",
        Rename => "rename",
        Adopt => "adopt",
        Prune => "prune",
        Noop => "noop",
        Blocked => "blocked",
    }
}

/// How the platform creates an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CreateVia {
    /// Kizen: import a package.
    Import,
    /// Agent Studio: install the plugin from git's definition.
    Install,
    /// Agent Studio promotion: install from a link exported just in time in another tenant.
    #[serde(rename_all = "camelCase")]
    InstallFromLink {
        /// The `promoteFrom` tenant.
        from_tenant: String,
        /// The plugin's live id there.
        from_id: String,
    },
    /// Productsup CDE: copy the connector body, then rename the `<name> - Copy` result.
    Copy,
}

impl fmt::Display for CreateVia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreateVia::Import => f.write_str("import"),
            CreateVia::Install => f.write_str("install"),
            CreateVia::InstallFromLink { from_tenant, .. } => {
                write!(f, "install from a link exported in {from_tenant}")
            }
            CreateVia::Copy => f.write_str("copy"),
        }
    }
}

/// How a replace makes way for the new object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplaceStrategy {
    /// Rename the old object aside (Kizen: its API name too), create the new one, then
    /// delete the old one; if the create fails, rename the old one back. The name always
    /// holds an object.
    RenameAside,
    /// Delete the old object, then create the new one. The object is absent between the
    /// two steps; if the create fails it stays absent until a later reconcile creates it.
    /// Agent Studio's documented update, and Kizen's with capability `rename` or `apiName`
    /// off.
    DeleteFirst,
    /// CDE with capability `rename` off: copy (named `<name> - Copy`), then move the old
    /// connector to the bin; a person renames the copy.
    CopyThenDelete,
}

names! {
    /// The name used in output.
    ReplaceStrategy {
        RenameAside => "rename-aside",
        DeleteFirst => "delete-first",
        CopyThenDelete => "copy-then-delete",
    }
}

/// Why an object is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplaceCause {
    /// The manifest's content changed (or an adopted object differs from it).
    Changed,
    /// Someone changed the object in the tenant and the tenant heals drift.
    Drift,
    /// The name was taken by an object ferry did not manage (`onConflict: replace`).
    Conflict,
}

names! {
    /// The name used in output.
    ReplaceCause {
        Changed => "changed",
        Drift => "drift",
        Conflict => "conflict",
    }
}

/// A file with possibly sensitive data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SensitiveFile {
    /// The manifest field naming the file (`sampleFile`, `referenceData`).
    pub file: String,
    /// Where the manifest names the file.
    pub location: Option<Location>,
    /// The first findings (kind and line, never the text).
    pub findings: Vec<Finding>,
    /// How many findings there are in all.
    pub total: usize,
}

impl fmt::Display for SensitiveFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(loc) = &self.location {
            write!(f, " (named at {loc})")?;
        }
        f.write_str(": ")?;
        let mut by_kind: BTreeMap<FindingKind, Vec<usize>> = BTreeMap::new();
        for finding in &self.findings {
            by_kind.entry(finding.kind).or_default().push(finding.line);
        }
        let parts: Vec<String> = by_kind
            .iter()
            .map(|(kind, lines)| {
                let lines: Vec<String> = lines.iter().map(ToString::to_string).collect();
                let word = if lines.len() == 1 { "line" } else { "lines" };
                format!("{kind} on {word} {}", lines.join(", "))
            })
            .collect();
        f.write_str(&parts.join("; "))?;
        if self.total > self.findings.len() {
            write!(f, " ({} more)", self.total - self.findings.len())?;
        }
        Ok(())
    }
}

/// Why a change is blocked. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum BlockReason {
    /// The name is taken by an object ferry does not manage and `onConflict` is `fail`.
    #[serde(rename_all = "camelCase")]
    NameConflict {
        /// The contested name.
        name: String,
        /// The existing object.
        live_id: String,
    },
    /// The name is taken by an object ferry manages for another connector.
    #[serde(rename_all = "camelCase")]
    NameTaken {
        /// The contested name.
        name: String,
        /// The existing object.
        live_id: String,
        /// The connector (`metadata.name`) it belongs to.
        by: String,
    },
    /// Agent Studio cannot import webhook-triggered plugins.
    WebhookPlugin,
    /// Agent Studio exports only published plugins.
    DraftPlugin,
    /// Agent Studio does not import across data centers.
    CrossRegion {
        /// Region of the `promoteFrom` tenant.
        from: String,
        /// Region of this tenant.
        to: String,
    },
    /// A CDE secret registration does not exist in this tenant's secret store.
    MissingSecret {
        /// The secret path (`vault_secret`).
        secret: String,
        /// Where the manifest registers it.
        location: Option<Location>,
    },
    /// A plugin binds a connector this tenant does not have.
    MissingBinding {
        /// The connector name.
        connector: String,
        /// Where the manifest binds it.
        location: Option<Location>,
    },
    /// Sample or reference data may hold sensitive data and the tenant belongs to another
    /// business.
    SensitiveData {
        /// The files with findings.
        files: Vec<SensitiveFile>,
    },
    /// The tenant's sync window is closed.
    OutsideWindow {
        /// Which window, for people.
        window: String,
        /// When it reopens, if known.
        reopens: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Promotion: the content has not been applied cleanly in the source tenant yet.
    WaitingForPromotion {
        /// The `promoteFrom` tenant.
        from: String,
    },
    /// Kizen `duplicateOf` names no connector in this tenant.
    DuplicateSourceMissing {
        /// The name in `duplicateOf`.
        name: String,
    },
    /// `tests: required` and the connector's SQL tests failed or could not run.
    TestsFailed {
        /// The first failure, at its file, line and column, or why they could not run.
        message: String,
    },
    /// The planner needed an object's content and it was not exported.
    ContentUnknown {
        /// The object.
        live_id: String,
    },
    /// The change needs a modelled operation the tenant switched off, and the documents
    /// offer no other way: a person does it.
    #[serde(rename_all = "camelCase")]
    CapabilityOff {
        /// The capability switched off.
        capability: Capability,
        /// The platform.
        platform: Platform,
        /// What a person must do.
        step: String,
    },
}

impl BlockReason {
    /// Whether the connector only waits (for a window to open or a promotion to arrive)
    /// and goes on by itself, rather than needing a person.
    pub fn only_waits(&self) -> bool {
        matches!(
            self,
            BlockReason::WaitingForPromotion { .. } | BlockReason::OutsideWindow { .. }
        )
    }
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockReason::NameConflict { name, live_id } => write!(
                f,
                "`{name}` already exists in the tenant (id {live_id}) and ferry does not manage it; \
                 rename or delete it there, or set `onConflict: adopt` (manage it as it is) or \
                 `onConflict: replace` (replace it with git's content) for this tenant"
            ),
            BlockReason::NameTaken { name, live_id, by } => write!(
                f,
                "`{name}` is held by {live_id}, which ferry manages as connector `{by}`; give one \
                 of them another `spec.name`, or, if `{by}` left git, enable `prune` or delete it \
                 in the tenant"
            ),
            BlockReason::WebhookPlugin => f.write_str(
                "manual step: create the webhook plugin in the tenant by hand and copy its assets; \
                 webhook-triggered plugins cannot be imported",
            ),
            BlockReason::DraftPlugin => f.write_str(
                "the plugin is a draft and Agent Studio moves only published plugins; publish it \
                 (`state: published`) to apply it",
            ),
            BlockReason::CrossRegion { from, to } => write!(
                f,
                "Agent Studio does not import plugins across data centers: the promotion source is \
                 in `{from}`, this tenant in `{to}`; promote from a tenant in `{to}` or create the \
                 plugin here by hand"
            ),
            BlockReason::MissingSecret { secret, location } => {
                write!(f, "secret `{secret}`")?;
                if let Some(loc) = location {
                    write!(f, " (registered at {loc})")?;
                }
                f.write_str(
                    " does not exist in this tenant's secret store; create it there, then ferry \
                     copies the connector",
                )
            }
            BlockReason::MissingBinding {
                connector,
                location,
            } => {
                write!(f, "the plugin binds connector `{connector}`")?;
                if let Some(loc) = location {
                    write!(f, " (at {loc})")?;
                }
                f.write_str(
                    ", which this tenant does not have; create the connector there (bindings are \
                     made by name on install) or remove the binding",
                )
            }
            BlockReason::SensitiveData { files } => {
                f.write_str(
                    "possible sensitive data, and this tenant belongs to another business: ",
                )?;
                let parts: Vec<String> = files.iter().map(ToString::to_string).collect();
                f.write_str(&parts.join("; "))?;
                write!(
                    f,
                    ". Remove it, or after a review annotate the manifest with \
                     `{}: <who, when>`",
                    crate::model::REVIEWED_ANNOTATION
                )
            }
            BlockReason::TestsFailed { message } => write!(
                f,
                "SQL tests fail (`tests: required`): {message}; fix the SQL or the expected \
                 rows (`ferry test` shows every difference)"
            ),
            BlockReason::OutsideWindow { window, reopens } => {
                write!(f, "outside the sync window ({window})")?;
                match reopens {
                    Some(at) => write!(
                        f,
                        "; ferry applies it when the window reopens at {}",
                        at.format("%Y-%m-%d %H:%M UTC")
                    ),
                    None => f.write_str("; ferry applies it when the window reopens"),
                }
            }
            BlockReason::WaitingForPromotion { from } => write!(
                f,
                "waiting for promotion: this content has not been applied cleanly in `{from}` yet; \
                 ferry applies it here once `{from}` has it without failures or open warnings"
            ),
            BlockReason::DuplicateSourceMissing { name } => write!(
                f,
                "`duplicateOf: {name}` names no connector in this tenant; create `{name}` there \
                 first or remove `duplicateOf`"
            ),
            BlockReason::ContentUnknown { live_id } => write!(
                f,
                "the content of {live_id} was not exported before planning, so ferry cannot compare \
                 it; plan again"
            ),
            BlockReason::CapabilityOff {
                capability,
                platform,
                step,
            } => write!(
                f,
                "manual step: {step}. ferry would use the modelled {}, and this tenant switched \
                 capability `{capability}` off",
                capability.call(*platform)
            ),
        }
    }
}

/// A managed object whose live content differs from what ferry last applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftItem {
    /// `metadata.name`.
    pub connector: String,
    /// Manifest kind.
    pub kind: Kind,
    /// Live name.
    pub name: String,
    /// Live id.
    pub live_id: String,
    /// What ferry applied.
    pub applied_hash: ContentHash,
    /// What the tenant holds.
    pub live_hash: ContentHash,
    /// Whether this plan restores git's content.
    pub healed: bool,
    /// The fields that differ, live against what ferry applied (`name`, `liveSql`, …);
    /// empty when ferry no longer knows what it applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// What ferry applied, when known, for diffs. Never serialized: a sample file may hold
    /// personal data.
    #[serde(skip)]
    pub applied: Option<Body>,
    /// What the tenant holds, for diffs. Never serialized.
    #[serde(skip)]
    pub live: Option<Body>,
}

impl DriftItem {
    /// A sentence for people.
    pub fn describe(&self) -> String {
        let fields = if self.fields.is_empty() {
            String::new()
        } else {
            format!(": {}", self.fields.join(", "))
        };
        let what = format!(
            "{} `{}` was changed in the tenant{fields} (live {}, applied {})",
            self.kind,
            self.name,
            self.live_hash.short(),
            self.applied_hash.short()
        );
        if self.healed {
            format!("{what}; this plan restores git's content")
        } else {
            format!(
                "{what}; not restored by this plan: bring the change into git, or restore git's \
                 content (drift.selfHeal)"
            )
        }
    }
}
