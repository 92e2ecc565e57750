//! The manifest kinds as serde types: what a platform team writes in git.
//!
//! Every struct rejects unknown fields, and their doc comments become the JSON Schema
//! (`ferry schema`). Field names are camelCase except inside a CDE connector's `config`,
//! which keeps the platform's own kebab-case shape.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Kind, KizenType, PluginState, PluginTrigger};

/// The manifest format version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    /// The first and current version.
    #[default]
    #[serde(rename = "ferry/v1")]
    V1,
}

/// Identity and labels of a manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// The connector's identity in git, unique across all manifests: lowercase letters,
    /// digits, `-` and `.`, starting and ending with a letter or digit (`orders-sync`).
    /// Renaming it makes a new connector.
    pub name: String,
    /// Labels that tenant `selector`s match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Free-form notes; `ferry.dev/sensitive-data-reviewed` records a review of the sample
    /// and reference files.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// References a SmartConnector makes to objects of its business; checked by the platform
/// after import (a reference that does not resolve is a warning).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct References {
    /// Agentic Workflow (automation) names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agentic_workflows: Vec<String>,
    /// Filter groups used for seeding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filter_groups: Vec<String>,
    /// Matching or mapping field references, written `object.field`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub field_mappings: Vec<String>,
}

/// A Kizen SmartConnector (`kind: SmartConnector`, platform `kizen`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SmartConnectorSpec {
    /// Tenant-side name, unique per business (the platform's conflict key).
    pub name: String,
    /// API name: lowercase letters, digits and `_`, starting with a letter. Keep it stable:
    /// webhook URLs depend on it. `${vars}` are not allowed here.
    pub api_name: String,
    /// Connector type.
    #[serde(rename = "type")]
    pub kind: KizenType,
    /// Live SQL script (ClickHouse dialect), a file relative to this manifest. Required
    /// unless `duplicateOf` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_sql: Option<String>,
    /// Reference data (CSV), a file relative to this manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_data: Option<String>,
    /// Sample file (CSV), a file relative to this manifest. It travels with every export:
    /// keep it free of sensitive data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_file: Option<String>,
    /// References checked by the platform after import.
    #[serde(default)]
    pub references: References,
    /// Create this connector by duplicating the named connector of the same tenant instead
    /// of importing a package; `liveSql` may then be omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// Notes for people; kept in git only (Kizen packages have no description).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An Agent Studio plugin (`kind: Plugin`, platform `agent-studio`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginSpec {
    /// Plugin name.
    pub name: String,
    /// Description shown in Agent Studio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Only published plugins can be promoted.
    pub state: PluginState,
    /// How the plugin starts. Webhook-triggered plugins cannot be imported: the plan marks
    /// them as a manual step.
    pub trigger: PluginTrigger,
    /// Connector bindings by connector name in the target tenant (the platform drops
    /// connectors on export, so each tenant binds them by name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connectors: Vec<String>,
    /// The plugin's actions: a JSON file relative to this manifest. Auth headers and other
    /// secret-bearing values must be secret references `{{secret:NAME}}`, never literals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<String>,
}

fn default_flow() -> String {
    "default".to_owned()
}

/// A Productsup CDE connector (`kind: CdeConnector`, platform `productsup-cde`): the
/// platform's `GET /connectors/{id}` shape minus server-owned and environment fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CdeConnectorSpec {
    /// Connector name.
    pub name: String,
    /// Connector type: `datasource`, `export`, `data-service`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Flow. Default `default`.
    #[serde(default = "default_flow")]
    pub flow: String,
    /// The connector configuration in the platform's kebab-case shape (`versions[0].config`):
    /// `execution`, `authentication-registrations`, `secret-registrations`
    /// (`[{vault_secret: path}]`, which must exist in the tenant's secret store),
    /// `application`, `vcs` (`authorization`, `url`, `branch`, `username`; never a token:
    /// VCS credentials are set by a person after the copy), `individuals`.
    /// Secret-bearing keys (password, token, secret, api-key, private-key) may only hold
    /// secret references `{{secret:NAME}}`.
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub config: serde_json::Value,
}

/// One manifest document as written: `apiVersion`, `kind`, `metadata` and the kind's `spec`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Document<S> {
    /// Always `ferry/v1`.
    pub api_version: ApiVersion,
    /// The manifest kind.
    pub kind: Kind,
    /// Identity and labels.
    pub metadata: Metadata,
    /// The kind's content.
    pub spec: S,
}

/// Any manifest, for the JSON Schema: one variant per `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum AnyManifest {
    /// A Kizen SmartConnector.
    SmartConnector {
        /// Always `ferry/v1`.
        #[serde(rename = "apiVersion")]
        api_version: ApiVersion,
        /// Identity and labels.
        metadata: Metadata,
        /// The connector.
        spec: SmartConnectorSpec,
    },
    /// An Agent Studio plugin.
    Plugin {
        /// Always `ferry/v1`.
        #[serde(rename = "apiVersion")]
        api_version: ApiVersion,
        /// Identity and labels.
        metadata: Metadata,
        /// The plugin.
        spec: PluginSpec,
    },
    /// A Productsup CDE connector.
    CdeConnector {
        /// Always `ferry/v1`.
        #[serde(rename = "apiVersion")]
        api_version: ApiVersion,
        /// Identity and labels.
        metadata: Metadata,
        /// The connector.
        spec: CdeConnectorSpec,
    },
}

/// A manifest's spec, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    /// `kind: SmartConnector`.
    SmartConnector(SmartConnectorSpec),
    /// `kind: Plugin`.
    Plugin(PluginSpec),
    /// `kind: CdeConnector`.
    CdeConnector(CdeConnectorSpec),
}

impl Spec {
    /// The manifest kind.
    pub fn kind(&self) -> Kind {
        match self {
            Spec::SmartConnector(_) => Kind::SmartConnector,
            Spec::Plugin(_) => Kind::Plugin,
            Spec::CdeConnector(_) => Kind::CdeConnector,
        }
    }

    /// The tenant-side name as written (before `${var}` substitution).
    pub fn name(&self) -> &str {
        match self {
            Spec::SmartConnector(s) => &s.name,
            Spec::Plugin(s) => &s.name,
            Spec::CdeConnector(s) => &s.name,
        }
    }
}
