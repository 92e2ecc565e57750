//! `ferry serve`: the daemon.
//!
//! Start-up order: logging; the configuration is read and checked (listen address,
//! webhook secret, poll interval, drift schedules, source); any problem exits with 64
//! **before** a port is bound. Then the source cache is opened, the scheduler, the
//! controller and the HTTP server start, and every owned tenant is marked dirty with
//! `startup`. SIGINT or SIGTERM begins the shutdown described in [`crate::daemon::lifecycle`].
//!
//! With `--shards M`, the replica schedules only the tenants of its shard (`--shard`, or
//! the ordinal of its pod name; see [`crate::daemon::shard`]); the others are left to the other
//! replicas and shown as theirs by `/readyz`, the API and the status page.
//!
//! With `--once`: fetch, reconcile every tenant once (sources of promotions first), retry
//! the statuses left in the outbox for at most `--drain-timeout`, exit 0 when every tenant
//! succeeded and every status was delivered, 1 otherwise; no HTTP server.
//!
//! **Reconciler.** [`EngineReconciler`] runs each reconcile: the commit's manifests →
//! plan → apply → state store → commit statuses and notifications (through the outbox,
//! drained in the background so a forge or receiver outage loses nothing).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

use crate::config::Config;
use crate::config::LoadedConfig;
use crate::config::parse_duration;
use crate::daemon::controller::{self, Controller, ControllerOptions};
use crate::daemon::lifecycle::{
    EXIT_CONFIG, EXIT_FAILURE, EXIT_INTERRUPTED, Lifecycle, Shutdown, Signals,
};
use crate::daemon::reconciler::EngineReconciler;
use crate::daemon::scheduler::{Reason, Reconciler, Scheduler, SchedulerOptions};
use crate::daemon::shard::{self, Shard};
use crate::engine::Engine;
use crate::http::server;
use crate::http::state::{self, ApiToken, AppState, StatusContext, WebhookSecret};
use crate::notify::Notifier;
use crate::provider::ClientOptions;
use crate::report::{self, Deliverer};
use crate::source::remote::{Error as RemoteError, Remote, RemoteSpec};
use crate::store::Store;

/// Arguments of `ferry serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Configuration file.
    #[arg(long, short, env = "FERRY_CONFIG", default_value = "ferry.yaml")]
    pub config: PathBuf,
    /// HTTP listen address (`host:port`). Default: `server.listen`, else 127.0.0.1:9400.
    #[arg(long, env = "FERRY_LISTEN")]
    pub listen: Option<String>,
    /// State store file. Default: `state` from the configuration, relative to it. The
    /// source cache lives next to it, under `repos/`.
    #[arg(long, env = "FERRY_STATE")]
    pub state: Option<PathBuf>,
    /// Reconcile every tenant once, deliver the commit statuses, then exit: 0 when every
    /// tenant succeeded and every status was delivered, 1 otherwise.
    #[arg(long)]
    pub once: bool,
    /// With `--once`: how long statuses a forge or the git remote could not take yet are
    /// retried before ferry exits (1 when some stay undelivered).
    #[arg(long, env = "FERRY_DRAIN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// Reconciles running at once, across tenants.
    #[arg(long, env = "FERRY_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// On SIGINT/SIGTERM, how long running reconciles get to finish.
    #[arg(long, env = "FERRY_GRACE_PERIOD", default_value = "30s", value_parser = parse_duration)]
    pub grace_period: Duration,
    /// Quiet time after the last trigger before a tenant reconciles.
    #[arg(long, env = "FERRY_DEBOUNCE", default_value = "250ms", value_parser = parse_duration)]
    pub debounce: Duration,
    /// This replica's shard, `0..shards`. Default: the ordinal ending the pod name
    /// (`POD_NAME`, else the host name, as in a StatefulSet pod `ferry-2`), or 0 with one
    /// shard.
    #[arg(long, env = "FERRY_SHARD")]
    pub shard: Option<u32>,
    /// How many replicas share the tenants. Replica N owns the tenants whose FNV-1a hash
    /// (of the root of their promoteFrom chain) modulo this is N.
    #[arg(long, env = "FERRY_SHARDS", default_value_t = 1)]
    pub shards: u32,
}

/// A start-up failure and the exit code it maps to.
struct StartError {
    code: u8,
    message: String,
}

impl StartError {
    fn config(message: impl std::fmt::Display) -> Self {
        StartError {
            code: EXIT_CONFIG,
            message: message.to_string(),
        }
    }

    fn other(message: impl std::fmt::Display) -> Self {
        StartError {
            code: EXIT_FAILURE,
            message: message.to_string(),
        }
    }
}

