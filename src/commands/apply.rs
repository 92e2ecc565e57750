//! `ferry apply`: show the plan, ask for confirmation, and carry it out.
//!
//! Every tenant goes its own way: one that hangs or fails delays no other. Each is
//! recovered and planned within its deadline (`tenants[].timeout × (retries + 1)`); one
//! that has not answered by then is reported as an error. With `--auto-approve`, a tenant
//! is applied as soon as its own plan is ready. Without it, the plans are shown (the
//! unreachable tenants as errors once their deadline passed), confirmation is asked on the
//! terminal, and the plans shown are applied; without a terminal `apply` refuses. A tenant
//! that promotes from another tenant of the run (`promoteFrom`) is planned again after its
//! source was applied, so content the source just applied cleanly reaches it in the same
//! run. With `--report`, commit statuses are posted for the applied revision, and the
//! configured notification receivers hear of what changed, as from `ferry serve`. One
//! `apply` (or `serve`) writes to a state store at a time: a second one is refused at once.
//!
//! `ferry apply FILE` applies a plan saved by `ferry plan --out FILE` ([`crate::plan::saved`])
//! without asking: every tenant of it is recovered and planned again from the same
//! revision, and the saved actions are applied only when each tenant still plans exactly
//! as saved; otherwise nothing is applied and the refusal names the tenant and connector.
//!
//! Exit codes: 0 nothing failed (warnings allowed), 1 something failed or was refused,
//! 64 the configuration cannot be read.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;
use serde_json::json;
use tokio::sync::watch;

use super::plan::{Access, Prepared, Selection, Stop, futures_join, prepare, within_deadline};
use crate::apply::{ApplyReport, Outcome};
use crate::daemon::reconciler::sync_status;
use crate::desired::desired_for;
use crate::engine::{DriftMode, Planned};
use crate::notify::{Notifier, Observation};
use crate::plan::Plan;
use crate::plan::saved::{ReadFrom, SavedPlan, SavedTenant};
use crate::printable::{printable, printable_lines};
use crate::render;
use crate::report::{self, CommitStatus};

/// Output format of `ferry apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApplyOutput {
    /// Human-readable.
    Text,
    /// Machine-readable JSON.
    Json,
    /// The JSON document as YAML.
    Yaml,
}

/// Arguments of `ferry apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// What to apply.
    #[command(flatten)]
    pub selection: Selection,
    /// Apply without asking (required without a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = ApplyOutput::Text)]
    pub output: ApplyOutput,
    /// Post commit statuses for the applied revision to the configured reporters.
    #[arg(long)]
    pub report: bool,
    /// A plan saved by `ferry plan --out FILE`: apply exactly it, without asking. Refused,
    /// with nothing applied, when a tenant or the manifests changed since it was made.
    #[arg(value_name = "FILE", conflicts_with_all = ["rev", "tenants"])]
    pub plan: Option<PathBuf>,
}

/// Run `ferry apply`.
pub fn run(args: ApplyArgs) -> ExitCode {
    super::block_on(async move {
        if let Some(file) = &args.plan {
            return ExitCode::from(apply_saved(&args, file).await);
        }
        let prepared = match prepare(&args.selection, Access::Write).await {
            Ok(p) => p,
            Err(Stop(code)) => return ExitCode::from(code),
        };
        let code = if args.auto_approve {
            apply_at_once(&args, &prepared).await
        } else {
            apply_after_confirmation(&args, &prepared).await
        };
        prepared.engine.shutdown().await;
        ExitCode::from(code)
    })
}

/// What happened to one tenant in this run.
enum TenantOutcome {
    /// It could not be planned or applied: why.
    Failed(String),
    /// Applied.
    Applied(Box<TenantRun>),
}

/// One tenant's apply: the plan carried out, how many connectors git wants there, and
/// what happened.
struct TenantRun {
    plan: Plan,
    desired: usize,
    report: ApplyReport,
}

/// A tenant's plan with how many connectors git wants there.
struct TenantPlan {
    planned: Planned,
    desired: usize,
}

