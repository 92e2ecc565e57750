//! `ferry test`: run each SmartConnector's Live SQL and its test cases on chDB (or
//! `clickhouse local`), and report per connector.
//!
//! Reads the configuration and the manifests as `ferry validate` does (working tree, or a
//! commit with `--rev`); with `--tenant`, tests the SmartConnectors that tenant selects,
//! with its `${vars}`. Exit codes: 0 every connector passed (or was skipped), 1 a
//! connector failed, 64 the configuration or the manifests are invalid, a name is unknown,
//! or no engine is installed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::ValueEnum;

use super::validate;
use crate::config::SqlEngineKind;
use crate::model::Platform;
use crate::sqltest::{self, Options};

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestOutput {
    /// Lines for people.
    Text,
    /// The whole report as JSON.
    Json,
    /// The whole report as YAML.
    Yaml,
    /// JUnit XML, for CI test reports.
    Junit,
}

/// Engine choice on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// chDB through Python (the PyPI package `chdb-core`).
    Chdb,
    /// `clickhouse local`.
    ClickhouseLocal,
}

/// Arguments of `ferry test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Configuration file.
    #[arg(long, short, env = "FERRY_CONFIG", default_value = "ferry.yaml")]
    pub config: PathBuf,
    /// Read manifests from this commit (any git revision) instead of the working tree.
    #[arg(long)]
    pub rev: Option<String>,
    /// Test the SmartConnectors this tenant selects, with its `${vars}`.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Test only this connector (`metadata.name`); repeatable.
    #[arg(long = "connector", value_name = "NAME")]
    pub connectors: Vec<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = TestOutput::Text)]
    pub output: TestOutput,
    /// Engine (default: sqlEngine.kind in ferry.yaml, else chdb).
    #[arg(long, value_enum, env = "FERRY_SQL_ENGINE")]
    pub engine: Option<EngineArg>,
    /// Python interpreter with chDB (default: sqlEngine.python, else python3).
    #[arg(long, env = "FERRY_PYTHON")]
    pub python: Option<PathBuf>,
    /// The `clickhouse` binary for clickhouse-local (default: sqlEngine.clickhouse, else
    /// clickhouse).
    #[arg(long, env = "FERRY_CLICKHOUSE")]
    pub clickhouse: Option<PathBuf>,
    /// Fail a connector whose spec.chdbVersion differs from the engine's version.
    #[arg(long)]
    pub require_engine_version: bool,
}

fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("ferry: {message}");
    ExitCode::from(64)
}

/// Run `ferry test`.
pub fn run(args: &TestArgs) -> ExitCode {
    let read = match validate::read(&args.config, args.rev.as_deref()) {
        Ok(Ok(read)) => read,
        Ok(Err(diagnostics)) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            return usage("the configuration is invalid; fix it first (`ferry validate`)");
        }
        Err(e) => return usage(e),
    };
    if !read.diagnostics.is_empty() {
        for d in &read.diagnostics {
            eprintln!("{d}");
        }
        return usage(format!(
            "{} problem(s) in the configuration or manifests; fix them first (`ferry validate`)",
            read.diagnostics.len()
        ));
    }
    let tenant = match &args.tenant {
        None => None,
        Some(name) => match read.loaded.tenant(name) {
            None => {
                let names: Vec<&str> = read
                    .loaded
                    .config
                    .tenants
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect();
                return usage(format!(
                    "no tenant named `{name}` in the configuration; configured tenants: {}",
                    names.join(", ")
                ));
            }
            Some(t) if t.platform != Platform::Kizen => {
                return usage(format!(
                    "tenant `{name}` is on {}: only Kizen SmartConnectors have SQL to test; name a kizen tenant",
                    t.platform
                ));
            }
            Some(t) => Some(t),
        },
    };
    let mut subjects = match sqltest::subjects(&read.set, tenant) {
        Ok(s) => s,
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            return usage("undefined variables; fix them first (`ferry validate`)");
        }
    };
    if !args.connectors.is_empty() {
        let known: Vec<String> = subjects.iter().map(|s| s.connector.clone()).collect();
        if let Some(unknown) = args.connectors.iter().find(|c| !known.contains(c)) {
            return usage(format!(
                "no SmartConnector named `{unknown}`{}; SmartConnectors: {}",
                tenant
                    .map(|t| format!(" for tenant `{}`", t.name))
                    .unwrap_or_default(),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ));
        }
        subjects.retain(|s| args.connectors.contains(&s.connector));
    }
    let mut engine =
        sqltest::settings_from(read.loaded.config.sql_engine.as_ref(), &read.loaded.dir);
    if let Some(kind) = args.engine {
        engine.kind = match kind {
            EngineArg::Chdb => SqlEngineKind::Chdb,
            EngineArg::ClickhouseLocal => SqlEngineKind::ClickhouseLocal,
        };
    }
    if let Some(python) = &args.python {
        engine.python = python.clone();
    }
    if let Some(clickhouse) = &args.clickhouse {
        engine.clickhouse = clickhouse.clone();
    }
    let options = Options {
        engine,
        require_engine_version: args.require_engine_version,
    };
    let report = match sqltest::run_tests(&subjects, &options) {
        Ok(report) => report,
        Err(e @ sqltest::Error::EngineMissing { .. }) => return usage(e),
        Err(e) => {
            eprintln!("ferry: {e}");
            return ExitCode::from(1);
        }
    };
    match args.output {
        // Values and engine messages come from CSV files and the engine: escaped.
        TestOutput::Text => print!(
            "{}",
            crate::printable::printable_lines(&sqltest::text(&report))
        ),
        TestOutput::Json => print!("{}", super::document(&report, super::Document::Json)),
        TestOutput::Yaml => print!("{}", super::document(&report, super::Document::Yaml)),
        TestOutput::Junit => print!("{}", sqltest::junit(&report)),
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
