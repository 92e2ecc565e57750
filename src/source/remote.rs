//! Fetching the source repository into a local bare cache, and the head of every followed
//! branch.
//!
//! This module owns: interpreting `source.repo` (a local path relative to the config
//! file, `file://`, `https://` with a token, `ssh://` and `git@host:org/repo` with a key),
//! `source.auth` and `source.timeout` ([`RemoteSpec`]), the bare cache under the state
//! directory (`<state dir>/repos/<hash of the url>`), the last good head of each followed
//! branch, and the last fetch error. A failed fetch never moves a head: ferry keeps
//! reconciling the last good commit. The fetch authenticates through the one credentials
//! callback of `connection.rs` and runs under its watchdog: a remote that gives no answer
//! for `source.timeout` is cut off, a transient failure.
//!
//! It must not read trees or manifests (snapshots read [`Remote::cache_path`]), and it does
//! not decide when to fetch or retry (the controller does, reading
//! [`Error::is_transient`]). All git2 work runs on the blocking pool. Tokens never appear in
//! logs, errors or `Debug` output: URLs are shown with their user info replaced by `***`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use git2::{AutotagOption, FetchOptions, Oid, Repository};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::connection::{ConnectError, Credentials, Endpoint};
use super::watchdog::Watchdog;
use crate::config;

/// Errors of source tracking.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `source.repo` is empty or uses a form ferry cannot fetch.
    #[error("source.repo {repo:?} cannot be used: {reason}")]
    InvalidRepo {
        /// The configured value, with any user info redacted.
        repo: String,
        /// What is wrong and what to write instead.
        reason: String,
    },
    /// `source.timeout` is not a duration.
    #[error("source.timeout {value:?} cannot be used: {reason}")]
    InvalidTimeout {
        /// The configured value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A followed branch name is not a valid git branch name.
    #[error(
        "branch {branch:?} is not a valid git branch name; fix source.branch or the tenant's branch"
    )]
    InvalidBranch {
        /// The branch name.
        branch: String,
    },
    /// The cache directory could not be created.
    #[error(
        "cannot create the repository cache {path}: {source}. Check that the state directory is writable, or pass another one with --state"
    )]
    CacheDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The cache repository could not be opened or initialised.
    #[error(
        "cannot open the repository cache {path}: {message}. Delete that directory to rebuild the cache from the remote"
    )]
    Cache {
        /// The cache directory.
        path: PathBuf,
        /// What git reported.
        message: String,
    },
    /// The credentials named in `source.auth` could not be read.
    #[error("cannot read the credentials for {url}: {reason}")]
    Credentials {
        /// The remote, user info redacted.
        url: String,
        /// What is missing and where ferry looked.
        reason: String,
    },
    /// The fetch failed (network, authentication, missing repository).
    #[error(
        "cannot fetch {url}: {message}. ferry keeps the last fetched commit and tries again; check that source.repo is reachable and that source.auth holds valid credentials"
    )]
    Fetch {
        /// The remote, user info redacted.
        url: String,
        /// What git reported, with the URL redacted and any token removed.
        message: String,
        /// Whether trying again later may succeed (network trouble) or not (bad credentials).
        transient: bool,
    },
    /// A followed branch does not exist on the remote.
    #[error(
        "branch {branch:?} does not exist in {url}; push it, or change source.branch or the branch of the tenants that follow it"
    )]
    BranchNotFound {
        /// The branch.
        branch: String,
        /// The remote, user info redacted.
        url: String,
    },
    /// No commit of the branch has been fetched yet (the first fetch has not succeeded).
    #[error("no commit of branch {branch:?} has been fetched from {url} yet{}", last_error.as_deref().map(|e| format!("; the last fetch failed: {e}")).unwrap_or_default())]
    NotFetched {
        /// The branch.
        branch: String,
        /// The remote, user info redacted.
        url: String,
        /// The last fetch error, if a fetch was tried.
        last_error: Option<String>,
    },
    /// A branch was asked for that no tenant follows, so it is never fetched.
    #[error(
        "branch {branch:?} is not followed; ferry fetches source.branch and the branches tenants name in `branch`"
    )]
    NotFollowed {
        /// The branch.
        branch: String,
    },
    /// The blocking task running git stopped before finishing (panic or runtime shutdown).
    #[error("the git task for {url} stopped before finishing: {message}")]
    Task {
        /// The remote, user info redacted.
        url: String,
        /// The reason.
        message: String,
    },
}