/// The secret in the environment variable `var`, when the configuration names one.
fn read_secret<T>(
    var: Option<&str>,
    read: fn(&str) -> Result<T, state::Error>,
) -> Result<Option<T>, StartError> {
    var.map(read).transpose().map_err(StartError::config)
}

/// Everything read and checked from the configuration and flags.
struct Settings {
    loaded: Arc<LoadedConfig>,
    config: Config,
    config_dir: PathBuf,
    state_db: PathBuf,
    listen: SocketAddr,
    webhook_secret: Option<WebhookSecret>,
    remote_spec: RemoteSpec,
    controller: ControllerOptions,
    shard: Shard,
    api_token: Option<ApiToken>,
}

/// Run `ferry serve` and return its exit code.
pub fn run(args: ServeArgs) -> ExitCode {
    let settings = match load(&args) {
        Ok(s) => s,
        Err(e) => {
            error!("{}", e.message);
            return ExitCode::from(e.code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let code = runtime.block_on(async {
        match main(args, settings).await {
            Ok(code) => code,
            Err(e) => {
                error!("{}", e.message);
                e.code
            }
        }
    });
    if code == EXIT_INTERRUPTED {
        runtime.shutdown_background();
    } else {
        // A fetch still running on the blocking pool must not hold the exit for long.
        runtime.shutdown_timeout(Duration::from_secs(2));
    }
    ExitCode::from(code)
}

/// Read and check the configuration and flags. Nothing is bound or started yet.
fn load(args: &ServeArgs) -> Result<Settings, StartError> {
    let path = &args.config;
    if !path.is_file() {
        return Err(StartError::config(format!(
            "cannot read the configuration {}: no such file. Pass another file with --config or FERRY_CONFIG",
            path.display()
        )));
    }
    let loaded = crate::config::load(path).map_err(|diagnostics| {
        StartError::config(format!(
            "{} is not a valid ferry configuration:\n{diagnostics}",
            path.display()
        ))
    })?;
    let config: Config = loaded.config.clone();
    let config_dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let state_db = args
        .state
        .clone()
        .unwrap_or_else(|| config_dir.join(&config.state));
    let listen = server::listen_address(args.listen.as_deref(), &config.server)
        .map_err(StartError::config)?;
    let webhook_secret = read_secret(
        config.server.webhook_secret_env.as_deref(),
        WebhookSecret::from_env,
    )?;
    let remote_spec =
        RemoteSpec::from_config(&config.source, &config_dir).map_err(StartError::config)?;
    let controller = ControllerOptions::from_config(&config).map_err(StartError::config)?;
    let shard = Shard::resolve(args.shard, args.shards, shard::host_name().as_deref())
        .map_err(StartError::config)?;
    let api_token = read_secret(config.server.api_token_env.as_deref(), ApiToken::from_env)?;
    for t in &config.tenants {
        controller::drift_schedule(t).map_err(StartError::config)?;
    }
    Ok(Settings {
        loaded: Arc::new(loaded),
        config,
        config_dir,
        state_db,
        listen,
        webhook_secret,
        remote_spec,
        controller,
        shard,
        api_token,
    })
}

/// The reconciler the daemon runs, with what it needs: the state store, the engine (and
/// with it the in-process emulator for `url: emulator` tenants) and the status reporters.
async fn build_reconciler(
    settings: &Settings,
    remote: &Remote,
) -> Result<Arc<EngineReconciler>, StartError> {
    let store = Store::open(&settings.state_db).map_err(StartError::other)?;
    let engine = Engine::start(
        settings.loaded.clone(),
        store.clone(),
        &ClientOptions::default(),
    )
    .await
    .map_err(|e| {
        // Credentials that cannot be read, a tenant URL ferry refuses, a seed file that
        // cannot be used: the configuration must change, like any error `load` finds.
        if e.is_config() {
            StartError::config(e)
        } else {
            StartError::other(e)
        }
    })?;
    let repo = remote
        .local_path()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| remote.cache_path().to_path_buf());
    // A local source gets its notes in place; a remote one's notes are written to the
    // cache and pushed to the source, with the source's credentials.
    let (statuses, external, dir, source) = (
        settings.config.statuses.clone(),
        settings.config.server.external_url.clone(),
        settings.config_dir.clone(),
        settings.remote_spec.clone(),
    );
    let reporters = tokio::task::spawn_blocking(move || {
        report::from_config(&statuses, &repo, Some(&source), external.as_deref(), &dir)
    })
    .await
    .map_err(StartError::other)?
    .map_err(StartError::config)?;
    let (deliverer, notifier) = Notifier::setup(&settings.loaded, &store, reporters)
        .await
        .map_err(|e| match e {
            crate::notify::Error::Config { .. } | crate::notify::Error::File { .. } => {
                StartError::config(e)
            }
            other => StartError::other(other),
        })?;
    if !notifier.is_empty() && settings.config.server.external_url.is_none() {
        info!("notifications link to no status page: set server.externalUrl to add one");
    }
    Ok(Arc::new(
        EngineReconciler::new(
            Arc::new(engine),
            remote.clone(),
            controller::followed_branches(&settings.config),
            Some(deliverer),
        )
        .with_notifier(notifier),
    ))
}

async fn main(args: ServeArgs, settings: Settings) -> Result<u8, StartError> {
    let mut signals = Signals::install()
        .map_err(|e| StartError::other(format!("cannot install signal handlers: {e}")))?;
    // One writer per state store: a second `serve` or an `apply` on it is refused at once.
    let _writer = crate::lock::state_store(&settings.state_db).map_err(StartError::other)?;
    let config = &settings.config;
    let cache_root = settings
        .state_db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("repos");
    let branches = controller::followed_branches(config)
        .into_values()
        .chain([config.source.branch.clone()]);
    let remote = Remote::open(settings.remote_spec.clone(), &cache_root, branches)
        .await
        .map_err(|e| match e {
            RemoteError::InvalidRepo { .. } | RemoteError::InvalidBranch { .. } => {
                StartError::config(e)
            }
            other => StartError::other(other),
        })?;
    let reconciler = build_reconciler(&settings, &remote).await?;
    let tenants: Vec<String> = settings
        .shard
        .owned(&config.tenants)
        .into_iter()
        .map(|t| t.name.clone())
        .collect();
    crate::metrics::get().set_owned_tenants(i64::try_from(tenants.len()).unwrap_or(i64::MAX));
    for t in &tenants {
        crate::metrics::get().init_tenant(t);
    }
    let scheduler = Scheduler::new(
        reconciler.clone(),
        tenants.clone(),
        SchedulerOptions {
            concurrency: usize::from(args.concurrency),
            debounce: args.debounce,
            ..SchedulerOptions::default()
        }
        .with_promotions_from(&config.tenants),
    );
    let controller = Controller::new(
        config,
        remote.clone(),
        scheduler.handle(),
        settings.controller.clone(),
    )
    .map_err(StartError::config)?;

    if args.once {
        let engine = reconciler.engine().clone();
        let deliverer = reconciler.deliverer().cloned();
        let mut code = once(&args, &settings, &controller, reconciler, &mut signals).await;
        if let Some(deliverer) = deliverer
            && code != EXIT_INTERRUPTED
            && !deliver_before_exit(&deliverer, args.drain_timeout, &mut signals).await
        {
            code = EXIT_FAILURE;
        }
        engine.shutdown().await;
        return Ok(code);
    }

    let listener = server::bind(settings.listen)
        .await
        .map_err(StartError::other)?;
    info!(
        listen = %settings.listen,
        source = remote.display_url(),
        shard = %settings.shard,
        ?tenants,
        concurrency = args.concurrency,
        "ferry serve started"
    );
    info!(
        "status page: http://{}/  ·  API: http://{}/api/v1/tenants  ·  metrics: http://{}/metrics",
        settings.listen, settings.listen, settings.listen
    );
    if settings
        .config
        .statuses
        .iter()
        .any(|s| matches!(s, crate::config::StatusTarget::GitNotes(_)))
    {
        info!("commit statuses: git notes --ref=ferry show <commit> (in the source repository)");
    }
    if let Some(url) = reconciler.engine().emulator_url() {
        info!("emulated tenants: {url}/tenants/<name>/…  ·  whole state: {url}/_emulator/state");
    }
    if settings.webhook_secret.is_some() {
        info!("webhooks enabled at /hooks/github, /hooks/gitlab and /hooks/gitea");
    } else {
        info!("webhooks are disabled: set server.webhookSecretEnv to receive pushes from a forge");
    }

    let lifecycle = Lifecycle::new();
    lifecycle.spawn(
        info_span!("scheduler"),
        scheduler.run(lifecycle.token().clone()),
    );
    if let Some(deliverer) = reconciler.deliverer() {
        lifecycle.spawn(
            info_span!("outbox"),
            deliverer
                .clone()
                .drain_until(reconciler.outbox_queued(), lifecycle.token().clone()),
        );
    }
    if let Some(notifier) = reconciler.notifier() {
        lifecycle.spawn(
            info_span!("alert_resend"),
            notifier
                .clone()
                .heartbeat_until(reconciler.outbox_queued(), lifecycle.token().clone()),
        );
    }
    let http_stop = CancellationToken::new();
    let status = status_context(&settings)?;
    let app = server::router(
        AppState::new(
            controller.clone(),
            settings.webhook_secret.clone(),
            lifecycle.clone(),
        )
        .with_status(status),
    );
    let mut http = tokio::spawn(
        server::serve(listener, app, http_stop.clone()).instrument(info_span!("http")),
    );
    let startup = controller.clone();
    lifecycle.spawn_until_cancelled(
        info_span!("startup"),
        async move { startup.startup().await },
    );
    controller.start_triggers(&lifecycle).await;

    let cause = tokio::select! {
        signal = signals.recv() => signal,
        result = &mut http => {
            match result {
                Ok(Ok(())) => error!("the HTTP server stopped unexpectedly"),
                Ok(Err(e)) => error!(error = %e, "the HTTP server failed"),
                Err(e) => error!(error = %e, "the HTTP server task failed"),
            }
            "HTTP server failure"
        }
    };
    let in_flight = controller.scheduler().running();
    info!(
        cause,
        grace_period_s = args.grace_period.as_secs_f64(),
        ?in_flight,
        "shutting down: no new reconcile starts; waiting for the running ones (a second signal exits at once)"
    );
    let outcome = lifecycle.drain(args.grace_period, signals.recv()).await;
    match outcome {
        Shutdown::Clean => info!("shutdown complete"),
        Shutdown::GraceExpired => {
            let still = controller.scheduler().running();
            error!(
                still_running = ?still,
                "the grace period ran out; exiting with reconciles unfinished (the journal resolves them at the next start)"
            );
        }
        Shutdown::Interrupted => warn!("second signal: exiting at once"),
    }
    http_stop.cancel();
    if outcome != Shutdown::Interrupted {
        let _ = tokio::time::timeout(Duration::from_secs(2), http).await;
        // Save the in-process emulator's state before exit.
        reconciler.engine().shutdown().await;
    }
    Ok(outcome.exit_code())
}

/// What the API and the status page read: the configuration's tenants, this replica's
/// shard, the API token, and the state store (its own connection, for reads).
fn status_context(settings: &Settings) -> Result<StatusContext, StartError> {
    let store = Store::open(&settings.state_db).map_err(StartError::other)?;
    Ok(
        StatusContext::new(&settings.config, Some(store), settings.shard)
            .with_api_token(settings.api_token.clone()),
    )
}

/// `--once`: retry what the outbox holds for at most `within` (a signal ends it sooner);
/// whether every status was delivered. What was not is logged: how many, and why.
async fn deliver_before_exit(
    deliverer: &Deliverer,
    within: Duration,
    signals: &mut Signals,
) -> bool {
    let flushed = tokio::select! {
        flushed = deliverer.flush(within) => flushed,
        signal = signals.recv() => {
            info!(signal, "stopping: commit statuses are not retried any more");
            deliverer.undelivered().await
        }
    };
    match flushed {
        Ok(undelivered) if undelivered.count() == 0 => true,
        Ok(undelivered) => {
            error!("{undelivered}");
            false
        }
        Err(e) => {
            error!(error = %e, "cannot read the status outbox");
            false
        }
    }
}

/// `--once`: fetch, reconcile every tenant once, report.
async fn once(
    args: &ServeArgs,
    settings: &Settings,
    controller: &Controller,
    reconciler: Arc<impl Reconciler>,
    signals: &mut Signals,
) -> u8 {
    let _ = controller.refresh(Reason::Manual).await;
    let cancel = CancellationToken::new();
    let owned: Vec<crate::config::Tenant> = settings
        .shard
        .owned(&settings.config.tenants)
        .into_iter()
        .cloned()
        .collect();
    let run = controller::run_once(reconciler, &owned, usize::from(args.concurrency), &cancel);
    tokio::pin!(run);
    let report = tokio::select! {
        report = &mut run => report,
        signal = signals.recv() => {
            info!(signal, "stopping: no new reconcile starts; waiting for the running ones");
            cancel.cancel();
            tokio::select! {
                report = &mut run => report,
                () = tokio::time::sleep(args.grace_period) => {
                    error!("the grace period ran out; exiting with reconciles unfinished");
                    return EXIT_FAILURE;
                }
                _ = signals.recv() => return EXIT_INTERRUPTED,
            }
        }
    };
    let failed: Vec<&String> = report
        .tenants
        .iter()
        .filter(|t| {
            report.outcomes.get(*t) != Some(&crate::daemon::scheduler::ReconcileOutcome::Ok)
        })
        .collect();
    if failed.is_empty() {
        info!(tenants = report.tenants.len(), "every tenant reconciled");
    } else {
        error!(?failed, "some tenants did not reconcile");
    }
    report.exit_code()
}
