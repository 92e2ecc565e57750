//! The engine: a small Python runner shipped inside ferry (`runner.py`), started as
//! `python -c`, spoken to with one JSON request on stdin and one JSON answer on stdout. It
//! runs the cases on chDB (the PyPI package `chdb-core`, in-process) or on
//! `clickhouse local` (a subprocess per statement).
//!
//! # Errors
//! A missing interpreter, a missing `chdb` module or a `clickhouse` binary that does not
//! start is [`Error::EngineMissing`], with the commands that install one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::compare::Table;
use super::error::{Error, Result};
use crate::config::SqlEngineKind;

/// The runner's source, run with `python -c`.
const RUNNER: &str = include_str!("runner.py");

/// The chDB package version ferry is tested with and recommends installing.
pub const RECOMMENDED_CHDB: &str = "26.9.0";

/// Which engine to use and where to find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSettings {
    /// chDB or `clickhouse local`.
    pub kind: SqlEngineKind,
    /// The Python interpreter that runs the runner (and has `chdb` for the chdb engine).
    pub python: PathBuf,
    /// The `clickhouse` binary for `clickhouse-local`.
    pub clickhouse: PathBuf,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            kind: SqlEngineKind::Chdb,
            python: PathBuf::from("python3"),
            clickhouse: PathBuf::from("clickhouse"),
        }
    }
}

/// The engine that ran the cases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineInfo {
    /// `chdb` or `clickhouse-local`.
    pub name: String,
    /// The engine's own version (the chDB package's, or ClickHouse's for clickhouse-local).
    pub version: String,
    /// The ClickHouse version inside it.
    pub clickhouse: String,
    /// Seconds from starting the runner to the engine answering its first query.
    #[serde(default)]
    pub start_seconds: f64,
}

impl EngineInfo {
    /// `chDB 26.9.0 (ClickHouse 26.9.2.1)` or `clickhouse local 26.9.2.1`.
    pub fn describe(&self) -> String {
        if self.name == "chdb" {
            format!("chDB {} (ClickHouse {})", self.version, self.clickhouse)
        } else {
            format!("clickhouse local {}", self.clickhouse)
        }
    }
}

/// `path` as the process sees it from its working directory: a relative path of more than
/// one component is joined to it; a bare command name (`python3`) is left to `PATH`.
fn from_here(path: &Path) -> PathBuf {
    if path.is_relative()
        && path.components().count() > 1
        && let Ok(here) = std::env::current_dir()
    {
        return here.join(path);
    }
    path.to_path_buf()
}

/// One file loaded as a table, as the runner sees it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FileTable {
    pub table: String,
    pub path: PathBuf,
    pub format: &'static str,
}

/// One prepared case.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CaseRequest {
    pub inputs: Vec<FileTable>,
    pub statements: Vec<String>,
    pub result: String,
    pub read: Vec<String>,
    pub expected: Vec<FileTable>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    protocol: u32,
    engine: SqlEngineKind,
    clickhouse: &'a std::path::Path,
    workdir: &'a std::path::Path,
    spawned_at: f64,
    cases: &'a [CaseRequest],
}

/// Where a case stopped.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Stage {
    Input,
    Statement,
    Read,
    Expected,
}

/// The engine's error for a case.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CaseError {
    pub stage: Stage,
    #[serde(default)]
    pub index: usize,
    #[serde(default)]
    pub table: Option<String>,
    pub message: String,
}

/// The runner's answer for one case.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CaseAnswer {
    #[serde(default)]
    pub error: Option<CaseError>,
    #[serde(default)]
    pub tables: std::collections::BTreeMap<String, Option<Table>>,
    #[serde(default)]
    pub expected: std::collections::BTreeMap<String, Option<Table>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    #[serde(default)]
    missing: Option<String>,
    #[serde(default)]
    engine: Option<EngineInfo>,
    #[serde(default)]
    start_seconds: f64,
    #[serde(default)]
    cases: Vec<CaseAnswer>,
}

/// How to get an engine, for messages.
pub(crate) fn install_hint(settings: &EngineSettings) -> String {
    let python = settings.python.display();
    match settings.kind {
        SqlEngineKind::Chdb => format!(
            "Install chDB for that interpreter with `{python} -m pip install chdb-core=={RECOMMENDED_CHDB}`, or into a virtual environment with `python3 -m venv .venv && .venv/bin/pip install chdb-core=={RECOMMENDED_CHDB}` and run `ferry test --python .venv/bin/python` (or set sqlEngine.python in ferry.yaml); `--engine clickhouse-local` uses an installed ClickHouse instead"
        ),
        SqlEngineKind::ClickhouseLocal => format!(
            "Install ClickHouse so that `{} local` runs (or pass its path with --clickhouse, or sqlEngine.clickhouse in ferry.yaml); the runner also needs Python 3 (`{python}`). Without ClickHouse, use chDB: `--engine chdb` after `{python} -m pip install chdb-core=={RECOMMENDED_CHDB}`",
            settings.clickhouse.display()
        ),
    }
}

/// Run `cases` on the engine of `settings`, with `workdir` as the runner's working folder.
///
/// # Errors
/// [`Error::EngineMissing`] when the interpreter or the engine is missing;
/// [`Error::RunnerFailed`] when the runner ends without a readable answer.
pub(crate) fn run(
    settings: &EngineSettings,
    workdir: &std::path::Path,
    cases: &[CaseRequest],
) -> Result<(EngineInfo, Vec<CaseAnswer>)> {
    // The engine runs in the scratch folder: a relative path the user gave (`--python
    // .venv/bin/python`) means the one below the folder ferry was started in.
    let python = from_here(&settings.python);
    let clickhouse = from_here(&settings.clickhouse);
    let request = Request {
        protocol: 1,
        engine: settings.kind,
        clickhouse: &clickhouse,
        workdir,
        spawned_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        cases,
    };
    let body = serde_json::to_vec(&request).expect("requests always serialize");
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(RUNNER)
        .current_dir(workdir)
        // The engine's session time zone: results do not depend on the machine's.
        .env("TZ", "UTC")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::EngineMissing {
            why: format!(
                "the Python interpreter `{}` cannot be started ({e})",
                settings.python.display()
            ),
            install: install_hint(settings),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // The runner reads its whole request before it writes anything.
        let _ = stdin.write_all(&body);
    }
    let output = child.wait_with_output().map_err(|e| Error::RunnerFailed {
        status: "not waited for".to_owned(),
        stderr: e.to_string(),
    })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String = {
        let lines: Vec<&str> = stderr.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    };
    let answer: Answer = match serde_json::from_slice(&output.stdout) {
        Ok(answer) if output.status.success() => answer,
        _ => {
            return Err(Error::RunnerFailed {
                status: output.status.to_string(),
                stderr: tail,
            });
        }
    };
    if let Some(why) = answer.missing {
        return Err(Error::EngineMissing {
            why: format!("{why} (interpreter `{}`)", settings.python.display()),
            install: install_hint(settings),
        });
    }
    let mut engine = answer.engine.ok_or_else(|| Error::RunnerFailed {
        status: output.status.to_string(),
        stderr: "the answer names no engine".to_owned(),
    })?;
    // Measured by the runner from the moment ferry started the interpreter.
    engine.start_seconds = answer.start_seconds;
    if answer.cases.len() != cases.len() {
        return Err(Error::RunnerFailed {
            status: output.status.to_string(),
            stderr: format!("answered {} cases of {}", answer.cases.len(), cases.len()),
        });
    }
    Ok((engine, answer.cases))
}