impl Error {
    /// Whether trying again later may succeed without anyone changing anything: network
    /// failures, a fetch not done yet. Bad credentials, a missing branch or repository and
    /// configuration mistakes are permanent until someone fixes them.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Fetch { transient, .. } => *transient,
            Error::NotFetched { .. } | Error::Task { .. } | Error::CacheDir { .. } => true,
            Error::InvalidRepo { .. }
            | Error::InvalidTimeout { .. }
            | Error::InvalidBranch { .. }
            | Error::Cache { .. }
            | Error::Credentials { .. }
            | Error::BranchNotFound { .. }
            | Error::NotFollowed { .. } => false,
        }
    }
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How long a fetch or push may go without an answer when `source.timeout` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the source repository is and how to authenticate to it, resolved from
/// `source` in `ferry.yaml`: the URL, the credentials of `source.auth` and the time-out of
/// `source.timeout`. Fetches and git-notes pushes both go through it. Cheap to clone;
/// clones share the watchdog that cuts off operations that hang. Its `Debug` shows the URL
/// with user info redacted.
#[derive(Clone)]
pub struct RemoteSpec {
    endpoint: Endpoint,
    /// The repository's directory, for local paths and `file://` URLs.
    local: Option<PathBuf>,
}

impl std::fmt::Debug for RemoteSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSpec")
            .field("url", &self.endpoint.display)
            .field("local", &self.local)
            .field("auth", &self.endpoint.credentials)
            .finish()
    }
}

impl RemoteSpec {
    /// Resolve `source.repo`, `source.auth` and `source.timeout`. Relative paths (the
    /// repository itself, the token file, the SSH key) are relative to `base_dir`, the
    /// directory of the config file.
    ///
    /// # Errors
    /// [`Error::InvalidRepo`] for an empty value, an unsupported URL scheme, or a `file://`
    /// URL without an absolute path; [`Error::InvalidTimeout`].
    pub fn from_config(source: &config::Source, base_dir: &Path) -> Result<RemoteSpec> {
        let timeout = match config::parse_duration(&source.timeout) {
            Ok(t) if !t.is_zero() => t,
            Ok(_) => {
                return Err(Error::InvalidTimeout {
                    value: source.timeout.clone(),
                    reason: "it must be longer than zero".to_owned(),
                });
            }
            Err(reason) => {
                return Err(Error::InvalidTimeout {
                    value: source.timeout.clone(),
                    reason,
                });
            }
        };
        let mut spec = RemoteSpec::from_repo(&source.repo, base_dir)?;
        spec.endpoint.credentials = Credentials::from_config(source.auth.as_ref(), base_dir);
        spec.endpoint.watchdog = Watchdog::new(timeout);
        Ok(spec)
    }

    /// `repo` (a path relative to `base_dir`, or a URL) reached without `source.auth`
    /// credentials (the SSH agent for SSH), with the default time-out.
    ///
    /// # Errors
    /// [`Error::InvalidRepo`] for an empty value, an unsupported URL scheme, or a `file://`
    /// URL without an absolute path.
    pub fn from_repo(repo: &str, base_dir: &Path) -> Result<RemoteSpec> {
        let repo = repo.trim();
        let invalid = |reason: &str| Error::InvalidRepo {
            repo: redact_url(repo),
            reason: reason.to_owned(),
        };
        if repo.is_empty() {
            return Err(invalid(
                "it is empty; give a path relative to ferry.yaml, or a file://, https://, ssh:// or git@host:org/repo URL",
            ));
        }
        let (url, local) = if let Some(rest) = repo.strip_prefix("file://") {
            let path = PathBuf::from(rest);
            if !path.is_absolute() {
                return Err(invalid(
                    "a file:// URL needs an absolute path (file:///srv/connectors.git); write a plain relative path instead",
                ));
            }
            (repo.to_owned(), Some(path))
        } else if ["https://", "http://", "ssh://"]
            .iter()
            .any(|p| repo.starts_with(p))
            || is_scp_like(repo)
        {
            (repo.to_owned(), None)
        } else if repo.contains("://") {
            return Err(invalid(
                "unsupported URL scheme; use a path, file://, https://, ssh:// or git@host:org/repo",
            ));
        } else {
            let path = base_dir.join(repo);
            (path.to_string_lossy().into_owned(), Some(path))
        };
        Ok(RemoteSpec {
            endpoint: Endpoint {
                display: redact_url(&url),
                url,
                credentials: Credentials::default(),
                watchdog: Watchdog::new(DEFAULT_TIMEOUT),
            },
            local,
        })
    }

