//! The daemon of `ferry serve`: what decides *when* a tenant reconciles, and runs it.
//!
//! - [`controller`]: the triggers (poll, file watch, webhook pushes, drift cron) and
//!   `serve --once`. Triggers only mark tenants dirty.
//! - [`scheduler`]: the queue: one entry per tenant, debounce, a concurrency cap, per-tenant
//!   serialisation, backoff of transient failures, promotion marks.
//! - [`reconciler`]: one pass for one tenant (snapshot → plan → apply → record → report),
//!   through the [`crate::engine`].
//! - [`lifecycle`]: the root cancellation token, the task tracker, signals and the grace
//!   period.
//! - [`shard`]: which tenants this replica owns.
//! - `coalesce`: requests made while a run is in progress fold into one more run (the
//!   fetches webhooks trigger).
//!
//! What to change is decided by the planner ([`crate::plan`]), sync windows included
//! ([`crate::plan::window`]); the HTTP surface ([`crate::http`]) reads the daemon's state
//! and never the other way round.

mod coalesce;
pub mod controller;
pub mod lifecycle;
pub mod reconciler;
pub mod scheduler;
pub mod shard;
