//! `ferry ack TENANT CONNECTOR KIND`: a person says an open warning is dealt with (VCS
//! credentials set where ferry cannot see them, a flagged reference checked by hand).
//! The work is [`crate::review::acknowledge`]; this reads the arguments and prints.
//!
//! It writes the state store only; a running `ferry serve` sees the change on the tenants'
//! next reconcile (`POST /api/v1/tenants/{name}/warnings/ack` tells it at once).
//!
//! Exit codes: 0 closed; 1 no such open warning, unknown tenant, or the store failed; 64
//! the configuration cannot be read.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::model::WarningKind;
use crate::review;
use crate::store::Store;

/// Arguments of `ferry ack`.
#[derive(Debug, clap::Args)]
pub struct AckArgs {
    /// The tenant (as named in the configuration).
    pub tenant: String,
    /// The connector (`metadata.name`).
    pub connector: String,
    /// The kind of warning to close: agentic-workflow, seeding-filter-group,
    /// field-reference, vcs-credentials.
    #[arg(value_parser = parse_kind)]
    pub kind: WarningKind,
    /// Configuration file.
    #[arg(long, short, env = "FERRY_CONFIG", default_value = "ferry.yaml")]
    pub config: PathBuf,
    /// State store path (default: `state` in the configuration).
    #[arg(long, env = "FERRY_STATE")]
    pub state: Option<PathBuf>,
}

/// A warning kind as written in output (`vcs-credentials`).
fn parse_kind(s: &str) -> Result<WarningKind, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
        format!(
            "{s:?} is not a warning kind; use one of agentic-workflow, seeding-filter-group, field-reference, vcs-credentials"
        )
    })
}

/// Run `ferry ack`.
pub fn run(args: &AckArgs) -> ExitCode {
    let loaded = match super::load_config(&args.config, "acknowledged", 64) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    if loaded.tenant(&args.tenant).is_none() {
        let known: Vec<&str> = loaded
            .config
            .tenants
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        eprintln!(
            "ferry: no tenant named {:?} in the configuration; configured tenants: {}",
            args.tenant,
            known.join(", ")
        );
        return ExitCode::from(1);
    }
    let path = crate::engine::state_path(&loaded, args.state.as_deref());
    let store = match Store::open(&path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ferry: {e}");
            return ExitCode::from(1);
        }
    };
    let acked = store.call_blocking(|c| {
        Ok(review::acknowledge(
            c,
            &args.tenant,
            &args.connector,
            args.kind,
        ))
    });
    match acked {
        Ok(Ok(a)) => {
            println!(
                "ferry: tenant {}: closed {} {} warning(s) on {}",
                args.tenant,
                a.closed.len(),
                args.kind,
                args.connector
            );
            for w in &a.closed {
                println!("  {} {}", w.kind, w.reference);
            }
            if a.released {
                println!(
                    "{} has no open warnings left: promotion may take its content now",
                    args.connector
                );
            } else if a.remaining > 0 {
                println!(
                    "{} still has {} open warning(s); promotion waits for them",
                    args.connector, a.remaining
                );
            }
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("ferry: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("ferry: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_read_as_written_in_output() {
        assert_eq!(
            parse_kind("vcs-credentials").unwrap(),
            WarningKind::VcsCredentials
        );
        assert_eq!(
            parse_kind("seeding-filter-group").unwrap(),
            WarningKind::SeedingFilterGroup
        );
        let err = parse_kind("vcs").unwrap_err();
        assert!(err.contains("use one of agentic-workflow"), "{err}");
    }
}