    /// Another repository (`origin` of a local source, say) reached with the same
    /// credentials and time-out. A relative path is relative to `base_dir`.
    ///
    /// # Errors
    /// As [`RemoteSpec::from_repo`].
    pub fn with_repo(&self, repo: &str, base_dir: &Path) -> Result<RemoteSpec> {
        let mut other = RemoteSpec::from_repo(repo, base_dir)?;
        other.endpoint.credentials = self.endpoint.credentials.clone();
        other.endpoint.watchdog = self.endpoint.watchdog.clone();
        Ok(other)
    }

    /// The URL or path as shown to people: user info replaced by `***`.
    pub fn display_url(&self) -> &str {
        &self.endpoint.display
    }

    /// The repository's directory when the source is a local path or `file://` URL (the
    /// file watch follows its refs).
    pub fn local_path(&self) -> Option<&Path> {
        self.local.as_deref()
    }

    /// The remote as network operations see it: URL, credentials, watchdog.
    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
}

/// `user@host:path`, git's scp-like SSH syntax.
fn is_scp_like(repo: &str) -> bool {
    let Some((user_host, path)) = repo.split_once(':') else {
        return false;
    };
    let Some((user, host)) = user_host.split_once('@') else {
        return false;
    };
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    };
    ok(user) && ok(host) && !path.is_empty() && !path.starts_with("//")
}

/// Replace the user info of a URL by `***` (`https://***@host/org/repo`), so a token
/// written into `source.repo` is never shown; credential-named query values are hidden
/// too ([`crate::sensitive::redact`]). An SSH user name without a password
/// (`ssh://git@host/...`) is not a secret and is kept.
pub fn redact_url(url: &str) -> String {
    crate::sensitive::redact(url).into_owned()
}

/// The last failed fetch, for readiness and status pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchFailure {
    /// The error message (URL redacted, no token).
    pub message: String,
    /// Whether a retry may succeed without a fix.
    pub transient: bool,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// How many fetches in a row have failed.
    pub consecutive: u32,
    /// The branch concerned, when only one followed branch is affected (it is missing);
    /// `None` when the whole fetch failed.
    pub branch: Option<String>,
}

/// What one successful fetch found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchReport {
    /// The head of every followed branch that exists on the remote.
    pub heads: BTreeMap<String, Oid>,
    /// Branches whose head differs from before the fetch (including first seen).
    pub moved: Vec<String>,
    /// Followed branches the remote does not have.
    pub missing: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    heads: BTreeMap<String, Oid>,
    missing: BTreeSet<String>,
    last_error: Option<FetchFailure>,
    last_success: Option<DateTime<Utc>>,
    consecutive_failures: u32,
}

struct Inner {
    spec: RemoteSpec,
    cache: PathBuf,
    branches: Vec<String>,
    /// Held by the blocking fetch for its whole duration: fetches into the cache never
    /// overlap, even when the awaiting caller was dropped.
    fetch_lock: Arc<tokio::sync::Mutex<()>>,
    state: Mutex<State>,
}

/// The tracked source repository: a bare cache kept up to date by [`Remote::fetch`], and
/// the last good head of every followed branch. Cheap to clone.
#[derive(Clone)]
pub struct Remote {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.inner.spec.display_url())
            .field("cache", &self.inner.cache)
            .field("branches", &self.inner.branches)
            .finish()
    }
}

