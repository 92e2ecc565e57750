//! The status page of `ferry serve`: server-rendered HTML at `/` (every tenant) and
//! `/tenants/{name}` (one tenant: connectors, warnings, drift, history), for a person
//! looking at a browser when something is amber.
//!
//! No JavaScript: a small inline stylesheet, states in colour **and** words (never colour
//! alone), and a refresh every 30 seconds. `?commit=<sha>` on a tenant page highlights
//! that commit's history entries; commit statuses link there (`target_url`).
//!
//! Everything that comes from git, the configuration, the platforms or the request is
//! HTML-escaped by [`escape`]. This module renders what [`crate::http::api`] gathers; it must
//! not derive states of its own.

use std::fmt::Write as _;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::http::api::{
    self, CommitInfo, ConnectorState, DriftState, Overview, SyncState, TenantDetail, TenantSummary,
    WarningView,
};
use crate::http::state::AppState;
use crate::model::Platform;

/// Seconds between automatic refreshes of a page.
pub const REFRESH_SECONDS: u32 = 30;

/// Escape `s` for HTML text and attribute values.
pub fn escape(s: &str) -> String {
    // Control and bidirectional formatting characters are shown as escapes first: a
    // right-to-left override would reorder what the page shows.
    let s = crate::printable::printable(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The status page routes, waiting for a state.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/tenants/{name}", get(tenant))
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

const STYLE: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa;--card:#fff;--link:#0969da}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 -apple-system,"Segoe UI","DejaVu Sans",Helvetica,Arial,sans-serif;color:var(--fg);background:var(--bg)}
header.top{display:flex;align-items:baseline;gap:18px;flex-wrap:wrap;padding:12px 28px;background:#24292f;color:#f0f3f6}
header.top .brand{font-size:20px;font-weight:700;color:#fff;text-decoration:none;letter-spacing:.5px}
header.top .meta{color:#c9d1d9;font-size:13px}
header.top .meta b{color:#fff;font-weight:600}
main{max-width:1280px;margin:0 auto;padding:20px 28px 40px}
h1{font-size:22px;margin:4px 0 12px}
h2{font-size:16px;margin:28px 0 10px}
a{color:var(--link);text-decoration:none}
a:hover{text-decoration:underline}
.crumbs{color:var(--muted);font-size:13px}
.summary{display:flex;gap:10px;flex-wrap:wrap;margin:4px 0 16px}
.summary .chip{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:110px}
.summary .chip b{display:block;font-size:20px}
.summary .chip span{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.4px}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden}
th,td{text-align:left;vertical-align:top;padding:9px 12px;border-bottom:1px solid var(--line)}
th{background:#eef1f4;font-size:12px;text-transform:uppercase;letter-spacing:.4px;color:var(--muted)}
tr:last-child td{border-bottom:0}
td.name{white-space:nowrap}
td.name a{font-weight:600;font-size:15px}
.sub{color:var(--muted);font-size:12px}
code,.sha{font-family:"DejaVu Sans Mono",ui-monospace,Menlo,monospace;font-size:12.5px}
.sha{background:#eef1f4;border-radius:4px;padding:1px 5px}
.badge{display:inline-block;white-space:nowrap;border-radius:999px;padding:2px 10px;font-size:12.5px;font-weight:600;border:1px solid}
.s-ok{color:#116329;background:#dafbe1;border-color:#8ddb8c}
.s-info{color:#0550ae;background:#ddf4ff;border-color:#80ccff}
.s-warn{color:#7d4e00;background:#fff8c5;border-color:#e5c157}
.s-bad{color:#a40e26;background:#ffebe9;border-color:#ff8182}
.s-block{color:#953800;background:#fff1e5;border-color:#ffb77c}
.s-none{color:#59636e;background:#eef1f4;border-color:#d1d9e0}
ul.warns{margin:6px 0 0;padding:0;list-style:none}
ul.warns li{margin:2px 0;font-size:12.5px}
.kind{font-weight:600;color:#7d4e00}
.why{color:var(--muted);font-size:12.5px;margin-top:3px;max-width:360px;overflow-wrap:anywhere}
.n-ok{color:#116329}.n-bad{color:#a40e26}.n-warn{color:#9a6700}
.err{color:#a40e26;font-size:12.5px;margin-top:3px;max-width:360px;overflow-wrap:anywhere}
.note{background:#ddf4ff;border:1px solid #80ccff;border-radius:8px;padding:10px 14px;margin:12px 0}
.note.warn{background:#fff8c5;border-color:#e5c157}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 16px;margin:8px 0}
.states{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin-bottom:6px}
tr.highlight td{background:#fff8c5}
tr.highlight td:first-child{box-shadow:inset 4px 0 0 #bf8700}
.empty{color:var(--muted);font-style:italic}
footer{color:var(--muted);font-size:12px;margin-top:28px}
"#;

fn page(title: &str, header_meta: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<title>{title}</title>
<style>{STYLE}</style>
</head>
<body>
<header class="top"><a class="brand" href="/">ferry</a>{header_meta}</header>
<main>
{body}
<footer>ferry {version} · this page refreshes every {REFRESH_SECONDS} s · JSON at <a href="/api/v1/tenants">/api/v1/tenants</a> · metrics at <a href="/metrics">/metrics</a></footer>
</main>
</body>
</html>
"#,
        title = escape(title),
        version = env!("CARGO_PKG_VERSION"),
    )
}

fn render_error(title: &str, message: &str) -> String {
    page(
        title,
        "",
        &format!(
            r#"<p class="crumbs"><a href="/">All tenants</a></p><h1>{}</h1><div class="note warn">{}</div>"#,
            escape(title),
            escape(message)
        ),
    )
}

/// Colour class and symbol of a sync state.
fn sync_look(s: SyncState) -> (&'static str, &'static str) {
    match s {
        SyncState::InSync => ("s-ok", "✓"),
        SyncState::Pending => ("s-info", "○"),
        SyncState::Syncing => ("s-info", "↻"),
        SyncState::Blocked => ("s-block", "■"),
        SyncState::Failed => ("s-bad", "✕"),
        SyncState::Error => ("s-bad", "✕"),
        SyncState::Unknown => ("s-none", "·"),
    }
}

fn sync_badge(t: &TenantSummary, shards: u32) -> String {
    if !t.owned {
        return format!(
            r#"<span class="badge s-none" title="this replica does not reconcile it">· On replica {} of {}</span>"#,
            t.shard, shards
        );
    }
    let (class, symbol) = sync_look(t.sync_state);
    format!(
        r#"<span class="badge {class}" data-state="{}">{symbol} {}</span>"#,
        t.sync_state.as_str(),
        t.sync_state.label()
    )
}

fn drift_badge(t: &TenantSummary) -> String {
    let (class, symbol, text) = match t.drift_state {
        DriftState::None => ("s-ok", "✓", DriftState::None.label().to_owned()),
        DriftState::Drifted => ("s-warn", "⚠", format!("Drifted: {}", t.drifted)),
        DriftState::Unknown => ("s-none", "·", DriftState::Unknown.label().to_owned()),
    };
    format!(
        r#"<span class="badge {class}" data-drift="{}">{symbol} {}</span>"#,
        t.drift_state.as_str(),
        escape(&text)
    )
}

fn connector_badge(s: ConnectorState) -> String {
    let (class, symbol) = match s {
        ConnectorState::InSync => ("s-ok", "✓"),
        ConnectorState::Pending => ("s-info", "○"),
        ConnectorState::Blocked => ("s-block", "■"),
        ConnectorState::Failed => ("s-bad", "✕"),
        ConnectorState::Drifted => ("s-warn", "⚠"),
    };
    format!(
        r#"<span class="badge {class}" data-state="{}">{symbol} {}</span>"#,
        s.as_str(),
        s.label()
    )
}

fn outcome_badge(outcome: &str) -> String {
    let class = match outcome {
        "applied" | "noop" | "ok" => "s-ok",
        "warning" => "s-warn",
        "blocked" => "s-block",
        "failed" | "error" => "s-bad",
        _ => "s-none",
    };
    format!(r#"<span class="badge {class}">{}</span>"#, escape(outcome))
}

fn warnings_badge_long(n: usize) -> String {
    match n {
        0 => r#"<span class="badge s-ok">✓ No open warnings</span>"#.to_owned(),
        1 => r#"<span class="badge s-warn">⚠ 1 open warning</span>"#.to_owned(),
        n => format!(r#"<span class="badge s-warn">⚠ {n} open warnings</span>"#),
    }
}

/// How open warnings close, under the tenant's warning table.
fn warnings_note(platform: Option<Platform>) -> String {
    let how = match platform {
        Some(Platform::Kizen) => {
            "Kizen also e-mails these warnings in the import confirmation; it shows no in-app indicator, and its status tracks the last live run, not the warnings. ferry closes one when the tenant's catalog holds its reference."
        }
        Some(Platform::ProductsupCde) => {
            "A copy never carries its VCS credentials: set them in Productsup; ferry closes the warning when it sees the VCS authorised."
        }
        _ => "",
    };
    format!(
        r#"<p class="sub">{how} Until then, promotion holds the connector back. A person who has dealt with one closes it with <code>ferry ack TENANT CONNECTOR KIND</code>.</p>"#
    )
}

fn warnings_badge(n: usize) -> String {
    if n == 0 {
        r#"<span class="badge s-ok">✓ None</span>"#.to_owned()
    } else {
        format!(r#"<span class="badge s-warn">⚠ {n} open</span>"#)
    }
}

/// `3 min ago`, `2 h ago`, `5 d ago`, or `just now`.
fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds();
    match s {
        ..=9 => "just now".to_owned(),
        10..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

fn when(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => format!(
            r#"<span title="{}">{}</span>"#,
            t.format("%Y-%m-%d %H:%M:%S UTC"),
            ago(t, now)
        ),
        None => r#"<span class="empty">never</span>"#.to_owned(),
    }
}

fn commit_cell(c: Option<&CommitInfo>) -> String {
    let Some(c) = c else {
        return r#"<span class="empty">nothing applied yet</span>"#.to_owned();
    };
    let mut out = format!(
        r#"<span class="sha" title="{}">{}</span> {}"#,
        escape(&c.sha),
        escape(&c.short_sha),
        escape(c.message.as_deref().unwrap_or(""))
    );
    if let Some(author) = &c.author {
        let _ = write!(out, r#"<div class="sub">by {}</div>"#, escape(author));
    }
    out
}

fn warning_items(warnings: &[WarningView], limit: usize) -> String {
    if warnings.is_empty() {
        return String::new();
    }
    let mut out = String::from(r#"<ul class="warns">"#);
    for w in warnings.iter().take(limit) {
        let _ = write!(
            out,
            r#"<li><code>{}</code> · <span class="kind">{}</span> · {}</li>"#,
            escape(&w.connector),
            escape(&w.kind),
            escape(&w.reference)
        );
    }
    if warnings.len() > limit {
        let _ = write!(
            out,
            r#"<li class="sub">and {} more</li>"#,
            warnings.len() - limit
        );
    }
    out.push_str("</ul>");
    out
}

fn header_meta(
    overview_source: &api::SourceView,
    shard: &api::ShardView,
    now: DateTime<Utc>,
) -> String {
    let mut out = format!(
        r#"<span class="meta">source <b>{}</b> · fetched {}</span>"#,
        escape(&overview_source.url),
        when(overview_source.last_fetch_at, now)
    );
    if shard.count > 1 {
        let _ = write!(
            out,
            r#"<span class="meta">replica <b>{}</b> of {} · owns {} tenant{}</span>"#,
            shard.index,
            shard.count,
            shard.owned.len(),
            if shard.owned.len() == 1 { "" } else { "s" }
        );
    }
    out
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
    let warnings: usize = owned.iter().map(|t| t.open_warnings).sum();
    let mut body = String::new();
    body.push_str("<h1>Tenants</h1>");
    if let Some(err) = &o.list.source.last_fetch_error {
        let _ = write!(
            body,
            r#"<div class="note warn"><b>⚠ The last fetch of the source failed:</b> {}</div>"#,
            escape(err)
        );
    }
    let _ = write!(
        body,
        r#"<section class="summary">
<div class="chip"><b>{}</b><span>tenants</span></div>
<div class="chip"><b class="{ok_class}">{in_sync}</b><span>in sync</span></div>
<div class="chip"><b class="{bad_class}">{failing}</b><span>failed or blocked</span></div>
<div class="chip"><b class="{drift_class}">{drifted}</b><span>drifted</span></div>
<div class="chip"><b class="{warn_class}">{warnings}</b><span>open warnings</span></div>
</section>"#,
        owned.len(),
        ok_class = if in_sync == owned.len() { "n-ok" } else { "" },
        bad_class = if failing > 0 { "n-bad" } else { "" },
        drift_class = if drifted > 0 { "n-warn" } else { "" },
        warn_class = if warnings > 0 { "n-warn" } else { "" },
    );
    body.push_str(
        "<table class=\"tenants\"><thead><tr><th>Tenant</th><th>Sync</th><th>Drift</th><th>Open warnings</th><th>Applied commit</th><th>Last reconcile</th></tr></thead><tbody>",
    );
    for t in tenants {
        let link = format!("/tenants/{}", crate::encode::component(&t.name));
        let platform = t.platform.map(|p| p.as_str()).unwrap_or("");
        let branch = t.branch.as_deref().unwrap_or("");
        let warnings = o.warnings.get(&t.name).map(Vec::as_slice).unwrap_or(&[]);
        let mut last = match &t.last_outcome {
            Some(outcome) => format!(
                "{} {}",
                outcome_badge(outcome),
                when(t.last_reconcile_at, now)
            ),
            None if t.owned => r#"<span class="empty">not yet</span>"#.to_owned(),
            None => String::new(),
        };
        match (&t.last_error, &t.last_summary) {
            (Some(err), _) => {
                let _ = write!(last, r#"<div class="err">{}</div>"#, escape(err));
            }
            (None, Some(summary)) => {
                let _ = write!(last, r#"<div class="why">{}</div>"#, escape(summary));
            }
            (None, None) => {}
        }
        let warn_cell = if t.owned {
            format!(
                "{}{}",
                warnings_badge(t.open_warnings),
                warning_items(warnings, 4)
            )
        } else {
            String::new()
        };
        let _ = write!(
            body,
            r#"<tr data-tenant="{name_attr}"><td class="name"><a href="{link}">{name}</a><div class="sub">{platform} · {branch}</div></td><td>{sync}</td><td>{drift}</td><td>{warn_cell}</td><td>{commit}</td><td>{last}</td></tr>"#,
            name_attr = escape(&t.name),
            name = escape(&t.name),
            link = escape(&link),
            platform = escape(platform),
            branch = escape(branch),
            sync = sync_badge(t, o.list.shard.count),
            drift = if t.owned {
                drift_badge(t)
            } else {
                String::new()
            },
            commit = if t.owned {
                commit_cell(t.last_applied_commit.as_ref())
            } else {
                String::new()
            },
        );
    }
    if tenants.is_empty() {
        body.push_str(r#"<tr><td colspan="6" class="empty">No tenants are configured.</td></tr>"#);
    }
    body.push_str("</tbody></table>");
    page(
        "ferry · tenants",
        &header_meta(&o.list.source, &o.list.shard, now),
        &body,
    )
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
    let shards = shard.count;
    let meta = header_meta(source, shard, now);
    let mut body = String::new();
    let _ = write!(
        body,
        r#"<p class="crumbs"><a href="/">All tenants</a> / {name}</p><h1>{name}</h1><div class="states">{sync} {drift} {warn}<span class="sub">{platform} · branch {branch}</span></div>"#,
        name = escape(&t.name),
        sync = sync_badge(t, shards),
        drift = if t.owned {
            drift_badge(t)
        } else {
            String::new()
        },
        warn = if t.owned {
            warnings_badge_long(t.open_warnings)
        } else {
            String::new()
        },
        platform = escape(t.platform.map(|p| p.as_str()).unwrap_or("")),
        branch = escape(t.branch.as_deref().unwrap_or("")),
    );
    if !t.owned {
        let _ = write!(
            body,
            r#"<div class="note">This tenant is reconciled by replica {} of {}; its connectors, warnings and history live in that replica's state. Open that replica's status page to see them.</div>"#,
            t.shard, shards
        );
        return page(&format!("ferry · {}", t.name), &meta, &body);
    }
    if let Some(sha) = commit {
        let found = d.history.iter().any(|h| h.commit.sha.starts_with(sha));
        if found {
            let _ = write!(
                body,
                r##"<div class="note">Showing commit <span class="sha">{}</span>: its reconciles are highlighted in the <a href="#history">history</a> below.</div>"##,
                escape(api::short_sha(sha))
            );
        } else {
            let _ = write!(
                body,
                r#"<div class="note warn">Commit <span class="sha">{}</span> has no reconcile in the recent history of this tenant.</div>"#,
                escape(api::short_sha(sha))
            );
        }
    }
    let mut facts = format!(
        "<div><b>Applied commit:</b> {}</div>",
        commit_cell(t.last_applied_commit.as_ref())
    );
    if t.head_commit.as_ref().map(|c| &c.sha) != t.last_applied_commit.as_ref().map(|c| &c.sha) {
        let _ = write!(
            facts,
            "<div><b>Branch head:</b> {}</div>",
            match &t.head_commit {
                Some(c) => commit_cell(Some(c)),
                None => r#"<span class="empty">not fetched yet</span>"#.to_owned(),
            }
        );
    }
    if let Some(outcome) = &t.last_outcome {
        let _ = write!(
            facts,
            "<div><b>Last reconcile:</b> {} {}</div>",
            outcome_badge(outcome),
            when(t.last_reconcile_at, now)
        );
    }
    if let Some(err) = &t.last_error {
        let _ = write!(facts, r#"<div class="err">{}</div>"#, escape(err));
    }
    if let Some(reasons) = &t.pending_reasons {
        let next = d.schedule.as_ref().and_then(|s| s.next_run_at);
        let _ = write!(
            facts,
            r#"<div class="sub">Next reconcile ({}) {}</div>"#,
            escape(&reasons.to_string()),
            next.map(|n| format!("due {}", n.format("%H:%M:%S UTC")))
                .unwrap_or_default()
        );
    }
    let _ = write!(body, r#"<div class="card">{facts}</div>"#);

    let _ = write!(
        body,
        r#"<h2 id="connectors">Connectors ({})</h2>"#,
        d.connector_list.len()
    );
    if d.connector_list.is_empty() {
        body.push_str(r#"<p class="empty">ferry manages no connector in this tenant yet.</p>"#);
    } else {
        body.push_str("<table><thead><tr><th>Connector</th><th>Kind</th><th>Name in the tenant</th><th>Live id</th><th>State</th><th>Warnings</th></tr></thead><tbody>");
        for c in &d.connector_list {
            let mut state = connector_badge(c.sync_state);
            if let Some(m) = &c.message {
                let class = if c.sync_state == ConnectorState::Failed {
                    "err"
                } else {
                    "why"
                };
                let _ = write!(state, r#"<div class="{class}">{}</div>"#, escape(m));
            }
            let _ = write!(
                body,
                r#"<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>"#,
                escape(&c.connector),
                escape(&c.kind),
                escape(&c.name),
                escape(c.live_id.as_deref().unwrap_or("—")),
                state,
                if c.open_warnings == 0 {
                    "—".to_owned()
                } else {
                    format!("⚠ {}", c.open_warnings)
                },
            );
        }
        body.push_str("</tbody></table>");
    }

    let _ = write!(
        body,
        r#"<h2 id="warnings">Open warnings ({})</h2>"#,
        d.warnings.len()
    );
    if d.warnings.is_empty() {
        body.push_str(r#"<p class="empty">No open warnings.</p>"#);
    } else {
        body.push_str("<table><thead><tr><th>Connector</th><th>Kind</th><th>Reference</th><th>Open since</th></tr></thead><tbody>");
        for w in &d.warnings {
            let _ = write!(
                body,
                r#"<tr><td><code>{}</code></td><td><span class="kind">{}</span></td><td>{}</td><td class="sub">{}</td></tr>"#,
                escape(&w.connector),
                escape(&w.kind),
                escape(&w.reference),
                escape(&w.opened_at)
            );
        }
        body.push_str("</tbody></table>");
        body.push_str(&warnings_note(t.platform));
    }

    body.push_str(r#"<h2 id="drift">Drift</h2>"#);
    if d.drift.is_empty() {
        let text = match t.drift_state {
            DriftState::Unknown => "Not checked yet.",
            _ => "Every connector holds what ferry applied.",
        };
        let _ = write!(body, r#"<p class="empty">{text}</p>"#);
    } else {
        body.push_str(r#"<div class="card">⚠ Changed in the tenant since ferry applied them: "#);
        let names: Vec<String> = d
            .drift
            .iter()
            .map(|n| format!("<code>{}</code>", escape(n)))
            .collect();
        body.push_str(&names.join(", "));
        body.push_str("</div>");
    }

    let _ = write!(body, r#"<h2 id="history">History</h2>"#);
    if d.history.is_empty() {
        body.push_str(r#"<p class="empty">No reconcile recorded yet.</p>"#);
    } else {
        body.push_str("<table><thead><tr><th>Finished</th><th>Commit</th><th>Outcome</th><th>Summary</th></tr></thead><tbody>");
        for h in &d.history {
            let highlighted = commit.is_some_and(|c| h.commit.sha.starts_with(c));
            let finished = chrono::DateTime::parse_from_rfc3339(&h.finished_at)
                .ok()
                .map(|t| t.with_timezone(&Utc));
            let _ = write!(
                body,
                r#"<tr id="h{id}"{class}><td>{when}{marker}</td><td>{commit}</td><td>{outcome}</td><td>{summary}</td></tr>"#,
                id = h.id,
                class = if highlighted {
                    r#" class="highlight""#
                } else {
                    ""
                },
                when = when(finished, now),
                marker = if highlighted {
                    r#"<div class="sub">◀ this commit</div>"#
                } else {
                    ""
                },
                commit = commit_cell(Some(&h.commit)),
                outcome = outcome_badge(&h.outcome),
                summary = escape(&h.summary),
            );
        }
        body.push_str("</tbody></table>");
    }
    page(&format!("ferry · {}", t.name), &meta, &body)
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
            }),
            last_outcome: Some("warning".into()),
            last_error: None,
            last_summary: Some("in sync · 1 connector · 1 warning".into()),
            last_reconcile_at: None,
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

    #[test]
    fn escape_covers_the_five_characters() {
        assert_eq!(
            escape(r#"<script>alert('x') & "y"</script>"#),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(
            escape("Feed\u{202e}txt.exe\u{1b}"),
            "Feed\\u{202e}txt.exe\\u{1b}"
        );
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
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains(r#"href="/tenants/%3Ct%3E""#), "{html}");
        assert!(html.contains("✓ In sync"));
        assert!(html.contains("agentic-workflow"));
        assert!(html.contains("0123456"));
        assert!(html.contains("Ada &amp; Co"));
    }

    #[test]
    fn a_tenant_of_another_replica_points_there() {
        let mut t = summary("eu");
        t.owned = false;
        t.shard = 2;
        t.sync_state = SyncState::Unknown;
        let d = TenantDetail {
            summary: t,
            connector_list: vec![],
            warnings: vec![],
            drift: vec![],
            history: vec![],
            schedule: None,
        };
        let mut three = shard();
        three.count = 3;
        let html = render_tenant(&d, &source(), &three, None, Utc::now());
        assert!(html.contains("· On replica 2 of 3"), "{html}");
        assert!(html.contains("This tenant is reconciled by replica 2 of 3"));
        assert!(
            !html.contains("Connectors ("),
            "no local state is shown as if it were the tenant's"
        );
    }

    #[test]
    fn the_tenant_page_highlights_the_commit_asked_for() {
        let c = |sha: &str| CommitInfo {
            sha: sha.into(),
            short_sha: sha[..7].into(),
            message: Some("m".into()),
            author: None,
            time: None,
        };
        let d = TenantDetail {
            summary: summary("prod"),
            connector_list: vec![ConnectorView {
                connector: "<script>".into(),
                kind: "SmartConnector".into(),
                name: "Orders".into(),
                live_id: Some("42".into()),
                sync_state: ConnectorState::Failed,
                revision: None,
                created_by_ferry: true,
                open_warnings: 0,
                message: Some("import <refused>".into()),
            }],
            warnings: vec![warning("<script>")],
            drift: vec![],
            history: vec![
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
            ],
            schedule: None,
        };
        let html = render_tenant(&d, &source(), &shard(), Some("aaaaaaa"), Utc::now());
        assert!(html.contains(r#"<tr id="h1" class="highlight">"#), "{html}");
        assert!(html.contains(r#"<tr id="h2">"#), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("✕ Failed"));
        assert!(html.contains("import &lt;refused&gt;"));
        assert!(
            html.contains("Kizen also e-mails these warnings in the import confirmation"),
            "{html}"
        );
        let missing = render_tenant(&d, &source(), &shard(), Some("cccccccc"), Utc::now());
        assert!(missing.contains("has no reconcile in the recent history"));
        assert!(!missing.contains("class=\"highlight\""));
    }
}
