//! Local notification receivers on loopback, for the notification tests: a Slack incoming
//! webhook, a Teams workflow webhook, a Standard Webhooks endpoint and an Alertmanager.
//!
//! Each checks what it gets against the receiver's documented format, written here from
//! the vendors' documents and independently of ferry's code: Slack's incoming-webhook
//! message (`text`, optional Block Kit `blocks`, escaped control characters), the Teams
//! workflow body (a `message` whose `attachments` hold an Adaptive Card), the Standard
//! Webhooks headers and HMAC-SHA256 signature, and Alertmanager's OpenAPI v2
//! `postableAlerts`. A request that does not conform is answered as the real receiver
//! would (400, 401) and recorded as a violation, so a test fails on it. Every request is
//! recorded; the receivers can be taken down (503) to play an outage.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

/// The signing secret the webhook receiver verifies with, in the Standard Webhooks form.
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The secret part of the Slack webhook URL (the path's last segment).
pub const SLACK_TOKEN: &str = "XXslackSecretTokenXX";

/// The signature part of the Teams workflow URL (`sig=`).
pub const TEAMS_SIG: &str = "XXteamsSignatureXX";

/// Which receiver a request reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Slack,
    Teams,
    Webhook,
    Alertmanager,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Slack, Kind::Teams, Kind::Webhook, Kind::Alertmanager];
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub kind: Kind,
    /// The body, parsed.
    pub body: Value,
    /// Headers, lowercased names.
    pub headers: BTreeMap<String, String>,
    /// What the receiver answered.
    pub answered: u16,
}

impl Received {
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.answered)
    }
}

struct Shared {
    down: AtomicBool,
    got: Mutex<Vec<Received>>,
    violations: Mutex<Vec<String>>,
}

/// The four receivers on one loopback port.
pub struct Receivers {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl Receivers {
    /// Start them (inside a tokio runtime), up.
    pub async fn start() -> Receivers {
        let shared = Arc::new(Shared {
            down: AtomicBool::new(false),
            got: Mutex::default(),
            violations: Mutex::default(),
        });
        let app = Router::new()
            .route("/slack/services/{t}/{b}/{token}", post(slack))
            .route(
                "/teams/workflows/{id}/triggers/manual/paths/invoke",
                post(teams),
            )
            .route("/hooks/ferry", post(webhook))
            .route("/alertmanager/api/v2/alerts", post(alertmanager))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(s.cancelled_owned())
                .await
        });
        Receivers { addr, shared, stop }
    }

    /// A Slack incoming webhook URL (its last segment is the secret).
    pub fn slack_url(&self) -> String {
        format!(
            "http://{}/slack/services/T0001/B0001/{SLACK_TOKEN}",
            self.addr
        )
    }

    /// A Teams workflow URL (its `sig` is the secret).
    pub fn teams_url(&self) -> String {
        format!(
            "http://{}/teams/workflows/0f1e2d/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={TEAMS_SIG}",
            self.addr
        )
    }

    /// The signed webhook's URL.
    pub fn webhook_url(&self) -> String {
        format!("http://{}/hooks/ferry", self.addr)
    }

    /// Alertmanager's base URL (ferry appends `/api/v2/alerts`).
    pub fn alertmanager_url(&self) -> String {
        format!("http://{}/alertmanager", self.addr)
    }

    /// Answer every request with 503 (`true`), or normally.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Every request so far.
    pub fn all(&self) -> Vec<Received> {
        self.shared.got.lock().unwrap().clone()
    }

    /// The bodies `kind` accepted, in order.
    pub fn accepted(&self, kind: Kind) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|r| r.kind == kind && r.accepted())
            .collect()
    }

    /// How many requests `kind` got, accepted or not.
    pub fn attempts(&self, kind: Kind) -> usize {
        self.all().iter().filter(|r| r.kind == kind).count()
    }

    /// How many messages each kind accepted.
    pub fn counts(&self) -> BTreeMap<Kind, usize> {
        Kind::ALL
            .into_iter()
            .map(|k| (k, self.accepted(k).len()))
            .collect()
    }

    /// Requests that broke the receiver's documented format.
    pub fn violations(&self) -> Vec<String> {
        self.shared.violations.lock().unwrap().clone()
    }
}

