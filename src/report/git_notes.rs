//! Commit statuses as git notes under `refs/notes/ferry`: the default reporter, which needs
//! no forge.
//!
//! Each annotated commit has one note holding a JSON object that maps each context to
//! `{"state", "description", "target_url", "updated", "warnings"}`; updating one context
//! keeps the others. `git notes --ref=ferry show <sha>` prints it. Writes to one
//! repository are serialized within the process, so tenants reporting at the same time do
//! not lose each other's entries. When a push target is set, the notes ref is pushed after
//! each write; if the remote moved on (another writer), ferry fetches it, merges the notes
//! context by context (the later `updated` wins) and pushes again.
//!
//! Pushes and their fetches go through [`RemoteSpec`]: the credentials of `source.auth`
//! (the same callback the source fetch uses) and its watchdog, so a remote that stops
//! answering is cut off after `source.timeout` (a transient failure: the status stays in
//! the outbox). A refused credential is permanent.
//!
//! All git work runs in `spawn_blocking`. This module never force-pushes and never writes
//! outside `refs/notes/ferry` and its scratch ref `refs/ferry/notes-remote`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use async_trait::async_trait;
use git2::{ErrorCode, FetchOptions, Oid, PushOptions, Repository, Signature};
use serde::{Deserialize, Serialize};

use super::error::{ReportError, Result};
use super::reporter::{Reporter, check_sha};
use super::status::CommitStatus;
use crate::source::connection::{ConnectError, Session};
use crate::source::remote::RemoteSpec;

/// The notes ref ferry writes.
pub const NOTES_REF: &str = "refs/notes/ferry";

/// Where the remote's notes are fetched to before a merge.
const REMOTE_NOTES_REF: &str = "refs/ferry/notes-remote";

/// How many times a push rejected because the remote moved on is merged and retried.
const PUSH_ATTEMPTS: usize = 3;

/// One context's entry in a note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteEntry {
    /// `pending`, `success`, `failure` or `error`.
    pub state: String,
    /// The full description (notes have no length limit).
    pub description: String,
    /// Link to the status page, or null.
    pub target_url: Option<String>,
    /// When ferry wrote this entry (RFC 3339, UTC).
    pub updated: String,
    /// Open warnings.
    pub warnings: u32,
}

impl NoteEntry {
    fn same_status(&self, other: &NoteEntry) -> bool {
        self.state == other.state
            && self.description == other.description
            && self.target_url == other.target_url
            && self.warnings == other.warnings
    }
}

/// A whole note: context → entry.
pub type Note = BTreeMap<String, NoteEntry>;

/// Writes statuses as notes in one repository, optionally pushing them.
#[derive(Clone)]
pub struct GitNotesReporter {
    repo: PathBuf,
    push_to: Option<RemoteSpec>,
    external_url: Option<String>,
    lock: Arc<Mutex<()>>,
}

impl std::fmt::Debug for GitNotesReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitNotesReporter")
            .field("repo", &self.repo)
            .field(
                "push_to",
                &self.push_to.as_ref().map(RemoteSpec::display_url),
            )
            .field("external_url", &self.external_url)
            .finish()
    }
}

/// One lock per repository path, shared by every reporter of the process.
static REPO_LOCKS: LazyLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn repo_lock(path: &Path) -> Arc<Mutex<()>> {
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut locks = REPO_LOCKS.lock().unwrap_or_else(|p| p.into_inner());
    locks.entry(key).or_default().clone()
}

impl GitNotesReporter {
    /// A reporter writing into the repository at `repo` (a work tree or a bare repository).
    pub fn new(repo: impl Into<PathBuf>) -> Self {
        let repo = repo.into();
        let lock = repo_lock(&repo);
        GitNotesReporter {
            repo,
            push_to: None,
            external_url: None,
            lock,
        }
    }

    /// Push `refs/notes/ferry` to this remote after each write, with its credentials and
    /// time-out.
    pub fn with_push_to(mut self, remote: RemoteSpec) -> Self {
        self.push_to = Some(remote);
        self
    }

    /// Derive `target_url` from `server.externalUrl` for statuses that have none.
    pub fn with_external_url(mut self, external_url: Option<&str>) -> Self {
        self.external_url = external_url.map(str::to_owned);
        self
    }

    /// The note ferry holds on `sha` in the repository at `repo` (empty when none).
    ///
    /// # Errors
    /// [`ReportError::Git`] when the repository cannot be read, [`ReportError::CorruptNote`]
    /// when the note is not ferry's JSON. Blocking.
    pub fn read(repo: &Path, sha: &str) -> Result<Note> {
        check_sha(sha)?;
        let git = open(repo)?;
        let oid = parse_oid(sha)?;
        read_note(&git, repo, NOTES_REF, oid)
    }

