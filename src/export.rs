//! Export: write what one tenant holds as manifests and their files, and record
//! the exported objects in the state store so that planning that folder against the
//! tenant shows it in sync.
//!
//! The tenant is read with one list call and one export per object. Each object becomes
//! one manifest, `<slug>.yaml`, named after a slug of its live name (`Orders Sync` →
//! `orders-sync`; names that slug alike get `-2`, `-3`, …; an object ferry already manages
//! keeps its `metadata.name`; the labels of the tenant's `selector` are set so the tenant
//! selects it), with its files beside it: Kizen `<slug>.sql`,
//! `<slug>.reference.csv`, `<slug>.sample.csv`; Agent Studio `<slug>.actions.json`; a CDE
//! connector keeps its configuration inline. `${` in exported strings is written `$${`, so
//! tenant variables never change exported content.
//!
//! After writing, the folder is read back with the manifest loader, and every object is
//! recorded in the inventory as adopted: applied hash = live hash, live version as read,
//! `createdByFerry` false for objects ferry did not manage before (so they are never
//! pruned). A `ferry plan` whose `source.path` points at the folder then reports the tenant
//! in sync, except for samples redacted with `--redact-samples`, which show as changes.
//!
//! # Guarantees
//! - Nothing is written into a non-empty `--out` without `--force`; with `--force`, files
//!   of the same name are overwritten and other files are left alone.
//! - A value that looks like a literal secret (a token in an actions header, a password in
//!   a CDE config) is never written: that object is skipped and reported by field path,
//!   without its value, and the command exits 1.
//!
//! It must not change the tenant: it only lists and exports.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::config::{self, LoadedConfig};
use crate::engine::{self, Engine};
use crate::manifest::{
    self, ApiVersion, CdeConnectorSpec, Document, Metadata, PluginSpec, References,
    SmartConnectorSpec,
};
use crate::model::{Body, ContentHash, Kind, LiveObject, LiveSummary};
use crate::provider::{self, ClientOptions, Provider};
use crate::sensitive::secrets;
use crate::source::WorkTree;
use crate::store::{self, InventoryRow, Store, inventory};

/// How many exports run at once.
const CONCURRENCY: usize = 8;

/// The longest slug ferry makes (without a `-N` suffix).
const MAX_SLUG: usize = 60;

/// The revision recorded in the inventory for exported objects.
pub const EXPORT_REVISION: &str = "export";

/// What to export, and where.
#[derive(Debug, Clone)]
pub struct Options {
    /// The tenant to export.
    pub tenant: String,
    /// Directory to write the manifests and their files to (created if missing).
    pub out: PathBuf,
    /// Write into a non-empty directory, overwriting files of the same name.
    pub force: bool,
    /// Keep only the header row of Kizen sample files.
    pub redact_samples: bool,
    /// State store path (default: `state` in the configuration).
    pub state: Option<PathBuf>,
}

/// Errors of `ferry export`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--out` holds files and `--force` was not given.
    #[error(
        "{path} is not empty; export into a new or empty directory, or pass --force to overwrite files of the same name"
    )]
    OutNotEmpty {
        /// The directory.
        path: PathBuf,
    },
    /// `--out` exists and is not a directory, or cannot be read.
    #[error("cannot use {path} as the output directory: {source}")]
    OutUnusable {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The tenant is not in the configuration.
    #[error("no tenant named {tenant:?} in {config}; configured tenants: {known}")]
    UnknownTenant {
        /// The tenant asked for.
        tenant: String,
        /// The configuration file.
        config: String,
        /// The tenants it has.
        known: String,
    },
    /// Connecting to the tenant failed.
    #[error(transparent)]
    Engine(#[from] engine::Error),
    /// Listing or exporting failed.
    #[error("{0}; nothing was written")]
    Provider(#[from] provider::Error),
    /// The state store failed.
    #[error("the files were written, but recording the exported objects failed: {0}")]
    Store(#[from] store::Error),
    /// A file could not be written.
    #[error("cannot write {path}: {source}; the export is incomplete and nothing was recorded")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A manifest could not be serialized.
    #[error("cannot write the manifest of {name:?} ({id}): {message}")]
    Serialize {
        /// Live name.
        name: String,
        /// Live id.
        id: String,
        /// What failed.
        message: String,
    },
}

impl Error {
    /// The exit code for this error: 64 for usage problems found before any work, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::OutNotEmpty { .. } | Error::OutUnusable { .. } | Error::UnknownTenant { .. } => {
                64
            }
            _ => 1,
        }
    }
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One file of an export, relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    /// File name (no directories).
    pub path: String,
    /// Contents.
    pub bytes: Vec<u8>,
}

