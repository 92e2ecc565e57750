//! `ferry emulator`: serve every tenant of a seed file on one address until Ctrl-C.
//!
//! This is CLI glue: it reads the flags, applies start-up faults to the seed, runs the
//! emulator on a tokio runtime, prints where it listens, and stops gracefully on the first
//! SIGINT or SIGTERM (a second one exits at once). The emulator itself is
//! [`crate::emulator`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;

use crate::emulator::{self, LoseResponse, MutatingOperation, RateLimit, Seed};

/// An operation whose answers `--lose-response` drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LostOperationArg {
    /// Kizen import, Agent Studio install.
    Create,
    /// Productsup CDE copy.
    Copy,
    /// Kizen duplicate.
    Duplicate,
    /// Any PATCH (rename, API name, toggle).
    Rename,
    /// Any DELETE (CDE: to the bin).
    Delete,
    /// Any other POST.
    Other,
}

impl From<LostOperationArg> for MutatingOperation {
    fn from(op: LostOperationArg) -> Self {
        match op {
            LostOperationArg::Create => MutatingOperation::Create,
            LostOperationArg::Copy => MutatingOperation::Copy,
            LostOperationArg::Duplicate => MutatingOperation::Duplicate,
            LostOperationArg::Rename => MutatingOperation::Rename,
            LostOperationArg::Delete => MutatingOperation::Delete,
            LostOperationArg::Other => MutatingOperation::Other,
        }
    }
}

/// Arguments of `ferry emulator`.
#[derive(Debug, clap::Args)]
pub struct EmulatorArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "FERRY_EMULATOR_LISTEN", default_value = "127.0.0.1:8700")]
    pub listen: SocketAddr,
    /// Seed file: the tenants, their tokens, catalogs, objects and faults.
    #[arg(long, env = "FERRY_EMULATOR_SEED")]
    pub seed: PathBuf,
    /// State file: loaded at start if it exists, saved after writes (survives restarts).
    #[arg(long, env = "FERRY_EMULATOR_STATE")]
    pub state: Option<PathBuf>,
    /// Add this many milliseconds to every request.
    #[arg(long)]
    pub latency_ms: Option<u64>,
    /// Answer this share of requests (0.0 to 1.0) with 503.
    #[arg(long)]
    pub error_rate: Option<f64>,
    /// Answer every n-th request with 429 (1 = every request).
    #[arg(long)]
    pub rate_limit_every: Option<u64>,
    /// `Retry-After` seconds of 429 answers (turns rate limiting on, every request by default).
    #[arg(long)]
    pub retry_after_secs: Option<u64>,
    /// Never answer requests (until the client gives up).
    #[arg(long)]
    pub hang: bool,
    /// Lose this share (0.0 to 1.0) of the answers to mutating requests: the platform does
    /// the work, then the connection closes without a response.
    #[arg(long, value_name = "RATE")]
    pub lose_response: Option<f64>,
    /// Lose answers of this operation only (repeatable): create, copy, duplicate, rename,
    /// delete, other. Default: every mutating operation.
    #[arg(long = "lose-response-operation", value_name = "OPERATION", value_enum)]
    pub lose_operations: Vec<LostOperationArg>,
    /// Leave every object the platform creates active (ferry must turn it off).
    #[arg(long)]
    pub activate_on_create: bool,
    /// Apply the fault flags to this tenant only (repeatable). Default: every tenant.
    #[arg(long = "tenant", value_name = "NAME")]
    pub tenants: Vec<String>,
}

/// Run `ferry emulator`; returns the process exit code (64 for a bad seed or flags).
pub fn run(args: EmulatorArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let seed = match prepare(&args) {
        Ok(seed) => seed,
        Err(e) => {
            eprintln!("ferry emulator: {e}");
            return ExitCode::from(64);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferry emulator: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(seed, args.state, args.listen)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry emulator: {e}");
            let usage = e.downcast_ref::<emulator::Error>().is_some_and(|e| {
                matches!(
                    e,
                    emulator::Error::SeedInvalid { .. } | emulator::Error::Bind { .. }
                )
            });
            ExitCode::from(if usage { 64 } else { 1 })
        }
    }
}

/// Read the seed and apply the fault flags to it.
fn prepare(args: &EmulatorArgs) -> anyhow::Result<Seed> {
    let mut seed = Seed::load(&args.seed)?;
    for name in &args.tenants {
        if !seed.tenants.iter().any(|t| &t.name == name) {
            let known: Vec<_> = seed.tenants.iter().map(|t| t.name.as_str()).collect();
            bail!(
                "--tenant {name}: no such tenant in {}; it has {}",
                args.seed.display(),
                known.join(", ")
            );
        }
    }
    let rate_limit =
        (args.rate_limit_every.is_some() || args.retry_after_secs.is_some()).then(|| RateLimit {
            every_nth: args.rate_limit_every.unwrap_or(1),
            retry_after_secs: args.retry_after_secs.unwrap_or(1),
        });
    for t in &mut seed.tenants {
        if !args.tenants.is_empty() && !args.tenants.contains(&t.name) {
            continue;
        }
        if let Some(ms) = args.latency_ms {
            t.faults.latency_ms = ms;
        }
        if let Some(rate) = args.error_rate {
            t.faults.error_rate = rate;
        }
        if rate_limit.is_some() {
            t.faults.rate_limit = rate_limit;
        }
        if args.hang {
            t.faults.hang = true;
        }
        if args.lose_response.is_some() || !args.lose_operations.is_empty() {
            t.faults.lose_response = Some(LoseResponse {
                rate: args.lose_response.unwrap_or(1.0),
                operations: args.lose_operations.iter().map(|&o| o.into()).collect(),
            });
        }
        if args.activate_on_create {
            t.faults.activate_on_create = true;
        }
    }
    seed.validate()?;
    Ok(seed)
}

async fn serve(seed: Seed, state: Option<PathBuf>, listen: SocketAddr) -> anyhow::Result<()> {
    let handle = emulator::spawn(seed.clone(), state.clone(), listen)?;
    println!("ferry emulator listening on {}", handle.url());
    if let Some(path) = &state {
        println!("state file: {}", path.display());
    }
    for t in &seed.tenants {
        let faults = if t.faults.is_none() {
            ""
        } else {
            "  (faults on)"
        };
        println!(
            "  {:<16} {:<15} region {:<12} {}{faults}",
            t.name,
            t.platform.as_str(),
            t.region(),
            handle.base_url(&t.name)
        );
    }
    println!("press Ctrl-C to stop");
    shutdown_signal().await;
    tokio::spawn(async {
        shutdown_signal().await;
        eprintln!("ferry emulator: second signal, exiting now");
        std::process::exit(130);
    });
    eprintln!("ferry emulator: stopping");
    handle.shutdown().await?;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
