//! One commit read from the git object database (no checkout), and tree diffs.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

use super::snapshot::{check_path, join};
use super::{Entry, EntryKind, Error, Result, Snapshot};

const MODE_DIR: i32 = 0o040000;
const MODE_SYMLINK: i32 = 0o120000;
const MODE_SUBMODULE: i32 = 0o160000;

/// The tree of one commit, read from the object database without touching the working tree.
///
/// Cheap to keep: it holds the open repository and two object ids. The repository handle
/// sits behind a mutex so the snapshot is `Sync` and can be shared with blocking tasks.
pub struct CommitSnapshot {
    repo: Mutex<Repository>,
    path: PathBuf,
    commit: Oid,
    tree: Oid,
}

impl fmt::Debug for CommitSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommitSnapshot")
            .field("path", &self.path)
            .field("commit", &self.commit)
            .finish()
    }
}

impl CommitSnapshot {
    /// Open the repository at `repo` and resolve `rev` (a branch, tag, commit id or any
    /// git revision expression) to a commit.
    ///
    /// # Errors
    /// [`Error::OpenRepository`] when `repo` is not a git repository,
    /// [`Error::UnknownRevision`] when `rev` does not name a commit.
    pub fn open(repo: &Path, rev: &str) -> Result<Self> {
        let repository = Repository::open(repo).map_err(|source| Error::OpenRepository {
            path: repo.to_owned(),
            source,
        })?;
        let unknown = |source| Error::UnknownRevision {
            rev: rev.to_owned(),
            path: repo.to_owned(),
            source,
        };
        let (commit, tree) = {
            let commit = repository
                .revparse_single(rev)
                .and_then(|o| o.peel_to_commit())
                .map_err(unknown)?;
            (commit.id(), commit.tree_id())
        };
        Ok(CommitSnapshot {
            repo: Mutex::new(repository),
            path: repo.to_owned(),
            commit,
            tree,
        })
    }

    /// Use an already open repository at a known commit.
    ///
    /// # Errors
    /// [`Error::UnknownRevision`] when `commit` is not a commit of `repo`.
    pub fn from_repository(repo: Repository, commit: Oid) -> Result<Self> {
        let path = repo.path().to_owned();
        let found = repo
            .find_commit(commit)
            .map_err(|source| Error::UnknownRevision {
                rev: commit.to_string(),
                path: path.clone(),
                source,
            })?;
        let tree = found.tree_id();
        drop(found);
        Ok(CommitSnapshot {
            repo: Mutex::new(repo),
            path,
            commit,
            tree,
        })
    }

    /// The commit this snapshot reads.
    pub fn commit(&self) -> Oid {
        self.commit
    }

    fn git(&self, path: &str, source: git2::Error) -> Error {
        Error::Git {
            path: path.to_owned(),
            commit: self.commit.to_string(),
            source,
        }
    }

    fn with_repo<T>(&self, f: impl FnOnce(&Repository) -> T) -> T {
        // A panic while holding the lock cannot leave the repository in a bad state: every
        // call here is a read. Recover the guard rather than propagating the poison.
        let guard = self
            .repo
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&guard)
    }
}

fn kind_of(repo: &Repository, mode: i32, id: Oid) -> std::result::Result<EntryKind, git2::Error> {
    Ok(match mode {
        MODE_DIR => EntryKind::Dir,
        MODE_SYMLINK => {
            let blob = repo.find_blob(id)?;
            EntryKind::Symlink {
                target: String::from_utf8_lossy(blob.content()).into_owned(),
            }
        }
        MODE_SUBMODULE => EntryKind::Other,
        _ => EntryKind::File,
    })
}

impl Snapshot for CommitSnapshot {
    fn describe(&self) -> String {
        let id = self.commit.to_string();
        format!("commit {}", &id[..12.min(id.len())])
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>> {
        check_path(dir)?;
        self.with_repo(|repo| {
            let root = repo.find_tree(self.tree).map_err(|e| self.git(dir, e))?;
            let tree = if dir.is_empty() {
                root
            } else {
                let entry = match root.get_path(Path::new(dir)) {
                    Ok(entry) => entry,
                    Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(self.git(dir, e)),
                };
                if entry.kind() != Some(ObjectType::Tree) {
                    return Ok(Vec::new());
                }
                repo.find_tree(entry.id()).map_err(|e| self.git(dir, e))?
            };
            let mut out = Vec::new();
            let mut failure = None;
            tree.walk(TreeWalkMode::PreOrder, |parent, entry| {
                let name = String::from_utf8_lossy(entry.name_bytes());
                if name.starts_with('.') {
                    return TreeWalkResult::Skip;
                }
                let mode = entry.filemode();
                if mode == MODE_DIR {
                    return TreeWalkResult::Ok;
                }
                // `parent` is relative to the walked tree and ends with `/` when not empty.
                let path = join(dir, &format!("{parent}{name}"));
                match kind_of(repo, mode, entry.id()) {
                    Ok(kind) => out.push(Entry { path, kind }),
                    Err(e) => {
                        failure = Some(self.git(&path, e));
                        return TreeWalkResult::Abort;
                    }
                }
                TreeWalkResult::Ok
            })
            .or_else(|e| {
                if failure.is_some() {
                    Ok(())
                } else {
                    Err(self.git(dir, e))
                }
            })?;
            if let Some(e) = failure {
                return Err(e);
            }
            out.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(out)
        })
    }

    fn entry(&self, path: &str) -> Result<Option<EntryKind>> {
        check_path(path)?;
        if path.is_empty() {
            return Ok(Some(EntryKind::Dir));
        }
        self.with_repo(|repo| {
            let root = repo.find_tree(self.tree).map_err(|e| self.git(path, e))?;
            match root.get_path(Path::new(path)) {
                Ok(entry) => kind_of(repo, entry.filemode(), entry.id())
                    .map(Some)
                    .map_err(|e| self.git(path, e)),
                Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
                Err(e) => Err(self.git(path, e)),
            }
        })
    }

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        check_path(path)?;
        self.with_repo(|repo| {
            let root = repo.find_tree(self.tree).map_err(|e| self.git(path, e))?;
            let entry = root
                .get_path(Path::new(path))
                .map_err(|e| self.git(path, e))?;
            let mode = entry.filemode();
            if entry.kind() != Some(ObjectType::Blob) || mode == MODE_SYMLINK {
                return Err(Error::NotAFile {
                    path: path.to_owned(),
                });
            }
            let blob = repo.find_blob(entry.id()).map_err(|e| self.git(path, e))?;
            Ok(blob.content().to_vec())
        })
    }
}

