//! The webhook receiver: `POST /hooks/github`, `/hooks/gitlab` and `/hooks/gitea`.
//!
//! What happens to a request, in order:
//!
//! 1. Without a webhook secret (`server.webhookSecretEnv`), every hook answers 404; nothing
//!    is read.
//! 2. **Authentication, before anything of the body is parsed.** GitLab: the
//!    `X-Gitlab-Token` header must equal the secret, checked *before the body is read*; a
//!    missing or wrong token gets 401 at once. GitHub and Gitea sign the body, so the body
//!    is read first (at most [`MAX_BODY`]; a larger one gets 413 without being read to the
//!    end), then GitHub's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>` or
//!    Gitea's `X-Gitea-Signature: <hex HMAC-SHA256>` (Forgejo's `X-Forgejo-Signature`
//!    too) must match; a missing or wrong signature gets 401. Comparisons run in constant
//!    time. A refused request triggers nothing and records nothing.
//! 3. **Replays.** The delivery id (`X-GitHub-Delivery`, `X-Gitea-Delivery` or
//!    `X-Forgejo-Delivery`, `X-Gitlab-Event-UUID`) of an authenticated request is
//!    remembered for a day; the same id again gets 202 with `"status": "duplicate"` and
//!    triggers no fetch.
//! 4. **The event.** GitHub's `ping` gets 200; a push to a followed branch gets 202
//!    (`"status": "accepted"`) and starts, in the background, a fetch followed by marking
//!    the tenants whose branch moved
//!    ([`Controller::push_fetch`](crate::daemon::controller::Controller::push_fetch)).
//!    Pushes arriving while such a fetch runs are folded into one more fetch after it.
//!    Other refs, events and branches get 202 with `"status": "ignored"`; a body that is
//!    not JSON with a `ref` gets 400.
//!
//! This module must not fetch or reconcile in the request itself, and never logs the
//! secret, the signature or the token.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
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
    if let Some(answer) = replayed(&app, FORGE, header(&headers, "x-github-delivery")) {
        return answer;
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

async fn gitlab(State(app): State<AppState>, request: Request) -> Response {
    const FORGE: &str = "gitlab";
    let Some(secret) = app.webhook_secret() else {
        return disabled();
    };
    // The token is a header: it is checked before a byte of the body is read.
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let Some(token) = header(&headers, "x-gitlab-token") else {
        return refuse(FORGE, "missing X-Gitlab-Token header");
    };
    if !secret.equals(token) {
        return refuse(
            FORGE,
            "X-Gitlab-Token does not match; check that the webhook secret token on GitLab equals ferry's",
        );
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(_) => {
            return reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": format!("the body is larger than {MAX_BODY} bytes, or was not sent whole")}),
            );
        }
    };
    if let Some(answer) = replayed(&app, FORGE, header(&headers, "x-gitlab-event-uuid")) {
        return answer;
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
    let delivery =
        header(&headers, "x-forgejo-delivery").or_else(|| header(&headers, "x-gitea-delivery"));
    if let Some(answer) = replayed(&app, FORGE, delivery) {
        return answer;
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

/// An authenticated delivery's id seen before within the window: the 202 "duplicate"
/// answer (nothing fetched). `None` for a first delivery, or one without an id.
fn replayed(app: &AppState, forge: &'static str, delivery: Option<&str>) -> Option<Response> {
    let id = delivery.map(str::trim).filter(|id| !id.is_empty())?;
    if app.first_delivery(id) {
        return None;
    }
    let shown = crate::printable::printable(id);
    info!(forge, delivery = %shown, "webhook delivery already received; nothing to do");
    Some(reply(
        StatusCode::ACCEPTED,
        json!({
            "status": "duplicate",
            "delivery": shown,
            "message": "this delivery was already received; nothing is fetched again",
        }),
    ))
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
    let answer = json!({"status": "accepted", "branch": branch, "tenants": tenants});
    match controller.push_fetch() {
        Some(fetch) => {
            info!(forge, branch, ?tenants, "push received; fetching");
            app.lifecycle()
                .spawn(info_span!("webhook", forge, branch = %branch), fetch);
        }
        None => info!(
            forge,
            branch,
            ?tenants,
            "push received; fetched right after the fetch running now"
        ),
    }
    reply(StatusCode::ACCEPTED, answer)
}
