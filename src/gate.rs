//! Test gating: before a SmartConnector is applied, its SQL tests run as `ferry test`
//! runs them (chDB, the tenant's `${vars}`), and the outcome is put on the plan.
//!
//! `tests: advisory` shows the outcome on the plan (text, JSON, Markdown) and the commit
//! status; `tests: required` also turns every change of a connector whose tests failed,
//! or could not run, into a blocked action ([`BlockReason::TestsFailed`]), so nothing of
//! it is applied until a commit makes them pass. Only connectors about to be created or
//! replaced are tested: a plan with nothing to change starts no engine. A connector with
//! nothing to run (no case and no sample file, or a Kizen duplicate) is applied.
//!
//! Outcomes are kept per tenant, connector and source hash ([`Outcomes`]), so a daemon
//! reconciling the same commit again does not start the engine again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::config::{Tenant, TestsMode};
use crate::manifest::ManifestSet;
use crate::model::{ContentHash, Kind};
use crate::names::names;
use crate::plan::{BlockReason, Op, OpKind, Plan};
use crate::sqltest::{self, CaseResult, Options, Outcome, Status};

/// What the tests said about the connectors a plan changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestGate {
    /// `advisory` or `required`.
    pub mode: TestsMode,
    /// The engine that ran them (`chDB 26.9.0 (ClickHouse 26.9.2.1)`), when one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// Per connector tested, in plan order.
    pub results: Vec<TestResult>,
}

/// One connector's test outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    /// `metadata.name`.
    pub connector: String,
    /// `passed`, `failed` or `skipped`.
    pub outcome: TestOutcome,
    /// The first failure (with its file, line and column), or why it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How a connector's tests ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestOutcome {
    /// Every case passed.
    Passed,
    /// A case failed, or the tests could not run.
    Failed,
    /// Nothing to run.
    Skipped,
}

names! {
    /// `passed`, `failed` or `skipped`.
    TestOutcome {
        Passed => "passed",
        Failed => "failed",
        Skipped => "skipped",
    }
}

impl TestGate {
    /// How many connectors passed, failed and were skipped.
    pub fn counts(&self) -> (usize, usize, usize) {
        self.results
            .iter()
            .fold((0, 0, 0), |(p, f, s), r| match r.outcome {
                TestOutcome::Passed => (p + 1, f, s),
                TestOutcome::Failed => (p, f + 1, s),
                TestOutcome::Skipped => (p, f, s + 1),
            })
    }

    /// `tests: required, on chDB 26.9.0 (ClickHouse 26.9.2.1)`: the mode and the engine.
    pub fn how(&self) -> String {
        match &self.engine {
            Some(engine) => format!("tests: {}, on {engine}", self.mode.as_str()),
            None => format!("tests: {}", self.mode.as_str()),
        }
    }

    /// Each connector with something to say (a failure, why it was skipped): its name,
    /// outcome and message.
    pub fn messages(&self) -> impl Iterator<Item = (&str, &'static str, &str)> {
        self.results.iter().filter_map(|r| {
            r.message
                .as_deref()
                .map(|m| (r.connector.as_str(), r.outcome.as_str(), m))
        })
    }

    /// The connectors whose tests failed.
    pub fn failed(&self) -> Vec<&str> {
        self.results
            .iter()
            .filter(|r| r.outcome == TestOutcome::Failed)
            .map(|r| r.connector.as_str())
            .collect()
    }

    /// `SQL tests: 2 passed` or `SQL tests: 1 failed (orders-sync), 1 passed`.
    pub fn summary(&self) -> String {
        let (passed, failed, skipped) = self.counts();
        let mut parts = Vec::new();
        if failed > 0 {
            parts.push(format!("{failed} failed ({})", self.failed().join(", ")));
        }
        if passed > 0 {
            parts.push(format!("{passed} passed"));
        }
        if skipped > 0 {
            parts.push(format!("{skipped} skipped"));
        }
        format!("SQL tests: {}", parts.join(", "))
    }
}

/// Test outcomes kept across plans: by tenant, connector and the manifest's source hash
/// (the SQL, the files and the manifest text). The engine settings come from the
/// configuration and the environment, fixed for the life of the process that keeps them.
#[derive(Debug, Default)]
pub struct Outcomes {
    kept: Mutex<HashMap<(String, String, ContentHash), TestResult>>,
}

impl Outcomes {
    fn get(&self, key: &(String, String, ContentHash)) -> Option<TestResult> {
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn put(&self, key: (String, String, ContentHash), result: TestResult) {
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, result);
    }
}

/// The mode that applies to `tenant`: its own `tests`, else the configuration's.
pub fn mode_for(tenant: &Tenant, default: TestsMode) -> TestsMode {
    tenant.tests.unwrap_or(default)
}

