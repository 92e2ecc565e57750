//! The `notifications` section of `ferry.yaml`: where drift and failure alerts go.
//!
//! Types only: they parse the file and produce the JSON Schema. The checks live in
//! `validate.rs`; the receivers that send the messages live in [`crate::notify`].
//! Webhook URLs of Slack and Teams, and the signing secret of a webhook, are secrets:
//! these types hold only the names of the variables or files that hold them.

use std::collections::BTreeMap;

use crate::names::names;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Alerts sent where people look when a tenant drifts, fails, is blocked or has open
/// warnings: one message when the condition appears and one when it clears.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Notifications {
    /// Where messages go.
    #[serde(default)]
    pub receivers: Vec<NotificationReceiver>,
    /// Link to a commit on the forge, with `{sha}` where the commit id goes, for example
    /// `https://github.com/acme/connectors/commit/{sha}`. Default: derived from an
    /// `https://` `source.repo` (`…/commit/{sha}`, GitLab `…/-/commit/{sha}`); none for
    /// a local or SSH source.
    #[serde(default)]
    pub commit_url: Option<String>,
}

/// One destination of notifications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum NotificationReceiver {
    /// A Slack incoming webhook: `{"text": …, "blocks": […]}`.
    Slack(ChatReceiver),
    /// A Microsoft Teams workflow webhook ("When a Teams webhook request is received"):
    /// an Adaptive Card inside a `message`.
    Teams(ChatReceiver),
    /// Any HTTP endpoint: a JSON event signed with HMAC-SHA256 (the Standard Webhooks
    /// headers `webhook-id`, `webhook-timestamp`, `webhook-signature`).
    Webhook(WebhookReceiver),
    /// Prometheus Alertmanager: `POST /api/v2/alerts`, `endsAt` set when the condition
    /// clears.
    Alertmanager(AlertmanagerReceiver),
}

impl NotificationReceiver {
    /// `slack`, `teams`, `webhook` or `alertmanager`.
    pub fn kind(&self) -> &'static str {
        match self {
            NotificationReceiver::Slack(_) => "slack",
            NotificationReceiver::Teams(_) => "teams",
            NotificationReceiver::Webhook(_) => "webhook",
            NotificationReceiver::Alertmanager(_) => "alertmanager",
        }
    }

    /// What every kind shares: name, events, tenants, rate limit.
    pub fn common(&self) -> ReceiverCommon<'_> {
        macro_rules! common {
            ($r:expr) => {
                ReceiverCommon {
                    name: &$r.name,
                    events: &$r.events,
                    tenants: &$r.tenants,
                    rate_limit: &$r.rate_limit,
                }
            };
        }
        match self {
            NotificationReceiver::Slack(r) | NotificationReceiver::Teams(r) => common!(r),
            NotificationReceiver::Webhook(r) => common!(r),
            NotificationReceiver::Alertmanager(r) => common!(r),
        }
    }
}

/// The settings every receiver kind has, borrowed from its entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReceiverCommon<'a> {
    /// The receiver's name.
    pub name: &'a str,
    /// What it hears of.
    pub events: &'a [NotifyEvent],
    /// Which tenants (empty: every one).
    pub tenants: &'a [String],
    /// Its message budget.
    pub rate_limit: &'a RateLimit,
}

/// Slack or Teams: the webhook URL is itself the credential, so it is only ever named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChatReceiver {
    /// Unique name (letters, digits, `-`, `_`): how logs and the metric
    /// `ferry_notifications_total{receiver}` call this receiver.
    pub name: String,
    /// What to send. Default: every event (`drift`, `failure`, `warning`, `blocked`,
    /// `recovered`). Without `recovered`, no message says that a condition cleared.
    #[serde(default = "all_events")]
    pub events: Vec<NotifyEvent>,
    /// Tenants whose conditions this receiver hears of. Default: every tenant.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// At most this many messages per period; more wait in the outbox (none is dropped).
    /// Default 60 per hour.
    #[serde(default)]
    pub rate_limit: RateLimit,
    /// Environment variable holding the webhook URL.
    #[serde(default)]
    pub url_env: Option<String>,
    /// File holding the webhook URL (relative to this file).
    #[serde(default)]
    pub url_file: Option<String>,
    /// Refused: a Slack or Teams webhook URL is a secret. Kept so that validation can say
    /// so and what to write instead.
    #[serde(default)]
    #[schemars(skip)]
    pub url: Option<String>,
}

