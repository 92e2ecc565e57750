//! Reading every manifest of a snapshot: parse, check, read referenced files.
//!
//! Documents are split out of their file first, keeping their line offsets, so locations
//! stay right for every document of a multi-document file. Each document is then read in
//! two steps, because serde loses locations inside internally tagged enums: first its
//! `kind` (from the source map, or from a loose header parse when the document is
//! malformed, to report why), then the typed document of that kind with unknown fields
//! rejected. The checks that follow (names, files, secrets, `${…}` syntax) add their
//! problems at the field they are about.
//!
//! The folder is listed once; file references resolve against that listing, a file
//! several manifests reference is read once, and the manifest files are parsed on every
//! core (the result is sorted, so it does not depend on how they were split).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use regex::Regex;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::body::Shared;
use super::files;
use super::types::SqlTest;
use super::types::{CdeConnectorSpec, Document, Metadata, PluginSpec, SmartConnectorSpec, Spec};
use super::vars::{self, Site, Substitution};
use super::{Diagnostic, Diagnostics, sql_secrets, strings};
use crate::model::{ContentHash, Kind, Location, Platform};
use crate::sensitive::secrets;
use crate::source::{self, Entry, EntryKind, Listed, Snapshot};
use crate::yaml::{self, Chunk, NodeKind, SourceMap};

static NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$").expect("valid regex"));
static API_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z][a-z0-9_]*$").expect("valid regex"));

/// Every manifest of one snapshot, sorted by file and line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ManifestSet {
    /// The manifests folder, repository-relative (`""` for the repository root).
    pub folder: String,
    /// The manifests, in file and line order.
    pub manifests: Vec<Manifest>,
    /// Manifest files some document of which is not in `manifests` (it failed a check):
    /// a later load reusing this set parses them again rather than reuse what is left.
    pub(crate) incomplete: HashSet<String>,
}

impl ManifestSet {
    /// How many manifests.
    pub fn len(&self) -> usize {
        self.manifests.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.manifests.is_empty()
    }

    /// The manifest with this `metadata.name`.
    pub fn get(&self, name: &str) -> Option<&Manifest> {
        self.manifests.iter().find(|m| m.metadata.name == name)
    }

    /// The manifests in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Manifest> {
        self.manifests.iter()
    }
}

/// File contents a manifest references, read once at load.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Contents {
    pub live_sql: Option<String>,
    pub reference_data: Option<String>,
    pub sample_file: Option<String>,
    pub actions: Option<serde_json::Value>,
    /// Repository-relative paths of `liveSql`, `referenceData` and `sampleFile`.
    pub live_sql_path: Option<String>,
    pub reference_data_path: Option<String>,
    pub sample_file_path: Option<String>,
    /// The files of each `spec.tests` case, in order.
    pub tests: Vec<TestFiles>,
}

/// One file a test case names: where it is and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TestFile {
    /// Repository-relative path.
    pub path: String,
    /// Where the reference is written in the manifest.
    pub at: Location,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// The files of one test case, keyed as in the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TestFiles {
    /// Where the case is written.
    pub at: Location,
    pub inputs: BTreeMap<String, TestFile>,
    pub expect: BTreeMap<String, TestFile>,
    pub stand_ins: BTreeMap<String, TestFile>,
}

/// One parsed, checked manifest document with its files read.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The kind.
    pub kind: Kind,
    /// `metadata`.
    pub metadata: Metadata,
    /// The spec as written (before `${var}` substitution).
    pub spec: Spec,
    /// Where the document starts.
    pub location: Location,
    /// Where fields are written, keyed by the platform's error paths (see
    /// [`Desired::field_locations`](crate::model::Desired::field_locations)).
    pub field_locations: Arc<BTreeMap<String, Location>>,
    /// SHA-256 over the document text and the bytes of its files, before substitution.
    pub source_hash: ContentHash,
    /// Repository-relative paths of the files it reads (the path as referenced and, when
    /// symbolic links were followed, the file actually read).
    pub files: Arc<[String]>,
    pub(crate) contents: Contents,
    /// Labels, annotations and the rendered body every tenant's desired state shares.
    pub(crate) shared: Shared,
    /// Whether a string of the body holds `${` (a variable or an escape): only then can
    /// the body differ between tenants.
    pub(crate) uses_vars: bool,
    pub(crate) sites: HashMap<String, Site>,
    pub(crate) name_at: Location,
    pub(crate) spec_name_at: Location,
    pub(crate) api_name_at: Option<Location>,
}

impl Manifest {
    /// The platform this manifest is applied to.
    pub fn platform(&self) -> Platform {
        self.kind.platform()
    }
}

/// Load every manifest under `folder` (repository-relative) of `snapshot`.
///
/// # Errors
/// Every problem found, sorted by path, line and column: YAML syntax, unknown or missing
/// fields, wrong types, invalid names, files that are missing or outside the folder,
/// literal secrets, duplicate names, malformed `${…}`.
pub fn load(snapshot: &dyn Snapshot, folder: &str) -> Result<ManifestSet, Diagnostics> {
    let (set, diagnostics) = load_all(snapshot, folder);
    diagnostics.into_result(set)
}

/// Like [`load`], but always returns the manifests that are valid, with the diagnostics of
/// the rest, so a caller can keep checking them (for example `${var}` for every tenant).
pub fn load_all(snapshot: &dyn Snapshot, folder: &str) -> (ManifestSet, Diagnostics) {
    load_reusing(snapshot, folder, None)
}

