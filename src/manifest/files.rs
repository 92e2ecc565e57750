//! Files a manifest references (`liveSql`, `referenceData`, `sampleFile`, `actions`):
//! resolved relative to the manifest and confined to the manifests folder.
//!
//! Resolution is lexical first (`.` and `..` folded, absolute paths refused), then walks the
//! snapshot component by component so that a symbolic link is followed only while it stays
//! inside the folder. Working tree and commit give the same answer because both go through
//! [`Snapshot::entry`].

use crate::source::{self, EntryKind, Snapshot};

const MAX_LINKS: usize = 40;

/// Why a file reference cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FileError {
    /// The reference is an empty string.
    #[error("the file reference is empty: name a file relative to this manifest")]
    Empty,
    /// The reference uses `${…}`.
    #[error(
        "`{reference}` uses `${{…}}`: file references are the same for every tenant, name the file literally"
    )]
    HasVariable {
        /// The reference as written.
        reference: String,
    },
    /// The reference is an absolute path.
    #[error(
        "`{reference}` is an absolute path: write it relative to this manifest, inside the manifests folder `{root}`"
    )]
    Absolute {
        /// The reference as written.
        reference: String,
        /// The manifests folder.
        root: String,
    },
    /// `..` takes the reference out of the manifests folder.
    #[error(
        "`{reference}` leaves the manifests folder `{root}`: move the file inside the folder and reference it from there"
    )]
    Escapes {
        /// The reference as written.
        reference: String,
        /// The manifests folder.
        root: String,
    },
    /// A symbolic link on the way points out of the manifests folder.
    #[error(
        "`{reference}` goes through the symbolic link `{link}` -> `{target}`, which leaves the manifests folder `{root}`: copy the file into the folder instead of linking to it"
    )]
    SymlinkEscapes {
        /// The reference as written.
        reference: String,
        /// The link's repository-relative path.
        link: String,
        /// The link's target as stored.
        target: String,
        /// The manifests folder.
        root: String,
    },
    /// Nothing exists at the resolved path.
    #[error("`{reference}` does not exist (looked for `{path}`): check the name or add the file")]
    Missing {
        /// The reference as written.
        reference: String,
        /// The repository-relative path looked for.
        path: String,
    },
    /// The path exists but is a directory or something else than a file.
    #[error("`{reference}` is not a file (`{path}`): name a file")]
    NotAFile {
        /// The reference as written.
        reference: String,
        /// The repository-relative path.
        path: String,
    },
    /// Symbolic links refer to each other in a loop (or a very long chain).
    #[error(
        "`{reference}` goes through more than {MAX_LINKS} symbolic links (a loop?): reference the file directly"
    )]
    TooManyLinks {
        /// The reference as written.
        reference: String,
    },
    /// Reading the snapshot failed.
    #[error("cannot read `{reference}`: {source}")]
    Read {
        /// The reference as written.
        reference: String,
        /// The snapshot error.
        #[source]
        source: source::Error,
    },
}

/// Fold `base/rel` into normalized components; `None` when `..` climbs above the
/// repository root.
fn normalize(base: &str, rel: &str) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for part in base.split('/').chain(rel.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            other => out.push(other.to_owned()),
        }
    }
    Some(out)
}

fn is_absolute(reference: &str) -> bool {
    let b = reference.as_bytes();
    reference.starts_with('/')
        || reference.starts_with('\\')
        || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
}

fn display_root(root: &str) -> String {
    if root.is_empty() {
        ".".to_owned()
    } else {
        root.to_owned()
    }
}

/// Resolve `reference`, written in a file of directory `base` (repository-relative), to the
/// repository-relative path of a regular file inside the folder `root`.
pub(crate) fn resolve(
    snapshot: &dyn Snapshot,
    root: &str,
    base: &str,
    reference: &str,
) -> Result<String, FileError> {
    let root_parts: Vec<&str> = root.split('/').filter(|p| !p.is_empty()).collect();
    let inside = |parts: &[String]| {
        parts.len() > root_parts.len() && parts.iter().zip(&root_parts).all(|(a, b)| a == b)
    };
    let escapes = || FileError::Escapes {
        reference: reference.to_owned(),
        root: display_root(root),
    };

    if reference.trim().is_empty() {
        return Err(FileError::Empty);
    }
    if reference.contains("${") {
        return Err(FileError::HasVariable {
            reference: reference.to_owned(),
        });
    }
    if is_absolute(reference) {
        return Err(FileError::Absolute {
            reference: reference.to_owned(),
            root: display_root(root),
        });
    }
    let mut parts = normalize(base, reference).ok_or_else(escapes)?;
    if !inside(&parts) {
        return Err(escapes());
    }

    let mut links = 0;
    'walk: loop {
        for i in root_parts.len()..parts.len() {
            let prefix = parts[..=i].join("/");
            let last = i + 1 == parts.len();
            let kind = snapshot.entry(&prefix).map_err(|source| FileError::Read {
                reference: reference.to_owned(),
                source,
            })?;
            match kind {
                None => {
                    return Err(FileError::Missing {
                        reference: reference.to_owned(),
                        path: prefix,
                    });
                }
                Some(EntryKind::Dir) if !last => {}
                Some(EntryKind::File) if last => return Ok(prefix),
                Some(EntryKind::File) => {
                    return Err(FileError::Missing {
                        reference: reference.to_owned(),
                        path: parts.join("/"),
                    });
                }
                Some(EntryKind::Dir | EntryKind::Other) => {
                    return Err(FileError::NotAFile {
                        reference: reference.to_owned(),
                        path: prefix,
                    });
                }
                Some(EntryKind::Symlink { target }) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(FileError::TooManyLinks {
                            reference: reference.to_owned(),
                        });
                    }
                    let link_escapes = || FileError::SymlinkEscapes {
                        reference: reference.to_owned(),
                        link: prefix.clone(),
                        target: target.clone(),
                        root: display_root(root),
                    };
                    if is_absolute(&target) {
                        return Err(link_escapes());
                    }
                    let rest = parts[i + 1..].join("/");
                    let joined = if rest.is_empty() {
                        target.clone()
                    } else {
                        format!("{target}/{rest}")
                    };
                    let resolved =
                        normalize(&parts[..i].join("/"), &joined).ok_or_else(link_escapes)?;
                    if !inside(&resolved) {
                        return Err(link_escapes());
                    }
                    parts = resolved;
                    continue 'walk;
                }
            }
        }
        return Err(FileError::NotAFile {
            reference: reference.to_owned(),
            path: parts.join("/"),
        });
    }
}