/// Resolve what an interrupted apply left (when `recover`), then plan tenant `name`, all
/// within the tenant's deadline. Recovery notes go to stderr.
async fn plan_tenant(
    p: &Prepared,
    name: &str,
    recover: bool,
    saved: Option<&SavedTenant>,
) -> Result<TenantPlan, String> {
    within_deadline(p, name, async {
        let engine = &p.engine;
        let tenant = engine.tenant(name).map_err(|e| e.to_string())?;
        if recover {
            // Finish or roll back what an interrupted apply left first: the plan must be
            // made from the tenant as it is once that is resolved.
            // The error names the tenant.
            let notes = engine.recover(name).await.map_err(|e| e.to_string())?;
            for note in notes {
                eprintln!(
                    "ferry: {name}: resolved an interrupted apply: {}",
                    printable(&note)
                );
            }
        }
        let desired = desired_for(&p.read.set, tenant).map_err(|d| d.to_string())?;
        let mut planned = engine
            .plan(
                name,
                &desired,
                &p.revision,
                DriftMode::Heal,
                chrono::Utc::now(),
            )
            .await
            .map_err(|e| format!("tenant {name}: {e}"))?;
        engine
            .gate_tests(&mut planned.plan, &p.read.set, name)
            .await
            .map_err(|e| format!("tenant {name}: {e}"))?;
        if let Some(saved) = saved {
            let desired = crate::engine::canonical(&desired);
            saved
                .check(&planned.plan, &planned.live, &desired)
                .map_err(|stale| stale.to_string())?;
        }
        Ok(TenantPlan {
            planned,
            desired: desired.len(),
        })
    })
    .await
}

/// Apply a tenant's plan.
async fn apply_plan(p: &Prepared, plan: TenantPlan) -> TenantOutcome {
    match p.engine.apply(&plan.planned).await {
        Ok(report) => TenantOutcome::Applied(Box::new(TenantRun {
            plan: plan.planned.plan,
            desired: plan.desired,
            report,
        })),
        Err(e) => TenantOutcome::Failed(format!("tenant {}: {e}", plan.planned.plan.tenant)),
    }
}

/// The `promoteFrom` source of `name` when it is applied in this run too: `name` is
/// planned and applied after it, so content it just applied cleanly reaches `name`.
fn source_in_run<'p>(p: &'p Prepared, name: &str) -> Option<&'p str> {
    let source = p.read.loaded.tenant(name)?.promote_from.as_deref()?;
    p.tenants.iter().any(|t| t == source).then_some(source)
}

/// Each tenant's "done" signal, for the tenants promoting from it to wait on.
struct Done(BTreeMap<String, watch::Sender<bool>>);

impl Done {
    fn new(p: &Prepared) -> Self {
        Done(
            p.tenants
                .iter()
                .map(|t| (t.clone(), watch::channel(false).0))
                .collect(),
        )
    }

    fn finish(&self, name: &str) {
        if let Some(tx) = self.0.get(name) {
            tx.send_replace(true);
        }
    }

    async fn wait(&self, name: &str) {
        if let Some(tx) = self.0.get(name) {
            let mut rx = tx.subscribe();
            let _ = rx.wait_for(|done| *done).await;
        }
    }
}

/// `--auto-approve`: every tenant goes its own way at once: (after its `promoteFrom` source,
/// when that is in the run) recover, plan, show the plan, apply, show what happened. A
/// tenant that hangs holds back no other; it is an error after its deadline.
async fn apply_at_once(args: &ApplyArgs, p: &Prepared) -> u8 {
    let human = args.output == ApplyOutput::Text;
    let colour = std::io::stdout().is_terminal();
    let done = Done::new(p);
    let runs = p.tenants.iter().map(|name| {
        let done = &done;
        async move {
            if let Some(source) = source_in_run(p, name) {
                done.wait(source).await;
            }
            let outcome = match plan_tenant(p, name, true, None).await {
                Err(e) => {
                    eprintln!("ferry: {}", printable(&e));
                    TenantOutcome::Failed(e)
                }
                Ok(plan) => {
                    if human {
                        print!(
                            "{}",
                            render::text(std::slice::from_ref(&plan.planned.plan), colour)
                        );
                        let _ = std::io::stdout().flush();
                    }
                    // Applied even with nothing to change: that records what was seen in
                    // sync, so the next plan need not export it again. What happened is
                    // shown when the plan had anything to do or to block.
                    let shown = !plan.planned.plan.is_empty();
                    let outcome = apply_plan(p, plan).await;
                    show_outcome(&outcome, human && shown);
                    outcome
                }
            };
            done.finish(name);
            outcome
        }
    });
    run_all(args, p, runs).await
}

