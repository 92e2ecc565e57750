//! The [`Reporter`] trait and building the configured reporters from ferry.yaml.
//!
//! This module resolves tokens (`tokenEnv`, `tokenFile`) into [`Token`]s and picks the
//! git-notes push target. It does not deliver anything: retries, deduplication and the
//! outbox belong to [`crate::report::Deliverer`].

use std::path::Path;

use async_trait::async_trait;

use super::error::{ReportError, Result};
use super::forge::Token;
use super::forge::split_owner_repo;
use super::git_notes::GitNotesReporter;
use super::gitea::GiteaReporter;
use super::github::GithubReporter;
use super::gitlab::GitlabReporter;
use super::status::CommitStatus;
use crate::config::{Forge, GitNotes, StatusTarget, TokenType};
use crate::source::remote::RemoteSpec;

/// One destination of commit statuses.
///
/// `post` sends one status for one commit, once: it does not retry, deduplicate or queue
/// (the [`crate::report::Deliverer`] does). Its errors say whether a retry can help
/// ([`ReportError::is_transient`]).
#[async_trait]
pub trait Reporter: Send + Sync + std::fmt::Debug {
    /// `github`, `gitlab`, `gitea` or `git-notes`.
    fn name(&self) -> &str;

    /// Stable identity of this destination (forge, API and repository), the key under
    /// which the outbox and the delivery record keep its statuses. Default: the name.
    fn id(&self) -> String {
        self.name().to_owned()
    }

    /// Post `status` on commit `sha` (a full hexadecimal object id).
    async fn post(&self, sha: &str, status: &CommitStatus) -> Result<(), ReportError>;
}

/// Refuse anything but a full hexadecimal object id (SHA-1 or SHA-256).
pub(crate) fn check_sha(sha: &str) -> Result<()> {
    if matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ReportError::InvalidSha {
            sha: sha.to_owned(),
        })
    }
}

/// Build the reporters of the `statuses` section.
///
/// `source_repo` is ferry's local copy of the source repository (git notes are written
/// there); `source` is the configured source (`source.repo`, `source.auth`,
/// `source.timeout`), whose credentials and time-out git notes are pushed with;
/// `external_url` is `server.externalUrl` (statuses without a `target_url` link to
/// `{externalUrl}/tenants/{tenant}?commit={sha}`); `base_dir` is the directory of
/// ferry.yaml (relative `tokenFile`s are resolved against it).
///
/// Where git notes are pushed: nowhere when `push` is `false`; when `push` is unset, to the
/// source when it is remote (ferry writes the notes into its own cache of it), and nowhere
/// for a local source (whose notes are written into the repository itself); when `push`
/// is `true`, to a remote source, or to the `origin` remote of a local one.
///
/// # Errors
/// [`ReportError::Config`] for a missing or doubly given token, an environment variable
/// that is unset or empty, a `repo` of the wrong form, a `tokenType` on a forge other
/// than GitLab, an API URL that is not http(s), or `push: true` without an `origin`;
/// [`ReportError::TokenFile`] when a token file cannot be read; [`ReportError::Git`] when
/// the source repository cannot be opened to look up `origin`.
///
/// # Blocking
/// Reads token files and opens the source repository: call it from blocking context
/// (startup, or `spawn_blocking`).
pub fn from_config(
    statuses: &[StatusTarget],
    source_repo: &Path,
    source: Option<&RemoteSpec>,
    external_url: Option<&str>,
    base_dir: &Path,
) -> Result<Vec<Box<dyn Reporter>>> {
    build(
        statuses,
        source_repo,
        source,
        external_url,
        base_dir,
        &|name| std::env::var(name).ok(),
    )
}