/// Load the manifests of a new revision, parsing only the manifest files that `changed`
/// touches (the file itself or any file one of its manifests reads) and reusing every
/// other manifest of `previous`, the valid set of an earlier revision of the same folder.
/// Work follows change: a one-file commit costs one manifest parse. Duplicate-name checks
/// run over the whole result, as in [`load`].
///
/// # Errors
/// As [`load`].
pub fn load_changed(
    snapshot: &dyn Snapshot,
    folder: &str,
    previous: &ManifestSet,
    changed: &HashSet<String>,
) -> Result<ManifestSet, Diagnostics> {
    let (set, diagnostics) = load_changed_all(snapshot, folder, previous, changed);
    diagnostics.into_result(set)
}

/// Like [`load_changed`], but always returns the manifests that are valid, with the
/// diagnostics of the rest (as [`load_all`] does). `previous` may be such a partial set:
/// a file with no valid manifest in it is parsed again.
pub fn load_changed_all(
    snapshot: &dyn Snapshot,
    folder: &str,
    previous: &ManifestSet,
    changed: &HashSet<String>,
) -> (ManifestSet, Diagnostics) {
    load_reusing(snapshot, folder, Some((previous, changed)))
}

static PARSED_DOCUMENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many manifest files this process has parsed (for tests and diagnostics of the
/// work-follows-change rule).
pub fn parsed_files() -> u64 {
    PARSED_DOCUMENTS.load(std::sync::atomic::Ordering::Relaxed)
}

fn load_reusing(
    snapshot: &dyn Snapshot,
    folder: &str,
    reuse: Option<(&ManifestSet, &HashSet<String>)>,
) -> (ManifestSet, Diagnostics) {
    let mut diagnostics = Diagnostics::new();
    let folder = match normalize_folder(folder) {
        Some(f) => f,
        None => {
            diagnostics.push(Diagnostic::file(
                folder,
                "the manifests folder must be a relative path inside the repository without `..`: fix source.path in ferry.yaml",
            ));
            return (ManifestSet::default(), diagnostics);
        }
    };
    let mut set = ManifestSet {
        folder: folder.clone(),
        manifests: Vec::new(),
        incomplete: HashSet::new(),
    };
    let shown = if folder.is_empty() {
        ".".to_owned()
    } else {
        folder.clone()
    };
    match snapshot.entry(&folder) {
        Ok(Some(EntryKind::Dir)) => {}
        Ok(_) => {
            diagnostics.push(Diagnostic::file(
                shown,
                format!("the manifests folder does not exist in the {}: check source.path in ferry.yaml", snapshot.describe()),
            ));
            return (set, diagnostics);
        }
        Err(e) => {
            diagnostics.push(Diagnostic::file(shown, e.to_string()));
            return (set, diagnostics);
        }
    }
    let entries = match snapshot.list(&folder) {
        Ok(entries) => entries,
        Err(e) => {
            diagnostics.push(Diagnostic::file(shown, e.to_string()));
            return (set, diagnostics);
        }
    };
    // File references resolve against the listing: no file-system call or tree walk per
    // path component.
    let listed = Listed::new(snapshot, &folder, &entries);
    // The manifests of the previous revision by file, for reuse.
    let mut incomplete_before = None;
    let previous: HashMap<&str, Vec<&Manifest>> = match reuse {
        Some((previous, _)) if previous.folder == folder => {
            incomplete_before = Some(&previous.incomplete);
            let mut by_file: HashMap<&str, Vec<&Manifest>> = HashMap::new();
            for m in &previous.manifests {
                by_file.entry(m.location.path.as_str()).or_default().push(m);
            }
            by_file
        }
        _ => HashMap::new(),
    };
    let mut to_parse = Vec::new();
    for entry in &entries {
        if !(entry.path.ends_with(".yaml") || entry.path.ends_with(".yml")) {
            continue;
        }
        if let Some((_, changed)) = reuse
            && matches!(entry.kind, EntryKind::File)
            && !changed.contains(&entry.path)
            && incomplete_before.is_some_and(|files| !files.contains(&entry.path))
            && let Some(from_file) = previous.get(entry.path.as_str())
            && from_file
                .iter()
                .all(|m| m.files.iter().all(|f| !changed.contains(f)))
        {
            set.manifests.extend(from_file.iter().map(|m| (*m).clone()));
            continue;
        }
        to_parse.push(entry);
    }
    // Files are parsed on every core; the result is sorted below whatever the split.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(to_parse.len().div_ceil(FILES_PER_WORKER))
        .max(1);
    if workers == 1 {
        parse_files(
            &listed,
            &folder,
            &to_parse,
            &mut set.manifests,
            &mut diagnostics,
            &mut set.incomplete,
        );
    } else {
        let chunk = to_parse.len().div_ceil(workers);
        let parts: Vec<(Vec<Manifest>, Diagnostics, HashSet<String>)> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = to_parse
                    .chunks(chunk)
                    .map(|files| {
                        let (listed, folder) = (&listed, folder.as_str());
                        scope.spawn(move || {
                            let mut manifests = Vec::new();
                            let mut diagnostics = Diagnostics::new();
                            let mut incomplete = HashSet::new();
                            parse_files(
                                listed,
                                folder,
                                files,
                                &mut manifests,
                                &mut diagnostics,
                                &mut incomplete,
                            );
                            (manifests, diagnostics, incomplete)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                    })
                    .collect()
            });
        for (manifests, found, incomplete) in parts {
            set.manifests.extend(manifests);
            diagnostics.extend(found);
            set.incomplete.extend(incomplete);
        }
    }
    check_duplicates(&mut set, &mut diagnostics);
    diagnostics.sort();
    (set, diagnostics)
}

/// Below this many manifest files per core, one thread parses them all.
const FILES_PER_WORKER: usize = 64;

/// Parse and check the manifest files `files` of `snapshot`, adding what they hold and
/// what is wrong with them.
fn parse_files(
    snapshot: &dyn Snapshot,
    folder: &str,
    files: &[&Entry],
    manifests: &mut Vec<Manifest>,
    diagnostics: &mut Diagnostics,
    incomplete: &mut HashSet<String>,
) {
    let reads = SharedReads::default();
    for entry in files {
        let problems_before = diagnostics.len();
        parse_file(snapshot, folder, entry, &reads, manifests, diagnostics);
        if diagnostics.len() > problems_before {
            incomplete.insert(entry.path.clone());
        }
    }
}

/// Parse and check one manifest file, adding what it holds and what is wrong with it.
fn parse_file(
    snapshot: &dyn Snapshot,
    folder: &str,
    entry: &Entry,
    reads: &SharedReads,
    manifests: &mut Vec<Manifest>,
    diagnostics: &mut Diagnostics,
) {
    PARSED_DOCUMENTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let bytes = match read_manifest_file(snapshot, folder, &entry.path, &entry.kind) {
        Ok(bytes) => bytes,
        Err(d) => return diagnostics.push(d),
    };
    let text = match yaml::decode(&bytes, &entry.path) {
        Ok(text) => text,
        Err(d) => return diagnostics.push(d),
    };
    let mut loader = FileLoader {
        snapshot,
        reads,
        folder,
        file: &entry.path,
        diagnostics,
    };
    for chunk in yaml::split_documents(text) {
        if let Some(manifest) = loader.document(chunk) {
            manifests.push(manifest);
        }
    }
}

fn normalize_folder(folder: &str) -> Option<String> {
    if folder.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for part in folder.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn read_manifest_file(
    snapshot: &dyn Snapshot,
    folder: &str,
    path: &str,
    kind: &EntryKind,
) -> Result<Vec<u8>, Diagnostic> {
    let fail = |message: String| Diagnostic::file(path, message);
    match kind {
        EntryKind::File => snapshot.read(path).map_err(|e| fail(e.to_string())),
        EntryKind::Symlink { .. } => {
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
            files::read(snapshot, folder, dir, name)
                .map(|(_, bytes)| bytes)
                .map_err(|e| fail(e.to_string()))
        }
        EntryKind::Dir | EntryKind::Other => Err(fail(
            "not a regular file: manifests must be files".to_owned(),
        )),
    }
}

/// Loose first step: only `kind`, everything else ignored.
#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    kind: Option<String>,
}

/// Files several manifests reference, read once per load: a path is remembered the
/// first time it is read and its bytes kept from the second time on, so files read once
/// (most of them) are not held twice.
#[derive(Default)]
struct SharedReads {
    seen: RefCell<HashMap<String, Option<Vec<u8>>>>,
}

impl SharedReads {
    /// The bytes of the file at `path` (resolved), read from `snapshot` unless kept.
    fn read(&self, snapshot: &dyn Snapshot, path: &str) -> Result<Vec<u8>, source::Error> {
        if let Some(Some(bytes)) = self.seen.borrow().get(path) {
            return Ok(bytes.clone());
        }
        let bytes = snapshot.read(path)?;
        let mut seen = self.seen.borrow_mut();
        match seen.get_mut(path) {
            Some(kept) => *kept = Some(bytes.clone()),
            None => {
                seen.insert(path.to_owned(), None);
            }
        }
        Ok(bytes)
    }
}

/// The loader for one manifest file.
struct FileLoader<'a> {
    snapshot: &'a dyn Snapshot,
    reads: &'a SharedReads,
    folder: &'a str,
    file: &'a str,
    diagnostics: &'a mut Diagnostics,
}

