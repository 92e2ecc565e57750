//! The source repository: where manifests come from.
//!
//! `remote` keeps a local bare cache of the configured repository up to date and answers
//! which commit each followed branch points at.

pub mod remote;
