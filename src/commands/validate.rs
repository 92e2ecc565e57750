//! `ferry validate`: check the configuration and every manifest, for every tenant, and
//! print every problem at once.
//!
//! Reads manifests from the working tree of `source.repo` (a local path relative to the
//! configuration), or with `--rev` from a commit of that repository without checking it
//! out. Besides parsing, it substitutes each tenant's `${vars}` so undefined ones are
//! caught; the commands that plan then build the desired state of the tenants they plan
//! only. Exit codes: 0 valid, 1 problems found (each printed as `path:line:column:
//! message` on stderr), 64 the configuration cannot be read or the repository cannot be
//! opened.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config;
use crate::manifest::{self, Diagnostic, Diagnostics};
use crate::source::{self, CommitSnapshot, EntryKind, Snapshot, WorkTree};

/// Arguments of `ferry validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Configuration file.
    #[arg(long, short, env = "FERRY_CONFIG", default_value = "ferry.yaml")]
    pub config: PathBuf,
    /// Read manifests from this commit (any git revision) instead of the working tree.
    #[arg(long)]
    pub rev: Option<String>,
    /// Output format: text, or the problems as data (file, line, column, message,
    /// severity, fix) for editors and CI annotations. Exit codes are the same.
    #[arg(long, short, value_enum, default_value_t = ValidateOutput::Text)]
    pub output: ValidateOutput,
}

/// Output format of `ferry validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ValidateOutput {
    /// A summary, or `path:line:column: message` lines on stderr.
    Text,
    /// `{"valid", "manifests", "tenants", "diagnostics": [...]}` on stdout.
    Json,
    /// The JSON document as YAML.
    Yaml,
}

/// One problem as data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem<'a> {
    /// Path relative to the repository root (or the configuration's path).
    pub file: &'a str,
    /// 1-based line; absent when the problem is about the whole file.
    pub line: Option<u64>,
    /// 1-based column; absent with the line.
    pub column: Option<u64>,
    /// What is wrong and how to fix it, as the text output says it.
    pub message: &'a str,
    /// Always `error`: any problem stops the revision being applied.
    pub severity: &'static str,
    /// The fix the message ends with, when it names one.
    pub fix: Option<&'a str>,
}

impl<'a> From<&'a Diagnostic> for Problem<'a> {
    fn from(d: &'a Diagnostic) -> Self {
        let known = |n: u64| (n > 0).then_some(n);
        Problem {
            file: &d.location.path,
            line: known(d.location.line),
            column: known(d.location.line).and(known(d.location.column)),
            message: &d.message,
            severity: "error",
            fix: d.fix(),
        }
    }
}

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
        /// The URL, credentials redacted.
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

/// A configuration and the manifests of one revision, as read for a command.
#[derive(Debug)]
pub struct Read {
    /// The configuration (parsed; check `diagnostics` before trusting it).
    pub loaded: config::LoadedConfig,
    /// Every manifest that parsed.
    pub set: manifest::ManifestSet,
    /// Every problem found in the configuration, the manifests and each tenant's vars.
    pub diagnostics: Diagnostics,
    /// The commit read (`--rev`), or `HEAD` of the repository when reading the working
    /// tree (None when the repository has no commit yet).
    pub commit: Option<String>,
}