/// One document being checked: its text, source map and the problems found so far.
struct DocContext<'a> {
    file: &'a str,
    chunk: Chunk<'a>,
    map: SourceMap,
    start: Location,
    errors: Diagnostics,
}

impl DocContext<'_> {
    /// Where the value at `path` is written, or the document start.
    fn loc(&self, path: &str) -> Location {
        match self.map.get(path) {
            Some(node) => Location {
                path: self.file.to_owned(),
                line: node.line + self.chunk.line_offset,
                column: node.column,
            },
            None => self.start.clone(),
        }
    }

    fn error(&mut self, path: &str, message: impl Into<String>) {
        let location = self.loc(path);
        self.errors.push(Diagnostic::new(location, message));
    }
}

impl FileLoader<'_> {
    fn document(&mut self, chunk: Chunk<'_>) -> Option<Manifest> {
        let map = SourceMap::build(chunk.text);
        let start = match map.get("") {
            Some(node) => Location {
                path: self.file.to_owned(),
                line: node.line + chunk.line_offset,
                column: node.column,
            },
            None => {
                let first = chunk
                    .text
                    .lines()
                    .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
                Location {
                    path: self.file.to_owned(),
                    line: chunk.line_offset + first.unwrap_or(0) as u64 + 1,
                    column: 1,
                }
            }
        };
        let mut doc = DocContext {
            file: self.file,
            chunk,
            map,
            start,
            errors: Diagnostics::new(),
        };

        // Step one: the kind. The source map has it when the document is a well-formed
        // mapping with a scalar `kind`; otherwise a loose parse says what is wrong.
        let root_is_mapping = doc.map.get("").is_some_and(|n| n.kind == NodeKind::Mapping);
        let kind_text = match doc.map.root_scalar("kind") {
            Some(kind) if doc.map.complete() => Some(kind.to_owned()),
            None if doc.map.complete() && root_is_mapping && doc.map.get("kind").is_none() => None,
            _ => match serde_saphyr::from_str_with_options::<Header>(chunk.text, yaml::options()) {
                Ok(header) => header.kind,
                Err(e) => {
                    self.diagnostics.push(yaml::diagnose(
                        &e,
                        self.file,
                        chunk.line_offset,
                        Some(&doc.map),
                    ));
                    return None;
                }
            },
        };
        let kind = match kind_text.as_deref() {
            Some("SmartConnector") => Kind::SmartConnector,
            Some("Plugin") => Kind::Plugin,
            Some("CdeConnector") => Kind::CdeConnector,
            Some(other) => {
                let other = other.to_owned();
                doc.error(
                    "kind",
                    format!("unknown kind `{other}`: use SmartConnector, Plugin or CdeConnector"),
                );
                self.diagnostics.extend(doc.errors);
                return None;
            }
            None => {
                doc.error(
                    "",
                    "missing `kind`: set it to SmartConnector, Plugin or CdeConnector",
                );
                self.diagnostics.extend(doc.errors);
                return None;
            }
        };

        let parsed = match kind {
            Kind::SmartConnector => typed::<SmartConnectorSpec>(&doc)
                .map(|d| (d.metadata, Spec::SmartConnector(d.spec))),
            Kind::Plugin => typed::<PluginSpec>(&doc).map(|d| (d.metadata, Spec::Plugin(d.spec))),
            Kind::CdeConnector => {
                typed::<CdeConnectorSpec>(&doc).map(|d| (d.metadata, Spec::CdeConnector(d.spec)))
            }
        };
        let (metadata, spec) = match parsed {
            Ok(parsed) => parsed,
            Err(e) => {
                self.diagnostics.extend(yaml::diagnose_all(
                    e,
                    doc.chunk.text,
                    self.file,
                    doc.chunk.line_offset,
                    &doc.map,
                    |text| typed_error(kind, text),
                ));
                return None;
            }
        };
        let manifest = self.check(&mut doc, kind, metadata, spec);
        let ok = doc.errors.is_empty();
        self.diagnostics.extend(doc.errors);
        manifest.filter(|_| ok)
    }

    fn check(
        &mut self,
        doc: &mut DocContext<'_>,
        kind: Kind,
        metadata: Metadata,
        spec: Spec,
    ) -> Option<Manifest> {
        if !NAME.is_match(&metadata.name) {
            doc.error(
                "metadata.name",
                format!(
                    "metadata.name `{}` is not a valid name: use lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit (for example `orders-sync`)",
                    metadata.name.escape_debug()
                ),
            );
        }
        if spec.name().trim().is_empty() {
            doc.error(
                "spec.name",
                "spec.name is empty: write the connector's name in the tenant",
            );
        }
        for (path, message) in strings::fields(&metadata, &spec) {
            doc.error(&path, message);
        }

        let mut hasher = Sha256::new();
        hash_part(&mut hasher, b"manifest", doc.chunk.text.as_bytes());
        let mut read = FileReads {
            loader: self,
            hasher: &mut hasher,
            files: Vec::new(),
        };
        let mut contents = Contents::default();
        let mut field_locations = BTreeMap::new();
        let mut field = |doc: &DocContext<'_>, keys: &[&str], path: &str| {
            if doc.map.get(path).is_some() {
                for key in keys {
                    field_locations.insert((*key).to_owned(), doc.loc(path));
                }
            }
        };
        field(doc, &["name"], "spec.name");
        let mut api_name_at = None;

        match &spec {
            Spec::SmartConnector(s) => {
                api_name_at = Some(doc.loc("spec.apiName"));
                if !API_NAME.is_match(&s.api_name) {
                    doc.error(
                        "spec.apiName",
                        format!(
                            "spec.apiName `{}` must be lowercase letters, digits and `_`, starting with a letter (for example `orders_sync`); webhook URLs depend on it, so choose it once",
                            s.api_name.escape_debug()
                        ),
                    );
                }
                if s.live_sql.is_none() && s.duplicate_of.is_none() {
                    doc.error(
                        "spec",
                        "spec.liveSql is missing: name the Live SQL file, or set spec.duplicateOf to duplicate a connector of the tenant",
                    );
                }
                (contents.live_sql_path, contents.live_sql) = read
                    .text(doc, "spec.liveSql", s.live_sql.as_deref(), true)
                    .unzip();
                (contents.reference_data_path, contents.reference_data) = read
                    .text(
                        doc,
                        "spec.referenceData",
                        s.reference_data.as_deref(),
                        false,
                    )
                    .unzip();
                (contents.sample_file_path, contents.sample_file) = read
                    .text(doc, "spec.sampleFile", s.sample_file.as_deref(), false)
                    .unzip();
                if let (Some(path), Some(sql)) = (&contents.live_sql_path, &contents.live_sql) {
                    for (line, column, message) in strings::sql(sql) {
                        doc.errors.push(Diagnostic::new(
                            Location {
                                path: path.clone(),
                                line,
                                column,
                            },
                            message,
                        ));
                    }
                    for finding in sql_secrets::literal_credentials(sql) {
                        let (line, column) = yaml::line_column(sql, finding.span.start);
                        doc.errors.push(Diagnostic::new(
                            Location {
                                path: path.clone(),
                                line,
                                column,
                            },
                            finding.message,
                        ));
                    }
                }
                for (path, text) in [
                    (&contents.reference_data_path, &contents.reference_data),
                    (&contents.sample_file_path, &contents.sample_file),
                ] {
                    if let (Some(path), Some(text)) = (path, text) {
                        csv_header(doc, path, text);
                    }
                }
                check_sql_settings(doc, s);
                contents.tests = read_tests(doc, &mut read, &s.tests);
                for (i, reference) in s.references.field_mappings.iter().enumerate() {
                    let valid = reference
                        .split_once('.')
                        .is_some_and(|(o, f)| !o.is_empty() && !f.is_empty());
                    if !valid && !reference.contains("${") {
                        doc.error(
                            &format!("spec.references.fieldMappings[{i}]"),
                            format!(
                                "field reference `{}` must be written `object.field` (for example `contacts.email`)",
                                reference.escape_debug()
                            ),
                        );
                    }
                }
                for (camel, snake) in [
                    ("apiName", "api_name"),
                    ("type", "type"),
                    ("liveSql", "live_sql"),
                    ("referenceData", "reference_data"),
                    ("sampleFile", "sample_file"),
                    ("duplicateOf", "duplicate_of"),
                    ("references", "references"),
                    ("tests", "tests"),
                ] {
                    field(doc, &[camel, snake], &format!("spec.{camel}"));
                }
                for (camel, snake, items) in [
                    (
                        "agenticWorkflows",
                        "agentic_workflows",
                        &s.references.agentic_workflows,
                    ),
                    ("filterGroups", "filter_groups", &s.references.filter_groups),
                    (
                        "fieldMappings",
                        "field_mappings",
                        &s.references.field_mappings,
                    ),
                ] {
                    for i in 0..items.len() {
                        field(
                            doc,
                            &[
                                &format!("references.{camel}[{i}]"),
                                &format!("references.{snake}[{i}]"),
                            ],
                            &format!("spec.references.{camel}[{i}]"),
                        );
                    }
                }
            }
            Spec::Plugin(p) => {
                contents.actions = read.actions(doc, p.actions.as_deref());
                for (i, connector) in p.connectors.iter().enumerate() {
                    if connector.trim().is_empty() {
                        doc.error(
                            &format!("spec.connectors[{i}]"),
                            "connector binding is empty: name a connector of the tenant",
                        );
                    }
                    field(
                        doc,
                        &[&format!("connectors[{i}]")],
                        &format!("spec.connectors[{i}]"),
                    );
                }
                for key in ["description", "state", "trigger", "connectors", "actions"] {
                    field(doc, &[key], &format!("spec.{key}"));
                }
            }
            Spec::CdeConnector(c) => {
                check_cde_config(doc, &c.config);
                if c.kind.trim().is_empty() {
                    doc.error(
                        "spec.type",
                        "spec.type is empty: use the connector type, for example `datasource`",
                    );
                }
                if let Some(registrations) = c
                    .config
                    .get("secret-registrations")
                    .and_then(|v| v.as_array())
                {
                    for i in 0..registrations.len() {
                        field(
                            doc,
                            &[
                                &format!("secretRegistrations[{i}]"),
                                &format!("config.secret-registrations[{i}]"),
                            ],
                            &format!("spec.config.secret-registrations[{i}]"),
                        );
                    }
                }
                for key in ["type", "description", "flow", "config"] {
                    field(doc, &[key], &format!("spec.{key}"));
                }
                field(doc, &["vcs", "config.vcs"], "spec.config.vcs");
            }
        }
        let files = std::mem::take(&mut read.files);
        let source_hash = ContentHash(hex::encode(hasher.finalize()));

        // Where each `${…}` is written, for messages about variables.
        let mut sites = HashMap::new();
        for (path, node) in doc.map.nodes() {
            let Some(relative) = path.strip_prefix("spec.") else {
                continue;
            };
            if node.kind != NodeKind::Scalar {
                continue;
            }
            let raw = doc.chunk.text.get(node.start..node.end).unwrap_or_default();
            if !raw.contains("${") {
                continue;
            }
            let occurrences = vars::occurrences(raw)
                .into_iter()
                .map(|offset| {
                    let (line, column) = yaml::line_column(doc.chunk.text, node.start + offset);
                    Location {
                        path: self.file.to_owned(),
                        line: line + doc.chunk.line_offset,
                        column,
                    }
                })
                .collect();
            sites.insert(
                relative.to_owned(),
                Site {
                    value: doc.loc(path),
                    occurrences,
                },
            );
        }

        let mut manifest = Manifest {
            kind,
            name_at: doc.loc("metadata.name"),
            spec_name_at: doc.loc("spec.name"),
            api_name_at,
            shared: Shared::new(&metadata),
            metadata,
            spec,
            location: doc.start.clone(),
            field_locations: Arc::new(field_locations),
            source_hash,
            files: files.into(),
            contents,
            sites,
            uses_vars: false,
        };
        // Check `${…}` syntax once, whatever the tenant, and find out whether any string
        // the platform body takes holds one at all.
        let mut check = Substitution::check(&manifest.sites, &manifest.location);
        let _ = super::body::build(&manifest, &mut check);
        doc.errors.extend(check.diagnostics);
        manifest.uses_vars = check.touched;
        Some(manifest)
    }
}