/// One object ready to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// `metadata.name` given to it.
    pub connector: String,
    /// Manifest kind.
    pub kind: Kind,
    /// What the tenant's export said about it.
    pub summary: LiveSummary,
    /// Hash of the live content (recorded as applied).
    pub live_hash: ContentHash,
    /// The manifest first, then its files.
    pub files: Vec<OutFile>,
    /// Whether its sample file was redacted (the manifest then differs from the tenant).
    pub redacted: bool,
}

/// An object that was not exported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Live id.
    pub id: String,
    /// Live name.
    pub name: String,
    /// Why, and what to do.
    pub reason: String,
}

/// The slug of a live name: lowercase ASCII letters and digits, every other run of
/// characters turned into one `-`, at most 60 characters; `fallback` when nothing is left.
/// Always a valid `metadata.name`.
pub fn slug(name: &str, fallback: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(MAX_SLUG);
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        fallback.to_owned()
    } else {
        out.to_owned()
    }
}

/// `text` with every `${` written `$${`, so `${var}` substitution gives `text` back.
pub fn escape_vars(text: &str) -> String {
    text.replace("${", "$${")
}

fn escape_json(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(escape_vars(s)),
        Value::Array(items) => Value::Array(items.iter().map(escape_json).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), escape_json(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The header row of a CSV sample (with its line ending), dropping every data row.
pub fn redact_sample(sample: &str) -> String {
    match sample.find('\n') {
        Some(end) => sample[..=end].to_owned(),
        None => sample.to_owned(),
    }
}

/// What the manifests are written for: the tenant's name (in a comment) and the labels
/// its `selector` requires (on every manifest, so the tenant selects them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// Tenant name.
    pub tenant: String,
    /// `metadata.labels` of every manifest.
    pub labels: BTreeMap<String, String>,
}

impl Target {
    /// The target of a configured tenant.
    pub fn of(tenant: &config::Tenant) -> Target {
        Target {
            tenant: tenant.name.clone(),
            labels: tenant.selector.clone(),
        }
    }
}

/// Turn exported objects into manifests and files. `managed` maps live ids to the
/// `metadata.name` ferry already manages them under (kept); the others get slugs of their
/// names, made unique. Objects whose content cannot be written safely (a literal secret, a
/// name another object already has) are skipped with a reason.
pub fn render(
    target: &Target,
    objects: &[LiveObject],
    managed: &HashMap<String, String>,
    redact_samples: bool,
) -> (Vec<Exported>, Vec<Skipped>) {
    let mut taken: HashSet<String> = objects
        .iter()
        .filter_map(|o| managed.get(&o.summary.id).cloned())
        .collect();
    let mut names_seen: HashMap<&str, &str> = HashMap::new();
    let mut exported = Vec::new();
    let mut skipped = Vec::new();
    for object in objects {
        let summary = &object.summary;
        let skip = |reason: String| Skipped {
            id: summary.id.clone(),
            name: summary.name.clone(),
            reason,
        };
        if let Some(first) = names_seen.get(object.body.name()) {
            skipped.push(skip(format!(
                "{first} has the same name, and manifests need unique names; rename one of them in the tenant and export again"
            )));
            continue;
        }
        let findings = literal_secrets(&object.body);
        if !findings.is_empty() {
            skipped.push(skip(format!(
                "it holds what looks like a literal secret at {}; move the value to the tenant's secret store, reference it as {{{{secret:NAME}}}}, and export again",
                findings.join(", ")
            )));
            continue;
        }
        names_seen.insert(object.body.name(), &summary.id);
        let connector = match managed.get(&summary.id) {
            Some(name) => name.clone(),
            None => {
                let fallback = match object.body {
                    Body::AgentStudio(_) => "plugin",
                    _ => "connector",
                };
                unique(&slug(&summary.name, fallback), &mut taken)
            }
        };
        match files_of(target, &connector, object, redact_samples) {
            Ok((files, redacted)) => exported.push(Exported {
                connector,
                kind: object.body.platform().kind(),
                summary: summary.clone(),
                live_hash: object.body.content_hash(),
                files,
                redacted,
            }),
            Err(message) => skipped.push(skip(format!("cannot write its manifest: {message}"))),
        }
    }
    (exported, skipped)
}

/// `base`, or `base-2`, `base-3`, … whichever is free; marks it taken.
fn unique(base: &str, taken: &mut HashSet<String>) -> String {
    let mut candidate = base.to_owned();
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = format!("{base}-{n}");
        n += 1;
    }
    taken.insert(candidate.clone());
    candidate
}

