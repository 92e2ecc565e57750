//! Sensitive data: what must not travel, and what must not be written where only a
//! reference belongs.
//!
//! - `scan`: the sensitive-data scanner for sample and reference files (personal data,
//!   payment data, credentials), whose findings the planner turns into a blocked action
//!   when a connector would carry them into another business. Its credential detectors
//!   (private keys, tokens with a well-known prefix, credential-named assignments,
//!   credentials in URLs) are the one place credentials are recognised inside text.
//! - [`secrets`]: which keys and headers carry secrets, whether a value is a reference
//!   (`{{secret:NAME}}`, an environment variable's name) or a literal, credentials
//!   embedded anywhere inside a string (through the scanner's detectors), and
//!   [`redact`](secrets::redact), which hides them in messages and logs; used by the
//!   manifest loader, the configuration's validation, `ferry export` and logging.
//!
//! Neither reports the text it judges: only its kind, its place and a redacted excerpt.

mod scan;
pub mod secrets;

pub use scan::*;
pub use secrets::redact;