/// The document as its kind's type: from the events the source map kept when they read
/// plainly, else (and for every error) from serde-saphyr.
fn typed<S: DeserializeOwned>(doc: &DocContext<'_>) -> Result<Document<S>, serde_saphyr::Error> {
    match doc.map.typed::<Document<S>>() {
        Some(document) => Ok(document),
        None => {
            #[cfg(test)]
            tests::SECOND_PARSES.with(|n| n.set(n.get() + 1));
            serde_saphyr::from_str_with_options::<Document<S>>(doc.chunk.text, yaml::options())
        }
    }
}

/// The error a typed parse of `text` as a `kind` document gives, if any.
fn typed_error(kind: Kind, text: &str) -> Option<serde_saphyr::Error> {
    fn parse<S: for<'de> Deserialize<'de>>(text: &str) -> Option<serde_saphyr::Error> {
        serde_saphyr::from_str_with_options::<Document<S>>(text, yaml::options()).err()
    }
    match kind {
        Kind::SmartConnector => parse::<SmartConnectorSpec>(text),
        Kind::Plugin => parse::<PluginSpec>(text),
        Kind::CdeConnector => parse::<CdeConnectorSpec>(text),
    }
}

fn hash_part(hasher: &mut Sha256, label: &[u8], bytes: &[u8]) {
    hasher.update((label.len() as u64).to_le_bytes());
    hasher.update(label);
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// Reads a manifest's files, hashing their bytes and recording their paths.
struct FileReads<'l, 'a, 'h> {
    loader: &'l FileLoader<'a>,
    hasher: &'h mut Sha256,
    files: Vec<String>,
}

