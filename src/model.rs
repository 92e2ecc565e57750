//! The domain vocabulary every layer shares: platforms, connector kinds, the bodies ferry
//! owns on each platform, what a provider lists and returns, and import warnings.
//!
//! These types are the contract between the manifest loader (which builds [`Body`] values
//! from git), the providers and the emulator (which move them over HTTP), and the planner
//! (which hashes and compares them). This module holds data and pure helpers only: no I/O.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::names::names;

/// The SaaS platform a tenant lives on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    /// Kizen SmartConnectors.
    Kizen,
    /// Agent Studio plugins.
    AgentStudio,
    /// Productsup Connector Development Environment connectors.
    ProductsupCde,
}

names! {
    /// The name used in config files and messages.
    Platform {
        Kizen => "kizen",
        AgentStudio => "agent-studio",
        ProductsupCde => "productsup-cde",
    }
}

impl Platform {
    /// The manifest kind that targets this platform.
    pub fn kind(self) -> Kind {
        match self {
            Platform::Kizen => Kind::SmartConnector,
            Platform::AgentStudio => Kind::Plugin,
            Platform::ProductsupCde => Kind::CdeConnector,
        }
    }
}

/// A manifest kind.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Kind {
    /// A Kizen SmartConnector.
    SmartConnector,
    /// An Agent Studio plugin.
    Plugin,
    /// A Productsup CDE connector.
    CdeConnector,
}

names! {
    all;
    /// The name as written in `kind:`.
    Kind {
        SmartConnector => "SmartConnector",
        Plugin => "Plugin",
        CdeConnector => "CdeConnector",
    }
}

impl Kind {
    /// The platform this kind is applied to.
    pub fn platform(self) -> Platform {
        match self {
            Kind::SmartConnector => Platform::Kizen,
            Kind::Plugin => Platform::AgentStudio,
            Kind::CdeConnector => Platform::ProductsupCde,
        }
    }
}

/// Kizen SmartConnector type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KizenType {
    /// Fed by uploaded spreadsheets.
    Spreadsheet,
    /// Fed by an inbound webhook (its URL depends on the API name).
    Webhook,
    /// Runs on a schedule.
    Scheduler,
}

/// References a SmartConnector makes to objects of its business. The platform checks them
/// after import; a reference it cannot resolve is a warning, not a failure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct KizenReferences {
    /// Agentic Workflow (automation) names.
    #[serde(default)]
    pub agentic_workflows: Vec<String>,
    /// Filter groups used for seeding.
    #[serde(default)]
    pub filter_groups: Vec<String>,
    /// Matching or mapping field references, `object.field`.
    #[serde(default)]
    pub field_mappings: Vec<String>,
}

/// What a Kizen export package holds (and what ferry owns of a SmartConnector): name,
/// API name, type, Live SQL, reference data, sample file and references. Never the Draft.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct KizenPackage {
    /// Tenant-side name (unique per business).
    pub name: String,
    /// API name (unique per business; webhook URLs depend on it).
    pub api_name: String,
    /// Connector type.
    #[serde(rename = "type")]
    pub kind: KizenType,
    /// The Live SQL script.
    pub live_sql: String,
    /// Reference data file contents (CSV), if any.
    #[serde(default)]
    pub reference_data: Option<String>,
    /// Sample file contents (CSV), if any. May hold sensitive data.
    #[serde(default)]
    pub sample_file: Option<String>,
    /// References checked after import.
    #[serde(default)]
    pub references: KizenReferences,
}

/// Agent Studio plugin state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PluginState {
    /// Published: can be exported.
    Published,
    /// Draft: cannot be exported.
    Draft,
}

/// How an Agent Studio plugin is triggered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PluginTrigger {
    /// Started from a conversation.
    Conversational,
    /// Started by an inbound webhook: not importable.
    Webhook,
    /// Started on a schedule.
    Scheduled,
}