/// Read and check the configuration at `config_path` and the manifests it points at,
/// from the working tree or from commit `rev`.
///
/// # Errors
/// [`Error`] when reading cannot start. A configuration that does not parse is returned
/// as `Ok(Err(diagnostics))`.
pub fn read(config_path: &Path, rev: Option<&str>) -> Result<Result<Read, Diagnostics>, Error> {
    let bytes = std::fs::read(config_path).map_err(|source| Error::ConfigUnreadable {
        path: config_path.to_owned(),
        source,
    })?;
    let loaded = match config::parse(config_path, &bytes) {
        Ok(loaded) => loaded,
        Err(diagnostics) => return Ok(Err(diagnostics)),
    };
    let mut diagnostics = loaded.validate();
    let Some(repo) = loaded.local_repository() else {
        // The configuration's own problems (a token in source.repo among them) come first.
        if !diagnostics.is_empty() {
            return Ok(Err(sorted(diagnostics)));
        }
        return Err(Error::RemoteRepository {
            repo: crate::sensitive::redact(&loaded.config.source.repo).into_owned(),
            config: loaded.display_path().to_owned(),
        });
    };
    let empty = |loaded, diagnostics| {
        Ok(Ok(Read {
            loaded,
            set: manifest::ManifestSet::default(),
            diagnostics: sorted(diagnostics),
            commit: None,
        }))
    };
    let (snapshot, commit): (Box<dyn Snapshot>, Option<String>) = match rev {
        Some(rev) => {
            let snapshot = CommitSnapshot::open(&repo, rev)?;
            let commit = snapshot.commit().to_string();
            (Box::new(snapshot), Some(commit))
        }
        None => {
            if !repo.is_dir() {
                diagnostics.at(
                    loaded.location("source.repo"),
                    format!(
                        "source.repo resolves to {}, which is not a directory: give the repository's path relative to this file",
                        repo.display()
                    ),
                );
                return empty(loaded, diagnostics);
            }
            let head = crate::source::head_commit(&repo);
            (Box::new(WorkTree::new(&repo)), head)
        }
    };

    let folder = loaded.manifests_folder().to_owned();
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
            return empty(loaded, diagnostics);
        }
        Err(e) => {
            diagnostics.at(
                loaded.location("source.path"),
                format!("cannot read the manifests folder: {e}"),
            );
            return empty(loaded, diagnostics);
        }
    }

    let (set, manifest_diagnostics) = manifest::load_all(snapshot.as_ref(), &folder);
    diagnostics.extend(manifest_diagnostics);
    for tenant in &loaded.config.tenants {
        diagnostics.extend(crate::desired::check_vars(&set, tenant));
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
    Ok(Ok(Read {
        loaded,
        set,
        diagnostics: sorted(diagnostics),
        commit,
    }))
}

/// Validate the configuration at `config_path` and the manifests it points at, from the
/// working tree or from commit `rev`.
///
/// # Errors
/// [`Error`] when validation cannot start; problems in the files are an
/// [`Outcome::Invalid`].
pub fn check(config_path: &Path, rev: Option<&str>) -> Result<Outcome, Error> {
    Ok(match read(config_path, rev)? {
        Ok(read) => outcome(&read),
        Err(diagnostics) => Outcome::Invalid(diagnostics),
    })
}

fn outcome(read: &Read) -> Outcome {
    if read.diagnostics.is_empty() {
        Outcome::Valid {
            manifests: read.set.len(),
            tenants: read.loaded.config.tenants.len(),
        }
    } else {
        Outcome::Invalid(read.diagnostics.clone())
    }
}

fn sorted(mut diagnostics: Diagnostics) -> Diagnostics {
    diagnostics.sort();
    diagnostics
}

/// Run `ferry validate`: print the summary or every problem, and return the exit code.
pub fn run(args: &ValidateArgs) -> ExitCode {
    let checked = read(&args.config, args.rev.as_deref()).map(|read| match read {
        Ok(read) => {
            let outcome = outcome(&read);
            // The process exits right after printing: freeing thousands of manifests one
            // by one first would only add to its run time.
            std::mem::forget(read);
            outcome
        }
        Err(diagnostics) => Outcome::Invalid(diagnostics),
    });
    let format = match args.output {
        ValidateOutput::Text => None,
        ValidateOutput::Json => Some(super::Document::Json),
        ValidateOutput::Yaml => Some(super::Document::Yaml),
    };
    if let (Some(format), Ok(outcome)) = (format, &checked) {
        let (valid, counts, diagnostics) = match outcome {
            Outcome::Valid { manifests, tenants } => (true, Some((*manifests, *tenants)), None),
            Outcome::Invalid(d) => (false, None, Some(d)),
        };
        let problems: Vec<Problem<'_>> = diagnostics
            .into_iter()
            .flat_map(Diagnostics::iter)
            .map(Problem::from)
            .collect();
        let doc = serde_json::json!({
            "valid": valid,
            "manifests": counts.map(|c| c.0),
            "tenants": counts.map(|c| c.1),
            "diagnostics": problems,
        });
        print!("{}", super::document(&doc, format));
        return ExitCode::from(if valid { 0 } else { 1 });
    }
    match checked {
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