/// Without `--auto-approve`: plan every tenant (each within its deadline; one that does
/// not answer is reported as an error then, not waited for), show the plans, ask, and
/// apply the plans shown. A tenant promoting from another of the run is planned again
/// after its source applied.
async fn apply_after_confirmation(args: &ApplyArgs, p: &Prepared) -> u8 {
    let human = args.output == ApplyOutput::Text;
    let planned = futures_join(
        p.tenants
            .iter()
            .map(|name| plan_tenant(p, name, true, None)),
    )
    .await;
    if human {
        let shown: Vec<Plan> = planned
            .iter()
            .flatten()
            .map(|t| t.planned.plan.clone())
            .collect();
        print!("{}", render::text(&shown, std::io::stdout().is_terminal()));
    }
    for e in planned.iter().filter_map(|r| r.as_ref().err()) {
        eprintln!("ferry: {}", printable(e));
    }
    let anything = planned
        .iter()
        .flatten()
        .any(|t| t.planned.plan.changes() > 0)
        || planned.iter().any(Result::is_err)
        || has_promotions(p);
    if !anything {
        // Nothing to change, so nothing to confirm: the plans are applied all the same, which
        // records what was seen in sync and closes open warnings ferry now sees resolved.
        let runs = planned.into_iter().map(|plan| async move {
            match plan {
                Ok(plan) => {
                    let outcome = apply_plan(p, plan).await;
                    if let TenantOutcome::Applied(run) = &outcome
                        && human
                    {
                        print_closed(&run.report.tenant, &run.report.closed_warnings);
                    }
                    outcome
                }
                Err(e) => TenantOutcome::Failed(e),
            }
        });
        return run_all(args, p, runs).await;
    }
    if !confirmed(p) {
        return 1;
    }
    let done = Done::new(p);
    let runs = p.tenants.iter().zip(planned).map(|(name, plan)| {
        let done = &done;
        async move {
            let outcome = match (plan, source_in_run(p, name)) {
                // Reported above; not applied.
                (Err(e), _) => TenantOutcome::Failed(e),
                (Ok(_), Some(source)) => {
                    done.wait(source).await;
                    match plan_tenant(p, name, false, None).await {
                        Ok(plan) => {
                            let outcome = apply_plan(p, plan).await;
                            show_outcome(&outcome, human);
                            outcome
                        }
                        Err(e) => {
                            eprintln!("ferry: {}", printable(&e));
                            TenantOutcome::Failed(e)
                        }
                    }
                }
                (Ok(plan), None) => {
                    let outcome = apply_plan(p, plan).await;
                    show_outcome(&outcome, human);
                    outcome
                }
            };
            done.finish(name);
            outcome
        }
    });
    run_all(args, p, runs).await
}