/// What ferry owns of an Agent Studio plugin. `connectors` are binding names: the platform
/// drops connectors on export and its install wizard has a person select them; ferry's
/// modelled install selects them by these names in each tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginBody {
    /// Plugin name.
    pub name: String,
    /// Description shown in Agent Studio.
    #[serde(default)]
    pub description: Option<String>,
    /// Published or draft.
    pub state: PluginState,
    /// Trigger.
    pub trigger: PluginTrigger,
    /// Connector bindings, by connector name in the target tenant.
    #[serde(default)]
    pub connectors: Vec<String>,
    /// The plugin's actions (the platform's JSON, kept as is).
    #[serde(default)]
    pub actions: serde_json::Value,
}

/// What ferry owns of a Productsup CDE connector: the `GET /connectors/{id}` body minus
/// server-owned and environment fields. `versions[].config` is kept as platform JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CdeBody {
    /// Connector name.
    pub name: String,
    /// `datasource`, `export`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Flow, usually `default`.
    #[serde(default = "default_flow")]
    pub flow: String,
    /// The connector configuration (`versions[0].config` in the platform's shape).
    pub config: serde_json::Value,
}

fn default_flow() -> String {
    "default".to_owned()
}

/// The content ferry owns of one connector, whatever its platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "platform", rename_all = "kebab-case")]
pub enum Body {
    /// A Kizen SmartConnector package.
    Kizen(KizenPackage),
    /// An Agent Studio plugin.
    AgentStudio(PluginBody),
    /// A Productsup CDE connector.
    ProductsupCde(CdeBody),
}

impl Body {
    /// The platform this body belongs to.
    pub fn platform(&self) -> Platform {
        match self {
            Body::Kizen(_) => Platform::Kizen,
            Body::AgentStudio(_) => Platform::AgentStudio,
            Body::ProductsupCde(_) => Platform::ProductsupCde,
        }
    }

    /// The tenant-side name (the platform's conflict key).
    pub fn name(&self) -> &str {
        match self {
            Body::Kizen(p) => &p.name,
            Body::AgentStudio(p) => &p.name,
            Body::ProductsupCde(c) => &c.name,
        }
    }

    /// This body under another tenant-side name (what a platform holds when it named the
    /// object otherwise, such as a CDE copy's `<name> - Copy`).
    #[must_use]
    pub fn with_name(&self, name: &str) -> Body {
        let mut body = self.clone();
        match &mut body {
            Body::Kizen(p) => p.name = name.to_owned(),
            Body::AgentStudio(p) => p.name = name.to_owned(),
            Body::ProductsupCde(c) => c.name = name.to_owned(),
        }
        body
    }

    /// The content hash of the fields ferry owns, stable across processes and versions:
    /// SHA-256 over canonical JSON (object keys sorted).
    pub fn content_hash(&self) -> ContentHash {
        let value = serde_json::to_value(self).expect("bodies always serialize");
        ContentHash::of_json(&value)
    }
}

/// A SHA-256 content hash, hex encoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContentHash(pub String);

impl ContentHash {
    /// Hash a JSON value canonically (object keys sorted at every level).
    pub fn of_json(value: &serde_json::Value) -> Self {
        let mut hasher = Sha256::new();
        canonical_write(value, &mut hasher);
        ContentHash(hex::encode(hasher.finalize()))
    }

    /// The first 12 hex digits, for people.
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(12)]
    }
}

/// A change marker computed from content, for platforms that send no version counter: the
/// first 52 bits of the value's [`ContentHash`] (small enough for every JSON reader and for
/// the state store's signed integers). Equal content, equal marker.
pub fn change_marker(value: &serde_json::Value) -> u64 {
    let hash = ContentHash::of_json(value);
    u64::from_str_radix(&hash.0[..13], 16).unwrap_or_default()
}

