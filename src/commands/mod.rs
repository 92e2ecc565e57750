//! The CLI commands' implementations: each turns parsed arguments into work on the library
//! and an exit code. Glue only: parsing, validation and planning live in their modules.

pub mod ack;
pub mod apply;
pub mod completions;
pub mod emulator;
pub mod export;
pub mod man;
pub mod plan;
pub mod reconcile;
pub mod schema;
pub mod serve;
pub mod status;
pub mod suspend;
pub mod test;
pub mod validate;

/// Run `work` on a new multi-threaded tokio runtime and return its exit code; a runtime
/// that cannot start is reported and exits 1.
pub(crate) fn block_on<F>(work: F) -> std::process::ExitCode
where
    F: std::future::Future<Output = std::process::ExitCode>,
{
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(work),
        Err(e) => {
            eprintln!("ferry: cannot start the async runtime: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

/// The configuration at `path`, or the exit code after saying on stderr why it cannot be
/// used: 64 when the file cannot be read; `invalid` after its problems and
/// `ferry: the configuration is invalid; nothing was {undone}`.
pub(crate) fn load_config(
    path: &std::path::Path,
    undone: &str,
    invalid: u8,
) -> Result<crate::config::LoadedConfig, std::process::ExitCode> {
    if !path.is_file() {
        eprintln!(
            "ferry: cannot read the configuration {}; pass the right file with --config",
            path.display()
        );
        return Err(std::process::ExitCode::from(64));
    }
    crate::config::load(path).map_err(|diagnostics| {
        for d in &diagnostics {
            eprintln!("{d}");
        }
        eprintln!("ferry: the configuration is invalid; nothing was {undone}");
        std::process::ExitCode::from(invalid)
    })
}

/// The serialisations of a command's machine-readable document (`-o json`, `-o yaml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Document {
    /// Pretty JSON.
    Json,
    /// The same document as YAML.
    Yaml,
}

/// `value` as `format`, ending with a newline: the one place `-o json` and `-o yaml` are
/// written, so both always hold the same document.
pub(crate) fn document<T: serde::Serialize>(value: &T, format: Document) -> String {
    match format {
        Document::Json => {
            let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
            text.push('\n');
            text
        }
        Document::Yaml => {
            let mut text = serde_saphyr::to_string(value).unwrap_or_default();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text
        }
    }
}
