//! One commit read from the git object database (no checkout), and tree diffs.
//!
//! Every tree object is read and parsed at most once per snapshot: path look-ups walk
//! cached listings by tree id, so reading every file of a commit costs one parse per
//! directory plus one read per file, as reading the working tree does. (libgit2 keeps no
//! tree larger than 4 KiB in its own object cache, so a look-up from the root tree would
//! inflate and hash a folder of thousands of manifests again for every file read.)

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use git2::{ErrorClass, ErrorCode, Oid, Repository};

use super::snapshot::{check_path, join};
use super::{Entry, EntryKind, Error, Result, Snapshot};

const MODE_DIR: i32 = 0o040000;
const MODE_SYMLINK: i32 = 0o120000;
const MODE_SUBMODULE: i32 = 0o160000;

/// The tree of one commit, read from the object database without touching the working tree.
///
/// Cheap to keep: it holds the open repository, two object ids and the trees read so far.
/// A repository handle is not `Sync`, so each sits behind a mutex; the snapshot holds one
/// per core, so threads reading at once (the manifest loader's) each take their own rather
/// than waiting on one lock.
pub struct CommitSnapshot {
    objects: Box<[Mutex<Objects>]>,
    path: PathBuf,
    commit: Oid,
    tree: Oid,
}

/// One tree's entries by name: file mode and object id.
type Listing = HashMap<Box<[u8]>, (i32, Oid)>;

/// The repository and the trees parsed from it so far, by id.
struct Objects {
    repo: Repository,
    trees: HashMap<Oid, Arc<Listing>>,
    /// How many tree objects were read from the object database.
    tree_reads: usize,
}

impl Objects {
    fn new(repo: Repository) -> Self {
        // Objects are read without hashing them again, as git reads them: their ids were
        // checked when they entered the repository (`git index-pack` on a fetch or clone,
        // the writer of a loose object), and hashing a commit's every blob again cost
        // about 5 % of a no-op `serve --once`. libgit2 holds the setting for the process.
        static UNVERIFIED_READS: std::sync::Once = std::sync::Once::new();
        UNVERIFIED_READS.call_once(|| git2::opts::strict_hash_verification(false));
        Objects {
            repo,
            trees: HashMap::new(),
            tree_reads: 0,
        }
    }

    /// The entries of tree `id`, parsed on first use.
    fn tree(&mut self, id: Oid) -> std::result::Result<Arc<Listing>, git2::Error> {
        if let Some(listing) = self.trees.get(&id) {
            return Ok(listing.clone());
        }
        self.tree_reads += 1;
        let tree = self.repo.find_tree(id)?;
        let listing: Arc<Listing> = Arc::new(
            tree.iter()
                .map(|e| (Box::from(e.name_bytes()), (e.filemode(), e.id())))
                .collect(),
        );
        self.trees.insert(id, listing.clone());
        Ok(listing)
    }

    /// The mode and id of the entry at `path` (normalized, not empty) under tree `root`;
    /// `None` when a component is missing or not a directory.
    fn lookup(
        &mut self,
        root: Oid,
        path: &str,
    ) -> std::result::Result<Option<(i32, Oid)>, git2::Error> {
        let mut tree = root;
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            let listing = self.tree(tree)?;
            let Some(&(mode, id)) = listing.get(part.as_bytes()) else {
                return Ok(None);
            };
            if parts.peek().is_none() {
                return Ok(Some((mode, id)));
            }
            if mode != MODE_DIR {
                return Ok(None);
            }
            tree = id;
        }
        Ok(None)
    }

    fn kind_of(&self, mode: i32, id: Oid) -> std::result::Result<EntryKind, git2::Error> {
        Ok(match mode {
            MODE_DIR => EntryKind::Dir,
            MODE_SYMLINK => {
                let blob = self.repo.find_blob(id)?;
                EntryKind::Symlink {
                    target: String::from_utf8_lossy(blob.content()).into_owned(),
                }
            }
            MODE_SUBMODULE => EntryKind::Other,
            _ => EntryKind::File,
        })
    }
}

impl fmt::Debug for CommitSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommitSnapshot")
            .field("path", &self.path)
            .field("commit", &self.commit)
            .finish()
    }
}

