//! A snapshot together with the listing of one of its folders, taken once.
//!
//! The manifest loader lists the manifests folder, then resolves every file a manifest
//! references component by component ([`Snapshot::entry`] on each). [`Listed`] answers
//! those look-ups from the listing instead of asking the file system (a `statx` each) or
//! walking a commit's trees again. It owns nothing else: listing, reading and describing go
//! to the snapshot it wraps.
//!
//! # Guarantees
//! Answers are the wrapped snapshot's: a listed path has the kind the listing gave it, every
//! directory a listed path goes through is a directory, and any other path (one the
//! listing skipped, such as a name starting with `.`, an empty directory, or a path
//! outside the folder) is asked of the wrapped snapshot.

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::{Entry, EntryKind, Result, Snapshot};

/// `snapshot` with the listing of one folder kept for [`Snapshot::entry`].
pub struct Listed<'a> {
    snapshot: &'a dyn Snapshot,
    kinds: HashMap<&'a str, &'a EntryKind>,
    dirs: HashSet<&'a str>,
}

impl fmt::Debug for Listed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listed")
            .field("snapshot", &self.snapshot)
            .field("entries", &self.kinds.len())
            .finish()
    }
}

impl<'a> Listed<'a> {
    /// Wrap `snapshot`, with `entries` the result of `snapshot.list(folder)`.
    pub fn new(snapshot: &'a dyn Snapshot, folder: &str, entries: &'a [Entry]) -> Self {
        let mut kinds = HashMap::with_capacity(entries.len());
        let mut dirs = HashSet::new();
        for entry in entries {
            kinds.insert(entry.path.as_str(), &entry.kind);
            // Every directory between the folder and the entry. Listings are sorted, so
            // most parents were inserted by a sibling already.
            let mut path = entry.path.as_str();
            while let Some((parent, _)) = path.rsplit_once('/') {
                if parent.len() < folder.len() || !dirs.insert(parent) {
                    break;
                }
                path = parent;
            }
        }
        Listed {
            snapshot,
            kinds,
            dirs,
        }
    }
}

impl Snapshot for Listed<'_> {
    fn describe(&self) -> String {
        self.snapshot.describe()
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>> {
        self.snapshot.list(dir)
    }

    fn entry(&self, path: &str) -> Result<Option<EntryKind>> {
        if let Some(kind) = self.kinds.get(path) {
            return Ok(Some((*kind).clone()));
        }
        if self.dirs.contains(path) {
            return Ok(Some(EntryKind::Dir));
        }
        self.snapshot.entry(path)
    }

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        self.snapshot.read(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::WorkTree;
    use std::fs;

    #[test]
    fn answers_like_the_snapshot_it_wraps() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("c/sql/deep")).unwrap();
        fs::create_dir_all(root.join("c/empty")).unwrap();
        fs::create_dir_all(root.join("c/.hidden")).unwrap();
        fs::write(root.join("c/a.yaml"), "a").unwrap();
        fs::write(root.join("c/sql/deep/a.sql"), "SELECT 1").unwrap();
        fs::write(root.join("c/.hidden/x.sql"), "x").unwrap();
        fs::write(root.join("outside.txt"), "o").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("sql", root.join("c/linked")).unwrap();
        let tree = WorkTree::new(root);
        let entries = tree.list("c").unwrap();
        let listed = Listed::new(&tree, "c", &entries);
        for path in [
            "c",
            "c/a.yaml",
            "c/sql",
            "c/sql/deep",
            "c/sql/deep/a.sql",
            "c/linked",
            "c/empty",
            "c/.hidden",
            "c/.hidden/x.sql",
            "c/missing.sql",
            "c/a.yaml/x",
            "outside.txt",
            "",
        ] {
            assert_eq!(
                listed.entry(path).unwrap(),
                tree.entry(path).unwrap(),
                "{path}"
            );
        }
        assert_eq!(listed.read("c/a.yaml").unwrap(), b"a");
        assert_eq!(listed.list("c").unwrap(), entries);
        assert_eq!(listed.describe(), tree.describe());
    }
}