/// The platform's `version`, else a [`change_marker`] of `name` and the update time, kept
/// under `updated_key` (the platform's spelling): what its list and detail both carry.
pub(crate) fn version_or_marker(
    version: Option<u64>,
    name: &str,
    updated_key: &str,
    updated_at: &str,
) -> u64 {
    version.unwrap_or_else(|| {
        change_marker(&serde_json::json!({ "name": name, updated_key: updated_at }))
    })
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn canonical_write(value: &serde_json::Value, h: &mut Sha256) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<_, _> = map.iter().collect();
            h.update(b"{");
            for (k, v) in sorted {
                h.update(serde_json::to_string(k).unwrap_or_default().as_bytes());
                h.update(b":");
                canonical_write(v, h);
                h.update(b",");
            }
            h.update(b"}");
        }
        Value::Array(items) => {
            h.update(b"[");
            for v in items {
                canonical_write(v, h);
                h.update(b",");
            }
            h.update(b"]");
        }
        other => h.update(other.to_string().as_bytes()),
    }
}

/// A place in the repository: path relative to the repository root, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Location {
    /// Path relative to the repository root, `/`-separated.
    pub path: String,
    /// 1-based line (0 when unknown).
    pub line: u64,
    /// 1-based column (0 when unknown).
    pub column: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path, self.line, self.column)
    }
}

/// The annotation a person sets on a manifest after reviewing its sample and reference
/// files for sensitive data; its value says who reviewed and when.
pub const REVIEWED_ANNOTATION: &str = "ferry.dev/sensitive-data-reviewed";

/// Where a manifest's fields are written, keyed by the platform's error path; shared by
/// every tenant's [`Desired`] of the manifest and by the plans made from them.
pub type FieldLocations = Arc<BTreeMap<String, Location>>;

/// One connector as one tenant should hold it: a manifest after `${var}` substitution,
/// with its files read and its content hashed. Built by `manifest`, consumed by `plan`.
///
/// Cheap to clone, and cheap to hold for many tenants: what is the same for every tenant
/// (labels, annotations, where fields are written, the files read, and the body and its
/// hash when no `${var}` changes them) is shared between the tenants' values of one
/// revision rather than copied into each.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// `metadata.name`: the connector's identity in git.
    pub connector: String,
    /// Manifest kind.
    pub kind: Kind,
    /// `metadata.labels`.
    pub labels: Arc<BTreeMap<String, String>>,
    /// `metadata.annotations`.
    pub annotations: Arc<BTreeMap<String, String>>,
    /// The content to apply.
    pub body: Arc<Body>,
    /// `body.content_hash()`, computed once: what this tenant should hold.
    pub hash: ContentHash,
    /// Hash of the manifest document and the bytes of its files *before* `${var}`
    /// substitution: the same for every tenant, so promotion (`promoteFrom`) can ask
    /// "was this very content applied cleanly there?" across tenants whose vars differ.
    pub source_hash: ContentHash,
    /// Where the manifest document starts (its `apiVersion`/`kind` line).
    pub location: Location,
    /// Where particular fields are written, keyed by the platform's error path
    /// (for example `secretRegistrations[0]`, `connectors[1]`, `liveSql`), so platform
    /// errors can be mapped back to a manifest line.
    pub field_locations: FieldLocations,
    /// Kizen `duplicateOf`: create by duplicating this tenant-side connector name.
    pub duplicate_of: Option<String>,
    /// Paths (repository-relative) of the files this manifest reads, for change tracking.
    pub files: Arc<[String]>,
}

impl Desired {
    /// Whether a person recorded a sensitive-data review on this manifest.
    pub fn sensitive_data_reviewed(&self) -> bool {
        self.annotations.contains_key(REVIEWED_ANNOTATION)
    }
}

/// One object as a provider's list call returns it: enough to decide whether the object
/// changed since ferry last saw it without exporting it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveSummary {
    /// The platform's id for the object.
    pub id: String,
    /// Tenant-side name.
    pub name: String,
    /// Whether the active toggle is on (a human decision; never drift).
    pub active: bool,
    /// Last write time as the platform reports it (RFC 3339).
    pub updated_at: String,
    /// A counter the platform bumps on every write.
    pub version: u64,
    /// Platform status, e.g. `Operational (Needs Attention)`, or plugin state.
    #[serde(default)]
    pub status: Option<String>,
}