impl Remote {
    /// Open (creating it if needed) the bare cache of `spec` under `cache_root`, which is
    /// `<state dir>/repos`; the cache is `<cache_root>/<hash of the url>`. Heads already in
    /// the cache from an earlier run count as the last good commits until a fetch succeeds.
    /// Nothing is fetched yet.
    ///
    /// # Errors
    /// [`Error::InvalidBranch`], [`Error::CacheDir`], [`Error::Cache`].
    pub async fn open(
        spec: RemoteSpec,
        cache_root: &Path,
        branches: impl IntoIterator<Item = String>,
    ) -> Result<Remote> {
        let branches: Vec<String> = branches
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for b in &branches {
            if !git2::Reference::is_valid_name(&format!("refs/heads/{b}")) {
                return Err(Error::InvalidBranch { branch: b.clone() });
            }
        }
        let digest = Sha256::digest(spec.display_url().as_bytes());
        let cache = cache_root.join(&hex::encode(digest)[..16]);
        let url = spec.display_url().to_owned();
        let (cache, heads) = tokio::task::spawn_blocking({
            let branches = branches.clone();
            move || open_cache(cache, &branches)
        })
        .await
        .map_err(|e| Error::Task {
            url,
            message: e.to_string(),
        })??;
        Ok(Remote {
            inner: Arc::new(Inner {
                spec,
                cache,
                branches,
                fetch_lock: Arc::new(tokio::sync::Mutex::new(())),
                state: Mutex::new(State {
                    heads,
                    ..State::default()
                }),
            }),
        })
    }

    /// Fetch every followed branch into the cache. On success the heads move and the last
    /// fetch error is cleared (or set to the missing branches, if any); on failure the
    /// heads stay where they were and [`Remote::last_fetch_error`] reports why. Fetches
    /// never overlap; a second caller waits for the first.
    ///
    /// # Errors
    /// [`Error::Fetch`], [`Error::Credentials`], [`Error::Cache`], [`Error::Task`].
    pub async fn fetch(&self) -> Result<FetchReport> {
        let guard = self.inner.fetch_lock.clone().lock_owned().await;
        let inner = self.inner.clone();
        let started = tokio::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            let _guard = guard;
            let result = fetch_blocking(&inner);
            record(&inner, result)
        })
        .await
        .map_err(|e| Error::Task {
            url: self.inner.spec.display_url().to_owned(),
            message: e.to_string(),
        })
        .and_then(|r| r);
        crate::metrics::get().git_fetch(
            started.elapsed().as_secs_f64(),
            result.as_ref().err().map(Error::is_transient),
        );
        result
    }

    /// The last good commit of `branch`.
    ///
    /// # Errors
    /// [`Error::NotFollowed`] for a branch nobody follows, [`Error::BranchNotFound`] when the
    /// remote lacks it, [`Error::NotFetched`] before the first successful fetch.
    pub fn head(&self, branch: &str) -> Result<Oid> {
        if !self.inner.branches.iter().any(|b| b == branch) {
            return Err(Error::NotFollowed {
                branch: branch.to_owned(),
            });
        }
        let st = self.state();
        if let Some(oid) = st.heads.get(branch) {
            return Ok(*oid);
        }
        if st.missing.contains(branch) {
            return Err(Error::BranchNotFound {
                branch: branch.to_owned(),
                url: self.inner.spec.display_url().to_owned(),
            });
        }
        Err(Error::NotFetched {
            branch: branch.to_owned(),
            url: self.inner.spec.display_url().to_owned(),
            last_error: st.last_error.as_ref().map(|e| e.message.clone()),
        })
    }

    /// The last good head of every followed branch fetched so far.
    pub fn heads(&self) -> BTreeMap<String, Oid> {
        self.state().heads.clone()
    }

    /// The error of the last fetch, or `None` when it succeeded and found every branch.
    pub fn last_fetch_error(&self) -> Option<FetchFailure> {
        self.state().last_error.clone()
    }

    /// When a fetch last succeeded.
    pub fn last_success(&self) -> Option<DateTime<Utc>> {
        self.state().last_success
    }

    /// The followed branches, sorted and unique.
    pub fn branches(&self) -> &[String] {
        &self.inner.branches
    }

    /// The URL or path as shown to people: user info replaced by `***`.
    pub fn display_url(&self) -> &str {
        self.inner.spec.display_url()
    }

    /// The source repository's own directory when it is local (path or `file://`).
    pub fn local_path(&self) -> Option<&Path> {
        self.inner.spec.local_path()
    }

    /// The bare cache repository: snapshots read trees from here.
    pub fn cache_path(&self) -> &Path {
        &self.inner.cache
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Every update is a plain assignment: a panic cannot leave the state half written.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn open_cache(cache: PathBuf, branches: &[String]) -> Result<(PathBuf, BTreeMap<String, Oid>)> {
    std::fs::create_dir_all(&cache).map_err(|source| Error::CacheDir {
        path: cache.clone(),
        source,
    })?;
    let cache_err = |e: git2::Error| Error::Cache {
        path: cache.clone(),
        message: e.message().to_owned(),
    };
    let repo = match Repository::open_bare(&cache) {
        Ok(repo) => repo,
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            Repository::init_bare(&cache).map_err(cache_err)?
        }
        Err(e) => return Err(cache_err(e)),
    };
    let mut heads = BTreeMap::new();
    for b in branches {
        if let Ok(r) = repo.find_reference(&format!("refs/heads/{b}"))
            && let Some(oid) = r.target()
        {
            heads.insert(b.clone(), oid);
        }
    }
    drop(repo);
    Ok((cache, heads))
}

