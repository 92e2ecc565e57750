//! `ferry validate`: check the configuration and every manifest, for every tenant, and
//! print every problem at once.
//!
//! Reads manifests from the working tree of `source.repo` (a local path relative to the
//! configuration), or with `--rev` from a commit of that repository without checking it
//! out. Besides parsing, it builds each tenant's desired state so undefined `${vars}` are
//! caught. Exit codes: 0 valid, 1 problems found (each printed as
//! `path:line:column: message` on stderr), 64 the configuration cannot be read or the
//! repository cannot be opened.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::ValidateArgs;
use crate::config;
use crate::manifest::{self, Diagnostic, Diagnostics};
use crate::source::{self, CommitSnapshot, EntryKind, Snapshot, WorkTree};

/// Why validation could not start (exit 64).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file cannot be read.
    #[error("cannot read the configuration {path}: {source}; pass the right file with --config")]
    ConfigUnreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `source.repo` is a URL: validate reads local repositories only.
    #[error(
        "source.repo `{repo}` is a remote URL: `ferry validate` reads a local repository; point source.repo at a local clone (a path relative to {config}), optionally with --rev to read a commit of it"
    )]
    RemoteRepository {
        /// The URL.
        repo: String,
        /// The configuration file.
        config: String,
    },
    /// The repository or the revision cannot be opened.
    #[error(transparent)]
    Source(#[from] source::Error),
}

/// What validation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything is valid.
    Valid {
        /// Manifests read.
        manifests: usize,
        /// Tenants they were checked for.
        tenants: usize,
    },
    /// Problems, sorted by path, line and column.
    Invalid(Diagnostics),
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Validate the configuration at `config_path` and the manifests it points at, from the
/// working tree or from commit `rev`.
///
/// # Errors
/// [`Error`] when validation cannot start; problems in the files are an
/// [`Outcome::Invalid`].
pub fn check(config_path: &Path, rev: Option<&str>) -> Result<Outcome, Error> {
    let bytes = std::fs::read(config_path).map_err(|source| Error::ConfigUnreadable {
        path: config_path.to_owned(),
        source,
    })?;
    let loaded = match config::parse(config_path, &bytes) {
        Ok(loaded) => loaded,
        Err(diagnostics) => return Ok(Outcome::Invalid(diagnostics)),
    };
    let mut diagnostics = loaded.validate();
    let Some(repo) = loaded.local_repository() else {
        return Err(Error::RemoteRepository {
            repo: loaded.config.source.repo.clone(),
            config: loaded.display_path().to_owned(),
        });
    };
    let snapshot: Box<dyn Snapshot> = match rev {
        Some(rev) => Box::new(CommitSnapshot::open(&repo, rev)?),
        None => {
            if !repo.is_dir() {
                diagnostics.at(
                    loaded.location("source.repo"),
                    format!(
                        "source.repo resolves to {}, which is not a directory: give the repository's path relative to this file",
                        repo.display()
                    ),
                );
                return Ok(Outcome::Invalid(sorted(diagnostics)));
            }
            Box::new(WorkTree::new(&repo))
        }
    };

    let folder = loaded.manifests_folder();
    let folder_norm: String = folder
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect::<Vec<_>>()
        .join("/");
    match snapshot.entry(&folder_norm) {
        Ok(Some(EntryKind::Dir)) => {}
        Ok(_) => {
            diagnostics.at(
                loaded.location("source.path"),
                format!(
                    "the manifests folder `{folder}` does not exist in the {}: fix source.path (relative to the repository root)",
                    snapshot.describe()
                ),
            );
            return Ok(Outcome::Invalid(sorted(diagnostics)));
        }
        Err(e) => {
            diagnostics.at(
                loaded.location("source.path"),
                format!("cannot read the manifests folder: {e}"),
            );
            return Ok(Outcome::Invalid(sorted(diagnostics)));
        }
    }

    let (set, manifest_diagnostics) = manifest::load_all(snapshot.as_ref(), folder);
    diagnostics.extend(manifest_diagnostics);
    for tenant in &loaded.config.tenants {
        if let Err(d) = manifest::desired_for(&set, tenant) {
            diagnostics.extend(d);
        }
    }
    if let Some(seed) = loaded
        .config
        .emulator
        .as_ref()
        .and_then(|e| e.seed.as_deref())
        && !seed.trim().is_empty()
        && !loaded.resolve(seed).is_file()
    {
        diagnostics.push(Diagnostic::new(
            loaded.location("emulator.seed"),
            format!("the emulator seed file `{seed}` does not exist (relative to {}): create it or fix the path", loaded.dir.display()),
        ));
    }
    if diagnostics.is_empty() {
        Ok(Outcome::Valid {
            manifests: set.len(),
            tenants: loaded.config.tenants.len(),
        })
    } else {
        Ok(Outcome::Invalid(sorted(diagnostics)))
    }
}

fn sorted(mut diagnostics: Diagnostics) -> Diagnostics {
    diagnostics.sort();
    diagnostics
}

/// Run `ferry validate`: print the summary or every problem, and return the exit code.
pub fn run(args: &ValidateArgs) -> ExitCode {
    match check(&args.config, args.rev.as_deref()) {
        Ok(Outcome::Valid { manifests, tenants }) => {
            println!(
                "{} valid for {}",
                plural(manifests, "manifest"),
                plural(tenants, "tenant")
            );
            ExitCode::SUCCESS
        }
        Ok(Outcome::Invalid(diagnostics)) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            eprintln!(
                "ferry: {} found; nothing is applied until they are fixed",
                plural(diagnostics.len(), "problem")
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("ferry: {e}");
            ExitCode::from(64)
        }
    }
}
