//! `ferry test`: run each SmartConnector's Live SQL on the engine the platform runs it on
//! (chDB, an embedded ClickHouse), before the change is merged.
//!
//! This module owns what a test is ([`Subject`], built from the manifests, per tenant when
//! one is given), how a case is prepared (network calls refused or replaced by local
//! stand-ins, input files written to a scratch folder), the engine (a small Python runner
//! shipped inside ferry and spoken to in JSON, over chDB or `clickhouse local`), the
//! comparison of output tables with the expected files, and the reports (text, JSON,
//! JUnit). It must not talk to platforms or decide what to apply: gating an apply on test
//! outcomes is the caller's decision, made with [`run_tests`].
//!
//! # Semantics (modelled)
//! The vendor says that input rows flow into queryable tables and that the script writes
//! named output tables. ferry loads each input file as a table whose columns are all
//! `Nullable(String)` (an empty unquoted cell is NULL), runs the script's statements in
//! order in a database of its own, takes the rows of the last statement, when it is a
//! query, as the table `spec.tables.output`, and reads any other expected table from what
//! the script created. Table names the vendor does not document are declared per
//! connector in `spec.tables`, with defaults.
//!
//! # Guarantees
//! - A call that reaches the network (`postgresql()`, `mysql()`, `s3()`, `url()`,
//!   `remote()`, table engines such as `Kafka`, dictionary sources such as `HTTP`) never
//!   reaches the engine: the case is refused unless it names a local stand-in file.
//! - Engine errors are reported at the SQL file's line and column, also after a stand-in
//!   replaced part of a statement.
//! - No engine, no pass: when the engine is missing, [`run_tests`] fails with how to
//!   install it.

mod case;
mod compare;
mod engine;
mod error;
mod outcome;
mod render;
mod run;
mod standin;

pub use case::{Case, Subject, TableFile, subject_for, subjects};
pub use compare::{Cell, RowDiff, TableDiff};
pub use engine::{EngineInfo, EngineSettings, RECOMMENDED_CHDB};
pub use error::{Error, Result};
pub use outcome::{CaseOutcome, CaseResult, Failure, FailureKind, Outcome, Report, Status};
pub use render::{junit, text};
pub use run::{Options, run_tests, settings_from};