/// [`from_config`] with the environment given as a function (for tests).
pub(crate) fn build(
    statuses: &[StatusTarget],
    source_repo: &Path,
    source: Option<&RemoteSpec>,
    external_url: Option<&str>,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Box<dyn Reporter>>> {
    let mut reporters: Vec<Box<dyn Reporter>> = Vec::with_capacity(statuses.len());
    for (index, target) in statuses.iter().enumerate() {
        let reporter: Box<dyn Reporter> = match target {
            StatusTarget::GitNotes(notes) => {
                Box::new(git_notes(index, notes, source_repo, source, external_url)?)
            }
            StatusTarget::Github(forge) => Box::new(
                owner_repo(index, "github", forge, base_dir, env, GithubReporter::new)?
                    .with_external_url(external_url),
            ),
            StatusTarget::Gitea(forge) => Box::new(
                owner_repo(index, "gitea", forge, base_dir, env, GiteaReporter::new)?
                    .with_external_url(external_url),
            ),
            StatusTarget::Gitlab(forge) => {
                let token = forge_token(index, "gitlab", forge, base_dir, env)?;
                check_api(index, "gitlab", &forge.api)?;
                if forge.repo.trim().is_empty() {
                    return Err(config(
                        index,
                        "gitlab",
                        "repo is empty: give the project id or its path (group/project)".into(),
                    ));
                }
                Box::new(
                    GitlabReporter::new(
                        &forge.api,
                        forge.repo.trim(),
                        token,
                        forge.token_type.unwrap_or_default(),
                    )
                    .with_external_url(external_url),
                )
            }
        };
        reporters.push(reporter);
    }
    Ok(reporters)
}

/// The reporter `new` makes for a forge whose repositories are `owner/name` (GitHub,
/// Gitea), once its token is read and its entry checked.
fn owner_repo<R>(
    index: usize,
    kind: &'static str,
    forge: &Forge,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    new: fn(&str, &str, Token) -> Result<R>,
) -> Result<R> {
    let token = forge_token(index, kind, forge, base_dir, env)?;
    check_forge(index, kind, forge)?;
    new(&forge.api, &forge.repo, token).map_err(|e| reindex(e, index))
}

fn config(index: usize, kind: &'static str, message: String) -> ReportError {
    ReportError::Config {
        index,
        kind,
        message,
    }
}

fn reindex(err: ReportError, index: usize) -> ReportError {
    match err {
        ReportError::Config { kind, message, .. } => ReportError::Config {
            index,
            kind,
            message,
        },
        other => other,
    }
}

fn check_api(index: usize, kind: &'static str, api: &str) -> Result<()> {
    match reqwest::Url::parse(api) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(()),
        _ => Err(config(
            index,
            kind,
            format!("api {api:?} is not an http(s) URL (for example https://api.github.com)"),
        )),
    }
}

fn check_forge(index: usize, kind: &'static str, forge: &Forge) -> Result<()> {
    check_api(index, kind, &forge.api)?;
    if split_owner_repo(&forge.repo).is_none() {
        return Err(config(
            index,
            kind,
            format!("repo {:?} is not of the form owner/name", forge.repo),
        ));
    }
    if forge.token_type.is_some_and(|t| t != TokenType::Private) {
        return Err(config(
            index,
            kind,
            "tokenType applies to GitLab only; remove it".to_owned(),
        ));
    }
    Ok(())
}

