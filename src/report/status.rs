//! The commit status ferry reports per tenant: its state, its context, the wording of its
//! description, the link to the status page, and truncation to a forge's limit.
//!
//! This module holds data and pure helpers only. It does not know any forge's wire format
//! (the reporters map [`StatusState`] to their own states) and does no I/O.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::encode;
use crate::names::names;
use crate::printable::printable;
use crate::sensitive::redact;

/// The prefix of every context ferry posts.
pub const CONTEXT_PREFIX: &str = "ferry/";

/// The suffix of the drift context of a tenant.
pub const DRIFT_SUFFIX: &str = "/drift";

/// How many drifted connectors a drift description names before `(+N more)`.
const DRIFT_NAMES_SHOWN: usize = 2;

/// The outcome a commit status reports, in ferry's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusState {
    /// ferry is applying this commit to the tenant.
    Pending,
    /// The tenant matches the commit (possibly with warnings, see [`CommitStatus::warnings`]).
    Success,
    /// The commit cannot be applied: invalid manifests or failed actions, or drift found.
    Failure,
    /// ferry could not reach the tenant.
    Error,
}

names! {
    all;
    /// The lowercase name (`pending`, `success`, `failure`, `error`), also used in git notes.
    StatusState {
        Pending => "pending",
        Success => "success",
        Failure => "failure",
        Error => "error",
    }
}

/// One commit status for one context (`ferry/<tenant>` or `ferry/<tenant>/drift`).
///
/// `description` is kept whole here; each reporter truncates it to its forge's limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitStatus {
    /// `ferry/<tenant>` or `ferry/<tenant>/drift` (see [`sync_context`], [`drift_context`]).
    pub context: String,
    /// The outcome.
    pub state: StatusState,
    /// One line for humans, built with the helpers of this module.
    pub description: String,
    /// Link to ferry's status page for this tenant and commit. When `None`, reporters
    /// configured with `server.externalUrl` derive it from the context (see
    /// [`CommitStatus::target_url_for`]).
    pub target_url: Option<String>,
    /// Open warnings on the tenant. Gitea shows a success with warnings as `warning`.
    pub warnings: u32,
}

/// The sync context of a tenant: `ferry/<tenant>`.
pub fn sync_context(tenant: &str) -> String {
    format!("{CONTEXT_PREFIX}{tenant}")
}

/// The drift context of a tenant: `ferry/<tenant>/drift`.
pub fn drift_context(tenant: &str) -> String {
    format!("{CONTEXT_PREFIX}{tenant}{DRIFT_SUFFIX}")
}

/// The tenant a ferry context speaks of, or `None` when the context is not ferry's.
pub fn tenant_of(context: &str) -> Option<&str> {
    let rest = context.strip_prefix(CONTEXT_PREFIX)?;
    let tenant = rest.strip_suffix(DRIFT_SUFFIX).unwrap_or(rest);
    (!tenant.is_empty()).then_some(tenant)
}

/// The status page of a tenant at a commit:
/// `{external_url}/tenants/{tenant}?commit={sha}` (tenant percent-encoded).
pub fn status_page_url(external_url: &str, tenant: &str, sha: &str) -> String {
    format!(
        "{}/tenants/{}?commit={}",
        external_url.trim_end_matches('/'),
        encode::component(tenant),
        encode::component(sha)
    )
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

fn more(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" (+{n} more)")
    }
}

/// What a Kizen tenant's status adds when warnings are open.
pub const KIZEN_EMAIL_NOTE: &str = " (Kizen e-mails them in the import confirmation)";

/// `in sync · 14 connectors · 2 warnings` (the warnings part only when there are some).
pub fn in_sync_description(connectors: usize, warnings: u32) -> String {
    let mut s = format!(
        "in sync · {}",
        plural(connectors, "connector", "connectors")
    );
    if warnings > 0 {
        s.push_str(" · ");
        s.push_str(&plural(warnings as usize, "warning", "warnings"));
    }
    s
}

/// `applying 3 changes…`
pub fn applying_description(changes: usize) -> String {
    format!("applying {}…", plural(changes, "change", "changes"))
}

