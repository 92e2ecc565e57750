//! `ferry plan`: what applying a revision would change in each tenant, rendered as text
//! (coloured on a terminal, with unified diffs), JSON, YAML or Markdown; with `--out FILE`
//! also saved for `ferry apply FILE` ([`crate::plan::saved`]), unless a tenant could not be
//! planned.
//!
//! Exit codes: 0 every tenant in sync, 2 changes pending (including blocked actions and
//! drift), 1 invalid manifests or a tenant that could not be planned, 64 when the
//! configuration cannot be read.
//!
//! Planning reads the live tenants and the state store but changes neither.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::ValueEnum;

use super::{Document, validate};
use crate::desired::desired_for;
use crate::engine::{DriftMode, Engine, Planned};
use crate::lock::Lock;
use crate::model::Desired;
use crate::plan::Plan;
use crate::plan::saved::{ReadFrom, SavedPlan, SavedTenant};
use crate::provider::ClientOptions;
use crate::render;
use crate::store::Store;

/// Output format of `ferry plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanOutput {
    /// Human-readable, coloured on a terminal.
    Text,
    /// Machine-readable JSON.
    Json,
    /// The JSON document as YAML.
    Yaml,
    /// Markdown for a pull-request comment.
    Markdown,
}

/// What `ferry plan` and `ferry apply` work on: the configuration, the tenants, the
/// revision and the state store.
#[derive(Debug, clap::Args)]
pub struct Selection {
    /// Configuration file.
    #[arg(long, short, env = "FERRY_CONFIG", default_value = "ferry.yaml")]
    pub config: PathBuf,
    /// Only these tenants (repeatable). Default: every tenant.
    #[arg(long = "tenant", short = 't')]
    pub tenants: Vec<String>,
    /// Use this commit (any git revision) instead of the working tree.
    #[arg(long)]
    pub rev: Option<String>,
    /// State store path (default: `state` in the configuration).
    #[arg(long, env = "FERRY_STATE")]
    pub state: Option<PathBuf>,
}

/// Arguments of `ferry plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// What to plan.
    #[command(flatten)]
    pub selection: Selection,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = PlanOutput::Text)]
    pub output: PlanOutput,
    /// Also save the plan to FILE (JSON, no secrets nor bodies) for `ferry apply FILE`,
    /// which applies exactly it or refuses when the tenant or the manifests changed.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Everything a command needs to plan: checked manifests, the engine, the tenants asked for.
pub(crate) struct Prepared {
    pub read: validate::Read,
    pub engine: Engine,
    pub tenants: Vec<String>,
    pub revision: String,
    /// The state store's writer lock, held by `apply` for its whole run.
    pub _writer: Option<Lock>,
}

/// Whether the command writes to the state store (and so needs its writer lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Reads only (`plan`).
    Read,
    /// Writes (`apply`): one writer per state store at a time.
    Write,
}

/// Why preparing failed, with the exit code to use.
pub(crate) struct Stop(pub u8);

/// Read and check the revision, open the state store and connect to the tenants.
/// Prints problems to stderr.
pub(crate) async fn prepare(selection: &Selection, access: Access) -> Result<Prepared, Stop> {
    let Selection {
        config,
        rev,
        tenants,
        state,
    } = selection;
    let (rev, state) = (rev.as_deref(), state.as_deref());
    let read = match validate::read(config, rev) {
        Ok(Ok(read)) => read,
        Ok(Err(diagnostics)) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            eprintln!("ferry: the configuration is invalid; nothing was planned");
            return Err(Stop(1));
        }
        Err(e) => {
            eprintln!("ferry: {e}");
            return Err(Stop(64));
        }
    };
    if !read.diagnostics.is_empty() {
        for d in &read.diagnostics {
            eprintln!("{d}");
        }
        eprintln!(
            "ferry: {} problem(s) found; a revision with any invalid manifest is applied nowhere",
            read.diagnostics.len()
        );
        return Err(Stop(1));
    }
    let all: Vec<String> = read
        .loaded
        .config
        .tenants
        .iter()
        .map(|t| t.name.clone())
        .collect();
    for t in tenants {
        if !all.contains(t) {
            eprintln!(
                "ferry: no tenant named {t:?} in {}; configured tenants: {}",
                read.loaded.display_path(),
                all.join(", ")
            );
            return Err(Stop(64));
        }
    }
    let chosen = if tenants.is_empty() {
        all
    } else {
        tenants.to_vec()
    };
    let state_path = crate::engine::state_path(&read.loaded, state);
    let writer = match access {
        Access::Read => None,
        Access::Write => match crate::lock::state_store(&state_path) {
            Ok(lock) => Some(lock),
            Err(e) => {
                eprintln!("ferry: {e}");
                return Err(Stop(1));
            }
        },
    };
    let store = match Store::open(&state_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ferry: {e}");
            return Err(Stop(1));
        }
    };
    let loaded = Arc::new(read.loaded.clone());
    let engine = match Engine::start(loaded, store, &ClientOptions::default()).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("ferry: {e}");
            return Err(Stop(1));
        }
    };
    let revision = read
        .commit
        .clone()
        .unwrap_or_else(|| "working-tree".to_owned());
    Ok(Prepared {
        read,
        engine,
        tenants: chosen,
        revision,
        _writer: writer,
    })
}