impl Drop for Receivers {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Record a request and answer it: 503 while down, else the check's answer.
fn answer(
    shared: &Shared,
    kind: Kind,
    headers: &HeaderMap,
    body: &Bytes,
    check: impl FnOnce(&Value) -> Result<(), (StatusCode, String)>,
    ok: (StatusCode, &'static str),
) -> Response {
    let parsed: Result<Value, _> = serde_json::from_slice(body);
    let headers: BTreeMap<String, String> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let verdict = if shared.down.load(Ordering::SeqCst) {
        Err((StatusCode::SERVICE_UNAVAILABLE, "down".to_owned()))
    } else {
        match &parsed {
            Err(e) => Err((StatusCode::BAD_REQUEST, format!("not JSON: {e}"))),
            Ok(value) => check(value),
        }
    };
    let answered = match &verdict {
        Ok(()) => ok.0,
        Err((status, _)) => *status,
    };
    if let Err((status, why)) = &verdict
        && *status != StatusCode::SERVICE_UNAVAILABLE
    {
        shared
            .violations
            .lock()
            .unwrap()
            .push(format!("{kind:?}: {why}"));
    }
    shared.got.lock().unwrap().push(Received {
        kind,
        body: parsed.unwrap_or(Value::Null),
        headers,
        answered: answered.as_u16(),
    });
    match verdict {
        Ok(()) => (ok.0, ok.1).into_response(),
        Err((status, why)) => (status, why).into_response(),
    }
}

fn json_content_type(headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/json") {
        Ok(())
    } else {
        Err((
            StatusCode::BAD_REQUEST,
            format!("Content-Type {ct:?}, not application/json"),
        ))
    }
}

fn bad(why: impl Into<String>) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, why.into())
}

// ---------------------------------------------------------------------------------------
// Slack: "Sending messages using incoming webhooks" — a JSON body with `text` and
// optional `blocks` (Block Kit); success is 200 with the body `ok`; a malformed body is
// 400 `invalid_payload`. Text must escape `&`, `<`, `>` except in Slack's own sequences.

async fn slack(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let ct = json_content_type(&headers);
    answer(
        &shared,
        Kind::Slack,
        &headers,
        &body,
        |v| {
            ct.clone()?;
            check_slack(v).map_err(|why| bad(format!("invalid_payload: {why}")))
        },
        (StatusCode::OK, "ok"),
    )
}

/// Slack's sequences in `mrkdwn`: links `<url|label>` and `<url>`, nothing else from ferry.
fn check_mrkdwn(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let close = rest[open..]
            .find('>')
            .ok_or_else(|| format!("unclosed `<` in {text:?}"))?;
        let inner = &rest[open + 1..open + close];
        let url = inner.split('|').next().unwrap_or("");
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "`<{inner}>` is a Slack control sequence (a mention or command), not a link"
            ));
        }
        rest = &rest[open + close + 1..];
    }
    if rest.contains('>') {
        return Err(format!("unescaped `>` in {text:?}"));
    }
    for (i, _) in text.match_indices('&') {
        let tail = &text[i..];
        if !(tail.starts_with("&amp;") || tail.starts_with("&lt;") || tail.starts_with("&gt;")) {
            return Err(format!("unescaped `&` in {text:?}"));
        }
    }
    Ok(())
}