/// `failed: <first error>`, with ` (+N more)` when further errors follow.
pub fn failed_description(first_error: &str, more_errors: usize) -> String {
    format!("failed: {}{}", one_line(first_error), more(more_errors))
}

/// `cannot reach tenant: <reason>`
pub fn unreachable_description(reason: &str) -> String {
    format!("cannot reach tenant: {}", one_line(reason))
}

/// `drift: orders-sync, pto-balance (+3 more)`: the first two names, then a count. Three
/// names or fewer are all shown. No names gives `no drift`.
pub fn drift_description<S: AsRef<str>>(drifted: &[S]) -> String {
    match drifted.len() {
        0 => "no drift".to_owned(),
        n if n <= DRIFT_NAMES_SHOWN + 1 => format!("drift: {}", join(drifted)),
        n => format!(
            "drift: {}{}",
            join(&drifted[..DRIFT_NAMES_SHOWN]),
            more(n - DRIFT_NAMES_SHOWN)
        ),
    }
}

/// `suspended: 2 changes not applied` when changes wait; else `suspended · ` and what the
/// tenant's status would say (`in sync · 14 connectors`, `1 waiting: …`).
pub fn suspended_description(changes: usize, otherwise: &str) -> String {
    if changes > 0 {
        format!(
            "suspended: {} not applied",
            plural(changes, "change", "changes")
        )
    } else {
        format!("suspended · {otherwise}")
    }
}

/// ` · invalid manifest for other tenants: a.yaml, b.yaml (+N more)`: what a tenant's
/// status adds when manifests it does not take are broken (empty when none are).
pub fn broken_elsewhere_note<S: AsRef<str>>(files: &[S]) -> String {
    match files.len() {
        0 => String::new(),
        1 => format!(
            " · invalid manifest for other tenants: {}",
            files[0].as_ref()
        ),
        n if n <= DRIFT_NAMES_SHOWN + 1 => {
            format!(" · invalid manifests for other tenants: {}", join(files))
        }
        n => format!(
            " · invalid manifests for other tenants: {}{}",
            join(&files[..DRIFT_NAMES_SHOWN]),
            more(n - DRIFT_NAMES_SHOWN)
        ),
    }
}

/// `invalid manifests: <first error> (+N more)`, where `total` counts every error.
pub fn invalid_manifests_description(first_error: &str, total: usize) -> String {
    format!(
        "invalid manifests: {}{}",
        one_line(first_error),
        more(total.saturating_sub(1))
    )
}

