//! Why `ferry test` could not run at all (as opposed to a test that failed).

use std::path::PathBuf;

/// Errors of [`run_tests`](super::run_tests).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No engine is installed where ferry looked.
    #[error("no SQL engine to run the tests on: {why}. {install}")]
    EngineMissing {
        /// What was tried and what failed.
        why: String,
        /// How to install one.
        install: String,
    },
    /// The runner ended without a readable answer.
    #[error("the SQL runner failed ({status}): {stderr}")]
    RunnerFailed {
        /// Its exit status.
        status: String,
        /// The end of what it wrote on stderr.
        stderr: String,
    },
    /// The scratch folder for input files could not be written.
    #[error("cannot write test files under {path}: {source}")]
    Scratch {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