fn check_text_object(obj: &Value, max: usize, where_: &str) -> Result<(), String> {
    let kind = obj["type"].as_str().unwrap_or("");
    let text = obj["text"]
        .as_str()
        .ok_or_else(|| format!("{where_}: a text object needs `text`"))?;
    if text.is_empty() {
        return Err(format!("{where_}: empty text"));
    }
    if text.chars().count() > max {
        return Err(format!("{where_}: text longer than {max} characters"));
    }
    match kind {
        "plain_text" => Ok(()),
        "mrkdwn" => check_mrkdwn(text).map_err(|e| format!("{where_}: {e}")),
        other => Err(format!("{where_}: text object type {other:?}")),
    }
}

fn check_slack(v: &Value) -> Result<(), String> {
    let obj = v.as_object().ok_or("the body is not a JSON object")?;
    for key in obj.keys() {
        if !["text", "blocks"].contains(&key.as_str()) {
            return Err(format!("unexpected field {key:?}"));
        }
    }
    let text = v["text"].as_str().filter(|t| !t.is_empty()).ok_or(
        "no `text`: it is what notifications show, and the message for clients without blocks",
    )?;
    check_mrkdwn(text)?;
    let Some(blocks) = v.get("blocks") else {
        return Ok(());
    };
    let blocks = blocks.as_array().ok_or("`blocks` is not an array")?;
    if blocks.is_empty() || blocks.len() > 50 {
        return Err(format!("{} blocks (1 to 50)", blocks.len()));
    }
    for (i, block) in blocks.iter().enumerate() {
        let where_ = format!("blocks[{i}]");
        match block["type"].as_str() {
            Some("header") => {
                if block["text"]["type"] != "plain_text" {
                    return Err(format!("{where_}: a header's text is plain_text"));
                }
                check_text_object(&block["text"], 150, &where_)?;
            }
            Some("section") => check_text_object(&block["text"], 3000, &where_)?,
            Some("context") => {
                let elements = block["elements"]
                    .as_array()
                    .ok_or(format!("{where_}: a context needs `elements`"))?;
                if elements.is_empty() || elements.len() > 10 {
                    return Err(format!("{where_}: {} elements (1 to 10)", elements.len()));
                }
                for (j, e) in elements.iter().enumerate() {
                    check_text_object(e, 3000, &format!("{where_}.elements[{j}]"))?;
                }
            }
            other => return Err(format!("{where_}: block type {other:?} not expected")),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Teams workflows ("When a Teams webhook request is received"): a `message` whose
// `attachments` hold `contentType: application/vnd.microsoft.card.adaptive` with the
// Adaptive Card in `content`; the workflow answers 202 Accepted.

async fn teams(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ct = json_content_type(&headers);
    let signed = uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == format!("sig={TEAMS_SIG}")));
    answer(
        &shared,
        Kind::Teams,
        &headers,
        &body,
        |v| {
            if !signed {
                return Err((StatusCode::UNAUTHORIZED, "no valid sig".to_owned()));
            }
            ct.clone()?;
            check_teams(v).map_err(bad)
        },
        (StatusCode::ACCEPTED, ""),
    )
}

fn check_teams(v: &Value) -> Result<(), String> {
    if v["type"] != "message" {
        return Err("`type` is not \"message\"".into());
    }
    let attachments = v["attachments"]
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or("no `attachments`")?;
    for (i, a) in attachments.iter().enumerate() {
        if a["contentType"] != "application/vnd.microsoft.card.adaptive" {
            return Err(format!(
                "attachments[{i}].contentType is {}",
                a["contentType"]
            ));
        }
        let card = &a["content"];
        if card["type"] != "AdaptiveCard" {
            return Err(format!("attachments[{i}].content is not an AdaptiveCard"));
        }
        let version = card["version"].as_str().unwrap_or("");
        let numeric = version.split('.').count() == 2
            && version
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !numeric {
            return Err(format!("card version {version:?}"));
        }
        let body = card["body"]
            .as_array()
            .filter(|b| !b.is_empty())
            .ok_or("the card has no `body`")?;
        for (j, element) in body.iter().enumerate() {
            match element["type"].as_str() {
                Some("TextBlock") => {
                    if !element["text"].is_string() {
                        return Err(format!("body[{j}]: a TextBlock needs `text`"));
                    }
                }
                Some("FactSet") => {
                    let facts = element["facts"]
                        .as_array()
                        .ok_or("a FactSet needs `facts`")?;
                    if facts
                        .iter()
                        .any(|f| !f["title"].is_string() || !f["value"].is_string())
                    {
                        return Err(format!("body[{j}]: a fact needs `title` and `value`"));
                    }
                }
                other => return Err(format!("body[{j}]: element {other:?} not expected")),
            }
        }
        if let Some(actions) = card.get("actions") {
            for action in actions.as_array().ok_or("`actions` is not an array")? {
                if action["type"] != "Action.OpenUrl" {
                    return Err(format!("action {}", action["type"]));
                }
                let url = action["url"].as_str().unwrap_or("");
                reqwest::Url::parse(url).map_err(|_| format!("action url {url:?}"))?;
            }
        }
    }
    if v.to_string().len() > 28 * 1024 {
        return Err("larger than 28 KB".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Standard Webhooks: `webhook-id`, `webhook-timestamp` (Unix seconds, within 5 minutes),
// `webhook-signature` (space-separated `v1,<base64>`), the signature being HMAC-SHA256
// of `<id>.<timestamp>.<raw body>` under the secret's key (base64 after `whsec_`).

async fn webhook(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let ct = json_content_type(&headers);
    let verified = verify_standard_webhook(&headers, &body);
    answer(
        &shared,
        Kind::Webhook,
        &headers,
        &body,
        |v| {
            verified
                .clone()
                .map_err(|why| (StatusCode::UNAUTHORIZED, why))?;
            ct.clone()?;
            check_webhook_body(v).map_err(bad)
        },
        (StatusCode::NO_CONTENT, ""),
    )
}

/// Verify a request as a Standard Webhooks receiver does.
pub fn verify_standard_webhook(headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(format!("no {name} header"))
    };
    let id = get("webhook-id")?;
    let timestamp = get("webhook-timestamp")?;
    let signatures = get("webhook-signature")?;
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| format!("webhook-timestamp {timestamp:?} is not Unix seconds"))?;
    let now = chrono::Utc::now().timestamp();
    if (now - ts).abs() > 300 {
        return Err(format!(
            "webhook-timestamp {ts} is more than 5 minutes from now"
        ));
    }
    let key = STANDARD
        .decode(WEBHOOK_SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    for candidate in signatures.split(' ') {
        let Some(encoded) = candidate.strip_prefix("v1,") else {
            continue;
        };
        let Ok(given) = STANDARD.decode(encoded) else {
            continue;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        if mac.verify_slice(&given).is_ok() {
            return Ok(());
        }
    }
    Err("no v1 signature matches".into())
}

fn check_webhook_body(v: &Value) -> Result<(), String> {
    let kind = v["type"].as_str().ok_or("no `type`")?;
    if !kind.contains('.') {
        return Err(format!("type {kind:?} is not <kind>.<phase>"));
    }
    let ts = v["timestamp"].as_str().ok_or("no `timestamp`")?;
    chrono::DateTime::parse_from_rfc3339(ts).map_err(|_| format!("timestamp {ts:?}"))?;
    let data = v["data"].as_object().ok_or("no `data`")?;
    for key in ["tenant", "kind", "phase", "title", "commit", "conditions"] {
        if !data.contains_key(key) {
            return Err(format!("data has no `{key}`"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Alertmanager API v2 (api/v2/openapi.yaml): POST /api/v2/alerts with `postableAlerts`, an
// array of `postableAlert` {labels (required LabelSet), annotations (LabelSet), startsAt,
// endsAt (date-time), generatorURL (uri)}; Alertmanager validates label names and that an
// alert has labels and does not end before it starts.

async fn alertmanager(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ct = json_content_type(&headers);
    answer(
        &shared,
        Kind::Alertmanager,
        &headers,
        &body,
        |v| {
            ct.clone()?;
            check_postable_alerts(v).map_err(bad)
        },
        (StatusCode::OK, ""),
    )
}

fn label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_label_set(v: &Value, what: &str, required: bool) -> Result<(), String> {
    let Some(set) = v.as_object() else {
        return if required || !v.is_null() {
            Err(format!("{what} is not an object"))
        } else {
            Ok(())
        };
    };
    if required && set.is_empty() {
        return Err(format!("{what}: at least one label pair required"));
    }
    for (name, value) in set {
        if !label_name(name) {
            return Err(format!("{what}: invalid name {name:?}"));
        }
        match value.as_str() {
            Some(s) if !s.is_empty() => {}
            _ => return Err(format!("{what}.{name}: not a non-empty string")),
        }
    }
    Ok(())
}

fn check_postable_alerts(v: &Value) -> Result<(), String> {
    let alerts = v.as_array().ok_or("postableAlerts is an array")?;
    if alerts.is_empty() {
        return Err("no alerts".into());
    }
    for (i, alert) in alerts.iter().enumerate() {
        let obj = alert
            .as_object()
            .ok_or(format!("alerts[{i}] is not an object"))?;
        for key in obj.keys() {
            if ![
                "labels",
                "annotations",
                "startsAt",
                "endsAt",
                "generatorURL",
            ]
            .contains(&key.as_str())
            {
                return Err(format!("alerts[{i}]: {key:?} is not a postableAlert field"));
            }
        }
        check_label_set(&alert["labels"], &format!("alerts[{i}].labels"), true)?;
        if alert["labels"]["alertname"].as_str().is_none() {
            return Err(format!("alerts[{i}]: no alertname label"));
        }
        check_label_set(
            &alert["annotations"],
            &format!("alerts[{i}].annotations"),
            false,
        )?;
        let time = |key: &str| -> Result<Option<chrono::DateTime<chrono::FixedOffset>>, String> {
            match alert.get(key) {
                None => Ok(None),
                Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
                    .map(Some)
                    .map_err(|_| format!("alerts[{i}].{key} {s:?} is not a date-time")),
                Some(other) => Err(format!("alerts[{i}].{key} is {other}")),
            }
        };
        let starts = time("startsAt")?;
        let ends = time("endsAt")?;
        if let (Some(s), Some(e)) = (starts, ends)
            && e < s
        {
            return Err(format!("alerts[{i}]: start time must be before end time"));
        }
        if let Some(url) = alert.get("generatorURL") {
            let url = url.as_str().unwrap_or("");
            reqwest::Url::parse(url).map_err(|_| format!("alerts[{i}].generatorURL {url:?}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod checks {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_checks_refuse_what_the_receivers_refuse() {
        assert!(check_slack(&json!({"text": "hi"})).is_ok());
        assert!(check_slack(&json!({"blocks": []})).is_err());
        assert!(check_slack(&json!({"text": "a <!channel>"})).is_err());
        assert!(check_slack(&json!({"text": "a & b"})).is_err());
        assert!(check_slack(&json!({"text": "a <https://x|y> &amp; b"})).is_ok());
        assert!(check_teams(&json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": "x"}]}}]})).is_ok());
        assert!(check_teams(&json!({"text": "connector card"})).is_err());
        assert!(check_postable_alerts(&json!([{"labels": {"alertname": "X"}}])).is_ok());
        assert!(check_postable_alerts(&json!([{"labels": {}}])).is_err());
        assert!(
            check_postable_alerts(&json!([{"labels": {"alertname": "X", "bad-name": "y"}}]))
                .is_err()
        );
        assert!(check_postable_alerts(&json!([{"labels": {"alertname": "X"}, "startsAt": "2025-01-02T00:00:00Z", "endsAt": "2025-01-01T00:00:00Z"}])).is_err());
        assert!(
            check_postable_alerts(&json!([{"labels": {"alertname": "X"}, "status": "firing"}]))
                .is_err()
        );
    }
}
