//! Notifications as the outbox carries them: a [`Notice`] (one message, already rendered
//! for one receiver) and the [`Receiver`] trait of its destination.
//!
//! The notify room (`crate::notify`) decides when a message is due and what it says, and
//! renders it in the receiver's format; this module only carries it, so that notices go
//! through the same outbox, retries and restarts as commit statuses. It knows no message
//! format and no condition.

use async_trait::async_trait;

use super::error::ReportError;
use super::limit::RateLimit;

/// The outbox state of a notice (the `state` column of `report_outbox`).
pub(crate) const NOTICE_STATE: &str = "notice";

/// The outbox state of a heartbeat notice.
pub(crate) const HEARTBEAT_STATE: &str = "heartbeat";

/// One message for one receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Unique among the receiver's messages: a key already delivered is not sent again,
    /// and a newer notice with the key of a waiting one replaces it. It is also the
    /// message id a receiver sees (`webhook-id`).
    pub key: String,
    /// One line for logs and for the count of what was not delivered.
    pub summary: String,
    /// The request body, ready to send.
    pub body: String,
    /// A re-send of what the receiver already holds (Alertmanager's keep-alive of firing
    /// alerts): it does not count against the rate limit.
    pub heartbeat: bool,
}

impl Notice {
    /// The `state` column this notice is stored with.
    pub(crate) fn state(&self) -> &'static str {
        if self.heartbeat {
            HEARTBEAT_STATE
        } else {
            NOTICE_STATE
        }
    }
}

/// One destination of notices: a Slack or Teams webhook, a signed webhook, an
/// Alertmanager.
///
/// `send` sends one notice, once: it does not retry, deduplicate or queue (the
/// [`crate::report::Deliverer`] does). Its errors say whether a retry can help
/// ([`ReportError::is_transient`]) and never contain the receiver's URL or secret.
#[async_trait]
pub trait Receiver: Send + Sync + std::fmt::Debug {
    /// `slack`, `teams`, `webhook` or `alertmanager`.
    fn kind(&self) -> &'static str;

    /// The configured name: the `receiver` label of `ferry_notifications_total`.
    fn name(&self) -> &str;

    /// The key of this receiver's rows in the outbox: `notify:<name>`.
    fn id(&self) -> String {
        format!("{RECEIVER_ID_PREFIX}{}", self.name())
    }

    /// How many notices it may get per period (heartbeats aside); `None`: no limit.
    fn rate_limit(&self) -> Option<RateLimit>;

    /// Send `notice`.
    async fn send(&self, notice: &Notice) -> Result<(), ReportError>;
}

/// The prefix of every receiver's outbox id.
pub(crate) const RECEIVER_ID_PREFIX: &str = "notify:";
