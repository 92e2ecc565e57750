//! `ferry man [--dir DIR]`: ferry's manual pages (clap_mangen), made from the same
//! definitions as `--help`. Without `--dir`, `ferry(1)` on stdout (`ferry man | man -l -`);
//! with it, `ferry.1` and a `ferry-COMMAND.1` for every command, written into DIR.
//!
//! Exit codes: 0 written; 1 a page could not be written.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;

/// Arguments of `ferry man`.
#[derive(Debug, Clone, clap::Args)]
pub struct ManArgs {
    /// Write `ferry.1` and a page per command into this folder (created if missing).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// ferry's pages: `ferry`, then `ferry-COMMAND` for each command (clap names a built
/// command's subcommands so), with their file names.
fn pages() -> Vec<(String, clap_mangen::Man)> {
    let mut command = crate::cli::Cli::command().disable_help_subcommand(true);
    command.build();
    let subcommands: Vec<clap::Command> = command.get_subcommands().cloned().collect();
    std::iter::once(command)
        .chain(subcommands)
        .map(|c| {
            let page = clap_mangen::Man::new(c);
            (page.get_filename(), page)
        })
        .collect()
}

fn render(name: &str, page: &clap_mangen::Man) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    page.render(&mut out)
        .map_err(|e| format!("cannot render {name}: {e}"))?;
    Ok(out)
}

/// Write the pages of ferry and each of its commands into `dir`; returns the files written.
///
/// # Errors
/// What failed, with the path.
pub fn write_pages(dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut written = Vec::new();
    for (name, page) in pages() {
        let path = dir.join(&name);
        let text = render(&name, &page)?;
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Run `ferry man`.
pub fn run(args: &ManArgs) -> ExitCode {
    let written = match &args.dir {
        None => pages()
            .into_iter()
            .next()
            .ok_or_else(|| "no page".to_owned())
            .and_then(|(name, page)| render(&name, &page))
            .and_then(|text| {
                std::io::Write::write_all(&mut std::io::stdout().lock(), &text)
                    .map_err(|e| format!("cannot write the manual page: {e}"))
            })
            .map(|()| None),
        Some(dir) => write_pages(dir).map(|w| Some((w.len(), dir))),
    };
    match written {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some((n, dir))) => {
            eprintln!("ferry: wrote {n} manual pages into {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferry: {e}");
            ExitCode::from(1)
        }
    }
}
