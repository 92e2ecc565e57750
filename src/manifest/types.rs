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
    /// The chDB version the platform runs this connector's SQL on (for example `26.9`).
    /// The platform pins it per connector; `ferry test` says when its engine differs, and
    /// `--require-engine-version` makes that an error. Kept in git only: it is not part of
    /// the package and does not change the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chdb_version: Option<String>,
    /// Names of the tables the SQL reads and writes. Kept in git only.
    #[serde(default, skip_serializing_if = "SqlTables::is_default")]
    pub tables: Box<SqlTables>,
    /// Test cases `ferry test` runs the Live SQL with. Without any, `ferry test` runs the
    /// SQL once on the sample file and the reference data and checks that it runs. Kept in
    /// git only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<SqlTest>,
}

fn default_input_table() -> String {
    "source_rows".to_owned()
}

fn default_reference_table() -> String {
    "reference_data".to_owned()
}

fn default_output_table() -> String {
    "output".to_owned()
}

/// Names of the tables a SmartConnector's SQL works with. The vendor says that input rows
/// flow into queryable tables and that the script writes named output tables, without
/// naming them here, so each connector declares its own; the defaults fit a script that
/// reads `source_rows` (and `reference_data`) and ends with a `SELECT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SqlTables {
    /// The table the input rows (in tests: the sample file) are loaded as. Default
    /// `source_rows`.
    #[serde(default = "default_input_table")]
    pub input: String,
    /// The table the reference data is loaded as. Default `reference_data`.
    #[serde(default = "default_reference_table")]
    pub reference_data: String,
    /// The name of the output table that the script's last statement produces when it is
    /// a query (`SELECT …`). Default `output`. Tables the script creates itself are output
    /// tables under their own names.
    #[serde(default = "default_output_table")]
    pub output: String,
}

impl Default for SqlTables {
    fn default() -> Self {
        SqlTables {
            input: default_input_table(),
            reference_data: default_reference_table(),
            output: default_output_table(),
        }
    }
}

impl SqlTables {
    /// Whether every name is its default.
    pub fn is_default(&self) -> bool {
        *self == SqlTables::default()
    }
}

/// One test case of a SmartConnector's Live SQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SqlTest {
    /// What the case shows, for reports (`${vars}` allowed).
    pub name: String,
    /// Input tables: table name → CSV file (`.csv`, or `.tsv` for tab-separated), relative
    /// to this manifest. Every column is loaded as `Nullable(String)`; an empty unquoted
    /// cell is NULL, `""` the empty string. Default: the sample file as `tables.input` and
    /// the reference data as `tables.referenceData`; tables listed here replace or add to
    /// those.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, String>,
    /// Expected output tables: table name → CSV file of the rows the script must produce,
    /// header first, values written as the engine prints them (`129.9`, `2026-05-04
    /// 08:15:00.000`). An empty unquoted cell is NULL. Without any, the case only checks
    /// that the SQL runs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub expect: BTreeMap<String, String>,
    /// Columns that identify a row of the expected tables, so a difference is reported as
    /// a changed row. Default: the first column when its values are unique on both sides;
    /// otherwise rows are compared as a multiset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key: Vec<String>,
    /// Local stand-ins for calls that reach the network: the call as written in the SQL
    /// (`postgresql(crm, table='customers')`, compared token by token) or a function name
    /// (`postgresql`, every call of it) → CSV file whose rows the call returns instead.
    /// Without a stand-in such a call is refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stand_ins: BTreeMap<String, String>,
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
    /// Connector bindings by connector name in the target tenant: the platform drops
    /// connectors on export and the install wizard has a person select them; ferry's
    /// (modelled) install selects these names.
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
    /// VCS credentials are set by a person after the copy), `individuals`. Only keys the
    /// vendor's `POST /connectors/copy` reference shows are accepted; an unknown key is an
    /// error naming the closest documented one. Secret-bearing keys (password, token,
    /// secret, api-key, private-key) may only hold secret references `{{secret:NAME}}`.
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