/// Field paths of values that look like literal secrets (never the values).
fn literal_secrets(body: &Body) -> Vec<String> {
    let mut findings = Vec::new();
    match body {
        Body::AgentStudio(p) => secrets::scan_json(&p.actions, "actions", &mut findings),
        Body::ProductsupCde(c) => secrets::scan_json(&c.config, "config", &mut findings),
        Body::Kizen(_) => {}
    }
    findings.into_iter().map(|f| f.path).collect()
}

fn yaml<T: Serialize>(doc: &T) -> std::result::Result<String, String> {
    serde_saphyr::to_string(doc).map_err(|e| e.to_string())
}

fn files_of(
    target: &Target,
    connector: &str,
    object: &LiveObject,
    redact_samples: bool,
) -> std::result::Result<(Vec<OutFile>, bool), String> {
    let metadata = Metadata {
        name: connector.to_owned(),
        labels: target.labels.clone(),
        ..Metadata::default()
    };
    let mut header = format!(
        "# Exported by `ferry export` from tenant {} (id {}).\n",
        target.tenant, object.summary.id
    );
    let mut files = Vec::new();
    let mut redacted = false;
    let manifest = match &object.body {
        Body::Kizen(p) => {
            let sql = format!("{connector}.sql");
            files.push(OutFile {
                path: sql.clone(),
                bytes: p.live_sql.as_bytes().to_vec(),
            });
            let reference = p.reference_data.as_ref().map(|data| {
                let path = format!("{connector}.reference.csv");
                files.push(OutFile {
                    path: path.clone(),
                    bytes: data.as_bytes().to_vec(),
                });
                path
            });
            let sample = p.sample_file.as_ref().map(|data| {
                let path = format!("{connector}.sample.csv");
                let text = if redact_samples {
                    let kept = redact_sample(data);
                    redacted = kept != *data;
                    kept
                } else {
                    data.clone()
                };
                files.push(OutFile {
                    path: path.clone(),
                    bytes: text.into_bytes(),
                });
                path
            });
            if redacted {
                header.push_str(
                    "# The sample file was redacted to its header row (--redact-samples): planning shows this connector as changed.\n",
                );
            }
            let escape = |items: &[String]| items.iter().map(|s| escape_vars(s)).collect();
            yaml(&Document {
                api_version: ApiVersion::V1,
                kind: Kind::SmartConnector,
                metadata,
                spec: SmartConnectorSpec {
                    name: escape_vars(&p.name),
                    api_name: p.api_name.clone(),
                    kind: p.kind,
                    live_sql: Some(sql),
                    reference_data: reference,
                    sample_file: sample,
                    references: References {
                        agentic_workflows: escape(&p.references.agentic_workflows),
                        filter_groups: escape(&p.references.filter_groups),
                        field_mappings: escape(&p.references.field_mappings),
                    },
                    duplicate_of: None,
                    description: None,
                    chdb_version: None,
                    tables: Default::default(),
                    tests: Vec::new(),
                },
            })?
        }
        Body::AgentStudio(p) => {
            let actions = (!p.actions.is_null()).then(|| {
                let path = format!("{connector}.actions.json");
                let mut text = serde_json::to_string_pretty(&p.actions).unwrap_or_default();
                text.push('\n');
                files.push(OutFile {
                    path: path.clone(),
                    bytes: text.into_bytes(),
                });
                path
            });
            yaml(&Document {
                api_version: ApiVersion::V1,
                kind: Kind::Plugin,
                metadata,
                spec: PluginSpec {
                    name: escape_vars(&p.name),
                    description: p.description.as_deref().map(escape_vars),
                    state: p.state,
                    trigger: p.trigger,
                    connectors: p.connectors.iter().map(|c| escape_vars(c)).collect(),
                    actions,
                },
            })?
        }
        Body::ProductsupCde(c) => yaml(&Document {
            api_version: ApiVersion::V1,
            kind: Kind::CdeConnector,
            metadata,
            spec: CdeConnectorSpec {
                name: escape_vars(&c.name),
                kind: escape_vars(&c.kind),
                description: c.description.as_deref().map(escape_vars),
                flow: escape_vars(&c.flow),
                config: escape_json(&c.config),
            },
        })?,
    };
    files.insert(
        0,
        OutFile {
            path: format!("{connector}.yaml"),
            bytes: format!("{header}{manifest}").into_bytes(),
        },
    );
    Ok((files, redacted))
}