/// A generic JSON webhook, signed with HMAC-SHA256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookReceiver {
    /// Unique name (letters, digits, `-`, `_`): how logs and the metric
    /// `ferry_notifications_total{receiver}` call this receiver.
    pub name: String,
    /// What to send. Default: every event (`drift`, `failure`, `warning`, `blocked`,
    /// `recovered`). Without `recovered`, no message says that a condition cleared.
    #[serde(default = "all_events")]
    pub events: Vec<NotifyEvent>,
    /// Tenants whose conditions this receiver hears of. Default: every tenant.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// At most this many messages per period; more wait in the outbox (none is dropped).
    /// Default 60 per hour.
    #[serde(default)]
    pub rate_limit: RateLimit,
    /// The endpoint's URL, when it is not secret.
    #[serde(default)]
    pub url: Option<String>,
    /// Environment variable holding the URL.
    #[serde(default)]
    pub url_env: Option<String>,
    /// File holding the URL (relative to this file).
    #[serde(default)]
    pub url_file: Option<String>,
    /// Environment variable holding the signing secret (`whsec_` + base64, or any text).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// File holding the signing secret (relative to this file).
    #[serde(default)]
    pub secret_file: Option<String>,
}

/// Prometheus Alertmanager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertmanagerReceiver {
    /// Unique name (letters, digits, `-`, `_`): how logs and the metric
    /// `ferry_notifications_total{receiver}` call this receiver.
    pub name: String,
    /// What to send. Default: every event (`drift`, `failure`, `warning`, `blocked`,
    /// `recovered`). Without `recovered`, no message says that a condition cleared.
    #[serde(default = "all_events")]
    pub events: Vec<NotifyEvent>,
    /// Tenants whose conditions this receiver hears of. Default: every tenant.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// At most this many messages per period; more wait in the outbox (none is dropped).
    /// Default 60 per hour.
    #[serde(default)]
    pub rate_limit: RateLimit,
    /// Alertmanager's base URL, for example `http://alertmanager:9093`; ferry posts to
    /// `<url>/api/v2/alerts`.
    #[serde(default)]
    pub url: Option<String>,
    /// Environment variable holding the base URL.
    #[serde(default)]
    pub url_env: Option<String>,
    /// File holding the base URL (relative to this file).
    #[serde(default)]
    pub url_file: Option<String>,
    /// Environment variable holding a bearer token, when Alertmanager sits behind a proxy
    /// that wants one.
    #[serde(default)]
    pub token_env: Option<String>,
    /// File holding a bearer token (relative to this file).
    #[serde(default)]
    pub token_file: Option<String>,
    /// Labels added to every alert (for routing), such as `team: platform`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// How often alerts still firing are sent again. Alertmanager resolves an alert it has
    /// not heard of for its `resolve_timeout` (5m by default), so this must be shorter.
    /// Default `1m`. Re-sends do not count against the rate limit.
    #[serde(default = "default_resend_interval")]
    pub resend_interval: String,
}

fn default_resend_interval() -> String {
    "1m".to_owned()
}

/// What a receiver hears of.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum NotifyEvent {
    /// A connector's live content differs from what ferry applied (changed by hand).
    Drift,
    /// A reconcile of the tenant failed: invalid manifests, failed actions, or the tenant
    /// could not be reached.
    Failure,
    /// A connector carries import warnings (references the tenant lacks).
    Warning,
    /// A connector cannot be applied until a person acts (name conflict, missing secret,
    /// sensitive sample data, …). Waiting for a window or a promotion is not blocked.
    Blocked,
    /// One of the above cleared.
    Recovered,
}

names! {
    all;
    /// The lowercase name, as written in `events`.
    NotifyEvent {
        Drift => "drift",
        Failure => "failure",
        Warning => "warning",
        Blocked => "blocked",
        Recovered => "recovered",
    }
}

fn all_events() -> Vec<NotifyEvent> {
    NotifyEvent::ALL.to_vec()
}

/// A message budget: `messages` per `per`, refilled evenly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    /// Messages allowed per period, and the largest burst.
    pub messages: u32,
    /// The period (`1m`, `1h`).
    pub per: String,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            messages: 60,
            per: "1h".to_owned(),
        }
    }
}