/// `ferry apply FILE`: read the saved plan, recover and plan its tenants again from the
/// same revision, and apply the saved actions when every tenant still plans exactly as
/// saved (same desired hashes, same live objects at the same versions, same actions);
/// otherwise apply nothing. No confirmation is asked: the saved plan was the review. A
/// tenant promoting from another of the plan is applied after it.
async fn apply_saved(args: &ApplyArgs, file: &Path) -> u8 {
    let shown = file.display().to_string();
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("ferry: cannot read the plan {shown}: {e}");
            return 1;
        }
    };
    let saved = match SavedPlan::parse(&shown, &text) {
        Ok(saved) => saved,
        Err(e) => {
            eprintln!("ferry: {e}");
            return 1;
        }
    };
    if saved.tenants.is_empty() {
        println!("Nothing to apply: {shown} plans no tenant.");
        return 0;
    }
    let selection = Selection {
        config: args.selection.config.clone(),
        tenants: saved.tenants.iter().map(|t| t.name.clone()).collect(),
        rev: (saved.read_from == ReadFrom::Commit).then(|| saved.revision.clone()),
        state: args.selection.state.clone(),
    };
    let p = match prepare(&selection, Access::Write).await {
        Ok(p) => p,
        Err(Stop(code)) => return code,
    };
    let again = format!("nothing was applied: run `ferry plan --out {shown}` again");
    let code = if p.revision == saved.revision {
        let checked = futures_join(
            saved
                .tenants
                .iter()
                .map(|t| plan_tenant(&p, &t.name, true, Some(t))),
        )
        .await;
        let refused: Vec<&String> = checked.iter().filter_map(|r| r.as_ref().err()).collect();
        if refused.is_empty() {
            let plans = checked.into_iter().flatten().collect();
            apply_checked(args, &p, plans).await
        } else {
            for e in refused {
                eprintln!("ferry: {}", printable(e));
            }
            eprintln!("ferry: {again}");
            1
        }
    } else {
        eprintln!(
            "ferry: the source moved since the plan was made: planned at {}, now at {}; {again}",
            short(&saved.revision),
            short(&p.revision)
        );
        1
    };
    p.engine.shutdown().await;
    code
}

/// Apply plans checked against a saved plan, each tenant after its `promoteFrom` source
/// when that is in the run.
async fn apply_checked(args: &ApplyArgs, p: &Prepared, plans: Vec<TenantPlan>) -> u8 {
    let human = args.output == ApplyOutput::Text;
    if human {
        let shown: Vec<Plan> = plans.iter().map(|t| t.planned.plan.clone()).collect();
        print!("{}", render::text(&shown, std::io::stdout().is_terminal()));
    }
    let done = Done::new(p);
    let runs = plans.into_iter().map(|plan| {
        let done = &done;
        async move {
            let name = plan.planned.plan.tenant.clone();
            if let Some(source) = source_in_run(p, &name) {
                done.wait(source).await;
            }
            let shown = !plan.planned.plan.is_empty();
            let outcome = apply_plan(p, plan).await;
            show_outcome(&outcome, human && shown);
            done.finish(&name);
            outcome
        }
    });
    run_all(args, p, runs).await
}

/// Whether a tenant of the run promotes from another: its plan may change once the
/// source was applied, so the run goes on to apply even when no plan shows a change.
fn has_promotions(p: &Prepared) -> bool {
    p.tenants.iter().any(|t| {
        p.read
            .loaded
            .tenant(t)
            .is_some_and(|c| c.promote_from.is_some())
    })
}

/// Ask on the terminal; without one, refuse.
fn confirmed(p: &Prepared) -> bool {
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "ferry: refusing to apply without a terminal to confirm on; run `ferry plan` to review and pass --auto-approve"
        );
        return false;
    }
    eprint!(
        "Apply these changes to {}? Only 'yes' is accepted: ",
        p.tenants.join(", ")
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() || answer.trim() != "yes" {
        eprintln!("ferry: apply cancelled; nothing was changed");
        return false;
    }
    true
}

/// Show what applying a tenant did (text output), or why it failed.
fn show_outcome(outcome: &TenantOutcome, human: bool) {
    match outcome {
        TenantOutcome::Applied(run) if human => print_report(&run.report),
        TenantOutcome::Failed(e) => eprintln!("ferry: {}", printable(e)),
        _ => {}
    }
    let _ = std::io::stdout().flush();
}

/// Run every tenant's run (one per tenant, in tenant order) at once, then [`finish`].
async fn run_all(
    args: &ApplyArgs,
    p: &Prepared,
    runs: impl IntoIterator<Item = impl Future<Output = TenantOutcome>>,
) -> u8 {
    let outcomes = p
        .tenants
        .iter()
        .cloned()
        .zip(futures_join(runs).await)
        .collect();
    finish(args, p, outcomes).await
}

