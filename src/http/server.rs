//! The HTTP server of `ferry serve`: `/livez`, `/readyz`, `/metrics`, the JSON API
//! ([`crate::http::api`]), the status page ([`crate::http::page`]) and the webhook receiver.
//!
//! [`AppState`] (in [`crate::http::state`]) is the shared state every handler reads;
//! [`routes`] gives the routes as a `Router<AppState>` and [`router`] binds them to a
//! state. The API and the page read the configured tenants, the state store and the shard
//! from the [`StatusContext`](crate::http::state::StatusContext) given with
//! [`AppState::with_status`]; without one they show the scheduler's tenants only. Other
//! endpoints add their own `Router<AppState>` and are merged the same way:
//!
//! ```
//! use ferry::http::server;
//! use ferry::http::state::AppState;
//!
//! fn app(state: AppState, metrics: axum::Router<AppState>) -> axum::Router {
//!     server::routes().merge(metrics).with_state(state)
//! }
//! ```
//!
//! This module must not mark tenants or fetch; it reports what the scheduler and the
//! source know, and hands webhooks to [`crate::http::webhook`].

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config;
use crate::daemon::scheduler::{OutcomeKind, Reasons};
use crate::http::api;
use crate::http::state::AppState;
use crate::http::webhook;
use crate::source::remote::FetchFailure;

/// Listen address when neither `--listen`, `FERRY_LISTEN` nor `server.listen` gives one.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9400";

/// Errors of the HTTP server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address is not `host:port`.
    #[error(
        "listen address {value:?} is not an IP address and port such as 127.0.0.1:9400 or 0.0.0.0:9400; fix --listen, FERRY_LISTEN or server.listen"
    )]
    InvalidListen {
        /// The value given.
        value: String,
    },
    /// The port could not be bound.
    #[error(
        "cannot listen on {addr}: {source}. Is another process using the port? Pass another address with --listen"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The listen address: `flag` (from `--listen` or `FERRY_LISTEN`), else `server.listen`,
/// else [`DEFAULT_LISTEN`].
///
/// # Errors
/// [`Error::InvalidListen`].
pub fn listen_address(flag: Option<&str>, server: &config::Server) -> Result<SocketAddr, Error> {
    let value = flag.or(server.listen.as_deref()).unwrap_or(DEFAULT_LISTEN);
    value.parse().map_err(|_| Error::InvalidListen {
        value: value.to_owned(),
    })
}

/// Bind the listener.
///
/// # Errors
/// [`Error::Bind`].
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

/// Serve `app` on `listener` until `stop` fires, then finish the open requests.
///
/// # Errors
/// An I/O error of the listener.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
}

/// `/livez`, `/readyz`, `/metrics`, `/api/v1/*`, the status page and `/hooks/*`, waiting
/// for a state.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(api::routes())
        .merge(crate::http::page::routes())
        .merge(webhook::routes())
}

/// [`routes`] bound to `state`, ready to serve.
pub fn router(state: AppState) -> Router {
    routes().with_state(state)
}

async fn livez() -> impl IntoResponse {
    Json(serde_json::json!({"status": "alive"}))
}

/// The process-wide metrics in the OpenMetrics text format, the store-derived gauges
/// refreshed first.
async fn metrics(State(app): State<AppState>) -> impl IntoResponse {
    let metrics = crate::metrics::get();
    if let Err(e) = api::refresh_gauges(&app, metrics).await {
        tracing::warn!(error = %e, "cannot refresh the tenant gauges; /metrics shows the last values");
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        metrics.encode(),
    )
}

/// The body of `/readyz`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Readiness {
    /// Every owned tenant finished its first reconcile, and shutdown has not begun.
    ready: bool,
    shutting_down: bool,
    /// This replica's shard and the tenants it owns.
    shard: api::ShardView,
    source: SourceReadiness,
    tenants: Vec<TenantReadiness>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SourceReadiness {
    url: String,
    heads: BTreeMap<String, String>,
    last_fetch_at: Option<DateTime<Utc>>,
    last_fetch_error: Option<FetchFailure>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TenantReadiness {
    name: String,
    branch: Option<String>,
    commit: Option<String>,
    reconciled: bool,
    running: bool,
    pending: Option<Reasons>,
    next_run_at: Option<DateTime<Utc>>,
    reconciles: u64,
    consecutive_failures: u32,
    last_outcome: Option<OutcomeKind>,
    last_error: Option<String>,
    last_finished_at: Option<DateTime<Utc>>,
    last_fetch_error: Option<String>,
}

async fn readyz(State(app): State<AppState>) -> impl IntoResponse {
    let remote = app.remote();
    let fetch_error = remote.last_fetch_error();
    let tenants: Vec<TenantReadiness> = app
        .scheduler()
        .statuses()
        .into_iter()
        .map(|s| {
            let branch = app.controller().branch_of(&s.name).map(str::to_owned);
            let head = branch.as_deref().map(|b| remote.head(b));
            let last_fetch_error = match &head {
                Some(Err(e)) => Some(e.to_string()),
                _ => fetch_error
                    .as_ref()
                    .filter(|f| f.branch.is_none() || f.branch == branch)
                    .map(|f| f.message.clone()),
            };
            TenantReadiness {
                reconciled: s.reconciles > 0,
                commit: head.and_then(Result::ok).map(|c| c.to_string()),
                branch,
                running: s.running,
                pending: s.pending,
                next_run_at: s.next_run_at,
                reconciles: s.reconciles,
                consecutive_failures: s.consecutive_failures,
                last_outcome: s.last.as_ref().map(|l| l.outcome),
                last_error: s.last.as_ref().and_then(|l| l.error.clone()),
                last_finished_at: s.last.as_ref().map(|l| l.finished_at),
                last_fetch_error,
                name: s.name,
            }
        })
        .collect();
    let shutting_down = app.lifecycle().is_shutting_down();
    let ready = !shutting_down && tenants.iter().all(|t| t.reconciled);
    let shard = app.status().shard();
    let body = Readiness {
        ready,
        shutting_down,
        shard: api::ShardView {
            index: shard.index,
            count: shard.count,
            hash: crate::daemon::shard::HASH_NAME,
            owned: tenants.iter().map(|t| t.name.clone()).collect(),
        },
        source: SourceReadiness {
            url: remote.display_url().to_owned(),
            heads: remote
                .heads()
                .into_iter()
                .map(|(b, c)| (b, c.to_string()))
                .collect(),
            last_fetch_at: remote.last_success(),
            last_fetch_error: fetch_error,
        },
        tenants,
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listen_flag_wins_over_the_config_and_the_default() {
        let mut server = config::Server::default();
        assert_eq!(
            listen_address(None, &server).unwrap().to_string(),
            "127.0.0.1:9400"
        );
        server.listen = Some("0.0.0.0:8080".to_owned());
        assert_eq!(
            listen_address(None, &server).unwrap().to_string(),
            "0.0.0.0:8080"
        );
        assert_eq!(
            listen_address(Some("127.0.0.1:1234"), &server)
                .unwrap()
                .to_string(),
            "127.0.0.1:1234"
        );
        assert_eq!(
            listen_address(Some("localhost"), &server)
                .unwrap_err()
                .to_string(),
            "listen address \"localhost\" is not an IP address and port such as 127.0.0.1:9400 or 0.0.0.0:9400; fix --listen, FERRY_LISTEN or server.listen"
        );
    }
}
