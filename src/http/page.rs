//! The status page of `ferry serve`: server-rendered HTML at `/` (every tenant) and
//! `/tenants/{name}` (one tenant: connectors with their live names, drift with the fields
//! that changed and their diff, warnings, history), for a person watching a control room
//! or checking a phone when something is amber.
//!
//! The HTML comes from askama templates (`templates/page/`), compiled with the crate and
//! escaped automatically: everything a template prints is HTML-escaped unless it is marked
//! safe, and nothing here is. askama rather than maud: the templates stay HTML files a
//! reviewer reads as HTML, checked at compile time. Text that comes from manifests,
//! platforms or git also has its control and bidirectional formatting characters shown as
//! escapes first ([`crate::printable`]): the page shows `\u{1b}` where a name holds one,
//! and a right-to-left override cannot reorder what it shows.
//!
//! The page works without JavaScript (states in colour **and** words, never colour alone;
//! a refresh every 30 seconds). With it, `/assets/page.js` lets a person pause the
//! refresh, and keeps every relative time ("3 min ago") current; the exact time is in
//! each one's tooltip. Tables turn into cards on narrow screens. `?commit=<sha>` on a
//! tenant page highlights that commit's history entries; commit statuses link there.
//!
//! This module renders what [`crate::http::api`] gathers; it must not derive states of
//! its own.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use askama::Template;

use crate::drift::DriftRecord;
use crate::http::api::{
    self, CommitInfo, ConnectorState, DriftState, Overview, SyncState, TenantDetail, TenantSummary,
    WarningView,
};
use crate::http::state::AppState;
use crate::model::Platform;
use crate::printable::printable;
use crate::render::line_style;

/// Seconds between automatic refreshes of a page.
pub const REFRESH_SECONDS: u32 = 30;

/// How many open warnings a tenant's row on the overview lists.
const WARNINGS_LISTED: usize = 4;

/// The script of the page: the pausable refresh and the relative times.
const SCRIPT: &str = include_str!("../../templates/page/page.js");

/// The status page routes, waiting for a state.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/tenants/{name}", get(tenant))
        .route("/assets/page.js", get(script))
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        SCRIPT,
    )
        .into_response()
}

async fn index(State(app): State<AppState>) -> Response {
    match api::overview(&app).await {
        Ok(overview) => html(StatusCode::OK, render_overview(&overview, Utc::now())),
        Err(e) => html(
            StatusCode::INTERNAL_SERVER_ERROR,
            render_error("ferry cannot show its status", &e.to_string()),
        ),
    }
}

/// The query of a tenant page.
#[derive(Debug, Deserialize)]
struct TenantQuery {
    commit: Option<String>,
}

async fn tenant(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<TenantQuery>,
) -> Response {
    // Only a commit id (or its prefix) is highlighted; anything else is ignored.
    let commit = query
        .commit
        .filter(|c| (4..=64).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|c| c.to_ascii_lowercase());
    match api::tenant_page(&app, &name).await {
        Ok((detail, source, shard)) => html(
            StatusCode::OK,
            render_tenant(&detail, &source, &shard, commit.as_deref(), Utc::now()),
        ),
        Err(e @ api::Error::UnknownTenant { .. }) => html(
            StatusCode::NOT_FOUND,
            render_error(&format!("No tenant named “{name}”"), &e.to_string()),
        ),
        Err(e) => html(
            StatusCode::INTERNAL_SERVER_ERROR,
            render_error("ferry cannot show this tenant", &e.to_string()),
        ),
    }
}

// ---- what the templates print -------------------------------------------------------

/// Text from git, manifests or platforms, its control characters shown as escapes.
fn shown(text: &str) -> String {
    printable(text).into_owned()
}

/// A piece of a message: plain text, or a name the message quotes in backticks (shown as
/// code, without the backticks).
pub(crate) struct Span {
    pub(crate) code: bool,
    pub(crate) text: String,
}

/// A message whose `` `quoted` `` names are shown as code. An unmatched backtick stays.
pub(crate) fn spans(text: &str) -> Vec<Span> {
    let text = shown(text);
    let parts: Vec<&str> = text.split('`').collect();
    let mut out = Vec::new();
    let paired = parts.len() % 2 == 1;
    for (i, part) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        if i % 2 == 1 && (paired || !last) {
            out.push(Span {
                code: true,
                text: (*part).to_owned(),
            });
        } else {
            let text = if i % 2 == 1 {
                format!("`{part}")
            } else {
                (*part).to_owned()
            };
            if !text.is_empty() {
                out.push(Span { code: false, text });
            }
        }
    }
    out
}

