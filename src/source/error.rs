//! Errors of reading a snapshot.

use std::path::PathBuf;

/// What went wrong while reading the repository.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The repository could not be opened with git.
    #[error(
        "cannot open git repository {path}: {source}; check that source.repo points at a local clone"
    )]
    OpenRepository {
        /// The path that was opened.
        path: PathBuf,
        /// The git error.
        #[source]
        source: git2::Error,
    },
    /// A revision did not name a commit.
    #[error(
        "revision `{rev}` does not name a commit in {path}: {source}; pass a branch, tag or commit id"
    )]
    UnknownRevision {
        /// The revision as given.
        rev: String,
        /// The repository.
        path: PathBuf,
        /// The git error.
        #[source]
        source: git2::Error,
    },
    /// Reading from the git object database failed.
    #[error("cannot read `{path}` from commit {commit}: {source}")]
    Git {
        /// The repository-relative path being read.
        path: String,
        /// The commit being read.
        commit: String,
        /// The git error.
        #[source]
        source: git2::Error,
    },
    /// Reading from the working tree failed.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The repository-relative path being read.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file or folder name on disk is not valid UTF-8, so it cannot be named exactly.
    #[error(
        "cannot read `{path}`: its name is not valid UTF-8 (the bytes that are not are shown as \u{fffd}), and ferry reads files by UTF-8 names only; rename it"
    )]
    NotUtf8Name {
        /// The repository-relative path, printed lossily.
        path: String,
    },
    /// The path is not a regular file (a directory, symbolic link or submodule).
    #[error("`{path}` is not a regular file")]
    NotAFile {
        /// The repository-relative path.
        path: String,
    },
    /// The path is not one a snapshot accepts: absolute, or with `.`/`..` components.
    #[error("`{path}` is not a normalized repository-relative path")]
    InvalidPath {
        /// The path as given.
        path: String,
    },
}

/// Result of snapshot operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
