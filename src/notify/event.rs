//! What one notification says, before any receiver's format: the tenant, the kind of
//! condition, whether it appeared or cleared, the conditions themselves, and the links
//! (the status page under `server.externalUrl`, the commit on the forge).
//!
//! The receivers (`slack.rs`, `teams.rs`, `webhook.rs`, `alertmanager.rs`) render an
//! [`Event`]; this module holds the wording they share. It does no I/O.

use chrono::{DateTime, SecondsFormat, Utc};

use super::condition::{ConditionKind, Tracked};
use crate::config::LoadedConfig;
use crate::names::names;
use crate::report::status_page_url;

/// How many conditions a chat message lists before `… and N more`.
pub(crate) const LISTED: usize = 10;

/// Whether the conditions of a message appeared, cleared, or are re-sent while open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// They appeared.
    Opened,
    /// They cleared.
    Resolved,
    /// Still open: a re-send (Alertmanager's keep-alive), never shown to people as new.
    Firing,
}

names! {
    /// `opened`, `resolved` or `firing`.
    Phase {
        Opened => "opened",
        Resolved => "resolved",
        Firing => "firing",
    }
}

/// One condition in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The condition, when it opened and on which commit.
    pub tracked: Tracked,
    /// When it cleared ([`Phase::Resolved`] only).
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Where a message links to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Links {
    /// `server.externalUrl`: the status page.
    pub external_url: Option<String>,
    /// A commit's page on the forge, with `{sha}` for the commit id.
    pub commit_url: Option<String>,
}

impl Links {
    /// The links of `loaded`: `server.externalUrl`, and the commit page of
    /// [`commit_url_template`].
    pub fn from_config(loaded: &LoadedConfig) -> Self {
        let config = &loaded.config;
        Links {
            external_url: config.server.external_url.clone(),
            commit_url: commit_url_template(config),
        }
    }

    /// The status page of `tenant` at commit `sha`.
    pub fn status_page(&self, tenant: &str, sha: &str) -> Option<String> {
        self.external_url
            .as_deref()
            .map(|base| status_page_url(base, tenant, sha))
    }

    /// The forge's page of commit `sha`.
    pub fn commit(&self, sha: &str) -> Option<String> {
        self.commit_url
            .as_deref()
            .map(|template| template.replace("{sha}", sha))
    }
}

/// The page of a commit on the forge, with `{sha}` for the commit id:
/// `notifications.commitUrl` when set; else the repository of a GitHub, GitLab or Gitea
/// status reporter ([`forge_commit_url`]); else the one [`derived_commit_url`] gives for
/// an `https://` `source.repo`. `None` when none of them tells.
pub fn commit_url_template(config: &crate::config::Config) -> Option<String> {
    config
        .notifications
        .commit_url
        .clone()
        .or_else(|| config.statuses.iter().find_map(forge_commit_url))
        .or_else(|| derived_commit_url(&config.source.repo))
}

/// The commit page of the repository a forge reporter posts statuses to: the web address
/// is its `api` without the API path (`https://api.github.com` → `https://github.com`,
/// `…/api/v3` of GitHub Enterprise, GitLab's `…/api/v4`, Gitea's `…/api/v1`), then
/// `<repo>/commit/{sha}` (GitLab: `<project>/-/commit/{sha}`; a numeric project id gives
/// no page). `None` for git notes and an API URL that is not `https://`.
pub fn forge_commit_url(target: &crate::config::StatusTarget) -> Option<String> {
    use crate::config::StatusTarget;
    let (forge, api_suffix, infix) = match target {
        StatusTarget::Github(f) => (f, "/api/v3", "/commit/"),
        StatusTarget::Gitlab(f) => (f, "/api/v4", "/-/commit/"),
        StatusTarget::Gitea(f) => (f, "/api/v1", "/commit/"),
        StatusTarget::GitNotes(_) => return None,
    };
    let mut url = bare_https(&forge.api)?;
    if url.host_str() == Some("api.github.com") {
        url.set_host(Some("github.com")).ok()?;
    }
    let path = url.path().trim_end_matches('/').to_owned();
    let path = path.strip_suffix(api_suffix).unwrap_or(&path).to_owned();
    url.set_path(&path);
    let repo = forge.repo.trim_matches('/');
    if repo.is_empty() || repo.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let base = url.as_str().trim_end_matches('/');
    Some(format!("{base}/{repo}{infix}{{sha}}"))
}

