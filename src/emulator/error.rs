//! Errors of the emulator as a program: reading the seed and state files, binding the
//! listener, saving state. Errors a client sees over HTTP are responses, not these
//! (see `http::ApiError`).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Result with the emulator's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong starting, running or stopping the emulator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The seed file could not be read.
    #[error("cannot read seed file {path}: {source}; check the --seed path")]
    SeedRead {
        /// The seed file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The seed file is not valid YAML or does not have the seed format.
    #[error("{path}:{line}:{column}: {message}")]
    SeedParse {
        /// The seed file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: u64,
        /// 1-based column (0 when unknown).
        column: u64,
        /// What the parser said.
        message: String,
    },
    /// The seed parsed but describes tenants the emulator cannot serve; every problem is
    /// listed.
    #[error("the seed is invalid:\n{}", Problems(.problems))]
    SeedInvalid {
        /// Each problem, prefixed by `path:line:column` when the seed came from a file.
        problems: Vec<String>,
    },
    /// The state file exists but could not be read.
    #[error("cannot read state file {path}: {source}; check its permissions or remove it")]
    StateRead {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not a state file this emulator wrote.
    #[error("state file {path} is not valid ({source}); remove it to start from the seed")]
    StateParse {
        /// The state file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The state file holds a tenant on another platform than the seed says.
    #[error(
        "state file {path} holds {found} objects for tenant '{tenant}' but the seed says it is a {expected} tenant; fix the seed or remove the state file"
    )]
    StateMismatch {
        /// The state file.
        path: PathBuf,
        /// The tenant.
        tenant: String,
        /// The platform in the seed.
        expected: String,
        /// The platform in the state file.
        found: String,
    },
    /// Writing the state file failed.
    #[error("cannot save state to {path}: {source}; check the directory exists and is writable")]
    StateWrite {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}; choose another --listen address or port")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A control call named a tenant the emulator does not serve.
    #[error("unknown tenant '{tenant}': this emulator serves {known}")]
    UnknownTenant {
        /// The name asked for.
        tenant: String,
        /// The tenants served, comma separated.
        known: String,
    },
    /// Faults given at run time or on the command line are out of range.
    #[error("invalid faults: {}", .problems.join("; "))]
    InvalidFaults {
        /// Each problem.
        problems: Vec<String>,
    },
    /// `spawn` was called outside a tokio runtime.
    #[error("the emulator must be spawned from within a tokio runtime")]
    NoRuntime,
    /// The HTTP server stopped with an I/O error.
    #[error("the emulator's HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

struct Problems<'a>(&'a [String]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "  {p}")?;
        }
        Ok(())
    }
}
