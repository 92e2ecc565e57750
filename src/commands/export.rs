//! `ferry export`: write what one tenant holds as manifests and their files, and record
//! the exported objects as in sync. The work is [`crate::export`]; this prints its report.
//!
//! Exit codes: 0 exported; 1 something could not be exported, written, read back or
//! recorded; 64 usage or configuration error before any work started.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::export::{self, Options, Report};

/// Arguments of `ferry export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Configuration file.
    #[arg(long, short, env = "FERRY_CONFIG", default_value = "ferry.yaml")]
    pub config: PathBuf,
    /// The tenant to export.
    #[arg(long, short)]
    pub tenant: String,
    /// Directory to write the manifests and their files to (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Write into a non-empty directory, overwriting files of the same name.
    #[arg(long)]
    pub force: bool,
    /// Keep only the header row of Kizen sample files (they may hold personal data).
    /// Redacted samples differ from the tenant, so `ferry plan` shows those connectors as
    /// changed until the full samples are back in git or the redacted ones are applied.
    #[arg(long)]
    pub redact_samples: bool,
    /// State store path (default: `state` in the configuration).
    #[arg(long, env = "FERRY_STATE")]
    pub state: Option<PathBuf>,
}

impl ExportArgs {
    /// The library's options.
    fn options(&self) -> Options {
        Options {
            tenant: self.tenant.clone(),
            out: self.out.clone(),
            force: self.force,
            redact_samples: self.redact_samples,
            state: self.state.clone(),
        }
    }
}

fn print_report(repository: Option<&Path>, report: &Report) {
    let width = report
        .exported
        .iter()
        .map(|e| e.connector.len())
        .max()
        .unwrap_or(0);
    for e in &report.exported {
        println!(
            "  {:<width$}  {}  ({})",
            e.connector, e.summary.name, e.summary.id
        );
    }
    println!(
        "exported {} object(s) of tenant {} to {}",
        report.exported.len(),
        report.tenant,
        report.out.display()
    );
    let redacted = report.exported.iter().filter(|e| e.redacted).count();
    if redacted > 0 {
        println!(
            "{redacted} sample file(s) redacted to their header row: `ferry plan` shows those connectors as changed (sampleFile) until the full samples are back in git or the redacted ones are applied"
        );
    }
    let aside = if redacted > 0 {
        ", the redacted connectors aside"
    } else {
        ""
    };
    match source_path_for(repository, &report.out) {
        Some(path) => println!(
            "recorded in the state store as adopted (never pruned unless ferry created them): point source.path at {path} and `ferry plan` shows the tenant in sync{aside}"
        ),
        None => println!(
            "recorded in the state store as adopted (never pruned unless ferry created them): {} is outside the source repository; move the folder into it and point source.path at it (a folder relative to the repository's root), and `ferry plan` shows the tenant in sync{aside}",
            report.out.display()
        ),
    }
    for s in &report.skipped {
        eprintln!("ferry: not exported: {:?} ({}): {}", s.name, s.id, s.reason);
    }
    for p in &report.problems {
        eprintln!("ferry: {p}");
    }
}

/// What `source.path` should say for the folder `out`: its path relative to the root of
/// the local source repository, or `None` when it is outside it (or the source is remote).
fn source_path_for(repository: Option<&Path>, out: &Path) -> Option<String> {
    let root = repository?.canonicalize().ok()?;
    let out = out.canonicalize().ok()?;
    let relative = out.strip_prefix(&root).ok()?;
    let shown = relative.to_string_lossy().replace('\\', "/");
    Some(if shown.is_empty() {
        ".".to_owned()
    } else {
        shown
    })
}

/// Run `ferry export`.
pub fn run(args: ExportArgs) -> ExitCode {
    let loaded = match super::load_config(&args.config, "exported", 1) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    super::block_on(async {
        match export::export(&loaded, &args.options()).await {
            Ok(report) => {
                print_report(loaded.local_repository().as_deref(), &report);
                if report.complete() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!(
                    "ferry: export of tenant {}: {}",
                    args.tenant,
                    crate::printable::printable(&e.to_string())
                );
                ExitCode::from(e.exit_code())
            }
        }
    })
}