/// [`resolve`] and read the file: its repository-relative path and bytes.
pub(crate) fn read(
    snapshot: &dyn Snapshot,
    root: &str,
    base: &str,
    reference: &str,
) -> Result<(String, Vec<u8>), FileError> {
    let path = resolve(snapshot, root, base, reference)?;
    let bytes = snapshot.read(&path).map_err(|source| FileError::Read {
        reference: reference.to_owned(),
        source,
    })?;
    Ok((path, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::WorkTree;
    use std::fs;

    fn tree() -> (tempfile::TempDir, WorkTree) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("c/sub")).unwrap();
        fs::create_dir_all(root.join("c/sql")).unwrap();
        fs::write(root.join("c/sql/a.sql"), "SELECT 1").unwrap();
        fs::write(root.join("secret.txt"), "x").unwrap();
        let snap = WorkTree::new(root);
        (dir, snap)
    }

    #[test]
    fn resolves_inside_the_folder() {
        let (_dir, snap) = tree();
        assert_eq!(
            resolve(&snap, "c", "c/sub", "../sql/a.sql").unwrap(),
            "c/sql/a.sql"
        );
        assert_eq!(
            resolve(&snap, "c", "c", "./sql/a.sql").unwrap(),
            "c/sql/a.sql"
        );
        let (path, bytes) = read(&snap, "c", "c", "sql/a.sql").unwrap();
        assert_eq!(
            (path.as_str(), bytes.as_slice()),
            ("c/sql/a.sql", b"SELECT 1".as_slice())
        );
    }

    #[test]
    fn refuses_escapes_absolute_missing_and_dirs() {
        let (_dir, snap) = tree();
        let err = |r: &str| resolve(&snap, "c", "c", r).unwrap_err().to_string();
        assert_eq!(
            err("../secret.txt"),
            "`../secret.txt` leaves the manifests folder `c`: move the file inside the folder and reference it from there"
        );
        assert_eq!(
            err("/etc/passwd"),
            "`/etc/passwd` is an absolute path: write it relative to this manifest, inside the manifests folder `c`"
        );
        assert_eq!(
            err("nope.sql"),
            "`nope.sql` does not exist (looked for `c/nope.sql`): check the name or add the file"
        );
        assert_eq!(err("sql"), "`sql` is not a file (`c/sql`): name a file");
        assert_eq!(
            err("sql/a.sql/x"),
            "`sql/a.sql/x` does not exist (looked for `c/sql/a.sql/x`): check the name or add the file"
        );
        assert_eq!(
            err("${env}.sql"),
            "`${env}.sql` uses `${…}`: file references are the same for every tenant, name the file literally"
        );
        assert_eq!(
            err(""),
            "the file reference is empty: name a file relative to this manifest"
        );
        assert_eq!(
            err("../../../x"),
            "`../../../x` leaves the manifests folder `c`: move the file inside the folder and reference it from there"
        );
    }

    #[cfg(unix)]
    #[test]
    fn follows_links_only_inside_the_folder() {
        let (dir, snap) = tree();
        let root = dir.path();
        std::os::unix::fs::symlink("../secret.txt", root.join("c/out.txt")).unwrap();
        std::os::unix::fs::symlink("sql", root.join("c/linked")).unwrap();
        std::os::unix::fs::symlink("loop2", root.join("c/loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", root.join("c/loop2")).unwrap();
        assert_eq!(
            resolve(&snap, "c", "c", "linked/a.sql").unwrap(),
            "c/sql/a.sql"
        );
        assert_eq!(
            resolve(&snap, "c", "c", "out.txt").unwrap_err().to_string(),
            "`out.txt` goes through the symbolic link `c/out.txt` -> `../secret.txt`, which leaves the manifests folder `c`: copy the file into the folder instead of linking to it"
        );
        assert_eq!(
            resolve(&snap, "c", "c", "loop1").unwrap_err().to_string(),
            "`loop1` goes through more than 40 symbolic links (a loop?): reference the file directly"
        );
    }
}