/// `url` parsed, when it is `https://`, without its credentials, query and fragment.
fn bare_https(url: &str) -> Option<reqwest::Url> {
    let mut url = reqwest::Url::parse(url).ok()?;
    if url.scheme() != "https" {
        return None;
    }
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    Some(url)
}

/// The commit page of an `https://` repository URL: `<repo>/commit/{sha}` (GitHub,
/// Gitea, Forgejo, Bitbucket Server's own form aside), `<repo>/-/commit/{sha}` on a host
/// named `gitlab…`. Credentials in the URL are dropped. `None` for local paths and SSH
/// URLs, whose web address ferry cannot know.
pub fn derived_commit_url(repo: &str) -> Option<String> {
    let url = bare_https(repo)?;
    let gitlab = url.host_str()?.starts_with("gitlab");
    let base = url.as_str().trim_end_matches('/');
    let base = base.strip_suffix(".git").unwrap_or(base);
    let infix = if gitlab { "/-/commit/" } else { "/commit/" };
    Some(format!("{base}{infix}{{sha}}"))
}

/// What one notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The tenant.
    pub tenant: String,
    /// The kind of every condition in it.
    pub kind: ConditionKind,
    /// Appeared, cleared or re-sent.
    pub phase: Phase,
    /// When ferry saw the change.
    pub at: DateTime<Utc>,
    /// The commit of the pass that saw it.
    pub sha: String,
    /// The tenant's status page at that commit.
    pub status_page: Option<String>,
    /// The commit on the forge.
    pub commit_url: Option<String>,
    /// The conditions, in a stable order.
    pub items: Vec<Item>,
}

impl Event {
    /// The message's identity among a receiver's messages (and its `webhook-id`):
    /// `<tenant>.<kind>.<phase>.<ms since the epoch>`. One pass of a tenant makes at most
    /// one message per kind and phase.
    pub fn key(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.tenant,
            self.kind.as_str(),
            self.phase.as_str(),
            self.at.timestamp_millis()
        )
    }

    /// The commit, shortened for people.
    pub fn short_sha(&self) -> &str {
        &self.sha[..self.sha.len().min(12)]
    }

    /// One line: what happened, on which tenant.
    pub fn title(&self) -> String {
        let n = self.items.len();
        let connectors = |n: usize| {
            if n == 1 {
                "1 connector".to_owned()
            } else {
                format!("{n} connectors")
            }
        };
        let t = &self.tenant;
        match (self.kind, self.phase) {
            (ConditionKind::Drift, Phase::Resolved) => {
                format!(
                    "Resolved: drift on {t} ({} back in line with git)",
                    connectors(n)
                )
            }
            (ConditionKind::Drift, _) => {
                format!("Drift on {t}: {} changed outside ferry", connectors(n))
            }
            (ConditionKind::Failure, Phase::Resolved) => format!("Resolved: {t} reconciles again"),
            (ConditionKind::Failure, _) => format!("{t} failed to reconcile"),
            (ConditionKind::Warning, Phase::Resolved) => {
                format!("Resolved: import warnings on {t} ({})", connectors(n))
            }
            (ConditionKind::Warning, _) => {
                format!("{t}: {} with open import warnings", connectors(n))
            }
            (ConditionKind::Blocked, Phase::Resolved) => {
                format!("Resolved: {t} no longer blocked ({})", connectors(n))
            }
            (ConditionKind::Blocked, _) => format!("{t}: {} blocked", connectors(n)),
        }
    }

    /// One line per condition: `orders: <summary>`, or the summary alone for the tenant
    /// as a whole.
    pub fn lines(&self) -> Vec<String> {
        self.items
            .iter()
            .map(|i| match &i.tracked.condition.connector {
                Some(c) => format!("{c}: {}", i.tracked.condition.summary),
                None => i.tracked.condition.summary.clone(),
            })
            .collect()
    }

    /// A one-line summary for logs and the outbox.
    pub fn summary(&self) -> String {
        format!("{} [{}]", self.title(), self.key())
    }
}