/// A moment: relative text, the exact time for the tooltip, RFC 3339 for the script.
pub(crate) struct Moment {
    pub(crate) iso: String,
    pub(crate) exact: String,
    pub(crate) ago: String,
}

impl Moment {
    fn at(t: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        Moment {
            iso: t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            exact: t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            ago: ago(t, now),
        }
    }

    fn parse(s: &str, now: DateTime<Utc>) -> Option<Self> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| Moment::at(t.with_timezone(&Utc), now))
    }
}

/// `3 min ago`, `2 h ago`, `5 d ago`, `in 4 min`, or `just now` (what `page.js` writes too).
fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds();
    let span = |s: i64| match s {
        ..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    };
    match s {
        ..=-10 => format!("in {}", span(-s)),
        -9..=9 => "just now".to_owned(),
        _ => format!("{} ago", span(s)),
    }
}

/// A state in words and colour.
pub(crate) struct Badge {
    pub(crate) class: &'static str,
    /// The machine state, for `data-state` (tests and scripts read it).
    pub(crate) state: String,
    pub(crate) text: String,
    pub(crate) title: Option<String>,
}

impl Badge {
    fn new(class: &'static str, state: &str, text: impl Into<String>) -> Self {
        Badge {
            class,
            state: state.to_owned(),
            text: text.into(),
            title: None,
        }
    }
}

fn sync_badge(t: &TenantSummary, shards: u32) -> Badge {
    if !t.owned {
        let mut b = Badge::new(
            "s-none",
            "elsewhere",
            format!("· On replica {} of {shards}", t.shard),
        );
        b.title = Some("this replica does not reconcile it".to_owned());
        return b;
    }
    let (class, symbol) = match t.sync_state {
        SyncState::InSync => ("s-ok", "✓"),
        SyncState::Pending => ("s-info", "○"),
        SyncState::Syncing => ("s-info", "↻"),
        SyncState::Blocked => ("s-block", "■"),
        SyncState::Failed | SyncState::Error => ("s-bad", "✕"),
        SyncState::Unknown => ("s-none", "·"),
    };
    Badge::new(
        class,
        t.sync_state.as_str(),
        format!("{symbol} {}", t.sync_state.label()),
    )
}

fn drift_badge(t: &TenantSummary) -> Badge {
    match t.drift_state {
        DriftState::None => Badge::new("s-ok", "none", format!("✓ {}", DriftState::None.label())),
        DriftState::Drifted => Badge::new("s-warn", "drifted", format!("⚠ Drifted: {}", t.drifted)),
        DriftState::Unknown => Badge::new(
            "s-none",
            "unknown",
            format!("· {}", DriftState::Unknown.label()),
        ),
    }
}