/// Run `work` (recovering and planning tenant `name`) within the tenant's deadline,
/// `tenants[].timeout × (retries + 1)`: a tenant that does not answer is an error after
/// that long, and nobody waits for it longer.
pub(crate) async fn within_deadline<T>(
    p: &Prepared,
    name: &str,
    work: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    let Ok(tenant) = p.engine.tenant(name) else {
        return work.await;
    };
    let deadline = tenant.deadline();
    match tokio::time::timeout(deadline, work).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "tenant {name}: no plan within its deadline of {} (timeout {} × {} attempts): the tenant does not answer in time and is left out of this run; the other tenants did not wait for it. Check that it is reachable, or set `timeout` and `retries` for it in the configuration",
            show_duration(deadline),
            show_duration(tenant.request_timeout()),
            tenant.request_retries() + 1,
        )),
    }
}

/// `2m30s`, `4s`, `1h`, `750ms`.
pub(crate) fn show_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() { "0s".to_owned() } else { out }
}

/// Plan every chosen tenant; tenants are planned concurrently, each within its deadline,
/// and one failing or hanging does not stop or delay the others. Returns the plans in
/// tenant order (with their saved form when `save`) and the errors.
pub(crate) async fn plan_all(
    p: &Prepared,
    drift: DriftMode,
    save: bool,
) -> (Vec<(Plan, Option<SavedTenant>)>, Vec<String>) {
    let now = chrono::Utc::now();
    let futures = p.tenants.iter().map(|name| {
        within_deadline(p, name, async move {
            let tenant = p.engine.tenant(name).map_err(|e| e.to_string())?;
            let desired = desired_for(&p.read.set, tenant).map_err(|d| d.to_string())?;
            let mut planned = p
                .engine
                .plan(name, &desired, &p.revision, drift, now)
                .await
                .map_err(|e| format!("tenant {name}: {e}"))?;
            p.engine
                .gate_tests(&mut planned.plan, &p.read.set, name)
                .await
                .map_err(|e| format!("tenant {name}: {e}"))?;
            let saved = save.then(|| saved_tenant(&planned, &desired));
            Ok((planned.plan, saved))
        })
    });
    let results = futures_join(futures).await;
    let mut plans = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(plan) => plans.push(plan),
            Err(e) => errors.push(e),
        }
    }
    (plans, errors)
}

/// The saved form of a tenant's plan: what `ferry apply FILE` compares a fresh plan with.
/// Desired hashes as the planner compared them ([`crate::engine::canonical`]).
pub(crate) fn saved_tenant(planned: &Planned, desired: &[Desired]) -> SavedTenant {
    SavedTenant::new(
        &planned.plan,
        &planned.live,
        &crate::engine::canonical(desired),
    )
}

/// Write `saved` to `path` whole: a temporary file beside it, renamed over it.
fn write_saved(path: &Path, saved: &SavedPlan) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, saved.to_json())?;
    std::fs::rename(&tmp, path)
}

/// Await futures concurrently, keeping their order.
pub(crate) async fn futures_join<F, T>(futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T>,
{
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<T>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|v| v.expect("every future finished"))
        .collect()
}

/// Whether a plan leaves the tenant out of sync.
pub(crate) fn pending(plan: &Plan) -> bool {
    !plan.is_empty() || !plan.drift.is_empty()
}

/// Run `ferry plan`.
pub fn run(args: PlanArgs) -> ExitCode {
    super::block_on(async move {
        let prepared = match prepare(&args.selection, Access::Read).await {
            Ok(p) => p,
            Err(Stop(code)) => return ExitCode::from(code),
        };
        let (planned, errors) = plan_all(&prepared, DriftMode::Heal, args.out.is_some()).await;
        let (plans, saved): (Vec<Plan>, Vec<Option<SavedTenant>>) = planned.into_iter().unzip();
        let out = match args.output {
            PlanOutput::Text => render::text(&plans, std::io::stdout().is_terminal()),
            PlanOutput::Json | PlanOutput::Yaml => {
                let mut v = render::json(&plans);
                if !errors.is_empty() {
                    v["errors"] = serde_json::json!(errors);
                }
                let format = match args.output {
                    PlanOutput::Yaml => Document::Yaml,
                    _ => Document::Json,
                };
                super::document(&v, format)
            }
            PlanOutput::Markdown => {
                let from = render::PlannedFrom {
                    uncommitted: match args.selection.rev {
                        Some(_) => Vec::new(),
                        None => crate::source::uncommitted(&prepared.read.loaded),
                    },
                };
                render::markdown_from(&plans, &from)
            }
        };
        print!("{out}");
        for e in &errors {
            // Errors quote platform answers: shown with their control characters escaped.
            eprintln!("ferry: {}", crate::printable::printable(e));
        }
        prepared.engine.shutdown().await;
        if let Some(path) = &args.out {
            let shown = path.display();
            if errors.is_empty() {
                let read_from = match args.selection.rev {
                    Some(_) => ReadFrom::Commit,
                    None => ReadFrom::WorkingTree,
                };
                let doc = SavedPlan::new(
                    crate::cli::VERSION,
                    &prepared.revision,
                    read_from,
                    saved.into_iter().flatten().collect(),
                );
                if let Err(e) = write_saved(path, &doc) {
                    eprintln!("ferry: cannot write the plan to {shown}: {e}");
                    return ExitCode::from(1);
                }
                eprintln!(
                    "ferry: plan saved to {shown}; `ferry apply {shown}` applies exactly it, or refuses if a tenant or the manifests change before"
                );
            } else {
                eprintln!(
                    "ferry: no plan saved to {shown}: {} tenant(s) could not be planned; leave them out with --tenant, or plan again once they answer",
                    errors.len()
                );
            }
        }
        let code = if !errors.is_empty() {
            ExitCode::from(1)
        } else if plans.iter().any(pending) {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
        // The process exits now: freeing every manifest and action one by one first
        // would only add to its run time.
        std::mem::forget(plans);
        std::mem::forget(prepared.read);
        code
    })
}
