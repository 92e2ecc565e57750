//! `ferry apply`: show the plan, ask for confirmation, and carry it out.
//!
//! Tenants apply concurrently in waves: a tenant that promotes from another (`promoteFrom`)
//! is planned again after its source finished, so content the source just applied cleanly
//! reaches it in the same run. Without a terminal, `apply` refuses unless `--auto-approve`.
//! With `--report`, commit statuses are posted for the applied revision.
//!
//! Exit codes: 0 nothing failed (warnings allowed), 1 something failed or was refused,
//! 64 the configuration cannot be read.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::ValueEnum;
use serde_json::json;

use super::plan::{Prepared, Selection, Stop, futures_join, plan_all, prepare};
use crate::apply::{ApplyReport, Outcome};
use crate::daemon::reconciler::sync_status;
use crate::desired::desired_for;
use crate::engine::DriftMode;
use crate::plan::Plan;
use crate::printable::{printable, printable_lines};
use crate::render;
use crate::report::{self, CommitStatus, Deliverer};

/// Output format of `ferry apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApplyOutput {
    /// Human-readable.
    Text,
    /// Machine-readable JSON.
    Json,
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
}

/// Run `ferry apply`.
pub fn run(args: ApplyArgs) -> ExitCode {
    super::block_on(async move {
        let prepared = match prepare(&args.selection).await {
            Ok(p) => p,
            Err(Stop(code)) => return ExitCode::from(code),
        };
        let code = apply(&args, &prepared).await;
        prepared.engine.shutdown().await;
        ExitCode::from(code)
    })
}