fn forge_token(
    index: usize,
    kind: &'static str,
    forge: &Forge,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Token> {
    let token = match (&forge.token_env, &forge.token_file) {
        (Some(_), Some(_)) => {
            return Err(config(
                index,
                kind,
                "give tokenEnv or tokenFile, not both".to_owned(),
            ));
        }
        (None, None) => {
            return Err(config(
                index,
                kind,
                format!(
                    "no token for {}: set tokenEnv (an environment variable name) or tokenFile",
                    forge.repo
                ),
            ));
        }
        (Some(var), None) => match env(var) {
            Some(value) => Token::new(value),
            None => {
                return Err(config(
                    index,
                    kind,
                    format!(
                        "environment variable {var} (tokenEnv) is not set; export it or use tokenFile"
                    ),
                ));
            }
        },
        (None, Some(file)) => {
            let path = base_dir.join(file);
            let value =
                std::fs::read_to_string(&path).map_err(|source| ReportError::TokenFile {
                    index,
                    kind,
                    path: path.clone(),
                    source,
                })?;
            Token::new(value)
        }
    };
    if token.expose().is_empty() {
        return Err(config(
            index,
            kind,
            format!(
                "the token for {} is empty ({})",
                forge.repo,
                forge
                    .token_env
                    .as_deref()
                    .map(|v| format!("tokenEnv {v}"))
                    .or_else(|| forge
                        .token_file
                        .as_deref()
                        .map(|f| format!("tokenFile {f}")))
                    .unwrap_or_default()
            ),
        ));
    }
    Ok(token)
}

fn git_notes(
    index: usize,
    notes: &GitNotes,
    source_repo: &Path,
    source: Option<&RemoteSpec>,
    external_url: Option<&str>,
) -> Result<GitNotesReporter> {
    let reporter = GitNotesReporter::new(source_repo).with_external_url(external_url);
    let remote_source = source.filter(|s| s.local_path().is_none());
    match (notes.push, remote_source) {
        (Some(false), _) | (None, None) => return Ok(reporter),
        (_, Some(remote)) => return Ok(reporter.with_push_to(remote.clone())),
        (Some(true), None) => {}
    }
    let repo = git2::Repository::open(source_repo).map_err(|source| ReportError::Git {
        action: "open the source repository",
        repo: source_repo.to_path_buf(),
        source,
    })?;
    let origin = repo.find_remote("origin").ok().and_then(|remote| {
        let push = remote.pushurl().ok().flatten();
        push.or(remote.url().ok()).map(str::to_owned)
    });
    let Some(url) = origin else {
        return Err(config(
            index,
            "git-notes",
            format!(
                "push is true but the source repository {} has no `origin` remote; add one or set push: false",
                source_repo.display()
            ),
        ));
    };
    let target = match source {
        Some(s) => s.with_repo(&url, source_repo),
        None => RemoteSpec::from_repo(&url, source_repo),
    }
    .map_err(|e| {
        config(
            index,
            "git-notes",
            format!("push is true but the `origin` remote cannot be pushed to: {e}"),
        )
    })?;
    Ok(reporter.with_push_to(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forge(token_env: Option<&str>, token_file: Option<&str>) -> Forge {
        Forge {
            api: "https://api.github.com".into(),
            repo: "acme/connectors".into(),
            token_env: token_env.map(Into::into),
            token_file: token_file.map(Into::into),
            token_type: None,
        }
    }

    fn env(name: &str) -> Option<String> {
        (name == "GH_TOKEN").then(|| "ghp_fromenv".to_owned())
    }

    #[test]
    fn token_from_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "glpat-fromfile\n").unwrap();
        let repo = git2::Repository::init(dir.path().join("src")).unwrap();
        let statuses = vec![
            StatusTarget::GitNotes(GitNotes::default()),
            StatusTarget::Github(forge(Some("GH_TOKEN"), None)),
            StatusTarget::Gitlab(Forge {
                api: "https://gitlab.com/api/v4".into(),
                repo: "acme/connectors".into(),
                token_env: None,
                token_file: Some("token".into()),
                token_type: Some(TokenType::Oauth),
            }),
        ];
        let reporters = build(&statuses, repo.path(), None, None, dir.path(), &env).unwrap();
        let names: Vec<_> = reporters.iter().map(|r| r.name().to_owned()).collect();
        assert_eq!(names, ["git-notes", "github", "gitlab"]);
        let debug = format!("{reporters:?}");
        assert!(!debug.contains("ghp_fromenv"), "{debug}");
        assert!(!debug.contains("glpat-fromfile"), "{debug}");
        assert!(debug.contains("***"));
    }

    #[test]
    fn token_errors_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let run = |f: Forge| {
            build(
                &[StatusTarget::Github(f)],
                dir.path(),
                None,
                None,
                dir.path(),
                &env,
            )
            .err()
            .map(|e| e.to_string())
        };
        assert_eq!(
            run(forge(None, None)).unwrap(),
            "statuses[0] (github): no token for acme/connectors: set tokenEnv (an environment variable name) or tokenFile"
        );
        assert_eq!(
            run(forge(Some("MISSING"), None)).unwrap(),
            "statuses[0] (github): environment variable MISSING (tokenEnv) is not set; export it or use tokenFile"
        );
        assert_eq!(
            run(forge(Some("GH_TOKEN"), Some("f"))).unwrap(),
            "statuses[0] (github): give tokenEnv or tokenFile, not both"
        );
        let err = run(forge(None, Some("absent"))).unwrap();
        assert!(
            err.starts_with("statuses[0] (github): cannot read tokenFile "),
            "{err}"
        );
        let mut bad = forge(Some("GH_TOKEN"), None);
        bad.repo = "connectors".into();
        assert_eq!(
            run(bad).unwrap(),
            "statuses[0] (github): repo \"connectors\" is not of the form owner/name"
        );
        let mut oauth = forge(Some("GH_TOKEN"), None);
        oauth.token_type = Some(TokenType::Oauth);
        assert_eq!(
            run(oauth).unwrap(),
            "statuses[0] (github): tokenType applies to GitLab only; remove it"
        );
    }

    #[test]
    fn git_notes_push_target_follows_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path().join("src")).unwrap();
        let notes = |push: Option<bool>, source: Option<&RemoteSpec>| {
            build(
                &[StatusTarget::GitNotes(GitNotes { push })],
                repo.path(),
                source,
                None,
                dir.path(),
                &env,
            )
        };
        let err = notes(Some(true), None).unwrap_err().to_string();
        assert!(
            err.contains("has no `origin` remote; add one or set push: false"),
            "{err}"
        );

        repo.remote("origin", "/srv/git/connectors.git").unwrap();
        let reporters = notes(Some(true), None).unwrap();
        assert!(format!("{:?}", reporters[0]).contains("/srv/git/connectors.git"));

        // Unset: a local source (no default) is written in place and pushed nowhere, even
        // with an origin; a remote source's cache pushes to the source URL.
        let reporters = notes(None, None).unwrap();
        assert!(!format!("{:?}", reporters[0]).contains("/srv/git/connectors.git"));
        let remote =
            RemoteSpec::from_repo("https://git.example.com/acme/connectors.git", dir.path())
                .unwrap();
        let reporters = notes(None, Some(&remote)).unwrap();
        assert!(
            format!("{:?}", reporters[0]).contains("https://git.example.com/acme/connectors.git")
        );

        let reporters = notes(Some(false), None).unwrap();
        assert!(!format!("{:?}", reporters[0]).contains("/srv/git/connectors.git"));
    }

    #[test]
    fn sha_must_be_full_hex() {
        assert!(check_sha(&"a".repeat(40)).is_ok());
        assert!(check_sha(&"b".repeat(64)).is_ok());
        assert_eq!(
            check_sha("main").unwrap_err().to_string(),
            "not a commit id: \"main\" (expected 40 or 64 hexadecimal characters)"
        );
    }
}
