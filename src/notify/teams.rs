//! Microsoft Teams workflow webhooks (the Workflows app's "Post to a channel when a webhook
//! request is received", trigger "When a Teams webhook request is received"), which
//! replace the retired Office 365 connectors and accept Adaptive Cards only.
//!
//! The body is the shape Microsoft documents for sending an Adaptive Card to a webhook
//! ("Create and send messages", learn.microsoft.com/microsoftteams/platform/
//! webhooks-and-connectors/how-to/connectors-using): a `message` whose `attachments`
//! hold one item of `contentType: application/vnd.microsoft.card.adaptive` with
//! `contentUrl: null` and the card as `content` (`type: AdaptiveCard`, `$schema`,
//! `version` 1.4). The card: a title, a fact set (tenant, event, commit, when), one text
//! block per condition (at most ten), and `Action.OpenUrl` buttons to the status page and
//! the commit. Teams refuses messages above 28 KB; ten conditions of a few hundred
//! characters stay well below.

use serde_json::{Value, json};

use super::event::{Event, LISTED, Phase, cut, rfc3339};
use super::receiver::SecretUrl;

/// A Teams workflow webhook.
#[derive(Debug)]
pub(crate) struct Teams {
    /// The workflow's URL (a secret: it carries the signature `sig=`).
    pub(crate) url: SecretUrl,
}

/// Longest text of one condition's block.
const LINE_LIMIT: usize = 1000;

/// The Adaptive Card version ferry writes (Teams renders 1.4 on desktop, web and mobile).
pub(crate) const CARD_VERSION: &str = "1.4";

/// The message for `event`.
pub(crate) fn render(event: &Event) -> Value {
    let color = match event.phase {
        Phase::Resolved => "Good",
        _ => "Attention",
    };
    let mut body = vec![
        json!({
            "type": "TextBlock",
            "text": event.title(),
            "weight": "Bolder",
            "size": "Medium",
            "color": color,
            "wrap": true
        }),
        json!({
            "type": "FactSet",
            "facts": [
                {"title": "Tenant", "value": event.tenant},
                {"title": "Event", "value": format!("{} {}", event.kind.as_str(), event.phase.as_str())},
                {"title": "Commit", "value": event.short_sha()},
                {"title": "Seen at", "value": rfc3339(event.at)}
            ]
        }),
    ];
    let lines = event.lines();
    for line in lines.iter().take(LISTED) {
        body.push(json!({"type": "TextBlock", "text": cut(line, LINE_LIMIT), "wrap": true}));
    }
    if lines.len() > LISTED {
        body.push(json!({
            "type": "TextBlock",
            "text": format!("… and {} more", lines.len() - LISTED),
            "isSubtle": true,
            "wrap": true
        }));
    }
    let mut actions = Vec::new();
    if let Some(page) = &event.status_page {
        actions.push(json!({"type": "Action.OpenUrl", "title": "Status page", "url": page}));
    }
    if let Some(commit) = &event.commit_url {
        actions.push(json!({"type": "Action.OpenUrl", "title": "Commit", "url": commit}));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body
    });
    if !actions.is_empty() {
        card["actions"] = Value::Array(actions);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testing::{crowded_event, event};

    #[test]
    fn an_adaptive_card_inside_a_message() {
        let body = render(&event(Phase::Opened, &["orders"]));
        assert_eq!(body["type"], "message");
        let attachment = &body["attachments"][0];
        assert_eq!(
            attachment["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert!(attachment["contentUrl"].is_null());
        let card = &attachment["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], CARD_VERSION);
        assert_eq!(
            card["body"][0]["text"],
            "Drift on prod: 1 connector changed outside ferry"
        );
        let urls: Vec<&str> = card["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["url"].as_str().unwrap())
            .collect();
        assert_eq!(urls.len(), 2);
        assert!(urls[0].starts_with("https://ferry.example.com/tenants/prod?commit="));
        assert!(urls[1].starts_with("https://github.com/acme/c/commit/"));
    }

    #[test]
    fn forty_conditions_stay_small() {
        let body = render(&crowded_event('y', 300));
        assert!(body.to_string().len() < 28 * 1024);
        let blocks = body["attachments"][0]["content"]["body"]
            .as_array()
            .unwrap();
        assert_eq!(blocks.last().unwrap()["text"], "… and 30 more");
    }
}