impl FileReads<'_, '_, '_> {
    fn bytes(
        &mut self,
        doc: &mut DocContext<'_>,
        field: &str,
        reference: &str,
    ) -> Option<(String, Vec<u8>)> {
        let base = self.loader.file.rsplit_once('/').map_or("", |(dir, _)| dir);
        let read = files::resolve(self.loader.snapshot, self.loader.folder, base, reference)
            .and_then(|path| {
                let bytes = self
                    .loader
                    .reads
                    .read(self.loader.snapshot, &path)
                    .map_err(|source| files::FileError::Read {
                        reference: reference.to_owned(),
                        source,
                    })?;
                Ok((path, bytes))
            });
        match read {
            Ok((path, bytes)) => {
                let lexical = files_lexical(base, reference);
                if let Some(lexical) = lexical.filter(|l| *l != path) {
                    self.files.push(lexical);
                }
                self.files.push(path.clone());
                hash_part(self.hasher, field.as_bytes(), &bytes);
                Some((path, bytes))
            }
            Err(e) => {
                doc.error(field, format!("{field}: {e}"));
                None
            }
        }
    }

    /// The file's repository-relative path and its text.
    fn text(
        &mut self,
        doc: &mut DocContext<'_>,
        field: &str,
        reference: Option<&str>,
        sql: bool,
    ) -> Option<(String, String)> {
        let (path, bytes) = self.bytes(doc, field, reference?)?;
        match String::from_utf8(bytes) {
            Ok(text) if sql && text.trim().is_empty() => {
                doc.error(
                    field,
                    format!("{field}: `{path}` is empty: write the Live SQL query"),
                );
                None
            }
            Ok(text) => Some((path, text)),
            Err(_) => {
                doc.error(
                    field,
                    format!("{field}: `{path}` is not valid UTF-8 text: save it as UTF-8"),
                );
                None
            }
        }
    }

    fn actions(
        &mut self,
        doc: &mut DocContext<'_>,
        reference: Option<&str>,
    ) -> Option<serde_json::Value> {
        let field = "spec.actions";
        let (path, bytes) = self.bytes(doc, field, reference?)?;
        let text = match yaml::decode(&bytes, &path) {
            Ok(text) => text,
            Err(d) => {
                doc.errors.push(d);
                return None;
            }
        };
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(e) => {
                let message = e.to_string();
                let message = message
                    .rsplit_once(" at line ")
                    .map_or(message.as_str(), |(m, _)| m);
                doc.errors.push(Diagnostic::new(
                    Location {
                        path: path.clone(),
                        line: e.line() as u64,
                        column: e.column() as u64,
                    },
                    format!("invalid JSON: {message}; fix the syntax of this actions file"),
                ));
                return None;
            }
        };
        let mut findings = Vec::new();
        secrets::scan_json(&value, "", &mut findings);
        if !findings.is_empty() {
            // JSON is YAML, so the same source map gives locations inside the JSON file.
            let map = SourceMap::build(text);
            for finding in findings {
                let (line, column) = map
                    .get(&finding.path)
                    .map_or((1, 1), |n| (n.line, n.column));
                doc.errors.push(Diagnostic::new(
                    Location {
                        path: path.clone(),
                        line,
                        column,
                    },
                    finding.message,
                ));
            }
        }
        Some(value)
    }
}

