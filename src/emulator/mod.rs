//! `ferry emulator`: a stateful, in-memory implementation of the three platforms' HTTP
//! APIs (Kizen SmartConnectors, Agent Studio plugins, Productsup CDE connectors), for any
//! number of tenants, as `docs/platform-api.md` describes them.
//!
//! It follows the vendor rules for real (import skips an existing name, checks turn
//! unresolved references into warnings, install links expire after 24 hours, a copy drops
//! the VCS token, …), injects faults per tenant (latency, error rate, 429 with
//! `Retry-After`, hanging requests, lost answers, objects left active), dumps its whole state as JSON and can keep that state
//! in a file across restarts. The quickstart, the behaviour tests and the benchmarks run
//! against it.
//!
//! Layout: `seed` (the seed file), `state` (the shared state and its persistence), one
//! module per platform (`kizen`, `agent_studio`, `cde`) holding that platform's objects,
//! rules and handlers, `faults`, `clock`, `sql` (the Live SQL check), `http` (request and
//! error plumbing shared by the platforms) and `server` (routing, control endpoints,
//! [`spawn`]).
//!
//! It must not talk to real platforms, and it never logs tokens or header values.

mod agent_studio;
mod cde;
mod clock;
mod error;
mod faults;
mod http;
mod kizen;
mod seed;
mod server;
mod sql;
mod state;

pub use error::{Error, Result};
pub use faults::{Faults, LoseResponse, MutatingOperation, RateLimit};
pub use seed::{Seed, SeedCatalog, SeedTenant, Token};
pub use server::{EmulatorHandle, serve, spawn};
pub use state::{CatalogUpdate, Emulator};
