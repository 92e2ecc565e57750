//! Apply: executes a [`Plan`] against one tenant through its provider.
//!
//! Apply never decides what to change: it carries out the plan's actions and records what
//! happened. Its guarantees:
//!
//! - **Concurrent, ordered where it matters.** Up to the tenant's `concurrency` calls are
//!   in flight at once (`gate`), and up to twice as many actions run, so journaling the
//!   next action and recording a finished one happen beside the calls, not between them
//!   (`order` says which actions wait for which: the steps of one action stay one action,
//!   and actions sharing a connector, live object, name or API name, or a prune and a
//!   create, run in plan order). The limit halves while the platform answers 429 and
//!   climbs back by one per run of successes (`limit`). Results are reported in plan
//!   order, whatever order the actions finished in.
//! # Guarantees
//! - **Journal first.** Every mutating call is journaled in the state store before it is
//!   made (concurrent actions write through the one store handle, which runs each write
//!   on the blocking pool; no lock is held across an `.await`), and each further step of a multi-call action (a replace is rename aside →
//!   create → delete old, or → rename back on failure) is recorded before its call.
//!   [`crate::recovery`] resolves what a crash left open against the live tenant: it
//!   adopts an object a create made, finishes or rolls back a replace, so no connector is
//!   duplicated or lost.
//! - **Unknown outcomes are settled by reading.** A call that fails without saying what
//!   happened (no answer, a timeout, an answer that cannot be read, a 5xx to a create, a
//!   refused follow-up after the platform created the object) keeps its journal entry
//!   open, marked unknown, and is settled by listing the tenant
//!   ([`crate::recovery::settle`]): right away, or after a timeout (the platform may still
//!   be at work) on the next reconcile. A connector with an open entry is left alone until
//!   then, so there is never a second create for one entry before the tenant was read.
//! - **Active stays off.** Providers check every created object's `active` flag (in the
//!   create's answer when it carries the flag, else by reading the object back) and turn
//!   it off if the platform left it on; apply records the object (it exists) and reports
//!   a failure naming it.
//! - **Warnings.** A created connector's open warnings are the planner's predictions
//!   (`warnings: predicted`, the default) or what the platform reported (`warnings:
//!   platform`); while any is open its content does not count as applied cleanly.
//! - **No half-changed tenant.** A replace whose create fails renames the old connector
//!   back, so the tenant keeps its last good state under its own name.
//! - **Tenants are isolated.** Apply works on one tenant (its actions, its 429s); callers
//!   run tenants in parallel.
//!
//! It must not: plan, read git, or talk to any tenant other than through the provider
//! it is given (and, for plugin promotion, the source tenant's provider to export a link).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::{info, warn};

use crate::config::WarningSource;
use crate::model::{Body, ContentHash, FieldLocations, Kind, LiveSummary, Location, Warning};
use crate::plan::{Action, CreateVia, Op, Plan, ReplaceStrategy};
use crate::provider::{self, CreateFrom, Operation, Provider};
use crate::recovery;
use crate::review;
use crate::store::{self, InventoryRow, Store, clean, inventory, journal, warnings};

mod gate;
mod limit;
mod order;

use gate::{Gate, Gated};
use limit::Limit;

/// What happened to one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Done, no warnings.
    Applied,
    /// Done, with warnings a person must review before activating.
    Warning,
    /// Not done (or only partly, and rolled back); the message says what to do.
    Failed,
    /// Not attempted: blocked by the plan.
    Skipped,
}

impl Outcome {
    /// The word used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Warning => "warning",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }
}

/// The result of one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionResult {
    /// The action carried out.
    pub action: String,
    /// Manifest kind.
    pub kind: Kind,
    /// `metadata.name`.
    pub connector: String,
    /// Tenant-side name.
    pub name: String,
    /// What happened.
    pub outcome: Outcome,
    /// Warnings (kind and reference) to review before activation.
    pub warnings: Vec<Warning>,
    /// The live id the connector has now, if any.
    pub live_id: Option<String>,
    /// What went wrong or why it was skipped, with what to do.
    pub message: Option<String>,
}

/// Everything apply did to one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyReport {
    /// Tenant name.
    pub tenant: String,
    /// Revision applied.
    pub revision: String,
    /// One entry per action that was not a no-op.
    pub results: Vec<ActionResult>,
    /// Connectors already in sync.
    pub in_sync: usize,
    /// Warnings closed after the actions (a reference resolved, a VCS authorised).
    #[serde(default)]
    pub closed_warnings: Vec<review::Closed>,
    /// Set when the platform answered 429 during the apply and ferry had fewer calls in
    /// flight at once than the tenant's `concurrency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limited: Option<RateLimited>,
}

/// How a rate-limited apply lowered the calls it had in flight at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimited {
    /// The tenant's `concurrency`.
    pub concurrency: usize,
    /// The fewest calls the apply had in flight at once after a 429.
    pub lowest: usize,
}

impl ApplyReport {
    /// Whether any action failed.
    pub fn failed(&self) -> bool {
        self.failures() > 0
    }

    /// How many actions failed.
    pub fn failures(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
            .count()
    }

    /// Number of warnings reported.
    pub fn warning_count(&self) -> usize {
        self.results.iter().map(|r| r.warnings.len()).sum()
    }

    /// The first failure message, for a commit status.
    pub fn first_failure(&self) -> Option<String> {
        self.results
            .iter()
            .find(|r| r.outcome == Outcome::Failed)
            .map(|r| {
                format!(
                    "{}: {}",
                    r.connector,
                    r.message.as_deref().unwrap_or("failed")
                )
            })
    }
}