fn join<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Collapse newlines and runs of whitespace: a status description is one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl CommitStatus {
    /// A status with no target URL and no warnings. The description (which quotes names
    /// and platform messages) has credentials redacted and control and bidirectional
    /// formatting characters shown as escapes: forges and terminals show it as is.
    pub fn new(
        context: impl Into<String>,
        state: StatusState,
        description: impl Into<String>,
    ) -> Self {
        let description = description.into();
        let description = printable(&redact(&description)).into_owned();
        CommitStatus {
            context: context.into(),
            state,
            description,
            target_url: None,
            warnings: 0,
        }
    }

    /// Success on `ferry/<tenant>`: `in sync · N connectors · W warnings`.
    pub fn in_sync(tenant: &str, connectors: usize, warnings: u32) -> Self {
        CommitStatus {
            warnings,
            ..Self::new(
                sync_context(tenant),
                StatusState::Success,
                in_sync_description(connectors, warnings),
            )
        }
    }

    /// Pending on `ferry/<tenant>`: `applying N changes…`.
    pub fn applying(tenant: &str, changes: usize) -> Self {
        Self::new(
            sync_context(tenant),
            StatusState::Pending,
            applying_description(changes),
        )
    }

    /// Failure on `ferry/<tenant>`: `failed: <first error> (+N more)`.
    pub fn failed(tenant: &str, first_error: &str, more_errors: usize) -> Self {
        Self::new(
            sync_context(tenant),
            StatusState::Failure,
            failed_description(first_error, more_errors),
        )
    }

    /// Failure on `ferry/<tenant>`: `invalid manifests: <first error> (+N more)`.
    pub fn invalid_manifests(tenant: &str, first_error: &str, total: usize) -> Self {
        Self::new(
            sync_context(tenant),
            StatusState::Failure,
            invalid_manifests_description(first_error, total),
        )
    }

    /// Error on `ferry/<tenant>`: `cannot reach tenant: <reason>`.
    pub fn unreachable(tenant: &str, reason: &str) -> Self {
        Self::new(
            sync_context(tenant),
            StatusState::Error,
            unreachable_description(reason),
        )
    }

    /// On `ferry/<tenant>/drift`: failure `drift: a, b (+N more)` when connectors drifted,
    /// success `no drift` otherwise.
    pub fn drift<S: AsRef<str>>(tenant: &str, drifted: &[S]) -> Self {
        let state = if drifted.is_empty() {
            StatusState::Success
        } else {
            StatusState::Failure
        };
        Self::new(drift_context(tenant), state, drift_description(drifted))
    }

    /// On `ferry/<tenant>/drift`: failure with the connectors and the fields that changed
    /// (`drift: orders (name, liveSql)`, within the smallest forge's limit, see
    /// [`crate::drift::short_form`]), success `no drift` otherwise.
    pub fn drift_found(tenant: &str, drifted: &[crate::drift::DriftRecord]) -> Self {
        let state = if drifted.is_empty() {
            StatusState::Success
        } else {
            StatusState::Failure
        };
        Self::new(
            drift_context(tenant),
            state,
            crate::drift::short_form(drifted),
        )
    }

    /// On `ferry/<tenant>` of a tenant a person suspended, given the status a pass that
    /// applied nothing would post (`otherwise`): pending `suspended: N changes not applied`
    /// while changes wait (the commit is not applied); else that status, its description
    /// starting `suspended · `.
    pub fn suspended(changes: usize, otherwise: CommitStatus) -> Self {
        let state = if changes > 0 {
            StatusState::Pending
        } else {
            otherwise.state
        };
        CommitStatus {
            description: suspended_description(changes, &otherwise.description),
            state,
            ..otherwise
        }
    }

    /// The same status, its description naming the broken manifest files that are meant
    /// for other tenants (see [`broken_elsewhere_note`]); unchanged when there are none.
    pub fn noting_broken_elsewhere<S: AsRef<str>>(mut self, files: &[S]) -> Self {
        let note = broken_elsewhere_note(files);
        if !note.is_empty() {
            self.description.push_str(&printable(&redact(&note)));
        }
        self
    }

    /// The same status, its description adding the SQL tests' outcome (` · SQL tests: 1
    /// failed (orders-sync)`) when tests ran before applying ([`crate::gate`]). A failure
    /// says what failed already and is returned as it is.
    pub fn noting_tests(mut self, tests: Option<&crate::gate::TestGate>) -> Self {
        if let Some(tests) = tests.filter(|t| !t.results.is_empty())
            && self.state != StatusState::Failure
        {
            self.description.push_str(" · ");
            self.description
                .push_str(&printable(&redact(&tests.summary())));
        }
        self
    }

    /// The same status with this target URL.
    pub fn with_target_url(mut self, url: impl Into<String>) -> Self {
        self.target_url = Some(url.into());
        self
    }

    /// The same status with this warning count.
    pub fn with_warnings(mut self, warnings: u32) -> Self {
        self.warnings = warnings;
        self
    }

    /// For a Kizen tenant with open warnings: say that Kizen also lists them in its import
    /// confirmation e-mail (the platform has no in-app indicator), so people look there
    /// too. Other statuses are returned as they are.
    pub fn noting_kizen_email(mut self) -> Self {
        if self.warnings > 0 {
            self.description.push_str(KIZEN_EMAIL_NOTE);
        }
        self
    }

    /// The target URL to send: the status's own, or else the status page derived from
    /// `external_url`, the tenant of the context and the commit.
    pub fn target_url_for(&self, external_url: Option<&str>, sha: &str) -> Option<String> {
        if let Some(url) = &self.target_url {
            return Some(url.clone());
        }
        let tenant = tenant_of(&self.context)?;
        external_url.map(|base| status_page_url(base, tenant, sha))
    }
}

