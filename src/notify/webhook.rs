//! A generic JSON webhook, signed with HMAC-SHA256 the way the Standard Webhooks
//! specification (standardwebhooks.com) describes, so receivers can verify it with that
//! project's libraries or a few lines of their own.
//!
//! Each request is a `POST` with `Content-Type: application/json` and three headers:
//! - `webhook-id`: the message's id ([`crate::notify::Event::key`]), the same on every
//!   retry of that message, so a receiver can drop duplicates;
//! - `webhook-timestamp`: when this attempt was signed, in Unix seconds;
//! - `webhook-signature`: `v1,` followed by the base64 of
//!   `HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")`, where `<body>` is the
//!   exact bytes of the request body.
//!
//! The key is the secret's bytes after `whsec_`, base64-decoded, for a secret written as
//! `whsec_<base64>` (the specification's form, made by `echo "whsec_$(openssl rand
//! -base64 32)"`); any other secret is used as its UTF-8 bytes. Keys shorter than 16
//! bytes are refused at start-up. The body is `{"type": "<kind>.<phase>", "timestamp",
//! "data": {…}}`; `docs/notifications.md` lists its fields.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use sha2::Sha256;

use super::event::{Event, rfc3339};
use super::receiver::SecretUrl;

type HmacSha256 = Hmac<Sha256>;

/// Shortest signing key accepted, in bytes.
const MIN_KEY: usize = 16;

/// A signing key. `Debug` prints `***`.
#[derive(Clone)]
pub(crate) struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A signed JSON webhook.
#[derive(Debug)]
pub(crate) struct Webhook {
    /// Where to post.
    pub(crate) url: SecretUrl,
    /// The signing key.
    pub(crate) key: SigningKey,
}

/// The key of a configured secret: base64-decoded after `whsec_`, else its bytes.
///
/// # Errors
/// What is wrong with it, without its value.
pub(crate) fn signing_key(secret: &str) -> Result<SigningKey, String> {
    let key = match secret.strip_prefix("whsec_") {
        Some(encoded) => STANDARD.decode(encoded).map_err(|_| {
            "the signing secret starts with `whsec_` but what follows is not base64; make one with `echo \"whsec_$(openssl rand -base64 32)\"`".to_owned()
        })?,
        None => secret.as_bytes().to_vec(),
    };
    if key.len() < MIN_KEY {
        return Err(format!(
            "the signing secret is shorter than {MIN_KEY} bytes and could be guessed; make one with `echo \"whsec_$(openssl rand -base64 32)\"`"
        ));
    }
    Ok(SigningKey(key))
}

/// `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`.
pub(crate) fn signature(key: &SigningKey, id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(&key.0).expect("HMAC takes keys of any length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

impl Webhook {
    /// The headers of one attempt to send message `id` with `body`, signed at
    /// `timestamp` (Unix seconds).
    pub(crate) fn headers(&self, id: &str, timestamp: i64, body: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""));
        headers.insert("webhook-id", value(id));
        headers.insert("webhook-timestamp", HeaderValue::from(timestamp));
        headers.insert(
            "webhook-signature",
            value(&signature(&self.key, id, timestamp, body)),
        );
        headers
    }
}

/// The event for `event`.
pub(crate) fn render(event: &Event) -> Value {
    let conditions: Vec<Value> = event
        .items
        .iter()
        .map(|item| {
            let c = &item.tracked.condition;
            json!({
                "connector": c.connector,
                "summary": c.summary,
                "facts": c.facts,
                "openedAt": rfc3339(item.tracked.opened_at),
                "openedAtCommit": item.tracked.sha,
                "resolvedAt": item.resolved_at.map(rfc3339),
            })
        })
        .collect();
    json!({
        "type": format!("{}.{}", event.kind.as_str(), event.phase.as_str()),
        "timestamp": rfc3339(event.at),
        "data": {
            "tenant": event.tenant,
            "kind": event.kind.as_str(),
            "phase": event.phase.as_str(),
            "title": event.title(),
            "commit": {"sha": event.sha, "url": event.commit_url},
            "statusPage": event.status_page,
            "conditions": conditions,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::event::Phase;
    use crate::notify::testing::event;

    #[test]
    fn the_specifications_example_verifies() {
        // The test vector of the Standard Webhooks libraries.
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn weak_or_malformed_secrets_are_refused_without_showing_them() {
        let err = signing_key("short").unwrap_err();
        assert!(err.contains("shorter than 16 bytes"), "{err}");
        assert!(!err.contains("short`"), "{err}");
        let err = signing_key("whsec_!!notbase64!!").unwrap_err();
        assert!(err.contains("not base64"), "{err}");
        assert!(!err.contains("notbase64"), "{err}");
        assert!(signing_key("a plain secret of enough bytes").is_ok());
        assert_eq!(
            format!(
                "{:?}",
                signing_key("a plain secret of enough bytes").unwrap()
            ),
            "***"
        );
    }

    #[test]
    fn the_body_names_the_condition_and_its_links() {
        let body = render(&event(Phase::Resolved, &["orders"]));
        assert_eq!(body["type"], "drift.resolved");
        let data = &body["data"];
        assert_eq!(data["tenant"], "prod");
        assert_eq!(data["conditions"][0]["connector"], "orders");
        assert!(data["conditions"][0]["resolvedAt"].is_string());
        assert!(
            data["commit"]["url"]
                .as_str()
                .unwrap()
                .ends_with(data["commit"]["sha"].as_str().unwrap())
        );
        assert!(
            data["statusPage"]
                .as_str()
                .unwrap()
                .starts_with("https://ferry.example.com/")
        );
    }
}