/// Whether an action of this kind puts the connector's content into the tenant.
fn tested(kind: OpKind) -> bool {
    matches!(kind, OpKind::Create | OpKind::Replace)
}

/// Run the tests of the SmartConnectors `plan` creates or replaces in `tenant` and put the
/// outcome on the plan; with `required`, block every change of a connector whose tests
/// did not pass. The engine runs on a blocking thread.
pub async fn gate(
    plan: &mut Plan,
    set: &ManifestSet,
    tenant: &Tenant,
    mode: TestsMode,
    options: &Options,
    kept: Option<&Outcomes>,
) {
    if mode == TestsMode::Off || tenant.platform.kind() != Kind::SmartConnector {
        return;
    }
    let mut wanted: Vec<&str> = Vec::new();
    for action in &plan.actions {
        if tested(action.op.kind()) && !wanted.contains(&action.connector.as_str()) {
            wanted.push(&action.connector);
        }
    }
    if wanted.is_empty() {
        return;
    }
    let key = |connector: &str| {
        set.get(connector).map(|m| {
            (
                tenant.name.clone(),
                connector.to_owned(),
                m.source_hash.clone(),
            )
        })
    };
    let mut results: BTreeMap<String, TestResult> = BTreeMap::new();
    let mut to_run = Vec::new();
    for connector in &wanted {
        match key(connector).and_then(|k| kept.and_then(|o| o.get(&k))) {
            Some(result) => {
                results.insert((*connector).to_owned(), result);
            }
            None => to_run.push(*connector),
        }
    }
    let mut engine = None;
    if !to_run.is_empty() {
        // The plan's connectors are the tenant's already: no second selection.
        let subjects: Vec<_> = to_run
            .iter()
            .filter_map(|c| sqltest::subject_for(set, c, tenant))
            .collect();
        let options = options.clone();
        let ran = tokio::task::spawn_blocking(move || sqltest::run_tests(&subjects, &options))
            .await
            .map_err(|e| format!("the SQL test run stopped: {e}"))
            .and_then(|r| r.map_err(|e| e.to_string()));
        match ran {
            Ok(report) => {
                engine = report.engine.as_ref().map(sqltest::EngineInfo::describe);
                for outcome in &report.outcomes {
                    let result = result_of(outcome);
                    if let (Some(k), Some(kept)) = (key(&outcome.connector), kept) {
                        kept.put(k, result.clone());
                    }
                    results.insert(outcome.connector.clone(), result);
                }
            }
            // The engine could not run them: a failure of each (not kept, so the next
            // plan tries again once the engine is there).
            Err(e) => {
                for connector in &to_run {
                    results.insert(
                        (*connector).to_owned(),
                        TestResult {
                            connector: (*connector).to_owned(),
                            outcome: TestOutcome::Failed,
                            message: Some(e.clone()),
                        },
                    );
                }
            }
        }
    }
    let results: Vec<TestResult> = wanted.iter().filter_map(|c| results.remove(*c)).collect();
    if mode == TestsMode::Required {
        for action in &mut plan.actions {
            let Some(result) = results
                .iter()
                .find(|r| r.connector == action.connector && r.outcome == TestOutcome::Failed)
            else {
                continue;
            };
            if action.is_change() {
                action.op = Op::Blocked {
                    intended: action.op.kind(),
                    reason: BlockReason::TestsFailed {
                        message: format!(
                            "{}: {}",
                            result.connector,
                            result.message.as_deref().unwrap_or("failed")
                        ),
                    },
                };
            }
        }
    }
    plan.tests = Some(Box::new(TestGate {
        mode,
        engine,
        results,
    }));
}

/// A connector's outcome as the gate reports it.
fn result_of(outcome: &Outcome) -> TestResult {
    let message = match outcome.status {
        Status::Passed => None,
        Status::Skipped => outcome.reason.clone(),
        Status::Failed => first_failure(outcome),
    };
    TestResult {
        connector: outcome.connector.clone(),
        outcome: match outcome.status {
            Status::Passed => TestOutcome::Passed,
            Status::Failed => TestOutcome::Failed,
            Status::Skipped => TestOutcome::Skipped,
        },
        message,
    }
}

/// `case name: file:line:column: message`, for the first failure of `outcome`.
fn first_failure(outcome: &Outcome) -> Option<String> {
    let at = |f: &sqltest::Failure| match &f.at {
        Some(loc) => format!("{loc}: {}", f.message),
        None => f.message.clone(),
    };
    if let Some(f) = outcome.failures.first() {
        return Some(at(f));
    }
    outcome.cases.iter().find_map(|c| match &c.result {
        CaseResult::Failed(failures) => failures.first().map(|f| format!("{}: {}", c.name, at(f))),
        CaseResult::Passed => None,
    })
}