/// The end of a run: "nothing to apply" or the JSON document, the statuses with
/// `--report`, and the exit code (1 when any tenant failed or an action failed).
async fn finish(args: &ApplyArgs, p: &Prepared, outcomes: Vec<(String, TenantOutcome)>) -> u8 {
    let human = args.output == ApplyOutput::Text;
    let anything = outcomes.iter().any(|(_, o)| match o {
        TenantOutcome::Applied(run) => !run.plan.is_empty(),
        TenantOutcome::Failed(_) => false,
    });
    let failed = outcomes.iter().any(|(_, o)| match o {
        TenantOutcome::Applied(run) => run.report.failed(),
        TenantOutcome::Failed(_) => true,
    });
    if human {
        if !anything && !failed {
            println!(
                "Nothing to apply: every tenant is in sync with {}.",
                short(&p.revision)
            );
        }
    } else {
        let rows: Vec<serde_json::Value> = outcomes
            .iter()
            .map(|(name, o)| match o {
                TenantOutcome::Applied(run) => report_json(&run.report),
                TenantOutcome::Failed(e) => json!({"name": name, "error": e, "actions": []}),
            })
            .collect();
        let format = match args.output {
            ApplyOutput::Yaml => super::Document::Yaml,
            _ => super::Document::Json,
        };
        print!("{}", super::document(&json!({ "tenants": rows }), format));
    }
    if args.report {
        report_all(args, p, &outcomes).await;
    }
    u8::from(failed)
}

fn short(rev: &str) -> &str {
    &rev[..rev.len().min(12)]
}

fn print_report(report: &ApplyReport) {
    println!("{}: applied {}", report.tenant, short(&report.revision));
    for r in &report.results {
        let mark = match r.outcome {
            Outcome::Applied => "✓",
            Outcome::Warning => "!",
            Outcome::Failed => "✗",
            Outcome::Skipped => "-",
        };
        // Names, warnings and messages come from manifests and platforms: escaped.
        println!(
            "  {mark} {} {} ({}): {}",
            r.action,
            printable(&r.connector),
            printable(&r.name),
            r.outcome.as_str()
        );
        for w in &r.warnings {
            println!("      warning: {} {}", w.kind, printable(&w.reference));
        }
        if let Some(m) = &r.message {
            for line in printable_lines(m).lines() {
                println!("      {line}");
            }
        }
    }
    print_closed(&report.tenant, &report.closed_warnings);
    if let Some(r) = report.rate_limited {
        println!(
            "  the platform answered 429 Too Many Requests: ferry made as few as {} call(s) at once instead of {}",
            r.lowest, r.concurrency
        );
    }
    let warnings = report.warning_count();
    println!(
        "  {} in sync, {} changed, {} warning(s){}",
        report.in_sync,
        report
            .results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Applied | Outcome::Warning))
            .count(),
        warnings,
        if warnings > 0 {
            ": review them before turning any connector on"
        } else {
            ""
        }
    );
}

/// One line per warning closed after an apply.
fn print_closed(tenant: &str, closed: &[crate::review::Closed]) {
    for c in closed {
        println!(
            "  {}: warning closed on {}: {} {} ({})",
            printable(tenant),
            printable(&c.connector),
            c.warning.kind,
            printable(&c.warning.reference),
            printable(&c.why)
        );
    }
}

fn report_json(report: &ApplyReport) -> serde_json::Value {
    let mut doc = json!({
        "name": report.tenant,
        "revision": report.revision,
        "inSync": report.in_sync,
        "actions": report.results.iter().map(|r| json!({
            "action": r.action,
            "kind": r.kind,
            "connector": r.connector,
            "name": r.name,
            "reason": r.message,
            "outcome": r.outcome,
            "warnings": r.warnings,
            "liveId": r.live_id,
        })).collect::<Vec<_>>(),
        "closedWarnings": report.closed_warnings,
    });
    if let Some(r) = report.rate_limited {
        doc["rateLimited"] = json!({"concurrency": r.concurrency, "lowest": r.lowest});
    }
    doc
}

