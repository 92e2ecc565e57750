//! Manifests: parsing, validating and turning them into what each tenant should hold.
//!
//! This module owns the manifest kinds (`SmartConnector`, `Plugin`, `CdeConnector`), the
//! loader that reads every manifest of a [`Snapshot`](crate::source::Snapshot) and reports
//! every problem at once as `path:line:column: message`, and the platform body of each
//! manifest (`body`); [`crate::desired`] selects and renders them per tenant. It reads YAML
//! through [`crate::yaml`] (located values) and reports through [`crate::diagnostic`], as
//! the configuration does, and must not read the configuration. It must not talk to platforms or decide what to
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
//! (`Bearer {{secret:WORKDAY_TOKEN}}`). ferry never resolves `NAME`: it sends the reference
//! as written, and git only ever holds the name. No vendor document defines a reference
//! syntax (Agent Studio's guide says to "remove them or template them before exporting"),
//! so `{{secret:NAME}}` is ferry's convention; whether a platform resolves it is modelled.
//! CDE secret registrations name vault paths (`vault_secret: amazon/seller`), which are
//! references by definition. Anywhere in a manifest's strings, a credential written
//! inside the text is an error too (a token in a URL's user info, `?token=…`,
//! `user:password@`, GitHub, GitLab, Slack and AWS keys, private-key blocks), named with
//! its place and a redacted excerpt (`strings`).
//!
//! # What people read
//! Names and other fields, the Live SQL and CSV headers must not hold control characters
//! or bidirectional formatting characters (`strings`): a terminal or a page would
//! interpret them, and the plan a reviewer approves could say something else than what is
//! applied. Line breaks are allowed in descriptions, annotations and a CDE `config`.

pub(crate) mod body;
mod broken;
mod cde_keys;
mod files;
mod load;
mod sql_secrets;
mod strings;
mod types;
mod vars;
pub(crate) use vars::Substitution;

pub use crate::diagnostic::{Diagnostic, Diagnostics};
pub use crate::sensitive::secrets::REFERENCE_FORM;
pub use broken::Broken;
pub(crate) use load::TestFile;
pub use load::{
    Manifest, ManifestSet, load, load_all, load_changed, load_changed_all, parsed_files,
};
pub use types::{
    AnyManifest, ApiVersion, CdeConnectorSpec, Document, Metadata, PluginSpec, References,
    SmartConnectorSpec, Spec, SqlTables, SqlTest,
};
