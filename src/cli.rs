//! The command line: argument types (clap derive) and dispatch to `commands`.
//!
//! Exit codes: 0 success, 1 failure (invalid manifests, failed actions), 2 changes pending
//! (`plan`), 64 usage or configuration error before any work started.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// `ferry --version`: the version, the commit and the date it was built (see `build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("FERRY_COMMIT"),
    ", built ",
    env!("FERRY_BUILD_DATE"),
    ")"
);

/// GitOps reconciler for SaaS connectors.
#[derive(Debug, Parser)]
#[command(name = "ferry", version = VERSION, about, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, env = "FERRY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// ferry's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every manifest and the configuration; print every error at once.
    Validate(crate::commands::validate::ValidateArgs),
    /// Print the JSON Schema of ferry.yaml and of manifests.
    Schema(crate::commands::schema::SchemaArgs),
    /// Show what applying a revision would change in each tenant.
    Plan(crate::commands::plan::PlanArgs),
    /// Apply a revision to the tenants (asks first; connectors always stay inactive).
    Apply(crate::commands::apply::ApplyArgs),
    /// Close an open warning a person has dealt with (releases promotion when it was the last).
    Ack(crate::commands::ack::AckArgs),
    /// Write what a tenant holds as manifests and files, and record it as in sync.
    Export(crate::commands::export::ExportArgs),
    /// Run the controller: watch the source, reconcile tenants, serve the status page, /api/v1, /metrics, /livez, /readyz, /hooks.
    Serve(crate::commands::serve::ServeArgs),
    /// Serve the three platforms' APIs for the tenants of a seed file (for trying ferry and testing).
    Emulator(crate::commands::emulator::EmulatorArgs),
    /// Show every tenant's sync and drift state, warnings and commit from a running `ferry serve`; with TENANT, its connectors and drift diffs.
    Status(crate::commands::status::StatusArgs),
    /// Run each SmartConnector's Live SQL and its test cases on chDB; report per connector.
    Test(crate::commands::test::TestArgs),
    /// Stop a running `ferry serve` applying to a tenant (it still plans and drift-checks it).
    Suspend(crate::commands::suspend::SuspendArgs),
    /// Let a running `ferry serve` apply to a suspended tenant again.
    Resume(crate::commands::suspend::ResumeArgs),
    /// Ask a running `ferry serve` to reconcile a tenant now; with --wait, exit by how it ended.
    Reconcile(crate::commands::reconcile::ReconcileArgs),
    /// Print the completion script for a shell (bash, zsh, fish, powershell, elvish).
    Completions(crate::commands::completions::CompletionsArgs),
    /// Print ferry's manual page, or with --dir write a page for ferry and each command.
    Man(crate::commands::man::ManArgs),
}

/// Parse the command line, run the command, and turn its outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // `--help` and `--version` print on stdout and succeed; a usage error prints
            // on stderr and exits 64, as for a configuration that cannot be read.
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(64)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Plan(args) => crate::commands::plan::run(args),
        Command::Apply(args) => crate::commands::apply::run(args),
        Command::Ack(args) => crate::commands::ack::run(&args),
        Command::Export(args) => crate::commands::export::run(args),
        Command::Serve(args) => {
            init_logging(cli.log_format);
            crate::commands::serve::run(args)
        }
        Command::Emulator(args) => crate::commands::emulator::run(args),
        Command::Validate(args) => crate::commands::validate::run(&args),
        Command::Schema(_) => crate::commands::schema::run(),
        Command::Status(args) => crate::commands::status::run(&args),
        Command::Test(args) => crate::commands::test::run(&args),
        Command::Suspend(args) => crate::commands::suspend::suspend(&args),
        Command::Resume(args) => crate::commands::suspend::resume(&args),
        Command::Reconcile(args) => crate::commands::reconcile::run(&args),
        Command::Completions(args) => crate::commands::completions::run(&args),
        Command::Man(args) => crate::commands::man::run(&args),
    }
}

/// Install the `tracing` subscriber: text or JSON lines on stderr, filtered by `RUST_LOG`
/// (default `info`), with control characters escaped and credentials redacted
/// ([`crate::log`]).
pub fn init_logging(format: LogFormat) {
    let format = match format {
        LogFormat::Text => crate::log::Format::Text,
        LogFormat::Json => crate::log::Format::Json,
    };
    crate::log::init(format, std::io::stderr().is_terminal());
}