static SQL_IDENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*$").expect("valid regex"));
static VERSION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]+(\.[0-9]+){0,3}$").expect("valid regex"));

/// Check `chdbVersion` and the table names of a SmartConnector.
fn check_sql_settings(doc: &mut DocContext<'_>, s: &SmartConnectorSpec) {
    if let Some(version) = &s.chdb_version
        && !VERSION.is_match(version)
    {
        doc.error(
            "spec.chdbVersion",
            format!(
                "spec.chdbVersion `{}` is not a version: write the chDB version the platform runs this connector on, for example `26.9` or `26.9.0`",
                version.escape_debug()
            ),
        );
    }
    for (field, name) in [
        ("input", &s.tables.input),
        ("referenceData", &s.tables.reference_data),
        ("output", &s.tables.output),
    ] {
        if !SQL_IDENT.is_match(name) {
            doc.error(
                &format!("spec.tables.{field}"),
                format!(
                    "spec.tables.{field} `{}` is not a plain table name: use letters, digits and `_`, starting with a letter or `_`",
                    name.escape_debug()
                ),
            );
        }
    }
}

/// Check the test cases of a SmartConnector and read their files.
fn read_tests(
    doc: &mut DocContext<'_>,
    read: &mut FileReads<'_, '_, '_>,
    tests: &[SqlTest],
) -> Vec<TestFiles> {
    let mut out = Vec::new();
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, case) in tests.iter().enumerate() {
        let base = format!("spec.tests[{i}]");
        let mut files = TestFiles {
            at: doc.loc(&base),
            inputs: BTreeMap::new(),
            expect: BTreeMap::new(),
            stand_ins: BTreeMap::new(),
        };
        if case.name.trim().is_empty() {
            doc.error(
                &format!("{base}.name"),
                format!("{base}.name is empty: say what the case shows"),
            );
        } else if let Some(first) = names.insert(&case.name, i) {
            doc.error(
                &format!("{base}.name"),
                format!(
                    "{base}.name `{}` is already the name of spec.tests[{first}]: give each case its own name",
                    case.name
                ),
            );
        }
        for (kind, map, target) in [
            ("inputs", &case.inputs, &mut files.inputs),
            ("expect", &case.expect, &mut files.expect),
        ] {
            for (table, reference) in map {
                let field = format!("{base}.{kind}.{table}");
                if !SQL_IDENT.is_match(table) {
                    doc.error(
                        &field,
                        format!(
                            "{base}.{kind}: `{}` is not a plain table name: use letters, digits and `_`, starting with a letter or `_`",
                            table.escape_debug()
                        ),
                    );
                    continue;
                }
                if let Some(file) = test_file(doc, read, &field, reference) {
                    target.insert(table.clone(), file);
                }
            }
        }
        for (i, column) in case.key.iter().enumerate() {
            if column.trim().is_empty() {
                doc.error(
                    &format!("{base}.key[{i}]"),
                    format!("{base}.key[{i}] is empty: name a column of the expected tables"),
                );
            }
        }
        for (call, reference) in &case.stand_ins {
            let field = format!("{base}.standIns.{call}");
            let calls = crate::sql::external_calls(call);
            let valid = crate::sql::is_network_function(call.trim())
                || (calls.len() == 1 && calls[0].span == (0..call.trim_end().len()));
            if !valid {
                doc.error(
                    &field,
                    format!(
                        "{base}.standIns: `{}` is not a call that reaches the network: write the call as it is in the SQL (`postgresql(crm, table='customers')`) or the function name (`postgresql`)",
                        call.escape_debug()
                    ),
                );
                continue;
            }
            if let Some(file) = test_file(doc, read, &field, reference) {
                files.stand_ins.insert(call.clone(), file);
            }
        }
        out.push(files);
    }
    out
}