/// Repository-relative paths that differ between two commits' trees (added, removed,
/// modified, or both sides of a rename), sorted and without duplicates.
///
/// # Errors
/// [`Error::Git`] when a commit or tree cannot be read.
pub fn changed_paths(repo: &Repository, from_commit: Oid, to_commit: Oid) -> Result<Vec<String>> {
    let err = |source| Error::Git {
        path: String::new(),
        commit: to_commit.to_string(),
        source,
    };
    let from = repo
        .find_commit(from_commit)
        .and_then(|c| c.tree())
        .map_err(err)?;
    let to = repo
        .find_commit(to_commit)
        .and_then(|c| c.tree())
        .map_err(err)?;
    let diff = repo
        .diff_tree_to_tree(Some(&from), Some(&to), None)
        .map_err(err)?;
    let mut paths = Vec::new();
    for delta in diff.deltas() {
        for file in [delta.old_file(), delta.new_file()] {
            if let Some(bytes) = file.path_bytes() {
                paths.push(String::from_utf8_lossy(bytes).into_owned());
            }
        }
    }
    paths.sort();
    paths.dedup();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commit `files` (path, contents; `None` removes) on top of HEAD and return the new id.
    fn commit(repo: &Repository, files: &[(&str, Option<&str>)]) -> Oid {
        let mut index = repo.index().unwrap();
        for (path, contents) in files {
            let full = repo.workdir().unwrap().join(path);
            match contents {
                Some(text) => {
                    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                    std::fs::write(&full, text).unwrap();
                    index.add_path(Path::new(path)).unwrap();
                }
                None => {
                    std::fs::remove_file(&full).unwrap();
                    index.remove_path(Path::new(path)).unwrap();
                }
            }
        }
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("test", "test@example.com").unwrap();
        let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<_> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, "test", &tree, &parents)
            .unwrap()
    }

    #[test]
    fn reads_a_commit_not_the_working_tree() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let first = commit(
            &repo,
            &[
                ("c/a.yaml", Some("one")),
                ("c/sub/b.sql", Some("b")),
                ("c/.x", Some("x")),
            ],
        );
        std::fs::write(dir.path().join("c/a.yaml"), "edited").unwrap();

        let snap = CommitSnapshot::open(dir.path(), "HEAD").unwrap();
        assert_eq!(snap.commit(), first);
        assert_eq!(snap.read("c/a.yaml").unwrap(), b"one");
        let paths: Vec<_> = snap
            .list("c")
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["c/a.yaml", "c/sub/b.sql"]);
        assert_eq!(snap.entry("c/sub").unwrap(), Some(EntryKind::Dir));
        assert_eq!(snap.entry("c/none").unwrap(), None);
        assert!(snap.list("nope").unwrap().is_empty());
        let err = CommitSnapshot::open(dir.path(), "no-such-branch")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("revision `no-such-branch` does not name a commit in "),
            "{err}"
        );
    }

    #[test]
    fn changed_paths_lists_both_sides() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let a = commit(
            &repo,
            &[
                ("c/a.yaml", Some("one")),
                ("c/b.yaml", Some("b")),
                ("c/d.yaml", Some("d")),
            ],
        );
        let b = commit(
            &repo,
            &[
                ("c/a.yaml", Some("two")),
                ("c/b.yaml", None),
                ("c/e.sql", Some("e")),
            ],
        );
        assert_eq!(
            changed_paths(&repo, a, b).unwrap(),
            ["c/a.yaml", "c/b.yaml", "c/e.sql"]
        );
        assert!(changed_paths(&repo, b, b).unwrap().is_empty());
    }

    #[test]
    fn snapshot_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<CommitSnapshot>();
        assert_send_sync::<crate::source::WorkTree>();
    }
}
