//! Manifests: parsing, validating and turning them into what each tenant should hold.
//!
//! This module owns the manifest kinds (`SmartConnector`, `Plugin`, `CdeConnector`), the
//! loader that reads every manifest of a [`Snapshot`](crate::source::Snapshot) and reports
//! every problem at once as `path:line:column: message`, and [`desired_for`], which builds
//! the [`Desired`](crate::model::Desired) values of one tenant. It also holds the YAML and
//! diagnostic plumbing `config` shares. It must not talk to platforms or decide what to
//! change (that is the planner's job).
//!
//! # Layout of a manifests folder
//! Every `.yaml`/`.yml` file under the folder (recursively; names starting with `.` are
//! skipped) holds one or more manifests separated by `---`. Files a manifest references
//! (`liveSql`, `referenceData`, `sampleFile`, `actions`) are relative to the manifest and
//! must stay inside the folder: absolute paths, `..` that leaves it, and symbolic links
//! pointing out of it are errors.
//!
//! # Per-tenant values
//! `${name}` in any string of a manifest's `spec` is replaced with the tenant's
//! `vars.name`; an undefined variable is an error naming the tenant and the place. `$${`
//! writes a literal `${`. File references and `apiName` cannot use variables, `metadata` is
//! never substituted, and referenced files (SQL, CSV, actions JSON) are used byte for
//! byte: variables apply to manifests only.
//!
//! # Secrets
//! Manifests never hold secret values. In a CDE connector's `config` and in a plugin's
//! actions JSON, a secret-bearing field (keys named like `password`, `token`, `secret`,
//! `api-key`, `private-key`, auth headers such as `Authorization` or `X-API-KEY`) may only
//! hold a secret reference `{{secret:NAME}}`, optionally after a scheme word
//! (`Bearer {{secret:WORKDAY_TOKEN}}`). The provider resolves `NAME` for the tenant at
//! apply time; git only ever holds the name. CDE secret registrations name vault paths
//! (`vault_secret: amazon/seller`), which are references by definition.

mod desired;
mod diagnostic;
mod files;
mod load;
pub(crate) mod secrets;
mod sql_secrets;
mod types;
mod vars;
pub(crate) mod yaml;

pub use desired::desired_for;
pub(crate) use desired::test_names;
pub use diagnostic::{Diagnostic, Diagnostics};
pub(crate) use load::TestFile;
pub use load::{Manifest, ManifestSet, load, load_all, load_changed, parsed_files};
pub use secrets::REFERENCE_FORM;
pub use types::{
    AnyManifest, ApiVersion, CdeConnectorSpec, Document, Metadata, PluginSpec, References,
    SmartConnectorSpec, Spec, SqlTables, SqlTest,
};
