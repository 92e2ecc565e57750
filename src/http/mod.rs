//! The HTTP surface of `ferry serve`: `/livez`, `/readyz`, `/metrics`, the JSON API
//! under `/api/v1`, the status page at `/`, and the webhook receiver under `/hooks`.
//!
//! - [`server`]: binding, the routes of every endpoint, `/livez`, `/readyz`, `/metrics`.
//! - [`state`]: what every handler shares ([`state::AppState`]), in one place.
//! - [`api`]: the JSON API and the tenant views the status page renders.
//! - [`page`]: the status page (HTML).
//! - [`webhook`]: signed pushes from GitHub, GitLab and Gitea.
//! - `deliveries`: the webhook delivery ids already received (replays trigger nothing).
//!
//! The handlers read the daemon ([`crate::daemon`]) and the state store; the only thing
//! they change is marking a tenant dirty. No module of the daemon imports this one.

pub mod api;
mod deliveries;
pub mod page;
pub mod server;
pub mod state;
pub mod webhook;