/// What apply needs besides the plan.
pub struct ApplyContext<'a> {
    /// The tenant's provider.
    pub provider: &'a dyn Provider,
    /// The state store.
    pub store: &'a Store,
    /// Revision being applied (commit id).
    pub revision: &'a str,
    /// Providers of other tenants, for exporting plugin installation links just in time.
    pub peers: &'a HashMap<String, Arc<dyn Provider>>,
    /// Where fields of each connector are written, to map platform errors back to lines.
    pub locations: &'a HashMap<String, (Location, FieldLocations)>,
    /// What the tenant's list call returned when the plan was made.
    pub live: &'a [LiveSummary],
    /// Where the warnings recorded for created connectors come from.
    pub warnings: WarningSource,
    /// How many calls are in flight at once at most (the tenant's `concurrency`).
    pub concurrency: usize,
}

/// Execute `plan`: up to `ctx.concurrency` calls in flight at once (fewer while the
/// platform answers 429), actions sharing a connector, object or name run in plan
/// order, and the report lists results in plan order. Each action's failure is recorded
/// and the others run.
pub async fn apply(ctx: &ApplyContext<'_>, plan: &Plan) -> ApplyReport {
    let tenant = plan.tenant.as_str();
    let seen: Vec<Seen> = plan
        .actions
        .iter()
        .filter_map(|action| match &action.op {
            Op::Noop {
                live_id,
                source_hash,
                observed_version,
                applied_hash,
            } => Some(Seen {
                connector: action.connector.clone(),
                live_id: live_id.clone(),
                source_hash: source_hash.clone(),
                observed: *observed_version,
                applied: applied_hash.clone(),
            }),
            _ => None,
        })
        .collect();
    let in_sync = seen.len();
    if let Err(e) = confirm(ctx, tenant, seen).await {
        warn!(tenant, error = %e, "could not record the observed state of connectors in sync");
    }
    let unsettled = unsettled(ctx, tenant).await;
    // Actions settled without calling anything (blocked, or waiting for an unsettled
    // entry) get their result now; the others run, up to the limit at once, each after
    // the earlier actions it shares a connector, object or name with.
    let mut results: Vec<Option<ActionResult>> = plan
        .actions
        .iter()
        .map(|action| settled_now(action, &unsettled))
        .collect();
    let runs: Vec<bool> = plan
        .actions
        .iter()
        .zip(&results)
        .map(|(action, result)| result.is_none() && !matches!(action.op, Op::Noop { .. }))
        .collect();
    let waits = order::waits_for(&plan.actions, &runs, ctx.live);
    let mut pending: Vec<usize> = waits.iter().map(Vec::len).collect();
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); plan.actions.len()];
    for (i, before) in waits.iter().enumerate() {
        for &b in before {
            dependants[b].push(i);
        }
    }
    let mut ready: BTreeSet<usize> = (0..plan.actions.len())
        .filter(|&i| runs[i] && pending[i] == 0)
        .collect();
    let mut limit = Limit::new(tenant, ctx.concurrency, ctx.provider.rate_limited());
    // The limit holds the calls in flight; twice as many actions run, so an action
    // journaled and waiting takes a call's place as soon as it is freed.
    let gate = Gate::new(limit.current());
    let gated = Gated {
        inner: ctx.provider,
        gate: &gate,
    };
    let ctx = &ApplyContext {
        provider: &gated,
        ..*ctx
    };
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < 2 * limit.current()
            && let Some(i) = ready.pop_first()
        {
            let action = &plan.actions[i];
            running.push(async move { (i, execute(ctx, tenant, action).await) });
        }
        let Some((i, result)) = running.next().await else {
            break;
        };
        limit.finished(tenant, ctx.provider.rate_limited());
        gate.set_limit(limit.current());
        info!(
            tenant,
            connector = %result.connector,
            action = %result.action,
            outcome = result.outcome.as_str(),
            warnings = result.warnings.len(),
            "action finished"
        );
        results[i] = Some(result);
        for &d in &dependants[i] {
            pending[d] -= 1;
            if pending[d] == 0 {
                ready.insert(d);
            }
        }
    }
    let rate_limited = (limit.lowest() < ctx.concurrency).then(|| RateLimited {
        concurrency: ctx.concurrency,
        lowest: limit.lowest(),
    });
    let results: Vec<ActionResult> = results.into_iter().flatten().collect();
    ApplyReport {
        tenant: tenant.to_owned(),
        revision: ctx.revision.to_owned(),
        results,
        in_sync,
        closed_warnings: Vec::new(),
        rate_limited,
    }
}

/// The result of an action that calls nothing, known before anything runs: a blocked
/// action is skipped; one that would call the tenant while an earlier journal entry of
/// its connector is unsettled fails without calling. `None` for the actions that run (and
/// for no-ops, which report nothing).
fn settled_now(action: &Action, unsettled: &HashMap<String, String>) -> Option<ActionResult> {
    if let Some(entry) = unsettled.get(&action.connector)
        && calls_the_tenant(&action.op)
    {
        return Some(done(
            action,
            action.op.kind().as_str(),
            Outcome::Failed,
            vec![],
            None,
            Some(format!(
                "not attempted: the outcome of an earlier {entry} of this connector is not settled yet; \
                 ferry reads the tenant first (the next reconcile resolves it)"
            )),
        ));
    }
    match &action.op {
        Op::Blocked { intended, reason } => Some(done(
            action,
            intended.as_str(),
            Outcome::Skipped,
            vec![],
            None,
            Some(reason.to_string()),
        )),
        _ => None,
    }
}