/// Heads advertised by the remote for the followed branches, after a successful fetch.
struct Fetched {
    heads: BTreeMap<String, Oid>,
    missing: Vec<String>,
}

fn fetch_blocking(inner: &Inner) -> Result<Fetched> {
    let spec = &inner.spec;
    let url = spec.display_url().to_owned();
    if let Some(path) = &spec.local
        && !path.exists()
    {
        return Err(Error::Fetch {
            url,
            message: "there is no repository at this path".to_owned(),
            transient: false,
        });
    }
    let repo = Repository::open_bare(&inner.cache).map_err(|e| Error::Cache {
        path: inner.cache.clone(),
        message: e.message().to_owned(),
    })?;
    let cache = inner.cache.clone();
    let refspecs: Vec<String> = inner
        .branches
        .iter()
        .map(|b| format!("+refs/heads/{b}:refs/heads/{b}"))
        .collect();
    // The network part runs under the watchdog; it returns the heads the remote
    // advertised for the followed branches.
    let advertised = spec
        .endpoint()
        .connect(move |session| {
            let repo = Repository::open_bare(&cache).map_err(|e| ConnectError::Git {
                message: format!("cannot open the repository cache: {}", e.message()),
                transient: false,
            })?;
            let mut remote = repo
                .remote_anonymous(session.url())
                .map_err(|e| session.error(&e))?;
            let mut options = FetchOptions::new();
            options
                .remote_callbacks(session.callbacks())
                .download_tags(AutotagOption::None)
                .update_fetchhead(false);
            remote
                .fetch(&refspecs, Some(&mut options), None)
                .map_err(|e| session.error(&e))?;
            let advertised: BTreeMap<String, Oid> = remote
                .list()
                .map_err(|e| session.error(&e))?
                .iter()
                .filter_map(|h| {
                    h.name()
                        .strip_prefix("refs/heads/")
                        .map(|b| (b.to_owned(), h.oid()))
                })
                .collect();
            Ok(advertised)
        })
        .map_err(|e| match e {
            ConnectError::Credentials(reason) => Error::Credentials {
                url: url.clone(),
                reason,
            },
            other => Error::Fetch {
                url: url.clone(),
                transient: other.is_transient(),
                message: other.to_string(),
            },
        })?;
    let mut fetched = Fetched {
        heads: BTreeMap::new(),
        missing: Vec::new(),
    };
    for b in &inner.branches {
        match advertised.get(b.as_str()) {
            Some(oid) if repo.find_commit(*oid).is_ok() => {
                fetched.heads.insert(b.clone(), *oid);
            }
            Some(oid) => {
                return Err(Error::Fetch {
                    url,
                    message: format!(
                        "the remote advertised {oid} for branch {b:?} but the commit did not arrive"
                    ),
                    transient: true,
                });
            }
            None => fetched.missing.push(b.clone()),
        }
    }
    Ok(fetched)
}