/// RFC 3339 in UTC with milliseconds, as every receiver gets times.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `s` cut to `max` characters, ending with `…` when cut.
pub(crate) fn cut(s: &str, max: usize) -> String {
    crate::report::truncate_chars(s, max).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_pages_of_https_sources() {
        assert_eq!(
            derived_commit_url("https://github.com/acme/connectors.git").as_deref(),
            Some("https://github.com/acme/connectors/commit/{sha}")
        );
        assert_eq!(
            derived_commit_url("https://x-access-token:s3cret@gitea.acme.io/acme/connectors")
                .as_deref(),
            Some("https://gitea.acme.io/acme/connectors/commit/{sha}")
        );
        assert_eq!(
            derived_commit_url("https://gitlab.com/acme/platform/connectors.git").as_deref(),
            Some("https://gitlab.com/acme/platform/connectors/-/commit/{sha}")
        );
        assert_eq!(derived_commit_url("../.."), None);
        assert_eq!(
            derived_commit_url("git@github.com:acme/connectors.git"),
            None
        );
        assert_eq!(derived_commit_url("ssh://git@github.com/acme/c.git"), None);
        assert_eq!(derived_commit_url("http://127.0.0.1:3000/git/origin"), None);
    }

    #[test]
    fn commit_pages_of_forge_reporters() {
        use crate::config::{Forge, StatusTarget};
        let forge = |api: &str, repo: &str| Forge {
            api: api.into(),
            repo: repo.into(),
            token_env: Some("T".into()),
            token_file: None,
            token_type: None,
        };
        assert_eq!(
            forge_commit_url(&StatusTarget::Github(forge(
                "https://api.github.com",
                "acme/connectors"
            )))
            .as_deref(),
            Some("https://github.com/acme/connectors/commit/{sha}")
        );
        assert_eq!(
            forge_commit_url(&StatusTarget::Github(forge(
                "https://ghe.acme.io/api/v3/",
                "acme/connectors"
            )))
            .as_deref(),
            Some("https://ghe.acme.io/acme/connectors/commit/{sha}")
        );
        assert_eq!(
            forge_commit_url(&StatusTarget::Gitlab(forge(
                "https://gitlab.com/api/v4",
                "acme/platform/connectors"
            )))
            .as_deref(),
            Some("https://gitlab.com/acme/platform/connectors/-/commit/{sha}")
        );
        assert_eq!(
            forge_commit_url(&StatusTarget::Gitlab(forge(
                "https://gitlab.com/api/v4",
                "1234"
            ))),
            None,
            "a project id names no page"
        );
        assert_eq!(
            forge_commit_url(&StatusTarget::Gitea(forge(
                "https://git.acme.io/api/v1",
                "acme/connectors"
            )))
            .as_deref(),
            Some("https://git.acme.io/acme/connectors/commit/{sha}")
        );
        assert_eq!(
            forge_commit_url(&StatusTarget::Gitea(forge(
                "http://127.0.0.1:3000/api/v1",
                "acme/c"
            ))),
            None
        );
    }

    #[test]
    fn links_fill_the_commit_in() {
        let links = Links {
            external_url: Some("https://ferry.example.com/".into()),
            commit_url: Some("https://github.com/acme/c/commit/{sha}".into()),
        };
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            links.status_page("prod", sha).as_deref(),
            Some(
                "https://ferry.example.com/tenants/prod?commit=0123456789abcdef0123456789abcdef01234567"
            )
        );
        assert_eq!(
            links.commit(sha).as_deref(),
            Some("https://github.com/acme/c/commit/0123456789abcdef0123456789abcdef01234567")
        );
        assert_eq!(Links::default().status_page("prod", sha), None);
    }
}