/// Read one CSV or TSV file a test case names.
fn test_file(
    doc: &mut DocContext<'_>,
    read: &mut FileReads<'_, '_, '_>,
    field: &str,
    reference: &str,
) -> Option<TestFile> {
    let lower = reference.to_ascii_lowercase();
    if !(lower.ends_with(".csv") || lower.ends_with(".tsv")) {
        doc.error(
            field,
            format!(
                "{field}: `{}` must be a `.csv` file (or `.tsv` for tab-separated values)",
                reference.escape_debug()
            ),
        );
        return None;
    }
    let at = doc.loc(field);
    let (path, bytes) = read.bytes(doc, field, reference)?;
    csv_header(doc, &path, &String::from_utf8_lossy(&bytes));
    Some(TestFile { path, at, bytes })
}

/// Report control and bidirectional formatting characters in the header of a CSV file.
fn csv_header(doc: &mut DocContext<'_>, path: &str, text: &str) {
    if let Some((column, message)) = strings::csv_header(text) {
        doc.errors.push(Diagnostic::new(
            Location {
                path: path.to_owned(),
                line: 1,
                column,
            },
            message,
        ));
    }
}

fn files_lexical(base: &str, reference: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in base.split('/').chain(reference.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// Check a CDE connector's `config`: its keys are ones the vendor documents, and its
/// secret-bearing parts hold references.
fn check_cde_config(doc: &mut DocContext<'_>, config: &serde_json::Value) {
    use serde_json::Value;
    let Value::Object(map) = config else {
        doc.error(
            "spec.config",
            "spec.config must be a mapping: the connector configuration in the platform's shape (`versions[0].config`)",
        );
        return;
    };
    match map.get("secret-registrations") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let vault = item
                    .get("vault_secret")
                    .and_then(Value::as_str)
                    .map(str::trim);
                if !matches!(vault, Some(v) if !v.is_empty()) {
                    doc.error(
                        &format!("spec.config.secret-registrations[{i}]"),
                        "each secret registration needs `vault_secret: <path in the tenant's secret store>` (for example `amazon/seller`)",
                    );
                }
            }
        }
        Some(_) => doc.error(
            "spec.config.secret-registrations",
            "spec.config.secret-registrations must be a list of `{vault_secret: <path>}` entries",
        ),
    }
    for unknown in super::cde_keys::unknown_keys(config) {
        doc.error(
            &format!("spec.config.{}", unknown.path),
            format!("spec.config.{}: {}", unknown.path, unknown.message),
        );
    }
    let mut findings = Vec::new();
    secrets::scan_json(config, "config", &mut findings);
    for finding in findings {
        let path = format!("spec.{}", finding.path);
        let message =
            finding
                .message
                .replacen(&format!("`{}`", finding.path), &format!("`{path}`"), 1);
        doc.error(&path, message);
    }
}

