//! The webhook receiver: `POST /hooks/github`, `/hooks/gitlab` and `/hooks/gitea`.
//!
//! Each request is authenticated before its body is parsed: GitHub's
//! `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, Gitea's
//! `X-Gitea-Signature: <hex HMAC-SHA256>` (Forgejo's `X-Forgejo-Signature` too), GitLab's
//! `X-Gitlab-Token` equal to the secret. Comparisons run in constant time. Bodies above
//! [`MAX_BODY`] get 413. A refused request gets 401 with a short JSON message and
//! triggers nothing. A push to a followed branch gets 202 and starts, in the background,
//! a fetch followed by marking the tenants whose branch moved
//! ([`Controller::on_push`](crate::daemon::controller::Controller::on_push)); other refs and events
//! get 202 with `"status": "ignored"`. Without a secret (`server.webhookSecretEnv`) every
//! hook answers 404.
//!
//! This module must not fetch or reconcile in the request itself, and never logs the
//! secret, the signature or the token.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;
use tracing::{info, info_span, warn};

use crate::http::state::AppState;

/// Largest accepted webhook body: 1 MiB.
pub const MAX_BODY: usize = 1 << 20;

/// The hook routes, to merge into the server's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/hooks/github", post(github))
        .route("/hooks/gitlab", post(gitlab))
        .route("/hooks/gitea", post(gitea))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

fn disabled() -> Response {
    reply(
        StatusCode::NOT_FOUND,
        json!({"error": "webhooks are disabled: ferry has no webhook secret (server.webhookSecretEnv)"}),
    )
}

fn refuse(forge: &str, message: &str) -> Response {
    warn!(forge, reason = message, "webhook refused");
    reply(StatusCode::UNAUTHORIZED, json!({"error": message}))
}

fn ignored(forge: &str, message: String) -> Response {
    info!(forge, reason = %message, "webhook ignored");
    reply(
        StatusCode::ACCEPTED,
        json!({"status": "ignored", "message": message}),
    )
}

async fn github(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    const FORGE: &str = "github";
    let Some(secret) = app.webhook_secret() else {
        return disabled();
    };
    let Some(signature) = header(&headers, "x-hub-signature-256") else {
        return refuse(FORGE, "missing X-Hub-Signature-256 header");
    };
    let Some(hex) = signature.strip_prefix("sha256=") else {
        return refuse(FORGE, "X-Hub-Signature-256 must read sha256=<hex digest>");
    };
    if !secret.signs(&body, hex) {
        return refuse(
            FORGE,
            "signature does not match the body; check that the webhook secret on GitHub equals ferry's",
        );
    }
    match header(&headers, "x-github-event") {
        Some("push") => push(&app, FORGE, &body),
        Some("ping") => reply(StatusCode::OK, json!({"status": "pong"})),
        other => ignored(
            FORGE,
            format!("event {:?} is not a push", other.unwrap_or("")),
        ),
    }
}

async fn gitlab(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    const FORGE: &str = "gitlab";
    let Some(secret) = app.webhook_secret() else {
        return disabled();
    };
    let Some(token) = header(&headers, "x-gitlab-token") else {
        return refuse(FORGE, "missing X-Gitlab-Token header");
    };
    if !secret.equals(token) {
        return refuse(
            FORGE,
            "X-Gitlab-Token does not match; check that the webhook secret token on GitLab equals ferry's",
        );
    }
    match header(&headers, "x-gitlab-event") {
        Some("Push Hook") => push(&app, FORGE, &body),
        other => ignored(
            FORGE,
            format!("event {:?} is not a Push Hook", other.unwrap_or("")),
        ),
    }
}

async fn gitea(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    const FORGE: &str = "gitea";
    let Some(secret) = app.webhook_secret() else {
        return disabled();
    };
    let Some(signature) =
        header(&headers, "x-forgejo-signature").or_else(|| header(&headers, "x-gitea-signature"))
    else {
        return refuse(
            FORGE,
            "missing X-Gitea-Signature (or X-Forgejo-Signature) header",
        );
    };
    if !secret.signs(
        &body,
        signature.strip_prefix("sha256=").unwrap_or(signature),
    ) {
        return refuse(
            FORGE,
            "signature does not match the body; check that the webhook secret on Gitea or Forgejo equals ferry's",
        );
    }
    let event = header(&headers, "x-forgejo-event").or_else(|| header(&headers, "x-gitea-event"));
    match event {
        Some("push") => push(&app, FORGE, &body),
        other => ignored(
            FORGE,
            format!("event {:?} is not a push", other.unwrap_or("")),
        ),
    }
}

/// The part of a push payload ferry reads; GitHub, GitLab and Gitea all send `ref`.
#[derive(Debug, Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: String,
}

fn push(app: &AppState, forge: &'static str, body: &[u8]) -> Response {
    if body.starts_with(b"payload=") {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"error": "the payload is form-encoded; set the webhook's content type to application/json"}),
        );
    }
    let push: Push = match serde_json::from_slice(body) {
        Ok(p) => p,
        Err(e) => {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"error": format!("the push payload is not JSON with a \"ref\" string: {e}")}),
            );
        }
    };
    let Some(branch) = push.git_ref.strip_prefix("refs/heads/") else {
        return ignored(forge, format!("{} is not a branch", push.git_ref));
    };
    let controller = app.controller().clone();
    let tenants = controller.tenants_following(branch);
    if tenants.is_empty() {
        return ignored(forge, format!("no tenant follows branch {branch}"));
    }
    if app.lifecycle().is_shutting_down() {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "ferry is shutting down; the push is picked up after the restart"}),
        );
    }
    info!(forge, branch, ?tenants, "push received; fetching");
    let answer = json!({"status": "accepted", "branch": branch, "tenants": tenants});
    let branch = branch.to_owned();
    app.lifecycle()
        .spawn(info_span!("webhook", forge, branch = %branch), async move {
            // A failure is logged by the controller; the poll picks the change up later.
            let _ = controller.on_push(&branch).await;
        });
    reply(StatusCode::ACCEPTED, answer)
}