/// `repo` and, for each further core, another handle on the same repository (as many as
/// open; one at least).
fn handles(repo: Repository) -> Box<[Mutex<Objects>]> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let path = repo.path().to_owned();
    let mut handles = vec![Mutex::new(Objects::new(repo))];
    handles.extend(
        (1..cores)
            .map_while(|_| Repository::open(&path).ok())
            .map(|more| Mutex::new(Objects::new(more))),
    );
    handles.into_boxed_slice()
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
            objects: handles(repository),
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
            objects: handles(repo),
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

    fn with_objects<T>(&self, f: impl FnOnce(&mut Objects) -> T) -> T {
        // A panic while holding a lock cannot leave a repository in a bad state: every
        // call here is a read, and a tree is cached only once fully parsed. Recover the
        // guard rather than propagating the poison.
        for slot in &self.objects {
            match slot.try_lock() {
                Ok(mut guard) => return f(&mut guard),
                Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                    return f(&mut poisoned.into_inner());
                }
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
        }
        let mut guard = self.objects[0]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }
}

impl Snapshot for CommitSnapshot {
    fn describe(&self) -> String {
        let id = self.commit.to_string();
        format!("commit {}", &id[..12.min(id.len())])
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>> {
        check_path(dir)?;
        self.with_objects(|objects| {
            let start = if dir.is_empty() {
                self.tree
            } else {
                match objects.lookup(self.tree, dir) {
                    Ok(Some((MODE_DIR, id))) => id,
                    Ok(_) => return Ok(Vec::new()),
                    Err(e) => return Err(self.git(dir, e)),
                }
            };
            let mut out = Vec::new();
            // Explicit stack instead of recursion: deep trees cannot exhaust the call stack.
            let mut pending = vec![(dir.to_owned(), start)];
            while let Some((rel, id)) = pending.pop() {
                let listing = objects.tree(id).map_err(|e| self.git(&rel, e))?;
                for (name, &(mode, id)) in listing.iter() {
                    let name = String::from_utf8_lossy(name);
                    if name.starts_with('.') {
                        continue;
                    }
                    let path = join(&rel, &name);
                    if mode == MODE_DIR {
                        pending.push((path, id));
                        continue;
                    }
                    match objects.kind_of(mode, id) {
                        Ok(kind) => out.push(Entry { path, kind }),
                        Err(e) => return Err(self.git(&path, e)),
                    }
                }
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
        self.with_objects(|objects| match objects.lookup(self.tree, path) {
            Ok(Some((mode, id))) => objects
                .kind_of(mode, id)
                .map(Some)
                .map_err(|e| self.git(path, e)),
            Ok(None) => Ok(None),
            Err(e) => Err(self.git(path, e)),
        })
    }

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        check_path(path)?;
        self.with_objects(|objects| {
            let (mode, id) = match objects.lookup(self.tree, path) {
                Ok(Some(found)) => found,
                Ok(None) => {
                    let missing = git2::Error::new(
                        ErrorCode::NotFound,
                        ErrorClass::Tree,
                        format!("the path '{path}' does not exist in the given tree"),
                    );
                    return Err(self.git(path, missing));
                }
                Err(e) => return Err(self.git(path, e)),
            };
            if matches!(mode, MODE_DIR | MODE_SYMLINK | MODE_SUBMODULE) {
                return Err(Error::NotAFile {
                    path: path.to_owned(),
                });
            }
            let blob = objects.repo.find_blob(id).map_err(|e| self.git(path, e))?;
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
    fn each_tree_is_read_once_however_many_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let mut files = Vec::new();
        for i in 0..300 {
            files.push((format!("c/m{i}.yaml"), format!("m{i}")));
            files.push((format!("c/sql/q{i}.sql"), format!("q{i}")));
            files.push((format!("c/ref/deep/r{i}.csv"), format!("r{i}")));
        }
        let borrowed: Vec<(&str, Option<&str>)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), Some(c.as_str())))
            .collect();
        commit(&repo, &borrowed);

        let snap = CommitSnapshot::open(dir.path(), "HEAD").unwrap();
        for (path, contents) in &files {
            assert_eq!(snap.entry(path).unwrap(), Some(EntryKind::File));
            assert_eq!(snap.read(path).unwrap(), contents.as_bytes(), "{path}");
        }
        assert_eq!(snap.list("c").unwrap().len(), files.len());
        assert_eq!(snap.entry("c/ref/none.csv").unwrap(), None);
        assert!(snap.read("c/ref/none.csv").is_err());
        // The root, `c`, `c/sql`, `c/ref` and `c/ref/deep`: five tree reads for 900 files
        // read, each looked up twice, and a listing.
        assert_eq!(snap.with_objects(|o| o.tree_reads), 5);
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
