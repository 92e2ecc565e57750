//! Blast radius: which tenants a manifest that fails validation stops.
//!
//! A broken manifest stops only the tenants whose selector would take it: its `kind`
//! names the platform and its `metadata.labels` the selectors that match. Those tenants
//! apply nothing (applying the rest would read the missing manifest as a connector to
//! prune); every other tenant keeps reconciling and is told that a manifest meant for
//! others is broken. When the kind or the labels of the broken document cannot be told
//! (the YAML does not parse, `kind` is missing or unknown, the labels are malformed), or
//! the problem is not inside a manifest document (an unreadable file, a referenced file),
//! it stops every tenant.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::Tenant;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::model::Kind;
use crate::source::Snapshot;
use crate::yaml;

/// Which tenants one problem reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Every tenant: what the broken document is for cannot be told.
    Everyone,
    /// Tenants of this kind's platform whose selector takes these labels.
    Selected {
        /// The document's kind.
        kind: Kind,
        /// The document's `metadata.labels`.
        labels: BTreeMap<String, String>,
    },
}

impl Reach {
    /// Whether this problem stops `tenant`.
    pub fn takes(&self, tenant: &Tenant) -> bool {
        match self {
            Reach::Everyone => true,
            Reach::Selected { kind, labels } => {
                *kind == tenant.platform.kind() && crate::desired::selects(&tenant.selector, labels)
            }
        }
    }
}

/// Every problem of a revision's manifests with the tenants it reaches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Broken {
    problems: Vec<(Diagnostic, Reach)>,
}

/// The loose shape of a document: only what tells which tenants take it.
#[derive(Deserialize)]
struct Header {
    kind: Option<String>,
    #[serde(default)]
    metadata: Option<HeaderMetadata>,
}

#[derive(Deserialize)]
struct HeaderMetadata {
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

impl Broken {
    /// The reach of each of `diagnostics` (the loader's problems with the manifests of
    /// `snapshot`): a problem inside a manifest document reaches the tenants that would
    /// select that document.
    pub fn find(snapshot: &dyn Snapshot, diagnostics: &Diagnostics) -> Self {
        let mut files: BTreeMap<&str, Option<Vec<(u64, Reach)>>> = BTreeMap::new();
        let mut problems = Vec::with_capacity(diagnostics.len());
        for d in diagnostics.iter() {
            let path = d.location.path.as_str();
            let documents = files
                .entry(path)
                .or_insert_with(|| documents(snapshot, path));
            let reach = match documents {
                Some(docs) if d.location.line > 0 => docs
                    .iter()
                    .rev()
                    .find(|(first_line, _)| *first_line <= d.location.line)
                    .map_or(Reach::Everyone, |(_, reach)| reach.clone()),
                _ => Reach::Everyone,
            };
            problems.push((d.clone(), reach));
        }
        Broken { problems }
    }

    /// The problems that stop `tenant`, sorted as the loader sorts them.
    pub fn for_tenant(&self, tenant: &Tenant) -> Diagnostics {
        let mut out = Diagnostics::new();
        for (d, reach) in &self.problems {
            if reach.takes(tenant) {
                out.push(d.clone());
            }
        }
        out
    }