/// What an export did.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The tenant.
    pub tenant: String,
    /// The output directory.
    pub out: PathBuf,
    /// Objects written and recorded.
    pub exported: Vec<Exported>,
    /// Objects left out.
    pub skipped: Vec<Skipped>,
    /// Problems found reading the folder back (each `path:line:column: message`, or a
    /// connector whose manifest does not read back as its live content).
    pub problems: Vec<String>,
}

impl Report {
    /// Whether everything was exported and reads back as the tenant holds it (redacted
    /// samples aside).
    pub fn complete(&self) -> bool {
        self.skipped.is_empty() && self.problems.is_empty()
    }
}

/// Check `--out`: missing or empty, or `force`.
fn check_out(out: &Path, force: bool) -> Result<()> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() && !force {
                return Err(Error::OutNotEmpty {
                    path: out.to_owned(),
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::OutUnusable {
            path: out.to_owned(),
            source,
        }),
    }
}

/// The configuration with only what exporting `tenant` needs: that tenant, plus every
/// emulated tenant (they share the in-process emulator's state file, which must keep them
/// all), so other tenants' credentials are not required.
fn scoped(loaded: &LoadedConfig, tenant: &str) -> LoadedConfig {
    let mut scoped = loaded.clone();
    scoped
        .config
        .tenants
        .retain(|t| t.name == tenant || t.url == "emulator");
    scoped
}

