//! Running the cases of every subject in one engine process, and turning the engine's
//! answers into outcomes at the right file, line and column.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

use super::case::{Subject, TableFile};
use super::compare;
use super::engine::{self, CaseAnswer, CaseRequest, EngineInfo, EngineSettings, FileTable, Stage};
use super::error::{Error, Result};
use super::outcome::{CaseOutcome, CaseResult, Failure, FailureKind, Outcome, Report, Status};
use super::standin::{self, Prepared};
use crate::model::Location;
use crate::yaml::line_column;

/// How to run the tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The engine.
    pub engine: EngineSettings,
    /// Fail a connector whose `spec.chdbVersion` differs from the engine's version (by
    /// default that is a note).
    pub require_engine_version: bool,
}

/// A scratch folder for the files of one run, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!("ferry-test-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|source| Error::Scratch {
            path: path.clone(),
            source,
        })?;
        Ok(Scratch(path))
    }

    fn write(&self, name: &str, file: &TableFile) -> Result<FileTable> {
        let ext = if file.format() == "TSVWithNames" {
            "tsv"
        } else {
            "csv"
        };
        let path = self.0.join(format!("{name}.{ext}"));
        std::fs::write(&path, &file.bytes).map_err(|source| Error::Scratch {
            path: path.clone(),
            source,
        })?;
        Ok(FileTable {
            table: file.table.clone(),
            path,
            format: file.format(),
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A case sent to the engine, with what is needed to read its answer.
struct Sent<'a> {
    subject: usize,
    case: usize,
    /// The case's own inputs (its stand-ins are in `prepared`).
    inputs: Vec<&'a TableFile>,
    prepared: Prepared,
    /// Scratch copies and the repository files they hold, for messages.
    copies: Vec<(String, String)>,
}

/// Run every case of `subjects` on one engine process and report per connector. Skipped
/// subjects are not run; when nothing needs running, the engine is not started.
///
/// # Errors
/// The engine is missing or failed as a whole, or the scratch folder cannot be written.
/// A failing test is an [`Outcome`], not an error.
pub fn run_tests(subjects: &[Subject], options: &Options) -> Result<Report> {
    let scratch = Scratch::new()?;
    let mut results: Vec<Vec<Option<CaseResult>>> =
        subjects.iter().map(|s| vec![None; s.cases.len()]).collect();
    let mut sent: Vec<Sent<'_>> = Vec::new();
    let mut requests: Vec<CaseRequest> = Vec::new();
    for (si, subject) in subjects.iter().enumerate() {
        let Some((sql_path, sql)) = subject.sql.as_ref().filter(|_| subject.skip.is_none()) else {
            continue;
        };
        for (ci, case) in subject.cases.iter().enumerate() {
            let prepared = standin::prepare(sql, &case.stand_ins);
            let mut failures = Vec::new();
            for refused in &prepared.refused {
                failures.push(Failure::new(
                    FailureKind::Refused,
                    Some(at(sql_path, sql, refused.offset)),
                    format!(
                        "`{}()` reaches the network, so a test does not run it: give the case a local stand-in, for example `standIns: {{\"{}\": tests/{}.csv}}`",
                        refused.function,
                        refused.call.replace('"', "\\\"").replace('\n', " "),
                        refused.function.to_ascii_lowercase()
                    ),
                ));
            }
            for key in &prepared.unused {
                failures.push(Failure::new(
                    FailureKind::BadFile,
                    Some(case.location.clone()),
                    format!(
                        "the stand-in `{key}` matches no call of {sql_path}: write the call as it is in the SQL, or remove the stand-in"
                    ),
                ));
            }
            if prepared.statements.is_empty() {
                failures.push(Failure::new(
                    FailureKind::Sql,
                    Some(at(sql_path, sql, 0)),
                    format!("{sql_path} holds no statement: write the Live SQL query"),
                ));
            }
            if !failures.is_empty() {
                results[si][ci] = Some(CaseResult::Failed(failures));
                continue;
            }
            let n = requests.len();
            // The case's inputs, then its stand-ins: the order input errors are counted in.
            let inputs = case.inputs.iter().chain(prepared.stand_in_tables.iter());
            let mut request = CaseRequest {
                inputs: Vec::new(),
                statements: prepared.statements.iter().map(|s| s.text.clone()).collect(),
                result: subject.output_table.clone(),
                read: case.expect.iter().map(|e| e.table.clone()).collect(),
                expected: Vec::new(),
            };
            let mut copies = Vec::new();
            for (i, file) in inputs.enumerate() {
                let copy = scratch.write(&format!("case{n}-in{i}"), file)?;
                copies.push((copy.path.display().to_string(), file.path.clone()));
                request.inputs.push(copy);
            }
            for (i, file) in case.expect.iter().enumerate() {
                let copy = scratch.write(&format!("case{n}-expect{i}"), file)?;
                copies.push((copy.path.display().to_string(), file.path.clone()));
                request.expected.push(copy);
            }
            requests.push(request);
            sent.push(Sent {
                subject: si,
                case: ci,
                inputs: case.inputs.iter().collect(),
                prepared,
                copies,
            });
        }
    }
    let mut engine_info: Option<EngineInfo> = None;
    if !requests.is_empty() {
        let (info, answers) = engine::run(&options.engine, &scratch.0, &requests)?;
        for (sent, answer) in sent.iter().zip(answers) {
            let subject = &subjects[sent.subject];
            let result = judge(subject, sent, answer);
            results[sent.subject][sent.case] = Some(result);
        }
        engine_info = Some(info);
    }

    let outcomes = subjects
        .iter()
        .zip(results)
        .map(|(subject, results)| outcome(subject, results, engine_info.as_ref(), options))
        .collect();
    Ok(Report {
        engine: engine_info,
        outcomes,
    })
}

fn outcome(
    subject: &Subject,
    results: Vec<Option<CaseResult>>,
    engine: Option<&EngineInfo>,
    options: &Options,
) -> Outcome {
    let mut out = Outcome {
        connector: subject.connector.clone(),
        tenant: subject.tenant.clone(),
        location: subject.location.clone(),
        status: Status::Passed,
        reason: subject.skip.clone(),
        notes: Vec::new(),
        failures: Vec::new(),
        cases: Vec::new(),
    };
    if subject.skip.is_some() {
        out.status = Status::Skipped;
        return out;
    }
    if let (Some(pinned), Some(engine)) = (&subject.chdb_version, engine) {
        let local = if engine.name == "chdb" {
            &engine.version
        } else {
            &engine.clickhouse
        };
        if !same_version(pinned, local) {
            let message = format!(
                "spec.chdbVersion is {pinned} but the tests ran on {}: results may differ from the platform's; install chdb-core=={pinned}.* (or change spec.chdbVersion once the connector is upgraded on the platform)",
                engine.describe()
            );
            if options.require_engine_version {
                out.failures.push(Failure::new(
                    FailureKind::EngineVersion,
                    Some(subject.location.clone()),
                    message,
                ));
            } else {
                out.notes.push(message);
            }
        }
    }
    for (case, result) in subject.cases.iter().zip(results) {
        out.cases.push(CaseOutcome {
            name: case.name.clone(),
            location: case.location.clone(),
            result: result.unwrap_or(CaseResult::Passed),
        });
    }
    let failed = !out.failures.is_empty()
        || out
            .cases
            .iter()
            .any(|c| matches!(c.result, CaseResult::Failed(_)));
    if failed {
        out.status = Status::Failed;
    }
    out
}

/// Whether `local` is the version `pinned` names: equal in every component `pinned` gives
/// (`26.9` is `26.9.0` and `26.9.2.1`).
fn same_version(pinned: &str, local: &str) -> bool {
    let local: Vec<&str> = local.split('.').collect();
    pinned.split('.').enumerate().all(|(i, part)| {
        local
            .get(i)
            .is_some_and(|l| l.trim_start_matches('0') == part.trim_start_matches('0'))
    })
}

/// `path:line:column` of byte `offset` of the SQL file.
fn at(path: &str, sql: &str, offset: usize) -> Location {
    let (line, column) = line_column(sql, offset);
    Location {
        path: path.to_owned(),
        line,
        column,
    }
}

static POSITION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"failed at position (\d+)").expect("valid regex"));
static NAMED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:[Ii]dentifier|[Ff]unction|[Cc]olumns?:?|[Tt]able)\s+[`']?(?:[A-Za-z0-9_]+\.)?([A-Za-z_][A-Za-z0-9_]*)[`']?",
    )
    .expect("valid regex")
});
static ECHO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?s)failed at position \d+ \((.*?)\)(?: \(line \d+, col \d+\))?: .*?(\. Expected|$)",
    )
    .expect("valid regex")
});
static STAND_IN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"__ferry_stand_in_\d+").expect("valid regex"));
static CASE_DB: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"ferry_case_\d+\.").expect("valid regex"));