    /// The files with problems that do not reach `tenant` (broken manifests meant for
    /// other tenants), each once, sorted.
    pub fn elsewhere(&self, tenant: &Tenant) -> Vec<String> {
        let mut paths: Vec<String> = self
            .problems
            .iter()
            .filter(|(_, reach)| !reach.takes(tenant))
            .map(|(d, _)| d.location.path.clone())
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }
}

/// The first line and reach of each document of the manifest file at `path`; None when
/// the path is not a manifest file that can be read.
fn documents(snapshot: &dyn Snapshot, path: &str) -> Option<Vec<(u64, Reach)>> {
    if !(path.ends_with(".yaml") || path.ends_with(".yml")) {
        return None;
    }
    let bytes = snapshot.read(path).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    Some(
        yaml::split_documents(text)
            .into_iter()
            .map(|chunk| (chunk.line_offset + 1, reach(chunk.text)))
            .collect(),
    )
}

/// Which tenants take the document `text`, told from its `kind` and labels alone.
fn reach(text: &str) -> Reach {
    let Ok(header) = serde_saphyr::from_str_with_options::<Header>(text, yaml::options()) else {
        return Reach::Everyone;
    };
    let kind = header.kind.as_deref().and_then(Kind::parse);
    match kind {
        Some(kind) => Reach::Selected {
            kind,
            labels: header.metadata.map(|m| m.labels).unwrap_or_default(),
        },
        None => Reach::Everyone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest;
    use crate::model::Platform;
    use crate::source::WorkTree;

    fn write(root: &std::path::Path, path: &str, contents: &str) {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, contents).unwrap();
    }

    /// A manifests folder `m/` with a valid connector (`good`, its `q.sql`) and `files`.
    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "m/q.sql", "SELECT 1\n");
        write(dir.path(), "m/good.yaml", GOOD);
        for (path, text) in files {
            write(dir.path(), path, text);
        }
        dir
    }

    fn tenant(name: &str, platform: Platform, selector: &[(&str, &str)]) -> Tenant {
        let mut t = Tenant::new(name, platform, "emulator");
        t.selector = selector
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        t
    }

    const GOOD: &str = "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata: { name: good, labels: { team: sales } }\nspec:\n  name: Good\n  apiName: good\n  type: spreadsheet\n  liveSql: q.sql\n";

    #[test]
    fn a_broken_manifest_reaches_only_the_tenants_that_select_it() {
        // In one file, a valid connector for the sales team and one for the finance team
        // with a typo: only the finance connector's problem counts, against finance tenants.
        let dir = folder(&[(
            "m/finance.yaml",
            "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata: { name: ledger, labels: { team: sales } }\nspec:\n  name: Ledger\n  apiName: ledger\n  type: spreadsheet\n  liveSql: q.sql\n---\napiVersion: ferry/v1\nkind: SmartConnector\nmetadata: { name: books, labels: { team: finance } }\nspec:\n  name: Books\n  apiName: books\n  type: spreadsheet\n  liveSql: q.sql\n  liveSqll: typo\n",
        )]);
        let root = dir.path();
        let (set, diagnostics) = manifest::load_all(&WorkTree::new(root), "m");
        assert_eq!(diagnostics.len(), 1, "{diagnostics}");
        let broken = Broken::find(&WorkTree::new(root), &diagnostics);

        let sales = tenant("sales", Platform::Kizen, &[("team", "sales")]);
        let finance = tenant("finance", Platform::Kizen, &[("team", "finance")]);
        let every_kizen = tenant("all-kizen", Platform::Kizen, &[]);
        let agents = tenant("agents", Platform::AgentStudio, &[]);
        assert!(broken.for_tenant(&sales).is_empty());
        assert!(broken.for_tenant(&agents).is_empty());
        assert_eq!(broken.for_tenant(&finance).len(), 1);
        assert_eq!(broken.for_tenant(&every_kizen).len(), 1);
        assert_eq!(broken.elsewhere(&sales), ["m/finance.yaml"]);
        assert!(broken.elsewhere(&finance).is_empty());
        // The valid manifests of every file are loaded, the broken one is not.
        assert!(set.get("good").is_some());
        assert!(set.get("ledger").is_some());
        assert!(set.get("books").is_none());
    }

    /// A later revision that reuses a set with problems finds them again: a file with a
    /// broken document, or a duplicate name, is parsed again rather than reused without
    /// the document that failed (which would read as a connector removed).
    #[test]
    fn reusing_a_set_with_problems_reports_them_again() {
        let twin = GOOD
            .replace("name: Good", "name: Twin")
            .replace("apiName: good", "apiName: twin");
        let dir = folder(&[
            (
                "m/mixed.yaml",
                "apiVersion: ferry/v1\nkind: SmartConnector\nmetadata: { name: ledger }\nspec:\n  name: Ledger\n  apiName: ledger\n  type: spreadsheet\n  liveSql: q.sql\n---\napiVersion: ferry/v1\nkind: SmartConnector\nmetadata: { name: books }\nspec:\n  name: Books\n  typo: 1\n",
            ),
            ("m/twin.yaml", &twin),
        ]);
        let snapshot = WorkTree::new(dir.path());
        let (first, problems) = manifest::load_all(&snapshot, "m");
        let files: std::collections::BTreeSet<&str> =
            problems.iter().map(|d| d.location.path.as_str()).collect();
        assert_eq!(files, ["m/mixed.yaml", "m/twin.yaml"].into(), "{problems}");
        let changed = std::collections::HashSet::from(["m/good.yaml".to_owned()]);
        let (again, problems_again) = manifest::load_changed_all(&snapshot, "m", &first, &changed);
        assert_eq!(problems_again, problems);
        assert_eq!(again.manifests, first.manifests);
        let none_changed = std::collections::HashSet::new();
        let (_, problems_third) = manifest::load_changed_all(&snapshot, "m", &again, &none_changed);
        assert_eq!(problems_third, problems);
    }

    #[test]
    fn a_document_whose_kind_cannot_be_told_reaches_every_tenant() {
        for (file, text) in [
            (
                "m/syntax.yaml",
                "kind: SmartConnector\nmetadata: [unclosed\n",
            ),
            (
                "m/nokind.yaml",
                "apiVersion: ferry/v1\nmetadata: { name: x }\n",
            ),
            (
                "m/unknown.yaml",
                "apiVersion: ferry/v1\nkind: Gadget\nmetadata: { name: y }\n",
            ),
            (
                "m/labels.yaml",
                "apiVersion: ferry/v1\nkind: CdeConnector\nmetadata: { name: z, labels: [a] }\nspec: {}\n",
            ),
        ] {
            let sub = folder(&[(file, text)]);
            let (_, diagnostics) = manifest::load_all(&WorkTree::new(sub.path()), "m");
            assert!(!diagnostics.is_empty(), "{file}");
            let broken = Broken::find(&WorkTree::new(sub.path()), &diagnostics);
            for t in [
                tenant("sales", Platform::Kizen, &[("team", "sales")]),
                tenant("agents", Platform::AgentStudio, &[]),
                tenant("feeds", Platform::ProductsupCde, &[("x", "y")]),
            ] {
                assert_eq!(
                    broken.for_tenant(&t).len(),
                    diagnostics.len(),
                    "{file} must stop {}",
                    t.name
                );
                assert!(broken.elsewhere(&t).is_empty());
            }
        }
    }
}