    fn write_blocking(&self, sha: &str, status: &CommitStatus) -> Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let repo = open(&self.repo)?;
        let oid = parse_oid(sha)?;
        let entry = NoteEntry {
            state: status.state.as_str().to_owned(),
            description: status.description.clone(),
            target_url: status.target_url_for(self.external_url.as_deref(), sha),
            updated: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            warnings: status.warnings,
        };
        let mut note = read_note(&repo, &self.repo, NOTES_REF, oid)?;
        let unchanged = note
            .get(&status.context)
            .is_some_and(|old| old.same_status(&entry));
        if !unchanged {
            note.insert(status.context.clone(), entry);
            write_note(&repo, &self.repo, oid, &note)?;
        }
        if let Some(remote) = &self.push_to {
            push(&repo, &self.repo, remote)?;
        }
        Ok(())
    }
}

#[async_trait]
impl Reporter for GitNotesReporter {
    fn name(&self) -> &str {
        "git-notes"
    }

    async fn post(&self, sha: &str, status: &CommitStatus) -> Result<()> {
        check_sha(sha)?;
        let this = self.clone();
        let sha = sha.to_owned();
        let status = status.clone();
        tokio::task::spawn_blocking(move || this.write_blocking(&sha, &status))
            .await
            .map_err(|e| ReportError::task("write a git note", e))?
    }
}

fn git_err<'a>(
    action: &'static str,
    repo: &'a Path,
) -> impl FnOnce(git2::Error) -> ReportError + 'a {
    move |source| ReportError::Git {
        action,
        repo: repo.to_path_buf(),
        source,
    }
}

fn open(path: &Path) -> Result<Repository> {
    Repository::open(path).map_err(git_err("open the repository", path))
}

fn parse_oid(sha: &str) -> Result<Oid> {
    Oid::from_str(sha).map_err(|_| ReportError::InvalidSha {
        sha: sha.to_owned(),
    })
}

fn signature(path: &Path) -> Result<Signature<'static>> {
    Signature::now("ferry", "ferry@localhost").map_err(git_err("make a signature", path))
}

fn parse_note(text: &str, path: &Path, oid: Oid) -> Result<Note> {
    serde_json::from_str(text).map_err(|e| ReportError::CorruptNote {
        repo: path.to_path_buf(),
        sha: oid.to_string(),
        reason: e.to_string(),
    })
}

fn read_note(repo: &Repository, path: &Path, notes_ref: &str, oid: Oid) -> Result<Note> {
    match repo.find_note(Some(notes_ref), oid) {
        Ok(note) => parse_note(note.message().unwrap_or_default(), path, oid),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(Note::new()),
        Err(e) => Err(git_err("read the note", path)(e)),
    }
}

fn write_note(repo: &Repository, path: &Path, oid: Oid, note: &Note) -> Result<()> {
    let sig = signature(path)?;
    let mut text = serde_json::to_string_pretty(note).unwrap_or_default();
    text.push('\n');
    repo.note(&sig, &sig, Some(NOTES_REF), oid, &text, true)
        .map_err(git_err("write the note", path))?;
    Ok(())
}

enum PushOutcome {
    Done,
    /// The remote refused a non-fast-forward update: someone else pushed notes.
    Behind(String),
}

/// Push the notes ref, merging the remote's notes when it moved on. Called with the
/// repository's lock held; each network step runs under the remote's watchdog, so the lock
/// is never held longer than a step's time-out without progress.
fn push(repo: &Repository, path: &Path, remote: &RemoteSpec) -> Result<()> {
    let shown = remote.display_url().to_owned();
    let failed = |e: ConnectError| match e {
        ConnectError::Credentials(message) | ConnectError::Refused(message) => {
            ReportError::PushRefused {
                remote: shown.clone(),
                message,
            }
        }
        other => ReportError::PushFailed {
            remote: shown.clone(),
            message: other.to_string(),
        },
    };
    for _ in 0..PUSH_ATTEMPTS {
        let dir = path.to_path_buf();
        let outcome = remote
            .endpoint()
            .connect(move |session| push_once(&dir, session))
            .map_err(failed)?;
        match outcome {
            PushOutcome::Done => return Ok(()),
            PushOutcome::Behind(message) => {
                tracing::debug!(remote = %shown, %message, "the remote's notes moved on; merging them");
                let dir = path.to_path_buf();
                remote
                    .endpoint()
                    .connect(move |session| fetch_remote_notes(&dir, session))
                    .map_err(|e| match failed(e) {
                        ReportError::PushFailed { remote, message } => ReportError::PushFailed {
                            remote,
                            message: format!(
                                "cannot fetch the remote's notes to merge them: {message}"
                            ),
                        },
                        other => other,
                    })?;
                merge_remote_notes(repo, path).map_err(|message| ReportError::PushFailed {
                    remote: shown.clone(),
                    message: format!("cannot merge the remote's notes: {message}"),
                })?;
            }
        }
    }
    Err(ReportError::PushFailed {
        remote: shown,
        message: format!("the remote kept moving; gave up after {PUSH_ATTEMPTS} merges"),
    })
}