/// The engine's message without its `Code: N. DB::Exception:` prefix, the query it
/// echoes, the per-case database and the longest lists; its error name stays.
fn clean(message: &str) -> String {
    let message = message.trim();
    let mut m = message
        .split_once("DB::Exception: ")
        .map_or(message, |(_, m)| m)
        .to_owned();
    let name = m
        .strip_suffix(')')
        .and_then(|r| r.rsplit_once(" ("))
        .map(|(_, n)| n.to_owned())
        .filter(|n| n.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
    if let Some((head, _)) = m.split_once(" In scope ") {
        m = match &name {
            Some(n) => format!("{} ({n})", head.trim_end()),
            None => head.trim_end().to_owned(),
        };
    }
    if let Some((head, tail)) = m.split_once("Expected one of: ") {
        let items: Vec<&str> = tail.split(", ").collect();
        if items.len() > 8 {
            let end = name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default();
            m = format!("{head}Expected one of: {}, …{end}", items[..8].join(", "));
        }
    }
    // Positions and the echoed rest of the statement are relative to what the engine was
    // sent; the report gives the file's line and column instead.
    let m = ECHO.replace(&m, "failed at `$1`$2");
    CASE_DB.replace_all(&m, "").replace('\n', " ")
}

/// Where in the statement the engine's message points: its `position`, or the first use of
/// the name it complains about.
fn position_in(statement: &str, message: &str) -> Option<usize> {
    if let Some(c) = POSITION.captures(message) {
        let pos: usize = c[1].parse().ok()?;
        return Some(pos.saturating_sub(1).min(statement.len()));
    }
    let name = NAMED
        .captures_iter(message)
        .map(|c| c[1].to_owned())
        .find(|n| {
            !matches!(
                n.as_str(),
                "expression" | "identifier" | "function" | "table" | "does" | "doesn" | "with"
            )
        })?;
    crate::sql::tokens(statement)
        .into_iter()
        .find(|t| {
            let text = t.text(statement).trim_matches(['`', '"']);
            text == name
        })
        .map(|t| t.span.start)
}

fn judge(subject: &Subject, sent: &Sent<'_>, answer: CaseAnswer) -> CaseResult {
    let case = &subject.cases[sent.case];
    let (sql_path, sql) = subject
        .sql
        .as_ref()
        .expect("only subjects with SQL are sent");
    if let Some(error) = answer.error {
        let mut message = clean(&error.message);
        for (copy, original) in &sent.copies {
            message = message.replace(copy.as_str(), original);
        }
        message = STAND_IN
            .replace_all(&message, |c: &regex::Captures<'_>| {
                sent.prepared
                    .stand_in_tables
                    .iter()
                    .find(|t| t.table == c[0])
                    .map_or_else(|| c[0].to_owned(), |t| format!("the stand-in {}", t.path))
            })
            .into_owned();
        let failure = match error.stage {
            Stage::Statement => {
                let statement =
                    &sent.prepared.statements[error.index.min(sent.prepared.statements.len() - 1)];
                let offset = position_in(&statement.text, &error.message)
                    .map_or(statement.start, |p| statement.original(p));
                Failure::new(FailureKind::Sql, Some(at(sql_path, sql, offset)), message)
            }
            Stage::Input => {
                let all: Vec<&TableFile> = sent
                    .inputs
                    .iter()
                    .copied()
                    .chain(sent.prepared.stand_in_tables.iter())
                    .collect();
                match all.get(error.index) {
                    Some(file) => Failure::new(
                        FailureKind::BadFile,
                        Some(file.at.clone()),
                        format!(
                            "cannot load {} as the table `{}`: {message}; write it as CSV with a header row",
                            file.path,
                            error.table.clone().unwrap_or_default()
                        ),
                    ),
                    None => {
                        Failure::new(FailureKind::BadFile, Some(case.location.clone()), message)
                    }
                }
            }
            Stage::Read => {
                let table = error.table.unwrap_or_default();
                Failure::new(
                    FailureKind::MissingTable,
                    Some(case.location.clone()),
                    format!(
                        "the SQL produced no table `{table}` ({message}): the last statement's rows are the table `{}` (spec.tables.output) when it is a query; any other expected table must be created by the script",
                        subject.output_table
                    ),
                )
            }
            Stage::Expected => {
                let file = case.expect.get(error.index);
                Failure::new(
                    FailureKind::BadFile,
                    Some(file.map_or(case.location.clone(), |f| f.at.clone())),
                    format!(
                        "cannot read the expected {}: {message}; write it as CSV with a header row",
                        file.map_or("file", |f| f.path.as_str())
                    ),
                )
            }
        };
        return CaseResult::Failed(vec![failure]);
    }
    let mut failures = Vec::new();
    for file in &case.expect {
        let expected = answer.expected.get(&file.table).cloned().flatten();
        let actual = answer.tables.get(&file.table).cloned().flatten();
        let Some(expected) = expected else {
            failures.push(Failure::new(
                FailureKind::BadFile,
                Some(file.at.clone()),
                format!(
                    "{} is empty: write a header row and the expected rows",
                    file.path
                ),
            ));
            continue;
        };
        let Some(actual) = actual else {
            failures.push(Failure::new(
                FailureKind::MissingTable,
                Some(case.location.clone()),
                format!(
                    "the SQL produced no rows for `{}`: its last statement is not a query",
                    file.table
                ),
            ));
            continue;
        };
        match compare::compare(&file.table, &expected, &actual, &case.key) {
            Ok(None) => {}
            Ok(Some(diff)) => failures.push(Failure {
                kind: FailureKind::Mismatch,
                at: Some(file.at.clone()),
                message: format!(
                    "`{}` differs from {}: {}",
                    file.table,
                    file.path,
                    diff.summary()
                ),
                diff: Some(diff),
            }),
            Err(message) => failures.push(Failure::new(
                FailureKind::Mismatch,
                Some(case.location.clone()),
                message,
            )),
        }
    }
    if failures.is_empty() {
        CaseResult::Passed
    } else {
        CaseResult::Failed(failures)
    }
}