/// Export every object of `tenant` with one list call and one export per object, at most
/// [`CONCURRENCY`] at a time, printing progress on `progress` when given.
async fn export_all(
    provider: Arc<dyn Provider>,
    progress: bool,
) -> Result<Vec<LiveObject>, provider::Error> {
    let summaries = provider.list().await?;
    let total = summaries.len();
    let mut out: Vec<Option<LiveObject>> = vec![None; total];
    let mut tasks = tokio::task::JoinSet::new();
    let mut queue = summaries.into_iter().enumerate();
    let mut done = 0;
    let show = |done: usize| {
        if progress {
            eprint!("\rexporting {done}/{total}…");
            let _ = std::io::stderr().flush();
        }
    };
    show(0);
    loop {
        while tasks.len() < CONCURRENCY {
            let Some((i, summary)) = queue.next() else {
                break;
            };
            let provider = provider.clone();
            tasks.spawn(async move { (i, provider.export(&summary.id).await) });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (i, result) = joined.expect("export tasks do not panic");
        out[i] = Some(result?);
        done += 1;
        show(done);
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    Ok(out.into_iter().flatten().collect())
}

/// Export `args.tenant` of the configuration `loaded` into `args.out`.
///
/// # Errors
/// [`Error`]; objects that could not be exported safely are in [`Report::skipped`].
pub async fn export(loaded: &LoadedConfig, args: &Options) -> Result<Report> {
    let Some(tenant) = loaded.tenant(&args.tenant).cloned() else {
        return Err(Error::UnknownTenant {
            tenant: args.tenant.clone(),
            config: loaded.display_path().to_owned(),
            known: loaded
                .config
                .tenants
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let (out, force) = (args.out.clone(), args.force);
    let state_path = engine::state_path(loaded, args.state.as_deref());
    // Directory listing and SQLite stay off the async workers.
    let store = tokio::task::spawn_blocking(move || -> Result<Store> {
        check_out(&out, force)?;
        Ok(Store::open(&state_path)?)
    })
    .await
    .map_err(|e| Error::OutUnusable {
        path: args.out.clone(),
        source: std::io::Error::other(e.to_string()),
    })??;
    let engine = Engine::start(
        Arc::new(scoped(loaded, &tenant.name)),
        store.clone(),
        &ClientOptions::default(),
    )
    .await?;
    let result = export_with(&engine, &store, &tenant, args).await;
    engine.shutdown().await;
    result
}

async fn export_with(
    engine: &Engine,
    store: &Store,
    tenant: &config::Tenant,
    args: &Options,
) -> Result<Report> {
    let name = tenant.name.clone();
    let rows = store.call(move |c| inventory::list(c, &name)).await?;
    let managed: HashMap<String, String> = rows
        .iter()
        .map(|r| (r.live_id.clone(), r.connector.clone()))
        .collect();
    let created_by_ferry: HashMap<String, bool> = rows
        .iter()
        .map(|r| (r.live_id.clone(), r.created_by_ferry))
        .collect();

    let provider = engine.provider(&tenant.name)?;
    let objects = export_all(provider, std::io::stderr().is_terminal()).await?;
    let (exported, skipped) = render(&Target::of(tenant), &objects, &managed, args.redact_samples);

    let out = args.out.clone();
    let files: Vec<(PathBuf, Vec<u8>)> = exported
        .iter()
        .flat_map(|e| e.files.iter())
        .map(|f| (out.join(&f.path), f.bytes.clone()))
        .collect();
    tokio::task::spawn_blocking(move || write_files(&out, &files))
        .await
        .map_err(|e| Error::Write {
            path: args.out.clone(),
            source: std::io::Error::other(e.to_string()),
        })??;

    let (source_hashes, problems) = read_back(&args.out, tenant, &exported).await;

    let tenant_name = tenant.name.clone();
    let records: Vec<InventoryRow> = exported
        .iter()
        .map(|e| InventoryRow {
            connector: e.connector.clone(),
            kind: e.kind,
            live_id: e.summary.id.clone(),
            name: e.summary.name.clone(),
            applied_hash: e.live_hash.clone(),
            source_hash: source_hashes
                .get(&e.connector)
                .cloned()
                .unwrap_or_else(|| e.live_hash.clone()),
            live_version: e.summary.version,
            revision: EXPORT_REVISION.to_owned(),
            created_by_ferry: created_by_ferry
                .get(&e.summary.id)
                .copied()
                .unwrap_or(false),
        })
        .collect();
    store
        .call(move |c| {
            let tx = c.transaction()?;
            let ids: HashSet<&str> = records.iter().map(|r| r.live_id.as_str()).collect();
            // One connector per live object: drop older records of the same objects.
            for old in inventory::list(&tx, &tenant_name)? {
                if ids.contains(old.live_id.as_str())
                    && !records.iter().any(|r| r.connector == old.connector)
                {
                    inventory::remove(&tx, &tenant_name, &old.connector)?;
                }
            }
            for row in &records {
                inventory::upsert(&tx, &tenant_name, row)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await?;

    Ok(Report {
        tenant: tenant.name.clone(),
        out: args.out.clone(),
        exported,
        skipped,
        problems,
    })
}

fn write_files(out: &Path, files: &[(PathBuf, Vec<u8>)]) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|source| Error::Write {
        path: out.to_owned(),
        source,
    })?;
    for (path, bytes) in files {
        std::fs::write(path, bytes).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Read the written folder with the manifest loader, as `ferry plan` will: the source
/// hash of each exported manifest, and every problem (load errors, and connectors whose
/// manifest does not read back as their live content, redacted samples aside).
async fn read_back(
    out: &Path,
    tenant: &config::Tenant,
    exported: &[Exported],
) -> (BTreeMap<String, ContentHash>, Vec<String>) {
    let (out, tenant) = (out.to_owned(), tenant.clone());
    let wanted: Vec<(String, ContentHash, bool)> = exported
        .iter()
        .map(|e| (e.connector.clone(), e.live_hash.clone(), e.redacted))
        .collect();
    let result = tokio::task::spawn_blocking(move || {
        let mut problems = Vec::new();
        let (set, diagnostics) = manifest::load_all(&WorkTree::new(&out), "");
        problems.extend(diagnostics.iter().map(ToString::to_string));
        let desired = match crate::desired::desired_for(&set, &tenant) {
            Ok(d) => d,
            Err(diagnostics) => {
                problems.extend(diagnostics.iter().map(ToString::to_string));
                Vec::new()
            }
        };
        let mut hashes = BTreeMap::new();
        for (connector, live_hash, redacted) in wanted {
            let Some(d) = desired.iter().find(|d| d.connector == connector) else {
                problems.push(format!(
                    "{connector}: the exported manifest does not load (see above); fix it by hand before planning"
                ));
                continue;
            };
            hashes.insert(connector.clone(), d.source_hash.clone());
            if !redacted && d.hash != live_hash {
                problems.push(format!(
                    "{connector}: the exported manifest does not read back as the tenant holds it; `ferry plan` will show it as changed"
                ));
            }
        }
        (hashes, problems)
    })
    .await;
    result.unwrap_or_else(|e| {
        (
            BTreeMap::new(),
            vec![format!("reading the export back failed: {e}")],
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        CdeBody, KizenPackage, KizenReferences, KizenType, PluginBody, PluginState, PluginTrigger,
    };

    fn target(tenant: &str) -> Target {
        Target {
            tenant: tenant.into(),
            labels: BTreeMap::new(),
        }
    }

    fn summary(id: &str, name: &str) -> LiveSummary {
        LiveSummary {
            id: id.into(),
            name: name.into(),
            active: false,
            updated_at: "2026-01-01T00:00:00Z".into(),
            version: 3,
            status: None,
        }
    }

    fn kizen(id: &str, name: &str) -> LiveObject {
        LiveObject {
            summary: summary(id, name),
            body: Body::Kizen(KizenPackage {
                name: name.into(),
                api_name: slug(name, "x").replace('-', "_"),
                kind: KizenType::Spreadsheet,
                live_sql: "SELECT 1\n".into(),
                reference_data: Some("a,b\n1,2\n".into()),
                sample_file: Some("email,name\nx@example.com,X\n".into()),
                references: KizenReferences {
                    agentic_workflows: vec!["Lead ${Router}".into()],
                    filter_groups: vec![],
                    field_mappings: vec!["contacts.email".into()],
                },
            }),
        }
    }

    #[test]
    fn a_non_empty_output_directory_is_refused_without_force() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_out(&dir.path().join("new"), false).is_ok());
        assert!(check_out(dir.path(), false).is_ok());
        std::fs::write(dir.path().join("orders.yaml"), "").unwrap();
        let err = check_out(dir.path(), false).unwrap_err();
        assert_eq!(err.exit_code(), 64);
        assert_eq!(
            err.to_string(),
            format!(
                "{} is not empty; export into a new or empty directory, or pass --force to overwrite files of the same name",
                dir.path().display()
            )
        );
        assert!(check_out(dir.path(), true).is_ok());
        let file = dir.path().join("orders.yaml");
        let err = check_out(&file, true).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "cannot use {} as the output directory: ",
                file.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn slugs_are_valid_metadata_names() {
        assert_eq!(slug("Orders Sync", "c"), "orders-sync");
        assert_eq!(slug("  PTO -- Balance (v2)! ", "c"), "pto-balance-v2");
        assert_eq!(slug("Überweisung", "c"), "berweisung");
        assert_eq!(slug("***", "plugin"), "plugin");
        assert_eq!(slug(&"a".repeat(100), "c").len(), 60);
        assert_eq!(slug(&format!("{}-b", "a".repeat(59)), "c"), "a".repeat(59));
    }

    #[test]
    fn names_that_slug_alike_get_numbered_and_managed_names_are_kept() {
        let objects = vec![
            kizen("sc_1", "Orders Sync"),
            kizen("sc_2", "orders sync"),
            kizen("sc_3", "Orders-Sync!"),
            kizen("sc_4", "Lead Intake"),
        ];
        let managed = HashMap::from([("sc_4".to_owned(), "orders-sync".to_owned())]);
        let (exported, skipped) = render(&target("sandbox"), &objects, &managed, false);
        assert!(skipped.is_empty());
        let names: Vec<&str> = exported.iter().map(|e| e.connector.as_str()).collect();
        assert_eq!(
            names,
            [
                "orders-sync-2",
                "orders-sync-3",
                "orders-sync-4",
                "orders-sync"
            ]
        );
        let paths: Vec<&str> = exported[0].files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "orders-sync-2.yaml",
                "orders-sync-2.sql",
                "orders-sync-2.reference.csv",
                "orders-sync-2.sample.csv"
            ]
        );
    }

    #[test]
    fn variables_are_escaped_and_samples_redacted_on_request() {
        let (exported, _) = render(
            &target("sandbox"),
            &[kizen("sc_1", "Orders Sync")],
            &HashMap::new(),
            true,
        );
        let manifest = String::from_utf8(exported[0].files[0].bytes.clone()).unwrap();
        assert!(manifest.contains("$${Router}"), "{manifest}");
        assert!(manifest.contains("redacted"), "{manifest}");
        assert_eq!(exported[0].files[3].bytes, b"email,name\n");
        assert!(exported[0].redacted);
        assert_eq!(redact_sample("only,header"), "only,header");
    }

    #[test]
    fn literal_secrets_and_duplicate_names_are_skipped_with_the_path_not_the_value() {
        let plugin = |id: &str, name: &str, auth: &str| LiveObject {
            summary: summary(id, name),
            body: Body::AgentStudio(PluginBody {
                name: name.into(),
                description: None,
                state: PluginState::Published,
                trigger: PluginTrigger::Conversational,
                connectors: vec!["Workday".into()],
                actions: serde_json::json!([{"headers": {"Authorization": auth}}]),
            }),
        };
        let objects = vec![
            plugin("pl_1", "PTO", "Bearer {{secret:WORKDAY}}"),
            plugin(
                "pl_2",
                "Leak",
                "Bearer abcdefghijklmnopqrstuvwxyz0123456789",
            ),
            plugin("pl_3", "PTO", "Bearer {{secret:WORKDAY}}"),
        ];
        let (exported, skipped) = render(&target("assistants"), &objects, &HashMap::new(), false);
        assert_eq!(exported.len(), 1);
        assert_eq!(exported[0].files[1].path, "pto.actions.json");
        assert_eq!(skipped.len(), 2);
        assert_eq!(skipped[0].id, "pl_2");
        assert!(
            skipped[0]
                .reason
                .contains("actions[0].headers.Authorization")
                && !skipped[0].reason.contains("abcdefghij"),
            "{}",
            skipped[0].reason
        );
        assert!(
            skipped[1].reason.contains("pl_1 has the same name"),
            "{}",
            skipped[1].reason
        );
    }

    /// Written manifests read back through the real loader as exactly the live content,
    /// including strings YAML would otherwise take for other types.
    #[test]
    fn exported_manifests_read_back_as_the_live_content() {
        let tricky = [
            "yes",
            "No",
            "~",
            "null",
            "1.0",
            "0x1f",
            "",
            " leading",
            "trailing ",
            "a: b",
            "#hash",
            "- dash",
            "multi\nline\n",
            "tab\there",
            "quote ' and \"",
            "${var}",
            "$${x}",
            "ünïcödé",
            "2026-01-01",
            "*alias",
            "&anchor",
            "!tag",
            "%percent",
            "@at",
            "`tick`",
            "a very long description that goes on and on well past the folding width of eighty characters so it wraps",
        ];
        let config = serde_json::json!({
            "application": {"command": "php", "arguments": tricky.to_vec()},
            "authentication-registrations": [20, 30],
            "secret-registrations": [{"vault_secret": "amazon/seller"}],
            "individuals": [{"field-name": "yes", "order": 1, "field-config": {
                "numbers": [1, -2, 3.5, 1e300, 0.1],
                "flags": [true, false, null],
            }}],
        });
        let objects = vec![
            kizen("sc_1", "Orders: Sync #1"),
            LiveObject {
                summary: summary("c-1", "Feed ${x}"),
                body: Body::ProductsupCde(CdeBody {
                    name: "Feed ${x}".into(),
                    kind: "datasource".into(),
                    description: Some(tricky.join(" | ")),
                    flow: "default".into(),
                    config,
                }),
            },
            LiveObject {
                summary: summary("pl_1", "yes"),
                body: Body::AgentStudio(PluginBody {
                    name: "yes".into(),
                    description: Some("multi\nline\n\n".into()),
                    state: PluginState::Draft,
                    trigger: PluginTrigger::Scheduled,
                    connectors: vec!["null".into(), "${x}".into()],
                    actions: serde_json::json!({"steps": tricky.to_vec(), "n": 1.5}),
                }),
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        // Written for a tenant whose selector wants a label: every manifest carries it.
        let target = Target {
            tenant: "t".into(),
            labels: BTreeMap::from([("team".to_owned(), "data".to_owned())]),
        };
        let (exported, skipped) = render(&target, &objects, &HashMap::new(), false);
        assert!(skipped.is_empty(), "{skipped:?}");
        for e in &exported {
            for f in &e.files {
                std::fs::write(dir.path().join(&f.path), &f.bytes).unwrap();
            }
        }
        let (set, diagnostics) = manifest::load_all(&WorkTree::new(dir.path()), "");
        assert!(diagnostics.is_empty(), "{diagnostics}");
        for e in &exported {
            let platform = e.kind.platform();
            let tenant: config::Tenant = serde_json::from_value(serde_json::json!({
                "name": "t", "platform": platform, "url": "emulator",
                "vars": {"x": "SUBSTITUTED", "Router": "SUBSTITUTED"},
                "selector": {"team": "data"},
            }))
            .unwrap();
            let desired = crate::desired::desired_for(&set, &tenant).unwrap();
            let d = desired.iter().find(|d| d.connector == e.connector).unwrap();
            let live = objects
                .iter()
                .find(|o| o.summary.id == e.summary.id)
                .unwrap();
            assert_eq!(
                *d.body,
                live.body,
                "{}",
                String::from_utf8_lossy(&e.files[0].bytes)
            );
            assert_eq!(d.hash, e.live_hash);
        }
    }
}