/// One push of the notes ref (on the watchdog's thread).
fn push_once(path: &Path, session: &Session) -> std::result::Result<PushOutcome, ConnectError> {
    let repo = Repository::open(path).map_err(|e| session.error(&e))?;
    let mut remote = repo
        .remote_anonymous(session.url())
        .map_err(|e| session.error(&e))?;
    let mut refused: Option<String> = None;
    let result = {
        let mut callbacks = session.callbacks();
        callbacks.push_update_reference(|_, status| {
            session.tick();
            if let Some(message) = status {
                refused = Some(message.to_owned());
            }
            Ok(())
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks);
        remote.push(&[format!("{NOTES_REF}:{NOTES_REF}")], Some(&mut options))
    };
    match result {
        Ok(()) => match refused {
            None => Ok(PushOutcome::Done),
            Some(message) if is_non_fast_forward(&message) => Ok(PushOutcome::Behind(message)),
            Some(message) => Err(ConnectError::Git {
                message: session.scrub(&format!("the remote refused the update: {message}")),
                transient: true,
            }),
        },
        Err(e) if e.code() == ErrorCode::NotFastForward || is_non_fast_forward(e.message()) => {
            Ok(PushOutcome::Behind(session.scrub(e.message())))
        }
        Err(e) => Err(session.error(&e)),
    }
}

/// Fetch the remote's notes into the scratch ref (on the watchdog's thread).
fn fetch_remote_notes(path: &Path, session: &Session) -> std::result::Result<(), ConnectError> {
    let repo = Repository::open(path).map_err(|e| session.error(&e))?;
    let mut remote = repo
        .remote_anonymous(session.url())
        .map_err(|e| session.error(&e))?;
    let mut options = FetchOptions::new();
    options.remote_callbacks(session.callbacks());
    remote
        .fetch(
            &[format!("+{NOTES_REF}:{REMOTE_NOTES_REF}")],
            Some(&mut options),
            None,
        )
        .map_err(|e| session.error(&e))
}

fn is_non_fast_forward(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("non-fast-forward") || m.contains("non-fastforward") || m.contains("fetch first")
}

/// Rebuild `refs/notes/ferry` on top of the remote's notes (fetched into the scratch
/// ref): every local note is merged with the remote's note on the same commit, context by
/// context, the later `updated` winning.
fn merge_remote_notes(repo: &Repository, path: &Path) -> std::result::Result<(), String> {
    let remote_tip = repo
        .refname_to_id(REMOTE_NOTES_REF)
        .map_err(|_| "the remote refused the push but has no refs/notes/ferry".to_owned())?;

    let mut local: Vec<(Oid, Note)> = Vec::new();
    if repo.refname_to_id(NOTES_REF).is_ok() {
        let notes = repo
            .notes(Some(NOTES_REF))
            .map_err(|e| e.message().to_owned())?;
        for item in notes {
            let (_, annotated) = item.map_err(|e| e.message().to_owned())?;
            let note = read_note(repo, path, NOTES_REF, annotated).map_err(|e| e.to_string())?;
            local.push((annotated, note));
        }
    }

    repo.reference(
        NOTES_REF,
        remote_tip,
        true,
        "ferry: rebase notes on the remote's",
    )
    .map_err(|e| e.message().to_owned())?;
    for (annotated, mine) in local {
        // A remote note ferry cannot parse is replaced by the local one.
        let theirs = read_note(repo, path, NOTES_REF, annotated).unwrap_or_default();
        let mut merged = theirs.clone();
        for (context, entry) in mine {
            let keep_theirs = merged
                .get(&context)
                .is_some_and(|other| other.updated > entry.updated);
            if !keep_theirs {
                merged.insert(context, entry);
            }
        }
        if merged != theirs {
            write_note(repo, path, annotated, &merged).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_fast_forward_messages() {
        assert!(is_non_fast_forward(
            "cannot push non-fastforwardable reference"
        ));
        assert!(is_non_fast_forward("rejected (non-fast-forward)"));
        assert!(!is_non_fast_forward("permission denied"));
    }
}
