//! The working tree: files as they are on disk, whether committed or not. Names that are
//! not UTF-8 are listed lossily (`\u{fffd}` for the bytes that are not) and reading them
//! says so, naming the path.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::snapshot::{check_path, join};
use super::{Entry, EntryKind, Error, Result, Snapshot};

/// The repository's files on disk under `root`. No git repository is needed.
#[derive(Debug, Clone)]
pub struct WorkTree {
    root: PathBuf,
}

impl WorkTree {
    /// A snapshot of the directory `root` (the repository root).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        WorkTree { root: root.into() }
    }

    /// The directory this snapshot reads.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn full(&self, path: &str) -> Result<PathBuf> {
        check_path(path)?;
        Ok(if path.is_empty() {
            self.root.clone()
        } else {
            self.root.join(path)
        })
    }

    fn io(path: &str, source: io::Error) -> Error {
        Error::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// An error reading `path`; a listed path whose name on disk is not UTF-8 (listed
    /// lossily, so it cannot be opened by that spelling) says so instead of "not found".
    fn read_error(&self, path: &str, source: io::Error) -> Error {
        if source.kind() == io::ErrorKind::NotFound
            && path.contains('\u{fffd}')
            && self.names_not_utf8(path)
        {
            return Error::NotUtf8Name {
                path: path.to_owned(),
            };
        }
        Self::io(path, source)
    }

    /// Whether some component of `path` is, on disk, a name that is not UTF-8 and
    /// prints (lossily) as that component.
    fn names_not_utf8(&self, path: &str) -> bool {
        let mut dir = self.root.clone();
        for part in path.split('/') {
            let literal = dir.join(part);
            if fs::symlink_metadata(&literal).is_ok() {
                dir = literal;
                continue;
            }
            let Ok(entries) = fs::read_dir(&dir) else {
                return false;
            };
            return entries.flatten().any(|e| {
                let name = e.file_name();
                name.to_str().is_none() && name.to_string_lossy() == part
            });
        }
        false
    }

    fn kind_of(full: &Path, meta: &fs::Metadata) -> EntryKind {
        Self::kind_of_type(full, meta.file_type())
    }

    fn kind_of_type(full: &Path, ft: fs::FileType) -> EntryKind {
        if ft.is_symlink() {
            let target = fs::read_link(full)
                .map(|t| t.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            EntryKind::Symlink { target }
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        }
    }
}

impl Snapshot for WorkTree {
    fn describe(&self) -> String {
        format!("working tree {}", self.root.display())
    }

    fn list(&self, dir: &str) -> Result<Vec<Entry>> {
        let start = self.full(dir)?;
        let mut out = Vec::new();
        // Explicit stack instead of recursion: deep trees cannot exhaust the call stack.
        let mut pending = vec![(dir.to_owned(), start)];
        while let Some((rel, full)) = pending.pop() {
            let read = match fs::read_dir(&full) {
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::NotFound && rel == dir => {
                    return Ok(Vec::new());
                }
                Err(e) if e.kind() == io::ErrorKind::NotADirectory && rel == dir => {
                    return Ok(Vec::new());
                }
                Err(e) => return Err(Self::io(&rel, e)),
            };
            for item in read {
                let item = item.map_err(|e| Self::io(&rel, e))?;
                let name = item.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') {
                    continue;
                }
                let path = join(&rel, &name);
                let full = item.path();
                // The type comes with the directory entry on most file systems (no
                // `statx`); std asks the file system only where it does not.
                let ft = item.file_type().map_err(|e| Self::io(&path, e))?;
                match Self::kind_of_type(&full, ft) {
                    EntryKind::Dir => pending.push((path, full)),
                    kind => out.push(Entry { path, kind }),
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn entry(&self, path: &str) -> Result<Option<EntryKind>> {
        let full = self.full(path)?;
        match fs::symlink_metadata(&full) {
            Ok(meta) => Ok(Some(Self::kind_of(&full, &meta))),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(Self::io(path, e)),
        }
    }

    fn read(&self, path: &str) -> Result<Vec<u8>> {
        let full = self.full(path)?;
        let not_a_file = || Error::NotAFile {
            path: path.to_owned(),
        };
        let mut file = match open_no_follow(&full) {
            Ok(file) => file,
            Err(e) => {
                // Opening fails on a final symbolic link (by design) and on a few special
                // files; the entry's type says which error to report.
                return match fs::symlink_metadata(&full) {
                    Ok(meta) if !meta.file_type().is_file() => Err(not_a_file()),
                    _ => Err(self.read_error(path, e)),
                };
            }
        };
        let meta = file.metadata().map_err(|e| Self::io(path, e))?;
        if !meta.file_type().is_file() {
            return Err(not_a_file());
        }
        read_to_end(&mut file, meta.len()).map_err(|e| Self::io(path, e))
    }
}

/// The rest of `file`, whose size was `len` when asked: two `read` calls for a file that
/// did not change since (`File::read_to_end` would ask for its size and position again).
fn read_to_end(file: &mut fs::File, len: u64) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0; usize::try_from(len).unwrap_or(0).saturating_add(1)];
    let mut filled = 0;
    loop {
        if filled == bytes.len() {
            // The file grew since: keep reading.
            bytes.resize(bytes.len() * 2, 0);
        }
        match file.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(filled);
    Ok(bytes)
}

/// Open `full` for reading without following a final symbolic link, and without blocking
/// on a named pipe: one `openat` where checking the type first would cost a `statx` more.
#[cfg(unix)]
fn open_no_follow(full: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(full)
}

/// Elsewhere: refuse anything but a regular file before opening it.
#[cfg(not(unix))]
fn open_no_follow(full: &Path) -> io::Result<fs::File> {
    let meta = fs::symlink_metadata(full)?;
    if !meta.file_type().is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    fs::File::open(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_file_name_that_is_not_utf8_is_named_and_explained() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("c")).unwrap();
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.yaml");
        fs::write(root.join("c").join(name), "kind: x").unwrap();
        let snap = WorkTree::new(root);
        let listed = snap.list("c").unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].path, "c/caf\u{fffd}.yaml");
        let err = snap.read(&listed[0].path).unwrap_err().to_string();
        assert_eq!(
            err,
            "cannot read `c/caf\u{fffd}.yaml`: its name is not valid UTF-8 (the bytes that are not are shown as \u{fffd}), and ferry reads files by UTF-8 names only; rename it"
        );
        // A missing file is still reported as missing.
        let missing = snap.read("c/gone\u{fffd}.yaml").unwrap_err().to_string();
        assert!(missing.contains("No such file"), "{missing}");
    }

    #[test]
    fn lists_recursively_sorted_skipping_dot_entries() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("c/sub")).unwrap();
        fs::create_dir_all(root.join("c/.hidden")).unwrap();
        fs::write(root.join("c/b.yaml"), "b").unwrap();
        fs::write(root.join("c/sub/a.sql"), "a").unwrap();
        fs::write(root.join("c/.hidden/x.yaml"), "x").unwrap();
        fs::write(root.join("c/.swp"), "x").unwrap();
        let snap = WorkTree::new(root);
        let paths: Vec<_> = snap
            .list("c")
            .unwrap()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["c/b.yaml", "c/sub/a.sql"]);
        assert!(snap.list("missing").unwrap().is_empty());
        assert_eq!(snap.read("c/sub/a.sql").unwrap(), b"a");
        assert_eq!(snap.entry("c/sub").unwrap(), Some(EntryKind::Dir));
        assert_eq!(snap.entry("c/nope").unwrap(), None);
        assert_eq!(
            snap.read("c/sub").unwrap_err().to_string(),
            "`c/sub` is not a regular file"
        );
    }

    #[cfg(unix)]
    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let pipe = dir.path().join("c/pipe.sql");
        fs::create_dir_all(pipe.parent().unwrap()).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(&pipe)
            .status()
            .unwrap();
        assert!(made.success());
        let snap = WorkTree::new(dir.path());
        // Opening a named pipe for reading would wait for a writer; it is refused at once.
        assert_eq!(
            snap.read("c/pipe.sql").unwrap_err().to_string(),
            "`c/pipe.sql` is not a regular file"
        );
        assert_eq!(snap.entry("c/pipe.sql").unwrap(), Some(EntryKind::Other));
        assert_eq!(
            snap.list("c").unwrap(),
            [Entry {
                path: "c/pipe.sql".into(),
                kind: EntryKind::Other
            }]
        );
        assert!(matches!(
            snap.read("c/missing.sql").unwrap_err(),
            Error::Io { .. }
        ));
    }

    #[cfg(unix)]
    #[test]
    fn reports_symlinks_with_their_targets() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("c")).unwrap();
        std::os::unix::fs::symlink("../secret.txt", root.join("c/link.sql")).unwrap();
        let snap = WorkTree::new(root);
        let listed = snap.list("c").unwrap();
        assert_eq!(
            listed,
            [Entry {
                path: "c/link.sql".into(),
                kind: EntryKind::Symlink {
                    target: "../secret.txt".into()
                }
            }]
        );
        assert_eq!(
            snap.read("c/link.sql").unwrap_err().to_string(),
            "`c/link.sql` is not a regular file"
        );
    }
}