/// Carry out one action that calls the tenant or records something.
async fn execute(ctx: &ApplyContext<'_>, tenant: &str, action: &Action) -> ActionResult {
    match &action.op {
        Op::Noop { .. } | Op::Blocked { .. } => {
            unreachable!("noops and blocked actions are settled without running")
        }
        Op::Create {
            body,
            hash,
            source_hash,
            via,
            expected_warnings,
        } => {
            let op = Applying::of_body(
                ctx,
                action,
                "create",
                body,
                (hash, source_hash),
                expected_warnings,
            );
            created_by(ctx, tenant, action, op, create_object(ctx, body, via)).await
        }
        Op::Duplicate {
            source_id,
            name,
            api_name,
            hash,
            source_hash,
            expected_warnings,
            ..
        } => {
            let mut payload = payload(
                ctx,
                action,
                name,
                Some(api_name),
                hash,
                source_hash,
                expected_warnings,
            );
            payload["source_id"] = json!(source_id);
            let op = Applying {
                verb: "duplicate",
                body: None,
                hash,
                source_hash,
                expected: expected_warnings,
                payload,
            };
            let call = ctx
                .provider
                .duplicate(source_id, name, Some(api_name.as_str()));
            created_by(ctx, tenant, action, op, call).await
        }
        Op::Replace {
            live_id,
            body,
            hash,
            source_hash,
            via,
            expected_warnings,
            strategy,
            ..
        } => {
            let op = Applying::of_body(
                ctx,
                action,
                "replace",
                body,
                (hash, source_hash),
                expected_warnings,
            );
            match strategy {
                ReplaceStrategy::RenameAside => {
                    replace(ctx, tenant, action, live_id, body, via, op).await
                }
                strategy => {
                    let swap = Swap {
                        live_id,
                        body,
                        via,
                        strategy: *strategy,
                    };
                    replace_without_rename(ctx, tenant, action, swap, op).await
                }
            }
        }
        Op::Rename {
            live_id,
            from,
            to,
            hash,
            source_hash,
        } => rename(ctx, tenant, action, live_id, from, to, hash, source_hash).await,
        Op::Adopt {
            live_id,
            live_hash,
            version,
        } => adopt(ctx, tenant, action, live_id, live_hash, *version).await,
        Op::Prune { live_id } => prune(ctx, tenant, action, live_id).await,
    }
}

/// Whether an operation calls the tenant (and so must wait for an unsettled entry).
fn calls_the_tenant(op: &Op) -> bool {
    matches!(
        op,
        Op::Create { .. }
            | Op::Duplicate { .. }
            | Op::Replace { .. }
            | Op::Rename { .. }
            | Op::Prune { .. }
    )
}

/// The connectors of `tenant` with an open journal entry (operation by connector). Recovery
/// runs before every plan, so this is normally empty; an entry it could not resolve keeps
/// its connector out of this apply.
async fn unsettled(ctx: &ApplyContext<'_>, tenant: &str) -> HashMap<String, String> {
    let t = tenant.to_owned();
    match ctx.store.call(move |c| journal::open(c, &t)).await {
        Ok(open) => open
            .into_iter()
            .map(|e| (e.connector, e.operation))
            .collect(),
        Err(e) => {
            warn!(tenant, error = %e, "cannot read the apply journal");
            HashMap::new()
        }
    }
}

/// The API name of a Kizen body (what identifies the object an import made).
fn api_name_of(body: &Body) -> Option<&str> {
    match body {
        Body::Kizen(p) => Some(&p.api_name),
        _ => None,
    }
}

/// The journal payload of a call that creates an object: what recovery needs to find it
/// and record it.
fn payload(
    ctx: &ApplyContext<'_>,
    action: &Action,
    name: &str,
    api_name: Option<&str>,
    hash: &ContentHash,
    source_hash: &ContentHash,
    predicted: &[Warning],
) -> serde_json::Value {
    json!({
        "name": name, "api_name": api_name, "kind": action.kind, "hash": hash,
        "source_hash": source_hash, "warnings": predicted, "revision": ctx.revision,
    })
}

fn done(
    action: &Action,
    verb: &str,
    outcome: Outcome,
    warnings: Vec<Warning>,
    live_id: Option<String>,
    message: Option<String>,
) -> ActionResult {
    ActionResult {
        action: verb.to_owned(),
        kind: action.kind,
        connector: action.connector.clone(),
        name: action.name.clone(),
        outcome,
        warnings,
        live_id,
        message,
    }
}

fn outcome_of(warnings: &[Warning]) -> Outcome {
    if warnings.is_empty() {
        Outcome::Applied
    } else {
        Outcome::Warning
    }
}

/// Turn a provider error into a message, pointing field errors at manifest lines.
fn describe(ctx: &ApplyContext<'_>, action: &Action, err: &provider::Error) -> String {
    let mut message = err.to_string();
    if let Some((_, fields)) = ctx.locations.get(&action.connector) {
        for (path, text) in err.field_errors() {
            if let Some(loc) = fields.get(path) {
                message.push_str(&format!("\n  {loc}: {text}"));
            }
        }
    }
    message
}

/// Whether a failed call may have changed the tenant all the same: no answer, a timeout,
/// a 5xx, an answer that could not be read.
fn outcome_unknown(e: &provider::Error) -> bool {
    e.is_transient() || matches!(e, provider::Error::Decode { .. })
}

/// Whether a failed create (import, copy, install, duplicate) may have made its object:
/// an unknown outcome, or a failure after the platform made it (its read-back, rename or
/// deactivation failed, or the platform left it active). Only a refusal of the create
/// call itself (or of what prepares it: a template, an installation link) says nothing
/// was made.
fn create_outcome_unknown(e: &provider::Error) -> bool {
    outcome_unknown(e)
        || matches!(e, provider::Error::ActivatedByPlatform { .. })
        || e.scope().is_some_and(|s| {
            matches!(
                s.operation,
                Operation::ReadBack | Operation::Rename | Operation::Deactivate | Operation::Delete
            )
        })
}