/// Cut `s` to at most `max` characters (Unicode scalar values), ending with `…` when cut.
/// Never splits a UTF-8 character.
pub fn truncate_chars(s: &str, max: usize) -> Cow<'_, str> {
    if max == 0 {
        return Cow::Borrowed("");
    }
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some(_) => {
            // Keep `max - 1` characters and add the ellipsis.
            let cut = s.char_indices().nth(max - 1).map_or(s.len(), |(i, _)| i);
            let mut out = String::with_capacity(cut + '…'.len_utf8());
            out.push_str(s[..cut].trim_end());
            out.push('…');
            Cow::Owned(out)
        }
    }
}

#[cfg(test)]
mod suspended_tests {
    use super::*;

    #[test]
    fn a_suspended_tenant_s_status_says_so_and_what_waits() {
        let waiting = CommitStatus::in_sync("prod", 3, 1);
        let s = CommitStatus::suspended(2, waiting.clone());
        assert_eq!(
            (s.state, s.description.as_str(), s.context.as_str()),
            (
                StatusState::Pending,
                "suspended: 2 changes not applied",
                "ferry/prod"
            )
        );
        let s = CommitStatus::suspended(0, waiting);
        assert_eq!(
            (s.state, s.description.as_str(), s.warnings),
            (
                StatusState::Success,
                "suspended · in sync · 3 connectors · 1 warning",
                1
            )
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_and_their_tenant() {
        assert_eq!(sync_context("prod"), "ferry/prod");
        assert_eq!(drift_context("prod"), "ferry/prod/drift");
        assert_eq!(tenant_of("ferry/prod"), Some("prod"));
        assert_eq!(tenant_of("ferry/prod/drift"), Some("prod"));
        assert_eq!(tenant_of("ci/build"), None);
        assert_eq!(tenant_of("ferry/"), None);
    }

    #[test]
    fn descriptions_show_escapes_and_hide_credentials() {
        let status = CommitStatus::failed(
            "prod",
            "import of Orders\u{1b}[2J\u{202e} refused by https://u:pw@kizen.example.com/x",
            0,
        );
        assert_eq!(
            status.description,
            "failed: import of Orders\\u{1b}[2J\\u{202e} refused by https://***@kizen.example.com/x"
        );
    }

    #[test]
    fn descriptions_read_as_documented() {
        assert_eq!(
            in_sync_description(14, 2),
            "in sync · 14 connectors · 2 warnings"
        );
        assert_eq!(
            in_sync_description(1, 1),
            "in sync · 1 connector · 1 warning"
        );
        assert_eq!(in_sync_description(3, 0), "in sync · 3 connectors");
        assert_eq!(applying_description(3), "applying 3 changes…");
        assert_eq!(applying_description(1), "applying 1 change…");
        assert_eq!(
            failed_description("import of orders-sync refused", 0),
            "failed: import of orders-sync refused"
        );
        assert_eq!(
            unreachable_description("connection refused\n(os error 111)"),
            "cannot reach tenant: connection refused (os error 111)"
        );
        assert_eq!(
            drift_description(&["orders-sync", "pto-balance", "a", "b", "c"]),
            "drift: orders-sync, pto-balance (+3 more)"
        );
        assert_eq!(drift_description(&["a", "b", "c"]), "drift: a, b, c");
        assert_eq!(drift_description::<&str>(&[]), "no drift");
        assert_eq!(
            invalid_manifests_description("orders.yaml:3:5: unknown field `nme`", 4),
            "invalid manifests: orders.yaml:3:5: unknown field `nme` (+3 more)"
        );
        assert_eq!(
            invalid_manifests_description("orders.yaml:3:5: bad", 1),
            "invalid manifests: orders.yaml:3:5: bad"
        );
    }

    #[test]
    fn a_kizen_status_with_warnings_points_at_the_import_email() {
        let with = CommitStatus::in_sync("prod", 3, 1).noting_kizen_email();
        assert_eq!(
            with.description,
            "in sync · 3 connectors · 1 warning (Kizen e-mails them in the import confirmation)"
        );
        assert!(
            with.description.chars().count() <= 140,
            "fits GitHub's limit"
        );
        let without = CommitStatus::in_sync("prod", 3, 0).noting_kizen_email();
        assert_eq!(without.description, "in sync · 3 connectors");
    }

    #[test]
    fn constructors_pick_context_and_state() {
        let s = CommitStatus::in_sync("prod", 14, 2);
        assert_eq!(s.context, "ferry/prod");
        assert_eq!(s.state, StatusState::Success);
        assert_eq!(s.warnings, 2);
        assert_eq!(
            CommitStatus::unreachable("prod", "timeout").state,
            StatusState::Error
        );
        assert_eq!(
            CommitStatus::drift("prod", &["x"]).context,
            "ferry/prod/drift"
        );
        assert_eq!(
            CommitStatus::drift("prod", &["x"]).state,
            StatusState::Failure
        );
        assert_eq!(
            CommitStatus::drift::<&str>("prod", &[]).state,
            StatusState::Success
        );
    }

    #[test]
    fn target_url_is_derived_from_external_url() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let s = CommitStatus::in_sync("prod eu", 1, 0);
        assert_eq!(
            s.target_url_for(Some("https://ferry.example.com/"), sha)
                .as_deref(),
            Some(
                "https://ferry.example.com/tenants/prod%20eu?commit=0123456789abcdef0123456789abcdef01234567"
            )
        );
        assert_eq!(s.target_url_for(None, sha), None);
        let own = s.with_target_url("https://elsewhere/x");
        assert_eq!(
            own.target_url_for(Some("https://ferry.example.com"), sha)
                .as_deref(),
            Some("https://elsewhere/x")
        );
    }

    #[test]
    fn truncation_counts_characters_and_never_splits_one() {
        assert_eq!(truncate_chars("short", 140), "short");
        let exact = "ü".repeat(140);
        assert_eq!(truncate_chars(&exact, 140), exact);
        let long = "ü".repeat(141);
        let cut = truncate_chars(&long, 140);
        assert_eq!(cut.chars().count(), 140);
        assert!(cut.ends_with('…'));
        assert_eq!(cut, format!("{}…", "ü".repeat(139)));
        // An emoji (4 bytes) straddling the boundary stays whole or goes whole.
        let emoji = format!("{}🚀🚀", "a".repeat(138));
        let cut = truncate_chars(&emoji, 139);
        assert_eq!(cut, format!("{}…", "a".repeat(138)));
        assert_eq!(truncate_chars("abc", 0), "");
    }

    #[test]
    fn test_outcomes_and_broken_files_elsewhere_are_added_to_a_status() {
        use crate::gate::{TestGate, TestOutcome, TestResult};
        let result = |connector: &str, outcome| TestResult {
            connector: connector.to_owned(),
            outcome,
            message: None,
        };
        let gate = TestGate {
            mode: crate::config::TestsMode::Advisory,
            engine: None,
            results: vec![
                result("orders", TestOutcome::Failed),
                result("leads", TestOutcome::Passed),
                result("dupe", TestOutcome::Skipped),
            ],
        };
        let status = CommitStatus::in_sync("prod", 3, 0)
            .noting_tests(Some(&gate))
            .noting_broken_elsewhere(&["c/a.yaml", "c/b.yaml", "c/c.yaml", "c/d.yaml"]);
        assert_eq!(
            status.description,
            "in sync · 3 connectors · SQL tests: 1 failed (orders), 1 passed, 1 skipped · invalid manifests for other tenants: c/a.yaml, c/b.yaml (+2 more)"
        );
        // A failure already says what failed; nothing ran, nothing is said.
        let failed = CommitStatus::failed("prod", "boom", 0).noting_tests(Some(&gate));
        assert_eq!(failed.description, "failed: boom");
        let none = TestGate {
            results: Vec::new(),
            ..gate
        };
        let plain = CommitStatus::in_sync("prod", 3, 0)
            .noting_tests(Some(&none))
            .noting_broken_elsewhere::<&str>(&[]);
        assert_eq!(plain.description, "in sync · 3 connectors");
        assert_eq!(
            broken_elsewhere_note(&["c/a.yaml"]),
            " · invalid manifest for other tenants: c/a.yaml"
        );
    }
}