/// The default engine settings, with the interpreter and binary of `config` (relative to
/// `config_dir`) when set.
pub fn settings_from(
    config: Option<&crate::config::SqlEngineSettings>,
    config_dir: &Path,
) -> EngineSettings {
    let mut settings = EngineSettings::default();
    if let Some(c) = config {
        settings.kind = c.kind;
        let resolve = |p: &str| {
            if p.contains('/') {
                config_dir.join(p)
            } else {
                PathBuf::from(p)
            }
        };
        if let Some(p) = &c.python {
            settings.python = resolve(p);
        }
        if let Some(p) = &c.clickhouse {
            settings.clickhouse = resolve(p);
        }
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_the_components_pinned() {
        assert!(same_version("26.9", "26.9.0"));
        assert!(same_version("26.9.0", "26.9.0"));
        assert!(same_version("26", "26.9.2.1"));
        assert!(!same_version("26.8", "26.9.0"));
        assert!(!same_version("26.9.1", "26.9"));
    }

    #[test]
    fn engine_messages_lose_the_echo_and_the_case_database() {
        assert_eq!(
            clean(
                "Code: 60. DB::Exception: Unknown table expression identifier 'y'. Maybe you meant ferry_case_3.x? In scope SELECT * FROM y. (UNKNOWN_TABLE)"
            ),
            "Unknown table expression identifier 'y'. Maybe you meant x? (UNKNOWN_TABLE)"
        );
    }

    #[test]
    fn syntax_errors_lose_positions_relative_to_the_statement() {
        assert_eq!(
            clean(
                "Code: 62. DB::Exception: Syntax error: failed at position 40 (cur) (line 2, col 23): cur\nFROM staged. Expected one of: token, Comma. (SYNTAX_ERROR)"
            ),
            "Syntax error: failed at `cur`. Expected one of: token, Comma. (SYNTAX_ERROR)"
        );
    }

    #[test]
    fn positions_come_from_the_message_or_the_name() {
        assert_eq!(
            position_in("SELEC 1", "Syntax error: failed at position 7 (1)"),
            Some(6)
        );
        let st = "SELECT a,\n  missing_col FROM t";
        assert_eq!(
            position_in(st, "Unknown expression identifier `missing_col` in scope"),
            Some(st.find("missing_col").unwrap())
        );
        assert_eq!(
            position_in(
                "SELECT * FROM nope",
                "Unknown table expression identifier 'nope'."
            ),
            Some(14)
        );
    }
}
