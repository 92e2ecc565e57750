//! Sensitive data: what must not travel, and what must not be written where only a
//! reference belongs.
//!
//! - `scan`: the sensitive-data scanner for sample and reference files (personal data,
//!   payment data, credentials), whose findings the planner turns into a blocked action
//!   when a connector would carry them into another business.
//! - [`secrets`]: which keys and headers carry secrets, whether a value is a reference
//!   (`{{secret:NAME}}`, an environment variable's name) or a literal, and whether a string
//!   looks like a credential; used by the manifest loader, the configuration's validation
//!   and `ferry export`.
//!
//! Neither reports the text it judges: only its kind and place.

mod scan;
pub mod secrets;

pub use scan::*;