/// Report duplicate `metadata.name`s (across kinds), `spec.name`s (per platform) and
/// Kizen `apiName`s, naming both places; later duplicates leave the set.
fn check_duplicates(set: &mut ManifestSet, diagnostics: &mut Diagnostics) {
    set.manifests.sort_by(|a, b| a.location.cmp(&b.location));
    let mut names: HashMap<&str, &Location> = HashMap::new();
    let mut spec_names: HashMap<(Platform, &str), &Location> = HashMap::new();
    let mut api_names: HashMap<&str, &Location> = HashMap::new();
    let mut drop = Vec::new();
    for (i, m) in set.manifests.iter().enumerate() {
        let mut duplicate = false;
        if let Some(first) = names.get(m.metadata.name.as_str()) {
            diagnostics.at(
                m.name_at.clone(),
                format!(
                    "metadata.name `{}` is already used by the manifest at {first}: names must be unique across all manifests; rename one of them",
                    m.metadata.name
                ),
            );
            duplicate = true;
        } else {
            names.insert(&m.metadata.name, &m.name_at);
        }
        let key = (m.platform(), m.spec.name());
        if let Some(first) = spec_names.get(&key) {
            diagnostics.at(
                m.spec_name_at.clone(),
                format!(
                    "spec.name `{}` is already claimed on {} by the manifest at {first}: two manifests cannot manage the same connector; rename one of them",
                    m.spec.name(),
                    m.platform()
                ),
            );
            duplicate = true;
        } else {
            spec_names.insert(key, &m.spec_name_at);
        }
        if let (Spec::SmartConnector(s), Some(at)) = (&m.spec, &m.api_name_at) {
            if let Some(first) = api_names.get(s.api_name.as_str()) {
                diagnostics.at(
                    at.clone(),
                    format!(
                        "spec.apiName `{}` is already used by the manifest at {first}: API names are unique per business; choose another",
                        s.api_name
                    ),
                );
                duplicate = true;
            } else {
                api_names.insert(&s.api_name, at);
            }
        }
        if duplicate {
            drop.push(i);
        }
    }
    for i in drop.into_iter().rev() {
        let dropped = set.manifests.remove(i);
        set.incomplete.insert(dropped.location.path);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::source::WorkTree;

    thread_local! {
        /// Typed parses this thread left to serde-saphyr (a loader of a few files parses
        /// on the calling thread).
        pub(super) static SECOND_PARSES: Cell<usize> = const { Cell::new(0) };
    }

    /// Load `folder` of `root`, with how many documents serde-saphyr parsed a second time.
    fn load_counting(root: &std::path::Path, folder: &str) -> (ManifestSet, Diagnostics, usize) {
        SECOND_PARSES.with(|n| n.set(0));
        let (set, diagnostics) = load_all(&WorkTree::new(root), folder);
        (set, diagnostics, SECOND_PARSES.with(Cell::get))
    }

    /// The loader reads a plain manifest from the source map's events, and leaves one with
    /// an anchor to serde-saphyr, with the same result either way.
    #[test]
    fn the_loader_parses_a_plain_manifest_once() {
        let quickstart = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/quickstart");
        let (set, diagnostics, second) = load_counting(quickstart.as_ref(), "connectors");
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(set.manifests.len(), 4);
        assert_eq!(second, 0, "no quickstart document is parsed twice");

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("c")).unwrap();
        let plugin = |labels: &str| {
            format!(
                "apiVersion: ferry/v1\nkind: Plugin\nmetadata:\n  name: pto\n  labels: {labels}\nspec:\n  name: PTO\n  state: published\n  trigger: conversational\n"
            )
        };
        let read = |labels: &str| {
            std::fs::write(dir.path().join("c/pto.yaml"), plugin(labels)).unwrap();
            let (set, diagnostics, second) = load_counting(dir.path(), "c");
            assert!(diagnostics.is_empty(), "{diagnostics:?}");
            (set.manifests[0].metadata.clone(), second)
        };
        let (plain, once) = read("{team: people, owner: people}");
        let (anchored, twice) = read("{team: &t people, owner: *t}");
        assert_eq!((once, twice), (0, 1));
        assert_eq!(plain, anchored);
    }

    fn same<S: DeserializeOwned + PartialEq + std::fmt::Debug>(text: &str) {
        let fast = SourceMap::build(text).typed::<Document<S>>();
        let slow = serde_saphyr::from_str_with_options::<Document<S>>(text, yaml::options());
        assert_eq!(fast.as_ref(), Some(&slow.expect("valid")), "{text}");
    }

    /// The quickstart's manifests of every kind are read from the source map's events,
    /// without a second YAML parse, and read exactly as serde-saphyr reads them.
    #[test]
    fn the_quickstart_reads_from_the_events_as_serde_saphyr_reads_it() {
        let folder = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/quickstart/connectors"
        );
        let mut kinds = std::collections::BTreeSet::new();
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(path).unwrap();
            for chunk in yaml::split_documents(&text) {
                let map = SourceMap::build(chunk.text);
                let kind = map.root_scalar("kind").unwrap().to_owned();
                match kind.as_str() {
                    "SmartConnector" => same::<SmartConnectorSpec>(chunk.text),
                    "Plugin" => same::<PluginSpec>(chunk.text),
                    "CdeConnector" => same::<CdeConnectorSpec>(chunk.text),
                    other => panic!("unknown kind {other}"),
                }
                kinds.insert(kind);
            }
        }
        assert_eq!(kinds.len(), 3, "{kinds:?}");
    }
}