/// Fold a fetch result into the state and turn it into the caller's answer.
fn record(inner: &Inner, result: Result<Fetched>) -> Result<FetchReport> {
    let mut st = lock(&inner.state);
    let now = Utc::now();
    match result {
        Ok(fetched) => {
            let moved = fetched
                .heads
                .iter()
                .filter(|(b, oid)| st.heads.get(*b) != Some(oid))
                .map(|(b, _)| b.clone())
                .collect();
            st.heads
                .extend(fetched.heads.iter().map(|(b, o)| (b.clone(), *o)));
            st.missing = fetched.missing.iter().cloned().collect();
            st.last_success = Some(now);
            st.consecutive_failures = 0;
            st.last_error = fetched.missing.first().map(|b| FetchFailure {
                message: Error::BranchNotFound {
                    branch: b.clone(),
                    url: inner.spec.display_url().to_owned(),
                }
                .to_string(),
                transient: false,
                at: now,
                consecutive: 0,
                branch: Some(b.clone()),
            });
            Ok(FetchReport {
                heads: fetched.heads,
                moved,
                missing: fetched.missing,
            })
        }
        Err(e) => {
            st.consecutive_failures += 1;
            st.last_error = Some(FetchFailure {
                message: e.to_string(),
                transient: e.is_transient(),
                at: now,
                consecutive: st.consecutive_failures,
                branch: None,
            });
            Err(e)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Write a commit with one file onto `branch` of `repo` (bare or not) and return it.
    pub(crate) fn commit(repo: &Repository, branch: &str, file: &str, content: &str) -> Oid {
        let sig = git2::Signature::now("ferry test", "test@example.com").unwrap();
        let refname = format!("refs/heads/{branch}");
        let parent = repo
            .find_reference(&refname)
            .ok()
            .and_then(|r| r.target())
            .map(|oid| repo.find_commit(oid).unwrap());
        let mut tb = repo
            .treebuilder(parent.as_ref().map(|p| p.tree().unwrap()).as_ref())
            .unwrap();
        tb.insert(file, repo.blob(content.as_bytes()).unwrap(), 0o100644)
            .unwrap();
        let tree = repo.find_tree(tb.write().unwrap()).unwrap();
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(Some(&refname), &sig, &sig, content, &tree, &parents)
            .unwrap()
    }

    fn source(repo: &str) -> config::Source {
        config::Source {
            repo: repo.to_owned(),
            branch: "main".to_owned(),
            path: None,
            interval: "1m".to_owned(),
            auth: None,
            timeout: "60s".to_owned(),
        }
    }

    /// A new folder holding an empty bare repository `origin.git`, and the spec of a
    /// source following it.
    fn bare_origin() -> (tempfile::TempDir, Repository, RemoteSpec) {
        let dir = tempfile::tempdir().unwrap();
        let origin = Repository::init_bare(dir.path().join("origin.git")).unwrap();
        let spec = RemoteSpec::from_config(&source("origin.git"), dir.path()).unwrap();
        (dir, origin, spec)
    }

    async fn open(spec: RemoteSpec, state: &Path, branches: &[&str]) -> Remote {
        Remote::open(
            spec,
            &state.join("repos"),
            branches.iter().map(|b| b.to_string()),
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn clones_and_sees_new_commits_after_fetch() {
        let (dir, origin, spec) = bare_origin();
        let first = commit(&origin, "main", "a.yaml", "one");
        assert_eq!(
            spec.local_path(),
            Some(dir.path().join("origin.git").as_path())
        );
        let remote = open(spec, &dir.path().join(".ferry"), &["main"]).await;
        assert!(
            remote
                .cache_path()
                .starts_with(dir.path().join(".ferry/repos"))
        );

        let report = remote.fetch().await.unwrap();
        assert_eq!(report.moved, vec!["main".to_owned()]);
        assert_eq!(remote.head("main").unwrap(), first);

        let again = remote.fetch().await.unwrap();
        assert!(again.moved.is_empty(), "nothing new: {again:?}");

        let second = commit(&origin, "main", "a.yaml", "two");
        let report = remote.fetch().await.unwrap();
        assert_eq!(report.moved, vec!["main".to_owned()]);
        assert_eq!(remote.head("main").unwrap(), second);
        assert!(remote.last_fetch_error().is_none());
        // The cache holds the commit's tree, for snapshots.
        let cache = Repository::open_bare(remote.cache_path()).unwrap();
        assert!(cache.find_commit(second).is_ok());
    }

    #[tokio::test]
    async fn follows_one_branch_per_tenant_over_file_urls() {
        let (dir, origin, _) = bare_origin();
        let main = commit(&origin, "main", "a.yaml", "main");
        let release = commit(&origin, "release", "a.yaml", "release");
        let url = format!("file://{}", dir.path().join("origin.git").display());
        let spec = RemoteSpec::from_config(&source(&url), Path::new("/elsewhere")).unwrap();
        let remote = open(spec, dir.path(), &["main", "release"]).await;
        remote.fetch().await.unwrap();
        assert_eq!(remote.head("main").unwrap(), main);
        assert_eq!(remote.head("release").unwrap(), release);

        let release2 = commit(&origin, "release", "b.yaml", "release 2");
        let report = remote.fetch().await.unwrap();
        assert_eq!(
            report.moved,
            vec!["release".to_owned()],
            "main did not move"
        );
        assert_eq!(remote.head("release").unwrap(), release2);
        assert_eq!(remote.head("main").unwrap(), main);
        let err = remote.head("feature").unwrap_err();
        assert!(
            err.to_string().contains("\"feature\" is not followed"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_missing_branch_is_reported_and_the_others_still_move() {
        let (dir, origin, spec) = bare_origin();
        let main = commit(&origin, "main", "a.yaml", "main");
        let remote = open(spec, dir.path(), &["main", "staging"]).await;
        let report = remote.fetch().await.unwrap();
        assert_eq!(report.missing, vec!["staging".to_owned()]);
        assert_eq!(remote.head("main").unwrap(), main);
        let err = remote.head("staging").unwrap_err();
        assert!(!err.is_transient());
        let msg = err.to_string();
        assert!(
            msg.contains("branch \"staging\" does not exist in"),
            "{msg}"
        );
        assert!(msg.contains("origin.git"), "{msg}");
        let failure = remote
            .last_fetch_error()
            .expect("the missing branch is reported");
        assert_eq!(failure.message, msg);
        assert_eq!(failure.branch.as_deref(), Some("staging"));
    }

    #[tokio::test]
    async fn a_missing_remote_names_the_url_and_keeps_the_last_good_commit() {
        let (dir, origin, spec) = bare_origin();
        let origin_path = dir.path().join("origin.git");
        let good = commit(&origin, "main", "a.yaml", "good");
        drop(origin);
        let remote = open(spec, dir.path(), &["main"]).await;
        remote.fetch().await.unwrap();

        std::fs::rename(&origin_path, dir.path().join("moved.git")).unwrap();
        let err = remote.fetch().await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "cannot fetch {}: there is no repository at this path.",
                origin_path.display()
            )),
            "{msg}"
        );
        assert!(msg.contains("keeps the last fetched commit"), "{msg}");
        assert_eq!(
            remote.head("main").unwrap(),
            good,
            "the last good commit stays"
        );
        let failure = remote.last_fetch_error().unwrap();
        assert_eq!(failure.message, msg);
        assert_eq!(failure.consecutive, 1);
        remote.fetch().await.unwrap_err();
        assert_eq!(remote.last_fetch_error().unwrap().consecutive, 2);
    }

    #[tokio::test]
    async fn a_token_in_the_url_or_from_the_environment_never_shows() {
        let dir = tempfile::tempdir().unwrap();
        // Port 1 on loopback refuses connections at once.
        let mut src = source("https://ferry:s3cr3t-token@127.0.0.1:1/acme/connectors.git");
        src.auth = Some(config::SourceAuth {
            token_env: None,
            token_file: Some("token.txt".to_owned()),
            ssh_key_file: None,
            username: None,
        });
        std::fs::write(dir.path().join("token.txt"), "file-token-123\n").unwrap();
        let spec = RemoteSpec::from_config(&src, dir.path()).unwrap();
        assert_eq!(
            spec.display_url(),
            "https://***@127.0.0.1:1/acme/connectors.git"
        );
        let debug = format!("{spec:?}");
        assert!(
            !debug.contains("s3cr3t") && !debug.contains("file-token"),
            "{debug}"
        );
        let remote = open(spec, dir.path(), &["main"]).await;
        let err = remote.fetch().await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("cannot fetch https://***@127.0.0.1:1/acme/connectors.git"),
            "{msg}"
        );
        assert!(
            !msg.contains("s3cr3t") && !msg.contains("file-token"),
            "{msg}"
        );
        assert!(
            err.is_transient(),
            "a refused connection may work later: {msg}"
        );
        assert!(!format!("{remote:?}").contains("s3cr3t"));
        let err = remote.head("main").unwrap_err();
        assert!(err.is_transient());
        assert!(err.to_string().contains("has been fetched from https://***@127.0.0.1:1/acme/connectors.git yet; the last fetch failed: cannot fetch"), "{err}");
    }

    #[tokio::test]
    async fn an_unset_token_variable_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut src = source("https://127.0.0.1:1/acme/connectors.git");
        src.auth = Some(config::SourceAuth {
            token_env: Some("FERRY_TEST_TOKEN_THAT_IS_NOT_SET".to_owned()),
            token_file: None,
            ssh_key_file: None,
            username: None,
        });
        let spec = RemoteSpec::from_config(&src, dir.path()).unwrap();
        let remote = open(spec, dir.path(), &["main"]).await;
        let err = remote.fetch().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read the credentials for https://127.0.0.1:1/acme/connectors.git: source.auth.tokenEnv names FERRY_TEST_TOKEN_THAT_IS_NOT_SET, which is not set; export it or use tokenFile"
        );
        assert!(!err.is_transient());
    }

    #[test]
    fn repo_forms() {
        let base = Path::new("/etc/ferry");
        let local = RemoteSpec::from_config(&source("."), base).unwrap();
        assert_eq!(local.local_path(), Some(Path::new("/etc/ferry/.")));
        let scp =
            RemoteSpec::from_config(&source("git@github.com:acme/connectors.git"), base).unwrap();
        assert_eq!(scp.local_path(), None);
        assert_eq!(scp.display_url(), "git@github.com:acme/connectors.git");
        let ssh = RemoteSpec::from_config(&source("ssh://git@host:22/acme/c.git"), base).unwrap();
        assert_eq!(ssh.display_url(), "ssh://git@host:22/acme/c.git");
        let err = RemoteSpec::from_config(&source("ftp://host/repo"), base).unwrap_err();
        assert_eq!(
            err.to_string(),
            "source.repo \"ftp://host/repo\" cannot be used: unsupported URL scheme; use a path, file://, https://, ssh:// or git@host:org/repo"
        );
        let err = RemoteSpec::from_config(&source("file://relative/repo"), base).unwrap_err();
        assert!(err.to_string().contains("needs an absolute path"), "{err}");
        assert!(RemoteSpec::from_config(&source("  "), base).is_err());
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("https://tok@github.com/a/b"),
            "https://***@github.com/a/b"
        );
        assert_eq!(redact_url("https://u:p@h/a@b"), "https://***@h/a@b");
        assert_eq!(redact_url("ssh://u:p@h/r"), "ssh://***@h/r");
        assert_eq!(
            redact_url("https://github.com/a/b"),
            "https://github.com/a/b"
        );
        assert_eq!(redact_url("/srv/repo"), "/srv/repo");
    }

    #[tokio::test]
    async fn invalid_branch_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let spec = RemoteSpec::from_config(&source("origin.git"), dir.path()).unwrap();
        let err = Remote::open(spec, dir.path(), ["bad..name".to_owned()])
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "branch \"bad..name\" is not a valid git branch name; fix source.branch or the tenant's branch"
        );
    }

    #[tokio::test]
    async fn heads_survive_a_restart_through_the_cache() {
        let (dir, origin, spec) = bare_origin();
        let good = commit(&origin, "main", "a.yaml", "good");
        open(spec.clone(), dir.path(), &["main"])
            .await
            .fetch()
            .await
            .unwrap();
        let reopened = open(spec, dir.path(), &["main"]).await;
        assert_eq!(reopened.head("main").unwrap(), good);
    }
}
