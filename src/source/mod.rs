//! Snapshots of the manifests repository: the working tree people edit, or one commit read
//! straight from the git object database.
//!
//! This module owns reading files at a revision. [`Snapshot`] is the one interface the
//! manifest loader uses, whichever source is behind it: [`WorkTree`] reads the file system,
//! [`CommitSnapshot`] reads a commit's tree with git2 without checking anything out.
//! [`changed_paths`] lists what changed between two commits, for work that follows change.
//! `Listed` keeps one folder's listing beside a snapshot so that resolving paths inside
//! it asks the snapshot nothing more.
//! [`remote`] keeps a local bare cache of the configured repository up to date and answers
//! which commit each followed branch points at; `connection` holds the one credentials
//! callback every fetch and git-notes push uses, and `watchdog` cuts off network operations
//! that get no answer. [`uncommitted`] names the files of a local source that differ from
//! its commit, and [`head_commit`] reads which commit its `HEAD` names.
//!
//! Apart from `remote` (and the git-notes reporter, through [`remote::RemoteSpec`]), it
//! must not talk to remotes; it never parses or judges file contents (that is
//! `manifest`'s job) and never follows symbolic links: it reports them with their targets and lets the caller decide
//! whether they stay inside the folder it reads.
//!
//! # Guarantees
//! Both snapshots present the same view of the same content: paths are `/`-separated and
//! relative to the repository root, listings are sorted by path, and entries whose name
//! starts with `.` (such as `.git`) are left out of listings. Loading manifests from a
//! clean working tree and from its `HEAD` commit gives identical results.
//!
//! All calls block (file system or git object database): from async code, run them on
//! `tokio::task::spawn_blocking`. Both snapshot types are `Send + Sync + 'static`.

mod commit;
pub(crate) mod connection;
mod error;
mod head;
mod listed;
pub mod remote;
mod snapshot;
mod uncommitted;
mod watchdog;
mod worktree;

pub use commit::{CommitSnapshot, changed_paths};
pub use error::{Error, Result};
pub use head::head_commit;
pub(crate) use listed::Listed;
pub use snapshot::{Entry, EntryKind, Snapshot};
pub use uncommitted::uncommitted;
pub use worktree::WorkTree;
