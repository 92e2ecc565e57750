//! What `ferry test` found: per connector, per case, with the engine that ran them.

use serde::Serialize;

use super::compare::TableDiff;
use super::engine::EngineInfo;
use crate::model::Location;

/// A connector's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every case passed.
    Passed,
    /// A case failed, or the engine version differs and must not.
    Failed,
    /// Nothing could be run (for example no Live SQL in git).
    Skipped,
}

/// What kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The engine rejected the SQL.
    Sql,
    /// A call reaches the network and the case has no stand-in for it.
    Refused,
    /// An output table differs from its expected file.
    Mismatch,
    /// An expected table was not produced.
    MissingTable,
    /// An input, expected or stand-in file cannot be read as a table, or a stand-in
    /// matches no call.
    BadFile,
    /// The local engine's version differs from `spec.chdbVersion`.
    EngineVersion,
}

/// One failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// What kind.
    pub kind: FailureKind,
    /// Where to look: the SQL file's line and column, or the manifest.
    pub at: Option<Location>,
    /// What happened and what to do.
    pub message: String,
    /// For a mismatch: how the table differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<TableDiff>,
}

impl Failure {
    pub(crate) fn new(kind: FailureKind, at: Option<Location>, message: impl Into<String>) -> Self {
        Failure {
            kind,
            at,
            message: message.into(),
            diff: None,
        }
    }
}

/// How a case ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", content = "failures", rename_all = "kebab-case")]
pub enum CaseResult {
    /// It ran and every expected table matched.
    Passed,
    /// What went wrong (at least one).
    Failed(Vec<Failure>),
}

/// One case's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseOutcome {
    /// The case's name.
    pub name: String,
    /// Where it is written.
    pub location: Location,
    /// How it ended.
    #[serde(flatten)]
    pub result: CaseResult,
}

/// One connector's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// `metadata.name`.
    pub connector: String,
    /// The tenant whose values were used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Where the manifest starts.
    pub location: Location,
    /// Passed, failed or skipped.
    pub status: Status,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Notes that do not fail the connector (an engine version that differs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Failures of the connector as a whole (an engine version that must not differ).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<Failure>,
    /// The cases, in manifest order.
    pub cases: Vec<CaseOutcome>,
}

/// Everything one run found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The engine the cases ran on (`None` when nothing ran).
    pub engine: Option<EngineInfo>,
    /// The outcomes, in manifest order.
    pub outcomes: Vec<Outcome>,
}

impl Report {
    /// How many connectors passed, failed and were skipped.
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |s| self.outcomes.iter().filter(|o| o.status == s).count();
        (
            count(Status::Passed),
            count(Status::Failed),
            count(Status::Skipped),
        )
    }

    /// Whether no connector failed.
    pub fn passed(&self) -> bool {
        self.outcomes.iter().all(|o| o.status != Status::Failed)
    }
}