/// Post a status per tenant for the applied revision, and deliver what the outbox holds.
/// The `ferry/<tenant>/drift` status after an apply, by the daemon's rule: posted when the
/// tenant has drift checks, the plan found drift, or drift was on record (so a fix clears
/// the status a reconcile left). The tenant's recorded drift becomes what is left.
async fn drift_status(
    p: &Prepared,
    tenant: &str,
    plan: &Plan,
    report: &ApplyReport,
) -> Option<CommitStatus> {
    let left = crate::drift::left_after(&plan.drift, report);
    let checks = p.engine.tenant(tenant).is_ok_and(|t| t.drift.is_some());
    let t = tenant.to_owned();
    let kept = left.clone();
    let recorded = p
        .engine
        .store()
        .call(move |c| {
            let mut st = crate::store::tenant::get(c, &t)?;
            let had = !st.drift.is_empty();
            if had {
                st.drift = kept.iter().map(|d| d.connector.clone()).collect();
                st.drift_detail = kept;
                crate::store::tenant::put(c, &t, &st)?;
            }
            Ok(had)
        })
        .await
        .unwrap_or(false);
    (checks || recorded || !plan.drift.is_empty()).then(|| CommitStatus::drift_found(tenant, &left))
}

async fn report_all(args: &ApplyArgs, p: &Prepared, outcomes: &[(String, TenantOutcome)]) {
    let Some(sha) = p.read.commit.clone() else {
        eprintln!("ferry: --report needs a commit: the repository has none yet");
        return;
    };
    if args.selection.rev.is_none() {
        let changed = crate::source::uncommitted(&p.read.loaded);
        if let Some(first) = changed.first() {
            let more = match changed.len() - 1 {
                0 => String::new(),
                n => format!(" (+{n} more)"),
            };
            eprintln!(
                "ferry: reporting on HEAD ({}) although the working tree applied differs from it: {first}{more}; commit the change to report on it",
                short(&sha)
            );
        }
    }
    let loaded = &p.read.loaded;
    let repo = loaded
        .local_repository()
        .unwrap_or_else(|| loaded.dir.clone());
    let external = loaded.config.server.external_url.clone();
    let (statuses, dir) = (loaded.config.statuses.clone(), loaded.dir.clone());
    let ext = external.clone();
    let reporters = match tokio::task::spawn_blocking(move || {
        report::from_config(&statuses, &repo, None, ext.as_deref(), &dir)
    })
    .await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            eprintln!("ferry: cannot set up status reporters: {e}");
            return;
        }
        Err(e) => {
            eprintln!("ferry: cannot set up status reporters: {e}");
            return;
        }
    };
    let (deliverer, notifier) = match Notifier::setup(loaded, p.engine.store(), reporters).await {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("ferry: cannot set up status reporters and notifications: {e}");
            return;
        }
    };
    for tenant in &p.tenants {
        let t = tenant.clone();
        let warnings = p
            .engine
            .store()
            .call(move |c| crate::store::warnings::for_tenant(c, &t))
            .await
            .map_or(0, |w| u32::try_from(w.len()).unwrap_or(u32::MAX));
        // The same mapping `ferry serve` uses, so both report a tenant alike.
        let (status, observation) = match outcomes.iter().find(|(t, _)| t == tenant) {
            Some((_, TenantOutcome::Applied(run))) => (
                sync_status(tenant, &run.plan, &run.report, run.desired, warnings),
                Observation::finished(tenant, &sha, &run.plan, &run.report),
            ),
            Some((_, TenantOutcome::Failed(e))) => (
                CommitStatus::unreachable(tenant, e),
                Observation::failed(tenant, &sha, e),
            ),
            None => continue,
        };
        let status = match status.target_url_for(external.as_deref(), &sha) {
            Some(url) => status.with_target_url(url),
            None => status,
        };
        let drift = match outcomes.iter().find(|(t, _)| t == tenant) {
            Some((_, TenantOutcome::Applied(run))) => {
                drift_status(p, tenant, &run.plan, &run.report).await
            }
            _ => None,
        };
        for status in std::iter::once(status).chain(drift) {
            match deliverer.submit(&sha, &status).await {
                Ok(r) => {
                    if r.queued > 0 {
                        eprintln!(
                            "ferry: status for {tenant} queued in the outbox; it is retried by the next `ferry apply --report` or `ferry serve`"
                        );
                    }
                }
                Err(e) => eprintln!("ferry: status for {tenant}: {e}"),
            }
        }
        if notifier.observe(observation).await {
            eprintln!(
                "ferry: notifications for {tenant} wait in the outbox; they are retried by the next `ferry apply --report` or `ferry serve`"
            );
        }
    }
}