/// A full live object: its summary and the content ferry owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveObject {
    /// What the list call says.
    pub summary: LiveSummary,
    /// Content in ferry's normalized shape.
    pub body: Body,
}

/// The kind of a pre-activation warning.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// An Agentic Workflow (automation) reference that does not resolve.
    AgenticWorkflow,
    /// A filter group for seeding that does not resolve.
    SeedingFilterGroup,
    /// A matching or mapping field reference that does not resolve.
    FieldReference,
    /// VCS credentials must be set by a person after a CDE copy.
    VcsCredentials,
}

names! {
    /// The name used in messages and JSON.
    WarningKind {
        AgenticWorkflow => "agentic-workflow",
        SeedingFilterGroup => "seeding-filter-group",
        FieldReference => "field-reference",
        VcsCredentials => "vcs-credentials",
    }
}

/// A warning that needs a person before the connector is activated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Warning {
    /// What kind of reference or step.
    pub kind: WarningKind,
    /// The reference as written (workflow name, field, …) or a short explanation.
    pub reference: String,
}

impl Warning {
    /// The `vcs-credentials` warning a Productsup CDE connector with a VCS repository gets
    /// after every copy: the platform never returns the VCS token, and the copy comes back
    /// with `authorization: public` and no username ("VCS will need to be updated with the
    /// proper authentication"), so a person must set the credentials. `None` when `config`
    /// has no `vcs.url`. The one rule both the planner and apply follow.
    pub fn vcs_credentials(config: &serde_json::Value) -> Option<Warning> {
        let url = config
            .pointer("/vcs/url")
            .and_then(|u| u.as_str())
            .map(str::trim)
            .filter(|u| !u.is_empty())?;
        Some(Warning {
            kind: WarningKind::VcsCredentials,
            reference: format!("set VCS credentials for {url}"),
        })
    }
}

/// The status a pre-activation check leaves a connector in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckStatus {
    /// All checks passed.
    #[serde(rename = "Operational")]
    Operational,
    /// Imported with warnings.
    #[serde(rename = "Operational (Needs Attention)")]
    NeedsAttention,
}

names! {
    /// The platform's wording.
    CheckStatus {
        Operational => "Operational",
        NeedsAttention => "Operational (Needs Attention)",
    }
}

/// What a create (import, install, copy) or duplicate did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Created {
    /// The new object's id.
    pub id: String,
    /// The new object as the platform reports it right after the call.
    pub summary: LiveSummary,
    /// Warnings from the platform's checks or follow-up steps.
    pub warnings: Vec<Warning>,
}

/// What a tenant's references and secrets can resolve to (look-ups a planner uses to
/// block or warn before calling the platform).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Catalog {
    /// Kizen: Agentic Workflow names.
    #[serde(default)]
    pub agentic_workflows: Vec<String>,
    /// Kizen: filter group names.
    #[serde(default)]
    pub filter_groups: Vec<String>,
    /// Kizen: `object.field` names.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Agent Studio: connector names available for binding.
    #[serde(default)]
    pub connectors: Vec<String>,
    /// Productsup CDE: secret paths in the store (`vault_secret`).
    #[serde(default)]
    pub secrets: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_ignores_key_order() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"a":1,"b":{"x":[1,2],"y":null}}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{"b":{"y":null,"x":[1,2]},"a":1}"#).unwrap();
        assert_eq!(ContentHash::of_json(&a), ContentHash::of_json(&b));
        let c: serde_json::Value =
            serde_json::from_str(r#"{"b":{"y":null,"x":[2,1]},"a":1}"#).unwrap();
        assert_ne!(ContentHash::of_json(&a), ContentHash::of_json(&c));
    }
}
