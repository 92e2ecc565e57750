//! Slack incoming webhooks: one message per [`Event`], as Slack documents it ("Sending
//! messages using incoming webhooks", docs.slack.dev / api.slack.com/messaging/webhooks):
//! a JSON body with `text` (shown in notifications, and the whole message for clients
//! without blocks) and `blocks` (Block Kit: a `header`, a `section` in `mrkdwn`, a
//! `context` with the links).
//!
//! Text ferry did not write (connector names, messages) is escaped as Slack's formatting
//! guide requires: `&`, `<` and `>` become `&amp;`, `&lt;` and `&gt;`, so a name cannot
//! ping a channel or forge a link. Block limits are kept: header 150 characters, a section
//! 3,000, a context 10 elements. The webhook URL is the credential; it only ever leaves
//! ferry as the address of the request.

use serde_json::{Value, json};

use super::event::{Event, LISTED, Phase, cut};
use super::receiver::SecretUrl;

/// A Slack incoming webhook.
#[derive(Debug)]
pub(crate) struct Slack {
    /// The webhook URL (a secret).
    pub(crate) url: SecretUrl,
}

/// Slack's limit on a `header` block's text.
const HEADER_LIMIT: usize = 150;
/// Slack's limit on a `section` block's text.
const SECTION_LIMIT: usize = 3000;

/// `&`, `<`, `>` escaped, the three characters Slack reads as control characters.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `<url|label>`: a link in `mrkdwn`.
fn link(url: &str, label: &str) -> String {
    format!("<{url}|{}>", escape(label))
}

/// The message for `event`.
pub(crate) fn render(event: &Event) -> Value {
    let icon = match event.phase {
        Phase::Resolved => ":white_check_mark:",
        _ => ":warning:",
    };
    let title = event.title();
    let lines = event.lines();
    let mut listed: Vec<String> = lines
        .iter()
        .take(LISTED)
        .map(|l| format!("• {}", escape(l)))
        .collect();
    if lines.len() > LISTED {
        listed.push(format!("… and {} more", lines.len() - LISTED));
    }
    let mut context = vec![format!("tenant *{}*", escape(&event.tenant))];
    context.push(match &event.commit_url {
        Some(url) => format!("commit {}", link(url, event.short_sha())),
        None => format!("commit `{}`", event.short_sha()),
    });
    if let Some(page) = &event.status_page {
        context.push(link(page, "status page"));
    }
    let fallback = {
        let mut text = format!("{icon} {}", escape(&title));
        if let Some(first) = lines.first() {
            text.push_str(" — ");
            text.push_str(&escape(first));
        }
        if let Some(page) = &event.status_page {
            text.push(' ');
            text.push_str(&link(page, "status page"));
        }
        cut(&text, SECTION_LIMIT)
    };
    json!({
        "text": fallback,
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": cut(&format!("{} {title}", header_icon(event.phase)), HEADER_LIMIT), "emoji": true}
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": cut(&listed.join("\n"), SECTION_LIMIT)}
            },
            {
                "type": "context",
                "elements": context
                    .into_iter()
                    .map(|text| json!({"type": "mrkdwn", "text": text}))
                    .collect::<Vec<_>>()
            }
        ]
    })
}

fn header_icon(phase: Phase) -> &'static str {
    match phase {
        Phase::Resolved => "✅",
        _ => "⚠️",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testing::{crowded_event, event};

    #[test]
    fn names_cannot_become_links_or_mentions() {
        let e = event(Phase::Opened, &["<!channel> & <https://evil|click>"]);
        let body = render(&e);
        let section = body["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(
            section.contains("&lt;!channel&gt; &amp; &lt;https://evil|click&gt;"),
            "{section}"
        );
        assert!(!body["text"].as_str().unwrap().contains("<!channel>"));
    }

    #[test]
    fn a_message_has_text_blocks_and_both_links() {
        let e = event(Phase::Opened, &["orders"]);
        let body = render(&e);
        assert!(body["text"].as_str().unwrap().contains("Drift on prod"));
        let blocks = body["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        let context: Vec<&str> = blocks[2]["elements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            context,
            [
                "tenant *prod*",
                "commit <https://github.com/acme/c/commit/0123456789abcdef0123456789abcdef01234567|0123456789ab>",
                "<https://ferry.example.com/tenants/prod?commit=0123456789abcdef0123456789abcdef01234567|status page>",
            ]
        );
    }

    #[test]
    fn long_lists_stay_within_slack_limits() {
        let body = render(&crowded_event('x', 120));
        let section = body["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(section.chars().count() <= SECTION_LIMIT);
        assert!(section.ends_with("… and 30 more"), "{section}");
        let header = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(header.chars().count() <= HEADER_LIMIT);
        assert!(header.starts_with("✅ Resolved: drift on prod"));
    }
}
