//! The [`Snapshot`] trait and the entry types both sources share.

use std::fmt;

use super::Result;

/// What a path is in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link and its target, exactly as stored (not resolved).
    Symlink {
        /// The link target as written in the link.
        target: String,
    },
    /// Something else (a git submodule, a device, a socket): never read.
    Other,
}

/// One listed entry: a file, a symbolic link or another non-directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Repository-relative, `/`-separated path.
    pub path: String,
    /// What it is (never [`EntryKind::Dir`] in listings).
    pub kind: EntryKind,
}

/// A read-only view of the repository at one point: the working tree or a commit.
///
/// Paths are repository-relative and `/`-separated; `""` is the repository root. Paths must
/// be normalized (no `.` or `..` components, no leading `/`), otherwise calls fail with
/// [`super::Error::InvalidPath`].
pub trait Snapshot: fmt::Debug + Send + Sync {
    /// A short description for messages: `working tree /repo` or `commit 1a2b3c4d5e6f`.
    fn describe(&self) -> String;

    /// Every non-directory entry under `dir`, recursively, sorted by path. Entries whose
    /// name starts with `.` are skipped, and so is everything below such a directory.
    /// Symbolic links are listed (not followed). A missing `dir` gives an empty list.
    fn list(&self, dir: &str) -> Result<Vec<Entry>>;

    /// What `path` is, without following a final symbolic link; `None` when it does not
    /// exist. Intermediate components must be real directories in this snapshot.
    fn entry(&self, path: &str) -> Result<Option<EntryKind>>;

    /// The bytes of the regular file at `path` (symbolic links are not followed).
    fn read(&self, path: &str) -> Result<Vec<u8>>;
}

/// Check that `path` is normalized and relative; shared by both snapshots.
pub(crate) fn check_path(path: &str) -> Result<()> {
    let bad = path.starts_with('/')
        || path.contains('\0')
        || (!path.is_empty()
            && path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == ".."));
    if bad {
        return Err(super::Error::InvalidPath {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Join a directory and a name into a repository-relative path.
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_path_accepts_normalized_relative_paths_only() {
        assert!(check_path("").is_ok());
        assert!(check_path("connectors/a.yaml").is_ok());
        for bad in ["/etc/passwd", "a/../b", "./a", "a//b", "a/", "a\0b"] {
            let err = check_path(bad).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("`{bad}` is not a normalized repository-relative path")
            );
        }
    }
}
