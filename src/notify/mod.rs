//! Notifications: drift and failure alerts where people look — Slack, Microsoft Teams, a
//! signed JSON webhook, Prometheus Alertmanager.
//!
//! After every pass the daemon (and `ferry apply --report`) hands the notifier an
//! [`Observation`]: the tenant's drift, failure, open warnings and blocked connectors.
//! Per receiver, `condition.rs` compares it with the conditions that receiver was told
//! of (kept in the state store, so restarts change nothing) and the notifier records one
//! message per new condition kind and one when it clears — never one per reconcile — in
//! the same outbox as the commit statuses (`crate::report`), which retries, rate-limits
//! and survives restarts. Each receiver kind renders its documented format in its own
//! file. URLs and secrets come from environment variables or files and never appear in
//! payloads, logs or errors.
//!
//! This room reads plans, apply reports and the state store; nothing outside it but the
//! daemon's reconciler and `apply --report` calls it (the status page reads only its
//! commit links, [`commit_url_template`]). See `docs/notifications.md`.

mod alertmanager;
mod condition;
mod event;
mod notifier;
mod receiver;
mod slack;
mod teams;
#[cfg(test)]
mod testing;
mod webhook;

pub use condition::{Condition, ConditionKind, Observation, Tracked, Transition};
pub use event::{
    Event, Item, Links, Phase, commit_url_template, derived_commit_url, forge_commit_url,
};
pub use notifier::Notifier;
pub use receiver::{Error, NotifyReceiver, build};