/// What the warnings of a created object are, by the tenant's `warnings` setting.
fn recorded_warnings(
    ctx: &ApplyContext<'_>,
    predicted: &[Warning],
    reported: &[Warning],
) -> Vec<Warning> {
    match ctx.warnings {
        WarningSource::Predicted => predicted.to_vec(),
        WarningSource::Platform => reported.to_vec(),
    }
}

fn store_err(e: store::Error) -> String {
    format!("the action was carried out but recording it in the state store failed: {e}")
}

/// The result of an action carried out on the tenant, once recording it in the state
/// store succeeded (applied) or failed (failed, saying so).
fn after_recording(
    action: &Action,
    verb: &str,
    live_id: Option<&str>,
    recording: Result<(), store::Error>,
) -> ActionResult {
    let (outcome, message) = match recording {
        Ok(()) => (Outcome::Applied, None),
        Err(e) => (Outcome::Failed, Some(store_err(e))),
    };
    done(
        action,
        verb,
        outcome,
        vec![],
        live_id.map(str::to_owned),
        message,
    )
}

/// Record a created object: inventory, warnings, clean source; the journal entry resolved
/// when `resolve_entry` (a replace whose old object is still to go keeps it open).
#[allow(clippy::too_many_arguments)]
async fn record_created(
    ctx: &ApplyContext<'_>,
    tenant: &str,
    action: &Action,
    summary: &LiveSummary,
    hash: &ContentHash,
    source_hash: &ContentHash,
    recorded: &[Warning],
    journal_id: i64,
    resolve_entry: bool,
) -> Result<(), String> {
    let row = InventoryRow {
        connector: action.connector.clone(),
        kind: action.kind,
        live_id: summary.id.clone(),
        name: summary.name.clone(),
        applied_hash: hash.clone(),
        source_hash: source_hash.clone(),
        live_version: summary.version,
        revision: ctx.revision.to_owned(),
        created_by_ferry: true,
    };
    let tenant = tenant.to_owned();
    let revision = ctx.revision.to_owned();
    let warnings_now = recorded.to_vec();
    let source_hash = source_hash.clone();
    let result = ctx
        .store
        .call(move |c| {
            let tx = c.transaction()?;
            inventory::upsert(&tx, &tenant, &row)?;
            warnings::set(&tx, &tenant, &row.connector, &row.live_id, &warnings_now)?;
            // Promotion reads "applied cleanly": without failures and without open warnings.
            if warnings_now.is_empty() {
                clean::record(&tx, &tenant, &source_hash, &row.connector, &revision)?;
            }
            if resolve_entry {
                journal::resolve(&tx, journal_id)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await;
    result.map_err(store_err)
}

async fn begin(
    ctx: &ApplyContext<'_>,
    tenant: &str,
    connector: &str,
    op: &'static str,
    step: &'static str,
    payload: serde_json::Value,
) -> Result<i64, String> {
    let (tenant, connector) = (tenant.to_owned(), connector.to_owned());
    ctx.store
        .call(move |c| journal::begin(c, &tenant, &connector, op, step, &payload))
        .await
        .map_err(|e| format!("not attempted: journaling the call failed: {e}"))
}

async fn step(
    ctx: &ApplyContext<'_>,
    id: i64,
    step: &'static str,
    payload: serde_json::Value,
) -> Result<(), String> {
    ctx.store
        .call(move |c| journal::step(c, id, step, &payload))
        .await
        .map_err(|e| format!("journaling step {step} failed: {e}"))
}

async fn resolve(ctx: &ApplyContext<'_>, id: i64) {
    if let Err(e) = ctx.store.call(move |c| journal::resolve(c, id)).await {
        warn!(journal = id, error = %e, "could not mark a journal entry resolved; it will be resolved on the next start");
    }
}

/// A call of `action` failed with `err` and its outcome is unknown: mark the journal entry
/// so, then settle it by reading the tenant (after a timeout the platform may still be at
/// work, so that waits for the next reconcile). The result says what the tenant holds now.
async fn settled(
    ctx: &ApplyContext<'_>,
    tenant: &str,
    action: &Action,
    verb: &str,
    jid: i64,
    err: &provider::Error,
    cause: String,
) -> ActionResult {
    let reason = cause.clone();
    if let Err(e) = ctx
        .store
        .call(move |c| journal::mark_unknown(c, jid, &reason))
        .await
    {
        warn!(journal = jid, error = %e, "could not mark a journal entry's outcome unknown; it stays open");
    }
    if matches!(err, provider::Error::Timeout { .. }) {
        let message = format!(
            "{cause}\nthe outcome is unknown: before changing {} again ferry reads the tenant on the next reconcile and adopts what the call made",
            action.connector
        );
        return done(action, verb, Outcome::Failed, vec![], None, Some(message));
    }
    match recovery::settle(tenant, ctx.provider, ctx.store, jid).await {
        Ok(r) => {
            // The platform left the object active (seen now, or by the provider's read-back):
            // ferry turned it off, and says so as a failure (invariant 1).
            let activated =
                r.was_active || matches!(err, provider::Error::ActivatedByPlatform { .. });
            let outcome = if !r.done || activated {
                Outcome::Failed
            } else {
                outcome_of(&r.warnings)
            };
            let message = if matches!(err, provider::Error::ActivatedByPlatform { .. }) {
                format!("{cause}\nrecorded: {}", r.note)
            } else if r.was_active {
                format!(
                    "{cause}\nsettled by reading the tenant: {}; activation is a person's decision: find out why the platform activated it",
                    r.note
                )
            } else {
                format!("{cause}\nsettled by reading the tenant: {}", r.note)
            };
            done(action, verb, outcome, r.warnings, r.live_id, Some(message))
        }
        Err(m) => done(
            action,
            verb,
            Outcome::Failed,
            vec![],
            None,
            Some(format!(
                "{cause}\nthe outcome is unknown and reading the tenant failed ({m}); ferry settles it by reading the tenant on the next reconcile"
            )),
        ),
    }
}

/// The hashes, predicted warnings and journal payload of an action that creates one
/// object.
struct Applying<'a> {
    verb: &'static str,
    /// The content created, when it comes from git (to hash what the platform holds when
    /// it names the object otherwise).
    body: Option<&'a Body>,
    hash: &'a ContentHash,
    source_hash: &'a ContentHash,
    expected: &'a [Warning],
    payload: serde_json::Value,
}

impl<'a> Applying<'a> {
    /// The action `verb` creating `body` from git (hashes: content, source).
    fn of_body(
        ctx: &ApplyContext<'_>,
        action: &Action,
        verb: &'static str,
        body: &'a Body,
        (hash, source_hash): (&'a ContentHash, &'a ContentHash),
        expected: &'a [Warning],
    ) -> Self {
        Applying {
            verb,
            body: Some(body),
            hash,
            source_hash,
            expected,
            payload: payload(
                ctx,
                action,
                body.name(),
                api_name_of(body),
                hash,
                source_hash,
                expected,
            ),
        }
    }
}

/// The hash of what the tenant holds after creating `body` as `summary`: the planned
/// `hash`, or, when the platform named the object otherwise (a CDE copy left as
/// `<name> - Copy` with capability `rename` off), the body under that name, so the next
/// plan asks for the rename.
fn held_hash(body: Option<&Body>, summary: &LiveSummary, hash: &ContentHash) -> ContentHash {
    match body {
        Some(body) if body.name() != summary.name => body.with_name(&summary.name).content_hash(),
        _ => hash.clone(),
    }
}

/// Journal an operation that creates one object, make the call, and record the result.
/// A call whose outcome is unknown is settled by reading the tenant ([`settled`]).
async fn created_by(
    ctx: &ApplyContext<'_>,
    tenant: &str,
    action: &Action,
    op: Applying<'_>,
    call: impl std::future::Future<Output = provider::Result<crate::model::Created>>,
) -> ActionResult {
    let verb = op.verb;
    let jid = match begin(ctx, tenant, &action.connector, verb, verb, op.payload).await {
        Ok(id) => id,
        Err(m) => return done(action, verb, Outcome::Failed, vec![], None, Some(m)),
    };
    match call.await {
        Ok(created) => {
            let held = held_hash(op.body, &created.summary, op.hash);
            let recorded = recorded_warnings(ctx, op.expected, &created.warnings);
            let recording = record_created(
                ctx,
                tenant,
                action,
                &created.summary,
                &held,
                op.source_hash,
                &recorded,
                jid,
                true,
            )
            .await;
            let (outcome, message) = match recording {
                Ok(()) => (outcome_of(&recorded), None),
                Err(m) => (Outcome::Failed, Some(m)),
            };
            done(action, verb, outcome, recorded, Some(created.id), message)
        }
        Err(e) => {
            let cause = describe(ctx, action, &e);
            if create_outcome_unknown(&e) {
                return settled(ctx, tenant, action, verb, jid, &e, cause).await;
            }
            resolve(ctx, jid).await;
            done(action, verb, Outcome::Failed, vec![], None, Some(cause))
        }
    }
}

/// Make the platform call that creates `body`: an import, copy or install from git, or an
/// install from a link exported just now from the promotion source tenant.
async fn create_object(
    ctx: &ApplyContext<'_>,
    body: &Body,
    via: &CreateVia,
) -> provider::Result<crate::model::Created> {
    match via {
        CreateVia::InstallFromLink {
            from_tenant,
            from_id,
        } => {
            let Some(peer) = ctx.peers.get(from_tenant) else {
                let scope = provider::Scope::new(
                    ctx.provider.tenant(),
                    ctx.provider.platform(),
                    provider::Operation::Install,
                    Some(body.name()),
                );
                return Err(provider::Error::unsupported(
                    scope,
                    format!("the promotion source tenant {from_tenant} is not configured"),
                ));
            };
            let connectors = match body {
                Body::AgentStudio(p) => p.connectors.clone(),
                _ => Vec::new(),
            };
            let link = peer.export_link(from_id).await?;
            ctx.provider
                .create(CreateFrom::InstallLink {
                    link: &link,
                    connectors: &connectors,
                })
                .await
        }
        _ => ctx.provider.create(CreateFrom::Body(body)).await,
    }
}

/// What a no-op saw of one connector.
struct Seen {
    connector: String,
    live_id: String,
    source_hash: ContentHash,
    observed: Option<u64>,
    /// The tenant holds git's content under this hash, not what ferry recorded.
    applied: Option<ContentHash>,
}

/// Record what the no-ops saw, in one transaction: the live version (so the next no-op
/// reconcile needs no export) and a new source hash whose content is unchanged (so
/// promotion is not held back by an edit that changed nothing on the platform), recorded
/// as applied cleanly unless the connector has open warnings or it already is. Three
/// reads for the tenant, then writes only for what changed.
async fn confirm(ctx: &ApplyContext<'_>, tenant: &str, seen: Vec<Seen>) -> store::Result<()> {
    if seen.is_empty() {
        return Ok(());
    }
    let (tenant, revision) = (tenant.to_owned(), ctx.revision.to_owned());
    ctx.store
        .call(move |c| {
            let tx = c.transaction()?;
            let mut rows: HashMap<String, InventoryRow> = inventory::list(&tx, &tenant)?
                .into_iter()
                .map(|r| (r.connector.clone(), r))
                .collect();
            // Read once for the tenant rather than once per connector in sync.
            let warned: HashSet<String> = warnings::for_tenant(&tx, &tenant)?
                .into_iter()
                .map(|w| w.connector)
                .collect();
            let mut clean = clean::hashes(&tx, &tenant)?;
            for s in seen {
                let Some(mut row) = rows.remove(&s.connector) else {
                    continue;
                };
                let mut changed = false;
                if let Some(v) = s.observed.filter(|v| *v != row.live_version) {
                    row.live_version = v;
                    changed = true;
                }
                if row.source_hash != s.source_hash && row.live_id == s.live_id {
                    row.source_hash = s.source_hash.clone();
                    row.revision = revision.clone();
                    changed = true;
                }
                if let Some(hash) = s.applied.filter(|_| row.live_id == s.live_id) {
                    row.applied_hash = hash;
                    row.revision = revision.clone();
                    changed = true;
                }
                if changed {
                    inventory::upsert(&tx, &tenant, &row)?;
                }
                if !warned.contains(&s.connector) && clean.insert(s.source_hash.clone()) {
                    clean::record(&tx, &tenant, &s.source_hash, &s.connector, &revision)?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
}

/// The name a connector is parked under while its replacement is created.
pub fn aside_name(name: &str, hash: &ContentHash) -> String {
    format!(
        "{name} (ferry: replacing {})",
        &hash.short()[..8.min(hash.short().len())]
    )
}

/// Replace `live_id` with `body`: rename the old object aside, create the new one, delete
/// the old one (or, when the create is refused, rename it back). Each step is journaled
/// first; an unknown outcome at any step is settled by reading the tenant, which finishes
/// the replace or rolls it back.
async fn replace(
    ctx: &ApplyContext<'_>,
    tenant: &str,
    action: &Action,
    live_id: &str,
    body: &Body,
    via: &CreateVia,
    op: Applying<'_>,
) -> ActionResult {
    let verb = op.verb;
    let live_name = ctx
        .live
        .iter()
        .find(|s| s.id == live_id)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| body.name().to_owned());
    let aside = aside_name(&live_name, op.hash);
    let mut payload = op.payload;
    payload["old_id"] = json!(live_id);
    payload["old_name"] = json!(live_name);
    payload["aside"] = json!(aside);
    let jid = match begin(
        ctx,
        tenant,
        &action.connector,
        "replace",
        "rename-aside",
        payload.clone(),
    )
    .await
    {
        Ok(id) => id,
        Err(m) => return done(action, verb, Outcome::Failed, vec![], None, Some(m)),
    };
    if let Err(e) = ctx.provider.rename_aside(live_id, &aside).await {
        let cause = format!(
            "could not move the old connector aside: {}",
            describe(ctx, action, &e)
        );
        if outcome_unknown(&e) {
            return settled(ctx, tenant, action, verb, jid, &e, cause).await;
        }
        resolve(ctx, jid).await;
        return done(
            action,
            verb,
            Outcome::Failed,
            vec![],
            Some(live_id.to_owned()),
            Some(format!("{cause}; nothing was changed")),
        );
    }
    if let Err(m) = step(ctx, jid, "create", payload.clone()).await {
        return done(
            action,
            verb,
            Outcome::Failed,
            vec![],
            Some(live_id.to_owned()),
            Some(m),
        );
    }
    match create_object(ctx, body, via).await {
        Ok(created) => {
            payload["new_id"] = json!(created.id);
            let recorded = recorded_warnings(ctx, op.expected, &created.warnings);
            let stepped = step(ctx, jid, "delete-old", payload).await;
            let deleted = match stepped {
                Ok(()) => ctx.provider.delete(live_id).await,
                Err(m) => {
                    // Not journaled: leave the old connector (aside) for the next
                    // recovery rather than delete without a record.
                    return done(
                        action,
                        verb,
                        Outcome::Failed,
                        recorded,
                        Some(created.id),
                        Some(format!(
                            "the new connector is in place, but {m}; the old one ({live_id}) stays aside until ferry can record the step"
                        )),
                    );
                }
            };
            let old = format!(
                "the new connector is in place, but deleting the old one ({live_id}, now named {aside:?})"
            );
            let swapped = Swapped {
                jid,
                created,
                hash: op.hash.clone(),
                source_hash: op.source_hash,
                recorded,
                deleted,
                old,
            };
            finish_replace(ctx, tenant, action, verb, swapped).await
        }
        Err(e) => {
            let cause = describe(ctx, action, &e);
            if create_outcome_unknown(&e) {
                return settled(ctx, tenant, action, verb, jid, &e, cause).await;
            }
            let _ = step(ctx, jid, "rollback", payload).await;
            let message = match ctx.provider.restore_name(live_id, &live_name).await {
                Ok(()) => {
                    resolve(ctx, jid).await;
                    format!("{cause}\nthe old connector was kept in place under its own name")
                }
                Err(e2) => format!(
                    "{cause}\nrenaming the old connector back failed too ({e2}); ferry will retry on the next reconcile"
                ),
            };
            done(
                action,
                verb,
                Outcome::Failed,
                vec![],
                Some(live_id.to_owned()),
                Some(message),
            )
        }
    }
}

/// A replace that renames nothing: what it swaps and how.
struct Swap<'a> {
    live_id: &'a str,
    body: &'a Body,
    via: &'a CreateVia,
    strategy: ReplaceStrategy,
}

/// A replace without moving the old object aside, journaled step by step like the
/// rename-aside flow (the same journal payload, so recovery finishes either):
///
/// - [`ReplaceStrategy::DeleteFirst`]: delete the old object, then create the new one. The
///   object is absent in between; a failed create leaves it absent, and the next plan
///   creates it again (the inventory still names the deleted object).
/// - [`ReplaceStrategy::CopyThenDelete`]: create first (a CDE copy named `<name> - Copy`),
///   then move the old object to the bin; the copy is recorded under the name it has.
///
/// A step whose outcome is unknown is settled by reading the tenant, as in [`replace`].
async fn replace_without_rename(
    ctx: &ApplyContext<'_>,
    tenant: &str,
    action: &Action,
    swap: Swap<'_>,
    op: Applying<'_>,
) -> ActionResult {
    let verb = op.verb;
    let Swap {
        live_id,
        body,
        via,
        strategy,
    } = swap;
    let live_name = ctx
        .live
        .iter()
        .find(|s| s.id == live_id)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| body.name().to_owned());
    let mut payload = op.payload;
    payload["old_id"] = json!(live_id);
    payload["old_name"] = json!(live_name);
    payload["aside"] = json!(live_name);
    payload["strategy"] = json!(strategy.as_str());
    let failed = |message: String, live: Option<&str>| {
        done(
            action,
            verb,
            Outcome::Failed,
            vec![],
            live.map(str::to_owned),
            Some(message),
        )
    };
    let noun = noun(action.kind);
    let delete_first = strategy == ReplaceStrategy::DeleteFirst;
    let first_step = if delete_first { "delete-old" } else { "create" };
    let jid = match begin(
        ctx,
        tenant,
        &action.connector,
        "replace",
        first_step,
        payload.clone(),
    )
    .await
    {
        Ok(id) => id,
        Err(m) => return failed(m, None),
    };
    if delete_first {
        if let Err(e) = ctx.provider.delete(live_id).await {
            let cause = format!(
                "could not delete the old {noun} to redeploy it: {}",
                describe(ctx, action, &e)
            );
            if outcome_unknown(&e) {
                return settled(ctx, tenant, action, verb, jid, &e, cause).await;
            }
            resolve(ctx, jid).await;
            return failed(format!("{cause}; nothing was created"), Some(live_id));
        }
        if let Err(m) = step(ctx, jid, "create", payload.clone()).await {
            return failed(m, None);
        }
    }
    let created = match create_object(ctx, body, via).await {
        Ok(created) => created,
        Err(e) => {
            let cause = describe(ctx, action, &e);
            if create_outcome_unknown(&e) {
                return settled(ctx, tenant, action, verb, jid, &e, cause).await;
            }
            resolve(ctx, jid).await;
            let m = if delete_first {
                format!(
                    "{cause}\nthe old {noun} was deleted first (an update deletes and redeploys), so `{}` is absent until the next reconcile creates it",
                    body.name()
                )
            } else {
                format!("{cause}\nthe old {noun} was left as it is")
            };
            return failed(m, (!delete_first).then_some(live_id));
        }
    };
    payload["new_id"] = json!(created.id);
    let recorded = recorded_warnings(ctx, op.expected, &created.warnings);
    // Copy first: the old object goes after the new one is in place.
    let deleted = if delete_first {
        Ok(())
    } else {
        match step(ctx, jid, "delete-old", payload).await {
            Ok(()) => ctx.provider.delete(live_id).await,
            Err(m) => {
                return done(
                    action,
                    verb,
                    Outcome::Failed,
                    recorded,
                    Some(created.id),
                    Some(format!(
                        "the new {noun} is in place, but {m}; the old one ({live_id}) stays until ferry can record the step"
                    )),
                );
            }
        }
    };
    let swapped = Swapped {
        jid,
        hash: held_hash(Some(body), &created.summary, op.hash),
        created,
        source_hash: op.source_hash,
        recorded,
        deleted,
        old: format!(
            "the new {noun} is in place, but deleting the old one ({live_id}, named {live_name:?})"
        ),
    };
    finish_replace(ctx, tenant, action, verb, swapped).await
}

/// What a replace made, for [`finish_replace`].
struct Swapped<'a> {
    jid: i64,
    created: crate::model::Created,
    /// The hash of what the tenant holds now.
    hash: ContentHash,
    source_hash: &'a ContentHash,
    recorded: Vec<Warning>,
    /// How deleting the old object went (`Ok` when it went first, or never had to).
    deleted: provider::Result<()>,
    /// How messages name the old object.
    old: String,
}

/// The end of every replace flow once the new object exists: record it (the journal entry
/// resolved when the old one is gone, also when it was already gone), and report a delete
/// that failed — settled by reading the tenant when its outcome is unknown.
async fn finish_replace(
    ctx: &ApplyContext<'_>,
    tenant: &str,
    action: &Action,
    verb: &str,
    swapped: Swapped<'_>,
) -> ActionResult {
    let Swapped {
        jid,
        created,
        hash,
        source_hash,
        recorded,
        deleted,
        old,
    } = swapped;
    let gone_anyway = matches!(&deleted, Err(e) if e.status() == Some(404) && !outcome_unknown(e));
    let finished = deleted.is_ok() || gone_anyway;
    let recording = record_created(
        ctx,
        tenant,
        action,
        &created.summary,
        &hash,
        source_hash,
        &recorded,
        jid,
        finished,
    )
    .await;
    if let Err(m) = recording {
        return done(
            action,
            verb,
            Outcome::Failed,
            recorded,
            Some(created.id),
            Some(m),
        );
    }
    match deleted {
        Err(e) if !finished => {
            let cause = format!("{old} failed: {}", describe(ctx, action, &e));
            if outcome_unknown(&e) {
                return settled(ctx, tenant, action, verb, jid, &e, cause).await;
            }
            resolve(ctx, jid).await;
            done(
                action,
                verb,
                Outcome::Failed,
                recorded,
                Some(created.id),
                Some(format!("{cause}; delete it by hand")),
            )
        }
        _ => done(
            action,
            verb,
            outcome_of(&recorded),
            recorded,
            Some(created.id),
            None,
        ),
    }
}

/// What a kind's objects are called in messages.
fn noun(kind: Kind) -> &'static str {
    match kind {
        Kind::Plugin => "plugin",
        Kind::SmartConnector | Kind::CdeConnector => "connector",
    }
}

#[allow(clippy::too_many_arguments)]
async fn rename(
    ctx: &ApplyContext<'_>,
    tenant: &str,
    action: &Action,
    live_id: &str,
    from: &str,
    to: &str,
    hash: &ContentHash,
    source_hash: &ContentHash,
) -> ActionResult {
    let verb = "rename";
    let payload = json!({
        "id": live_id, "from": from, "to": to, "hash": hash, "source_hash": source_hash,
        "revision": ctx.revision,
    });
    let jid = match begin(ctx, tenant, &action.connector, "rename", "rename", payload).await {
        Ok(id) => id,
        Err(m) => return done(action, verb, Outcome::Failed, vec![], None, Some(m)),
    };
    if let Err(e) = ctx.provider.rename(live_id, to).await {
        let cause = describe(ctx, action, &e);
        if outcome_unknown(&e) {
            return settled(ctx, tenant, action, verb, jid, &e, cause).await;
        }
        resolve(ctx, jid).await;
        return done(
            action,
            verb,
            Outcome::Failed,
            vec![],
            Some(live_id.to_owned()),
            Some(cause),
        );
    }
    // Read the renamed object back (one request, not a list of the whole tenant) so the
    // next no-op reconcile sees no version change; if that fails, the next plan exports it
    // once and records the version then.
    let version = ctx
        .provider
        .export(live_id)
        .await
        .ok()
        .map(|o| o.summary.version);
    let (tenant_s, connector, to_s, id_s, revision) = (
        tenant.to_owned(),
        action.connector.clone(),
        to.to_owned(),
        live_id.to_owned(),
        ctx.revision.to_owned(),
    );
    let (hash, source_hash) = (hash.clone(), source_hash.clone());
    let recorded = ctx
        .store
        .call(move |c| {
            let tx = c.transaction()?;
            let mut row = inventory::list(&tx, &tenant_s)?
                .into_iter()
                .find(|r| r.connector == connector)
                .ok_or_else(|| store::Error::Decode {
                    table: "inventory",
                    message: format!("{connector} is not in the inventory"),
                })?;
            row.name = to_s;
            row.live_id = id_s;
            row.applied_hash = hash;
            row.source_hash = source_hash.clone();
            row.revision = revision.clone();
            if let Some(v) = version {
                row.live_version = v;
            }
            inventory::upsert(&tx, &tenant_s, &row)?;
            if warnings::for_connector(&tx, &tenant_s, &connector)?.is_empty() {
                clean::record(&tx, &tenant_s, &source_hash, &connector, &revision)?;
            }
            journal::resolve(&tx, jid)?;
            tx.commit()?;
            Ok(())
        })
        .await;
    after_recording(action, verb, Some(live_id), recorded)
}

async fn adopt(
    ctx: &ApplyContext<'_>,
    tenant: &str,
    action: &Action,
    live_id: &str,
    live_hash: &ContentHash,
    version: u64,
) -> ActionResult {
    let row = InventoryRow {
        connector: action.connector.clone(),
        kind: action.kind,
        live_id: live_id.to_owned(),
        name: action.name.clone(),
        applied_hash: live_hash.clone(),
        source_hash: live_hash.clone(),
        live_version: version,
        revision: ctx.revision.to_owned(),
        created_by_ferry: false,
    };
    let tenant = tenant.to_owned();
    let recording = ctx
        .store
        .call(move |c| inventory::upsert(c, &tenant, &row))
        .await;
    after_recording(action, "adopt", Some(live_id), recording)
}

async fn prune(
    ctx: &ApplyContext<'_>,
    tenant: &str,
    action: &Action,
    live_id: &str,
) -> ActionResult {
    let verb = "prune";
    let jid = match begin(
        ctx,
        tenant,
        &action.connector,
        "prune",
        "delete",
        json!({"id": live_id}),
    )
    .await
    {
        Ok(id) => id,
        Err(m) => return done(action, verb, Outcome::Failed, vec![], None, Some(m)),
    };
    if let Err(e) = ctx.provider.delete(live_id).await {
        let cause = describe(ctx, action, &e);
        if outcome_unknown(&e) {
            return settled(ctx, tenant, action, verb, jid, &e, cause).await;
        }
        resolve(ctx, jid).await;
        return done(
            action,
            verb,
            Outcome::Failed,
            vec![],
            Some(live_id.to_owned()),
            Some(cause),
        );
    }
    let (tenant, connector) = (tenant.to_owned(), action.connector.clone());
    let recorded = ctx
        .store
        .call(move |c| {
            let tx = c.transaction()?;
            inventory::remove(&tx, &tenant, &connector)?;
            warnings::set(&tx, &tenant, &connector, "", &[])?;
            journal::resolve(&tx, jid)?;
            tx.commit()?;
            Ok(())
        })
        .await;
    after_recording(action, verb, None, recorded)
}

#[cfg(test)]
mod tests;