fn suspended_badge(t: &TenantSummary, now: DateTime<Utc>) -> Option<Badge> {
    let s = t.suspended.as_ref()?;
    let mut b = Badge::new("s-pause", "suspended", "‖ Suspended");
    let since = Moment::parse(&s.since, now).map(|m| format!("since {}", m.exact));
    b.title = Some(
        [since, s.reason.as_deref().map(shown)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · "),
    );
    Some(b)
}

fn connector_badge(s: ConnectorState) -> Badge {
    let (class, symbol) = match s {
        ConnectorState::InSync => ("s-ok", "✓"),
        ConnectorState::Pending => ("s-info", "○"),
        ConnectorState::Blocked => ("s-block", "■"),
        ConnectorState::Failed => ("s-bad", "✕"),
        ConnectorState::Drifted => ("s-warn", "⚠"),
    };
    Badge::new(class, s.as_str(), format!("{symbol} {}", s.label()))
}

/// How a reconcile ended, in words: a pass that found drift is not a green no-op.
fn outcome_badge(outcome: &str) -> Badge {
    let (class, text) = match outcome {
        "applied" => ("s-ok", "✓ applied"),
        "noop" => ("s-ok", "✓ no changes"),
        "ok" => ("s-ok", "✓ ok"),
        "warning" => ("s-warn", "⚠ applied with warnings"),
        "drift" => ("s-warn", "⚠ drift found"),
        "suspended" => ("s-pause", "‖ suspended: not applied"),
        "blocked" => ("s-block", "■ blocked"),
        "failed" => ("s-bad", "✕ failed"),
        "error" => ("s-bad", "✕ unreachable"),
        other => return Badge::new("s-none", other, shown(other)),
    };
    Badge::new(class, outcome, text)
}

fn warnings_badge(n: usize, long: bool) -> Badge {
    match (n, long) {
        (0, true) => Badge::new("s-ok", "none", "✓ No open warnings"),
        (0, false) => Badge::new("s-ok", "none", "✓ None"),
        (1, true) => Badge::new("s-warn", "open", "⚠ 1 open warning"),
        (n, true) => Badge::new("s-warn", "open", format!("⚠ {n} open warnings")),
        (n, false) => Badge::new("s-warn", "open", format!("⚠ {n} open")),
    }
}

/// A commit as the page shows it.
pub(crate) struct Commit {
    pub(crate) sha: String,
    pub(crate) short: String,
    pub(crate) message: String,
    pub(crate) author: Option<String>,
    pub(crate) url: Option<String>,
}

impl Commit {
    fn of(c: &CommitInfo) -> Self {
        Commit {
            sha: c.sha.clone(),
            short: c.short_sha.clone(),
            message: shown(c.message.as_deref().unwrap_or("")),
            author: c.author.as_deref().map(shown),
            url: c.url.clone(),
        }
    }
}

/// An open warning.
pub(crate) struct Warn {
    pub(crate) connector: String,
    pub(crate) kind: String,
    pub(crate) reference: String,
    pub(crate) opened: Option<Moment>,
    pub(crate) opened_raw: String,
}

impl Warn {
    fn of(w: &WarningView, now: DateTime<Utc>) -> Self {
        Warn {
            connector: shown(&w.connector),
            kind: shown(&w.kind),
            reference: shown(&w.reference),
            opened: Moment::parse(&w.opened_at, now),
            opened_raw: shown(&w.opened_at),
        }
    }
}

/// The page around the content.
pub(crate) struct Layout {
    pub(crate) title: String,
    pub(crate) source: String,
    pub(crate) fetched: Option<Moment>,
    pub(crate) replica: Option<String>,
    pub(crate) refresh: u32,
    pub(crate) version: &'static str,
}

impl Layout {
    fn new(
        title: &str,
        source: Option<&api::SourceView>,
        shard: Option<&api::ShardView>,
        now: DateTime<Utc>,
    ) -> Self {
        Layout {
            title: shown(title),
            source: source.map(|s| shown(&s.url)).unwrap_or_default(),
            fetched: source
                .and_then(|s| s.last_fetch_at)
                .map(|t| Moment::at(t, now)),
            replica: shard.filter(|s| s.count > 1).map(|s| {
                format!(
                    "replica {} of {} · owns {} tenant{}",
                    s.index,
                    s.count,
                    s.owned.len(),
                    if s.owned.len() == 1 { "" } else { "s" }
                )
            }),
            refresh: REFRESH_SECONDS,
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

// ---- the overview -------------------------------------------------------------------

/// One tenant's row (a card on a phone).
pub(crate) struct TenantRow {
    pub(crate) name: String,
    pub(crate) link: String,
    pub(crate) platform: String,
    pub(crate) branch: String,
    pub(crate) owned: bool,
    pub(crate) sync: Badge,
    pub(crate) suspended: Option<Badge>,
    pub(crate) drift: Badge,
    pub(crate) warnings: Badge,
    pub(crate) warning_items: Vec<Warn>,
    pub(crate) more_warnings: usize,
    pub(crate) commit: Option<Commit>,
    pub(crate) last: Option<Badge>,
    pub(crate) last_at: Option<Moment>,
    pub(crate) error: Option<Vec<Span>>,
    pub(crate) summary: Option<Vec<Span>>,
    pub(crate) ui_url: Option<String>,
}

/// A count at the top of the overview.
pub(crate) struct Chip {
    pub(crate) value: usize,
    pub(crate) label: &'static str,
    pub(crate) class: &'static str,
}

#[derive(Template)]
#[template(path = "page/overview.html")]
struct OverviewPage {
    layout: Layout,
    fetch_error: Option<String>,
    chips: Vec<Chip>,
    tenants: Vec<TenantRow>,
}

/// The overview page.
pub fn render_overview(o: &Overview, now: DateTime<Utc>) -> String {
    let tenants = &o.list.tenants;
    let owned: Vec<&TenantSummary> = tenants.iter().filter(|t| t.owned).collect();
    let count = |f: &dyn Fn(&TenantSummary) -> bool| owned.iter().filter(|t| f(t)).count();
    let in_sync = count(&|t| t.sync_state == SyncState::InSync);
    let failing = count(&|t| {
        matches!(
            t.sync_state,
            SyncState::Failed | SyncState::Error | SyncState::Blocked
        )
    });
    let drifted = count(&|t| t.drift_state == DriftState::Drifted);
    let suspended = count(&|t| t.suspended.is_some());
    let warnings: usize = owned.iter().map(|t| t.open_warnings).sum();
    let flag = |on: bool, class: &'static str| if on { class } else { "" };
    let mut chips = vec![
        Chip {
            value: owned.len(),
            label: "tenants",
            class: "",
        },
        Chip {
            value: in_sync,
            label: "in sync",
            class: flag(in_sync == owned.len(), "n-ok"),
        },
        Chip {
            value: failing,
            label: "failed or blocked",
            class: flag(failing > 0, "n-bad"),
        },
        Chip {
            value: drifted,
            label: "drifted",
            class: flag(drifted > 0, "n-warn"),
        },
        Chip {
            value: warnings,
            label: "open warnings",
            class: flag(warnings > 0, "n-warn"),
        },
    ];
    if suspended > 0 {
        chips.push(Chip {
            value: suspended,
            label: "suspended",
            class: "n-pause",
        });
    }
    let rows = tenants
        .iter()
        .map(|t| {
            let open = o.warnings.get(&t.name).map(Vec::as_slice).unwrap_or(&[]);
            TenantRow {
                name: shown(&t.name),
                link: format!("/tenants/{}", crate::encode::component(&t.name)),
                platform: t.platform.map(|p| p.as_str()).unwrap_or("").to_owned(),
                branch: shown(t.branch.as_deref().unwrap_or("")),
                owned: t.owned,
                sync: sync_badge(t, o.list.shard.count),
                suspended: suspended_badge(t, now),
                drift: drift_badge(t),
                warnings: warnings_badge(t.open_warnings, false),
                warning_items: open
                    .iter()
                    .take(WARNINGS_LISTED)
                    .map(|w| Warn::of(w, now))
                    .collect(),
                more_warnings: open.len().saturating_sub(WARNINGS_LISTED),
                commit: t.last_applied_commit.as_ref().map(Commit::of),
                last: t.last_outcome.as_deref().map(outcome_badge),
                last_at: t.last_reconcile_at.map(|at| Moment::at(at, now)),
                error: t.last_error.as_deref().map(spans),
                summary: t.last_summary.as_deref().map(spans),
                ui_url: t.ui_url.clone(),
            }
        })
        .collect();
    let page = OverviewPage {
        layout: Layout::new(
            "ferry · tenants",
            Some(&o.list.source),
            Some(&o.list.shard),
            now,
        ),
        fetch_error: o.list.source.last_fetch_error.as_deref().map(shown),
        chips,
        tenants: rows,
    };
    page.render().unwrap_or_else(|e| render_failure(&e))
}

// ---- a tenant -----------------------------------------------------------------------

/// A connector's row.
pub(crate) struct ConnectorRow {
    pub(crate) connector: String,
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) applied_name: Option<String>,
    pub(crate) live_id: String,
    pub(crate) state: Badge,
    pub(crate) message: Option<Vec<Span>>,
    pub(crate) failed: bool,
    pub(crate) warnings: usize,
}

/// One line of a diff, with how it is coloured.
pub(crate) struct DiffLine {
    pub(crate) class: &'static str,
    pub(crate) text: String,
}

/// A drifted connector.
pub(crate) struct DriftCard {
    pub(crate) connector: String,
    pub(crate) kind: String,
    pub(crate) live_name: String,
    pub(crate) live_id: String,
    pub(crate) fields: Vec<String>,
    pub(crate) sections: Vec<(String, Vec<DiffLine>)>,
}

impl DriftCard {
    fn of(d: &DriftRecord) -> Self {
        let sections = d
            .diff
            .iter()
            .map(|s| {
                let lines = s
                    .text_lines()
                    .iter()
                    .map(|l| DiffLine {
                        class: if s.lines.is_empty() || !s.lines.contains(l) {
                            "d-note"
                        } else {
                            line_style(l, ["d-head", "d-add", "d-del", "d-hunk"])
                        },
                        text: shown(l),
                    })
                    .collect();
                (shown(&s.section), lines)
            })
            .collect();
        DriftCard {
            connector: shown(&d.connector),
            kind: d.kind.to_string(),
            live_name: shown(&d.live_name),
            live_id: shown(&d.live_id),
            fields: d.fields.iter().map(|f| shown(f)).collect(),
            sections,
        }
    }
}

/// A past reconcile.
pub(crate) struct HistoryRow {
    pub(crate) id: i64,
    pub(crate) highlighted: bool,
    pub(crate) finished: Option<Moment>,
    pub(crate) commit: Commit,
    pub(crate) outcome: Badge,
    pub(crate) summary: Vec<Span>,
}

/// What the tenant's header card says.
pub(crate) struct Facts {
    pub(crate) applied: Option<Commit>,
    pub(crate) head: Option<Option<Commit>>,
    pub(crate) last: Option<Badge>,
    pub(crate) last_at: Option<Moment>,
    pub(crate) error: Option<Vec<Span>>,
    pub(crate) next: Option<String>,
    pub(crate) next_at: Option<Moment>,
}

#[derive(Template)]
#[template(path = "page/tenant.html")]
struct TenantPage {
    layout: Layout,
    name: String,
    platform: String,
    branch: String,
    owned: bool,
    elsewhere: String,
    sync: Badge,
    drift: Badge,
    warnings_badge: Badge,
    suspended: Option<Badge>,
    suspended_since: Option<Moment>,
    suspended_reason: Option<String>,
    ui_url: Option<String>,
    platform_name: &'static str,
    commit_note: Option<(bool, String)>,
    facts: Facts,
    connectors: Vec<ConnectorRow>,
    drift_cards: Vec<DriftCard>,
    drift_names: Vec<String>,
    drift_empty: &'static str,
    warnings: Vec<Warn>,
    warnings_note: &'static str,
    history: Vec<HistoryRow>,
}

/// How open warnings close, under the tenant's warning table.
fn warnings_note(platform: Option<Platform>) -> &'static str {
    match platform {
        Some(Platform::Kizen) => {
            "Kizen also e-mails these warnings in the import confirmation; it shows no in-app indicator, and its status tracks the last live run, not the warnings. ferry closes one when the tenant's catalog holds its reference."
        }
        Some(Platform::ProductsupCde) => {
            "A copy never carries its VCS credentials: set them in Productsup; ferry closes the warning when it sees the VCS authorised."
        }
        _ => "",
    }
}

fn platform_name(platform: Option<Platform>) -> &'static str {
    match platform {
        Some(Platform::Kizen) => "Kizen",
        Some(Platform::AgentStudio) => "Agent Studio",
        Some(Platform::ProductsupCde) => "Productsup",
        None => "the platform",
    }
}

/// A tenant's page; `commit` (a hex prefix) highlights that commit's history entries.
pub fn render_tenant(
    d: &TenantDetail,
    source: &api::SourceView,
    shard: &api::ShardView,
    commit: Option<&str>,
    now: DateTime<Utc>,
) -> String {
    let t = &d.summary;
    let commit_note = commit.map(|sha| {
        let found = d.history.iter().any(|h| h.commit.sha.starts_with(sha));
        (found, api::short_sha(sha).to_owned())
    });
    let head_differs =
        t.head_commit.as_ref().map(|c| &c.sha) != t.last_applied_commit.as_ref().map(|c| &c.sha);
    let next = t.pending_reasons.as_ref().map(|r| r.to_string());
    let facts = Facts {
        applied: t.last_applied_commit.as_ref().map(Commit::of),
        head: head_differs.then(|| t.head_commit.as_ref().map(Commit::of)),
        last: t.last_outcome.as_deref().map(outcome_badge),
        last_at: t.last_reconcile_at.map(|at| Moment::at(at, now)),
        error: t.last_error.as_deref().map(spans),
        next_at: next
            .as_ref()
            .and_then(|_| d.schedule.as_ref().and_then(|s| s.next_run_at))
            .map(|at| Moment::at(at, now)),
        next,
    };
    let connectors = d
        .connector_list
        .iter()
        .map(|c| ConnectorRow {
            connector: shown(&c.connector),
            kind: shown(&c.kind),
            name: shown(&c.name),
            applied_name: c.applied_name.as_deref().map(shown),
            live_id: shown(c.live_id.as_deref().unwrap_or("—")),
            state: connector_badge(c.sync_state),
            message: c.message.as_deref().map(spans),
            failed: c.sync_state == ConnectorState::Failed,
            warnings: c.open_warnings,
        })
        .collect();
    // Drift the last check recorded without detail (before ferry kept it) is named only.
    let detailed: Vec<&str> = d
        .drift_detail
        .iter()
        .map(|r| r.connector.as_str())
        .collect();
    let drift_names = d
        .drift
        .iter()
        .filter(|n| !detailed.contains(&n.as_str()))
        .map(|n| shown(n))
        .collect();
    let history = d
        .history
        .iter()
        .map(|h| HistoryRow {
            id: h.id,
            highlighted: commit.is_some_and(|c| h.commit.sha.starts_with(c)),
            finished: Moment::parse(&h.finished_at, now),
            commit: Commit::of(&h.commit),
            outcome: outcome_badge(&h.outcome),
            summary: spans(&h.summary),
        })
        .collect();
    let page = TenantPage {
        layout: Layout::new(
            &format!("ferry · {}", t.name),
            Some(source),
            Some(shard),
            now,
        ),
        name: shown(&t.name),
        platform: t.platform.map(|p| p.as_str()).unwrap_or("").to_owned(),
        branch: shown(t.branch.as_deref().unwrap_or("")),
        owned: t.owned,
        elsewhere: format!(
            "This tenant is reconciled by replica {} of {}; its connectors, warnings and history live in that replica's state. Open that replica's status page to see them.",
            t.shard, shard.count
        ),
        sync: sync_badge(t, shard.count),
        drift: drift_badge(t),
        warnings_badge: warnings_badge(t.open_warnings, true),
        suspended: suspended_badge(t, now),
        suspended_since: t
            .suspended
            .as_ref()
            .and_then(|s| Moment::parse(&s.since, now)),
        suspended_reason: t
            .suspended
            .as_ref()
            .and_then(|s| s.reason.as_deref().map(shown)),
        ui_url: t.ui_url.clone(),
        platform_name: platform_name(t.platform),
        commit_note,
        facts,
        connectors,
        drift_cards: d.drift_detail.iter().map(DriftCard::of).collect(),
        drift_names,
        drift_empty: match t.drift_state {
            DriftState::Unknown => "Not checked yet.",
            _ => "Every connector holds what ferry applied.",
        },
        warnings: d.warnings.iter().map(|w| Warn::of(w, now)).collect(),
        warnings_note: warnings_note(t.platform),
        history,
    };
    page.render().unwrap_or_else(|e| render_failure(&e))
}

// ---- errors -------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "page/error.html")]
struct ErrorPage {
    layout: Layout,
    heading: String,
    message: String,
}

fn render_error(title: &str, message: &str) -> String {
    ErrorPage {
        layout: Layout::new(title, None, None, Utc::now()),
        heading: shown(title),
        message: shown(message),
    }
    .render()
    .unwrap_or_else(|e| render_failure(&e))
}

/// What a page that could not be rendered shows (a template's formatting failed).
fn render_failure(e: &askama::Error) -> String {
    tracing::warn!(error = %e, "the status page could not be rendered");
    "<!doctype html><title>ferry</title><p>ferry could not render this page; see its log.</p>"
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::{ConnectorView, HistoryView, ShardView, SourceView, TenantList};
    use std::collections::BTreeMap;

    fn summary(name: &str) -> TenantSummary {
        TenantSummary {
            name: name.into(),
            platform: Some(crate::model::Platform::Kizen),
            branch: Some("main".into()),
            owned: true,
            shard: 0,
            sync_state: SyncState::InSync,
            drift_state: DriftState::None,
            drifted: 0,
            open_warnings: 1,
            connectors: 1,
            running: false,
            pending_reasons: None,
            head_commit: None,
            last_applied_commit: Some(CommitInfo {
                sha: "0123456789abcdef0123456789abcdef01234567".into(),
                short_sha: "0123456".into(),
                message: Some("Add <b>orders</b>".into()),
                author: Some("Ada & Co".into()),
                time: None,
                url: Some(
                    "https://github.com/acme/c/commit/0123456789abcdef0123456789abcdef01234567"
                        .into(),
                ),
            }),
            last_outcome: Some("warning".into()),
            last_error: None,
            last_summary: Some("in sync · 1 connector · 1 warning".into()),
            last_reconcile_at: None,
            suspended: None,
            ui_url: None,
            last_request: 0,
            finished_request: 0,
        }
    }

    fn source() -> SourceView {
        SourceView {
            url: "repo".into(),
            last_fetch_at: None,
            last_fetch_error: None,
        }
    }

    fn shard() -> ShardView {
        ShardView {
            index: 0,
            count: 1,
            hash: "fnv1a-64",
            owned: vec!["prod".into()],
        }
    }

    fn warning(connector: &str) -> WarningView {
        WarningView {
            connector: connector.into(),
            kind: "agentic-workflow".into(),
            reference: "Lead \"Router\"".into(),
            live_id: "1".into(),
            opened_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn detail(summary: TenantSummary) -> TenantDetail {
        TenantDetail {
            summary,
            connector_list: vec![],
            warnings: vec![],
            drift: vec![],
            drift_detail: vec![],
            history: vec![],
            schedule: None,
        }
    }

    fn text(spans: &[Span]) -> Vec<(bool, &str)> {
        spans.iter().map(|s| (s.code, s.text.as_str())).collect()
    }

    #[test]
    fn backticks_become_code_and_an_unmatched_one_stays() {
        assert_eq!(
            text(&spans("SmartConnector `Orders` was changed")),
            [
                (false, "SmartConnector "),
                (true, "Orders"),
                (false, " was changed")
            ]
        );
        assert_eq!(
            text(&spans("a `b` c `d")),
            [(false, "a "), (true, "b"), (false, " c "), (false, "`d")]
        );
        assert_eq!(text(&spans("`\u{1b}[2J`")), [(true, "\\u{1b}[2J")]);
    }

    #[test]
    fn times_are_relative_both_ways() {
        let now = Utc::now();
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now - chrono::Duration::seconds(42), now), "42 s ago");
        assert_eq!(ago(now - chrono::Duration::minutes(3), now), "3 min ago");
        assert_eq!(ago(now - chrono::Duration::hours(5), now), "5 h ago");
        assert_eq!(ago(now - chrono::Duration::days(2), now), "2 d ago");
        assert_eq!(ago(now + chrono::Duration::minutes(4), now), "in 4 min");
    }

    #[test]
    fn the_overview_escapes_everything_it_shows() {
        let o = Overview {
            list: TenantList {
                source: SourceView {
                    url: "repo<1>".into(),
                    last_fetch_at: None,
                    last_fetch_error: Some("<img src=x>".into()),
                },
                shard: ShardView {
                    index: 0,
                    count: 1,
                    hash: "fnv1a-64",
                    owned: vec!["<t>".into()],
                },
                tenants: vec![summary("<t>")],
            },
            warnings: BTreeMap::from([("<t>".to_owned(), vec![warning("<script>")])]),
        };
        let html = render_overview(&o, Utc::now());
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>orders"), "{html}");
        assert!(html.contains("&#60;script&#62;"), "{html}");
        assert!(html.contains(r#"href="/tenants/%3Ct%3E""#), "{html}");
        assert!(html.contains("✓ In sync"));
        assert!(html.contains("agentic-workflow"));
        assert!(html.contains("0123456"));
        assert!(
            html.contains("Ada &#38; Co") || html.contains("Ada &amp; Co"),
            "{html}"
        );
        assert!(
            html.contains(r#"href="https://github.com/acme/c/commit/0123456789abcdef0123456789abcdef01234567""#),
            "the commit links to the forge: {html}"
        );
        assert!(html.contains(r#"<script src="/assets/page.js" defer></script>"#));
    }

    #[test]
    fn control_characters_are_shown_not_interpreted() {
        let mut t = summary("prod");
        t.last_error = Some("refused: Orders\u{1b}[2J\u{202e}txt".into());
        t.sync_state = SyncState::Failed;
        let html = render_tenant(&detail(t), &source(), &shard(), None, Utc::now());
        assert!(!html.contains('\u{1b}') && !html.contains('\u{202e}'));
        assert!(html.contains("Orders\\u{1b}[2J\\u{202e}txt"), "{html}");
    }

    #[test]
    fn a_tenant_of_another_replica_points_there() {
        let mut t = summary("eu");
        t.owned = false;
        t.shard = 2;
        t.sync_state = SyncState::Unknown;
        let mut three = shard();
        three.count = 3;
        let html = render_tenant(&detail(t), &source(), &three, None, Utc::now());
        assert!(html.contains("· On replica 2 of 3"), "{html}");
        assert!(html.contains("This tenant is reconciled by replica 2 of 3"));
        assert!(
            !html.contains("Connectors ("),
            "no local state is shown as if it were the tenant's"
        );
    }

    #[test]
    fn drift_shows_the_fields_the_diff_and_the_live_name() {
        let mut t = summary("prod");
        t.drift_state = DriftState::Drifted;
        t.drifted = 1;
        t.last_outcome = Some("drift".into());
        t.suspended = Some(crate::store::suspension::Suspension {
            since: "2026-01-01T00:00:00.000Z".into(),
            reason: Some("quarter close".into()),
        });
        t.ui_url = Some("https://app.kizen.com".into());
        let mut d = detail(t);
        d.drift = vec!["orders".into()];
        d.drift_detail = vec![DriftRecord {
            connector: "orders".into(),
            kind: crate::model::Kind::SmartConnector,
            live_name: "Orders (edited)".into(),
            live_id: "7".into(),
            fields: vec!["name".into()],
            diff: vec![crate::render::DiffSection {
                section: "settings".into(),
                lines: vec![
                    "--- applied/settings".into(),
                    "+++ live/settings".into(),
                    "@@ -1 +1 @@".into(),
                    "-  \"name\": \"Orders\",".into(),
                    "+  \"name\": \"Orders (edited)\",".into(),
                ],
                omitted: 0,
                note: None,
            }],
        }];
        d.connector_list = vec![ConnectorView {
            connector: "orders".into(),
            kind: "SmartConnector".into(),
            name: "Orders (edited)".into(),
            applied_name: Some("Orders".into()),
            live_id: Some("7".into()),
            sync_state: ConnectorState::Drifted,
            revision: None,
            created_by_ferry: true,
            open_warnings: 0,
            message: None,
        }];
        let html = render_tenant(&d, &source(), &shard(), None, Utc::now());
        for seen in [
            "⚠ drift found",
            r#"<li><code>name</code></li>"#,
            r#"<span class="d-add">+  &#34;name&#34;: &#34;Orders (edited)&#34;,</span>"#,
            "applied as",
            "‖ Suspended",
            "quarter close",
            r#"href="https://app.kizen.com""#,
            "Open in Kizen",
        ] {
            assert!(html.contains(seen), "{seen} in {html}");
        }
        assert!(!html.contains("✓ noop"), "{html}");
    }

    #[test]
    fn the_tenant_page_highlights_the_commit_asked_for() {
        let c = |sha: &str| CommitInfo {
            sha: sha.into(),
            short_sha: sha[..7].into(),
            message: Some("m".into()),
            author: None,
            time: None,
            url: None,
        };
        let mut d = detail(summary("prod"));
        d.connector_list = vec![ConnectorView {
            connector: "<script>".into(),
            kind: "SmartConnector".into(),
            name: "Orders".into(),
            applied_name: None,
            live_id: Some("42".into()),
            sync_state: ConnectorState::Failed,
            revision: None,
            created_by_ferry: true,
            open_warnings: 0,
            message: Some("import <refused>".into()),
        }];
        d.warnings = vec![warning("<script>")];
        d.history = vec![
            HistoryView {
                id: 2,
                commit: c("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
                started_at: "2026-01-01T00:00:00Z".into(),
                finished_at: "2026-01-01T00:00:01Z".into(),
                outcome: "failed".into(),
                summary: "1 failed".into(),
                detail: serde_json::Value::Null,
            },
            HistoryView {
                id: 1,
                commit: c("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
                started_at: "2026-01-01T00:00:00Z".into(),
                finished_at: "2026-01-01T00:00:01Z".into(),
                outcome: "applied".into(),
                summary: "1 applied".into(),
                detail: serde_json::Value::Null,
            },
        ];
        let html = render_tenant(&d, &source(), &shard(), Some("aaaaaaa"), Utc::now());
        assert!(html.contains(r#"<tr id="h1" class="highlight">"#), "{html}");
        assert!(html.contains(r#"<tr id="h2">"#), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("✕ Failed"));
        assert!(html.contains("import &#60;refused&#62;"), "{html}");
        assert!(
            html.contains("Kizen also e-mails these warnings in the import confirmation"),
            "{html}"
        );
        assert!(
            html.contains(r#"title="2026-01-01 00:00:00 UTC""#),
            "open since is relative with the exact time on hover: {html}"
        );
        let missing = render_tenant(&d, &source(), &shard(), Some("cccccccc"), Utc::now());
        assert!(missing.contains("has no reconcile in the recent history"));
        assert!(!missing.contains("class=\"highlight\""));
    }
}