async fn apply(args: &ApplyArgs, p: &Prepared) -> u8 {
    // Finish or roll back what an interrupted apply left first: the plan shown must be
    // made from the tenant as it is once that is resolved (and a plan that looks empty
    // must not leave it unresolved).
    let recovered = futures_join(p.tenants.iter().map(|name| p.engine.recover(name))).await;
    for (name, notes) in p.tenants.iter().zip(&recovered) {
        for note in notes.iter().flatten() {
            eprintln!("ferry: {name}: resolved an interrupted apply: {note}");
        }
    }
    let (plans, mut errors) = plan_all(p, DriftMode::Heal).await;
    errors.extend(
        recovered
            .into_iter()
            .filter_map(|r| r.err().map(|e| e.to_string())),
    );
    let human = args.output == ApplyOutput::Text;
    if human {
        print!("{}", render::text(&plans, std::io::stdout().is_terminal()));
    }
    for e in &errors {
        eprintln!("ferry: {e}");
    }
    let anything = plans.iter().any(|plan| plan.changes() > 0) || has_dependents(p);
    if !anything && errors.is_empty() {
        if human {
            println!(
                "Nothing to apply: every tenant is in sync with {}.",
                short(&p.revision)
            );
        } else {
            println!(
                "{:#}",
                json!({"tenants": plans.iter().map(|plan| json!({"name": plan.tenant, "actions": []})).collect::<Vec<_>>()})
            );
        }
        if args.report {
            report_all(args, p, &plans, &[]).await;
        }
        return 0;
    }
    if !args.auto_approve {
        if !std::io::stdin().is_terminal() {
            eprintln!(
                "ferry: refusing to apply without a terminal to confirm on; run `ferry plan` to review and pass --auto-approve"
            );
            return 1;
        }
        eprint!(
            "Apply these changes to {}? Only 'yes' is accepted: ",
            p.tenants.join(", ")
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        if std::io::stdin().lock().read_line(&mut answer).is_err() || answer.trim() != "yes" {
            eprintln!("ferry: apply cancelled; nothing was changed");
            return 1;
        }
    }

    let reports = apply_in_waves(p).await;
    let mut failed = !errors.is_empty();
    let mut rows = Vec::new();
    for (tenant, result) in &reports {
        match result {
            Ok(TenantRun { report, .. }) => {
                failed |= report.failed();
                rows.push(report_json(report));
                if human {
                    print_report(report);
                }
            }
            Err(e) => {
                failed = true;
                eprintln!("ferry: tenant {tenant}: {e}");
                rows.push(json!({"name": tenant, "error": e, "actions": []}));
            }
        }
    }
    if !human {
        println!("{:#}", json!({"tenants": rows}));
    }
    if args.report {
        report_all(args, p, &plans, &reports).await;
    }
    u8::from(failed)
}

fn has_dependents(p: &Prepared) -> bool {
    p.read
        .loaded
        .config
        .tenants
        .iter()
        .any(|t| t.promote_from.is_some() && p.tenants.contains(&t.name))
}

/// One tenant's apply: the plan carried out, how many connectors git wants there, and
/// what happened.
struct TenantRun {
    plan: Plan,
    desired: usize,
    report: ApplyReport,
}

/// Apply the chosen tenants, sources before the tenants promoting from them; each tenant
/// is planned right before it is applied.
async fn apply_in_waves(p: &Prepared) -> Vec<(String, Result<TenantRun, String>)> {
    let mut done: BTreeMap<String, Result<TenantRun, String>> = BTreeMap::new();
    let mut remaining: Vec<String> = p.tenants.clone();
    let tenants = &p.read.loaded.config.tenants;
    while !remaining.is_empty() {
        let (ready, waiting): (Vec<String>, Vec<String>) =
            remaining.iter().cloned().partition(|name| {
                let source = tenants
                    .iter()
                    .find(|t| &t.name == name)
                    .and_then(|t| t.promote_from.clone());
                source.is_none_or(|s| !remaining.contains(&s))
            });
        // promoteFrom cycles are rejected by validation; guard anyway.
        let ready = if ready.is_empty() {
            waiting.clone()
        } else {
            ready
        };
        let wave = futures_join(ready.iter().map(|name| apply_one(p, name))).await;
        for (name, result) in ready.iter().zip(wave) {
            done.insert(name.clone(), result);
        }
        remaining.retain(|n| !done.contains_key(n));
    }
    p.tenants
        .iter()
        .filter_map(|t| done.remove(t).map(|r| (t.clone(), r)))
        .collect()
}

async fn apply_one(p: &Prepared, name: &str) -> Result<TenantRun, String> {
    let engine = &p.engine;
    let tenant = engine.tenant(name).map_err(|e| e.to_string())?;
    engine.recover(name).await.map_err(|e| e.to_string())?;
    let desired = desired_for(&p.read.set, tenant).map_err(|d| d.to_string())?;
    let planned = engine
        .plan(
            name,
            &desired,
            &p.revision,
            DriftMode::Heal,
            chrono::Utc::now(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let report = engine.apply(&planned).await.map_err(|e| e.to_string())?;
    Ok(TenantRun {
        plan: planned.plan,
        desired: desired.len(),
        report,
    })
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

fn report_json(report: &ApplyReport) -> serde_json::Value {
    json!({
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
    })
}

/// Post a status per tenant for the applied revision, and deliver what the outbox holds.
async fn report_all(
    args: &ApplyArgs,
    p: &Prepared,
    plans: &[Plan],
    applied: &[(String, Result<TenantRun, String>)],
) {
    let Some(sha) = p.read.commit.clone() else {
        eprintln!("ferry: --report needs a commit: the repository has none yet");
        return;
    };
    if args.selection.rev.is_none() {
        eprintln!(
            "ferry: reporting on HEAD ({}) although the working tree was applied",
            short(&sha)
        );
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
    let deliverer = match Deliverer::new(p.engine.store().connection(), reporters).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("ferry: cannot open the status outbox: {e}");
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
        let status = match applied.iter().find(|(t, _)| t == tenant) {
            Some((_, Ok(run))) => {
                sync_status(tenant, &run.plan, &run.report, run.desired, warnings)
            }
            Some((_, Err(e))) => CommitStatus::unreachable(tenant, e),
            None => {
                // Nothing was applied: report the plan as it stands.
                let Some(plan) = plans.iter().find(|pl| &pl.tenant == tenant) else {
                    continue;
                };
                let nothing = ApplyReport {
                    tenant: tenant.clone(),
                    revision: p.revision.clone(),
                    results: Vec::new(),
                    in_sync: plan.summary().unchanged,
                };
                let desired = p
                    .engine
                    .tenant(tenant)
                    .ok()
                    .and_then(|t| desired_for(&p.read.set, t).ok())
                    .map_or(0, |d| d.len());
                sync_status(tenant, plan, &nothing, desired, warnings)
            }
        };
        let status = match status.target_url_for(external.as_deref(), &sha) {
            Some(url) => status.with_target_url(url),
            None => status,
        };
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
}
