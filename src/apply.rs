//! Apply: executes a [`Plan`] against one tenant through its provider.
//!
//! Apply never decides what to change: it carries out the plan's actions in order and
//! records what happened. Its guarantees:
//!
//! # Guarantees
//! - **Journal first.** Every mutating call is journaled in the state store before it is
//!   made, and each further step of a multi-call action (a replace is rename aside →
//!   create → delete old, or → rename back on failure) is recorded before its call.
//!   [`recover`] resolves what a crash left open against the live tenant: it adopts an
//!   object a create made, finishes or rolls back a replace, so no connector is
//!   duplicated or lost.
//! - **Active stays off.** Providers read every created object back and turn it off if
//!   the platform left it on; apply reports that as a failure naming the object.
//! - **No half-changed tenant.** A replace whose create fails renames the old connector
//!   back, so the tenant keeps its last good state under its own name.
//! - **Tenants are isolated.** Apply works on one tenant; callers run tenants in parallel.
//!
//! It must not: plan, read git, or talk to any tenant other than through the provider
//! it is given (and, for plugin promotion, the source tenant's provider to export a link).

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::{info, warn};

use crate::model::{Body, ContentHash, FieldLocations, Kind, LiveSummary, Location, Warning};
use crate::plan::{Action, CreateVia, Op, Plan};
use crate::provider::{self, CreateFrom, Provider};
use crate::store::{self, InventoryRow, Store, clean, inventory, journal, warnings};

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
}

impl ApplyReport {
    /// Whether any action failed.
    pub fn failed(&self) -> bool {
        self.results.iter().any(|r| r.outcome == Outcome::Failed)
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
}

/// Execute `plan` in order. Each action's failure is recorded and the next one runs.
pub async fn apply(ctx: &ApplyContext<'_>, plan: &Plan) -> ApplyReport {
    let tenant = plan.tenant.as_str();
    let mut results = Vec::new();
    let seen: Vec<Seen> = plan
        .actions
        .iter()
        .filter_map(|action| match &action.op {
            Op::Noop {
                live_id,
                source_hash,
                observed_version,
            } => Some(Seen {
                connector: action.connector.clone(),
                live_id: live_id.clone(),
                source_hash: source_hash.clone(),
                observed: *observed_version,
            }),
            _ => None,
        })
        .collect();
    let in_sync = seen.len();
    if let Err(e) = confirm(ctx, tenant, seen).await {
        warn!(tenant, error = %e, "could not record the observed state of connectors in sync");
    }
    for action in &plan.actions {
        let result = match &action.op {
            Op::Noop { .. } => continue,
            Op::Blocked { intended, reason } => done(
                action,
                intended.as_str(),
                Outcome::Skipped,
                vec![],
                None,
                Some(reason.to_string()),
            ),
            Op::Create {
                body,
                hash,
                source_hash,
                via,
                ..
            } => create(ctx, tenant, action, body, hash, source_hash, via).await,
            Op::Duplicate {
                source_id,
                name,
                api_name,
                hash,
                source_hash,
                ..
            } => {
                duplicate(
                    ctx,
                    tenant,
                    action,
                    source_id,
                    name,
                    Some(api_name.as_str()),
                    hash,
                    source_hash,
                )
                .await
            }
            Op::Replace {
                live_id,
                body,
                hash,
                source_hash,
                via,
                ..
            } => replace(ctx, tenant, action, live_id, body, hash, source_hash, via).await,
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
        };
        info!(
            tenant,
            connector = %result.connector,
            action = %result.action,
            outcome = result.outcome.as_str(),
            warnings = result.warnings.len(),
            "action finished"
        );
        results.push(result);
    }
    ApplyReport {
        tenant: tenant.to_owned(),
        revision: ctx.revision.to_owned(),
        results,
        in_sync,
    }
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

/// Record a created object: inventory, warnings, clean source, journal resolved.
#[allow(clippy::too_many_arguments)]
async fn record_created(
    ctx: &ApplyContext<'_>,
    tenant: &str,
    action: &Action,
    summary: &LiveSummary,
    hash: &ContentHash,
    source_hash: &ContentHash,
    found_warnings: &[Warning],
    journal_id: i64,
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
    let warnings_now = found_warnings.to_vec();
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
            journal::resolve(&tx, journal_id)?;
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

/// The hashes an action applies, and the journal payload that lets recovery find its
/// result by name.
struct Applying<'a> {
    verb: &'static str,
    hash: &'a ContentHash,
    source_hash: &'a ContentHash,
    payload: serde_json::Value,
}

/// Journal an operation that creates one object, make the call, and record the result.
/// A failed call whose outcome is unknown (a timeout after the platform may have acted)
/// leaves the journal entry open for [`recover`], which looks the name up in the tenant.
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
            let recorded = record_created(
                ctx,
                tenant,
                action,
                &created.summary,
                op.hash,
                op.source_hash,
                &created.warnings,
                jid,
            )
            .await;
            let (outcome, message) = match recorded {
                Ok(()) => (outcome_of(&created.warnings), None),
                Err(m) => (Outcome::Failed, Some(m)),
            };
            done(
                action,
                verb,
                outcome,
                created.warnings,
                Some(created.id),
                message,
            )
        }
        Err(e) => {
            let message = describe(ctx, action, &e);
            if !e.is_transient() {
                resolve(ctx, jid).await;
            }
            done(action, verb, Outcome::Failed, vec![], None, Some(message))
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn create(
    ctx: &ApplyContext<'_>,
    tenant: &str,
    action: &Action,
    body: &Body,
    hash: &ContentHash,
    source_hash: &ContentHash,
    via: &CreateVia,
) -> ActionResult {
    let op = Applying {
        verb: "create",
        hash,
        source_hash,
        payload: json!({"name": body.name(), "kind": action.kind, "hash": hash, "source_hash": source_hash}),
    };
    created_by(ctx, tenant, action, op, create_object(ctx, body, via)).await
}

#[allow(clippy::too_many_arguments)]
async fn duplicate(
    ctx: &ApplyContext<'_>,
    tenant: &str,
    action: &Action,
    source_id: &str,
    name: &str,
    api_name: Option<&str>,
    hash: &ContentHash,
    source_hash: &ContentHash,
) -> ActionResult {
    let op = Applying {
        verb: "duplicate",
        hash,
        source_hash,
        payload: json!({"name": name, "kind": action.kind, "hash": hash, "source_hash": source_hash, "source_id": source_id}),
    };
    created_by(
        ctx,
        tenant,
        action,
        op,
        ctx.provider.duplicate(source_id, name, api_name),
    )
    .await
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
}

/// Record what the no-ops saw, in one transaction: the live version (so the next no-op
/// reconcile needs no export) and a new source hash whose content is unchanged (so
/// promotion is not held back by an edit that changed nothing on the platform).
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
                if changed {
                    inventory::upsert(&tx, &tenant, &row)?;
                }
                if warnings::for_connector(&tx, &tenant, &s.connector)?.is_empty() {
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

#[allow(clippy::too_many_arguments)]
async fn replace(
    ctx: &ApplyContext<'_>,
    tenant: &str,
    action: &Action,
    live_id: &str,
    body: &Body,
    hash: &ContentHash,
    source_hash: &ContentHash,
    via: &CreateVia,
) -> ActionResult {
    let verb = "replace";
    let live_name = ctx
        .live
        .iter()
        .find(|s| s.id == live_id)
        .map(|s| s.name.clone())
        .unwrap_or_else(|| body.name().to_owned());
    let aside = aside_name(&live_name, hash);
    let mut payload = json!({
        "old_id": live_id, "old_name": live_name, "aside": aside, "name": body.name(),
        "kind": action.kind, "hash": hash, "source_hash": source_hash,
    });
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
        resolve(ctx, jid).await;
        let m = format!(
            "could not move the old connector aside: {}; nothing was changed",
            describe(ctx, action, &e)
        );
        return done(
            action,
            verb,
            Outcome::Failed,
            vec![],
            Some(live_id.to_owned()),
            Some(m),
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
            let mut created_warnings = created.warnings.clone();
            let mut message = None;
            if step(ctx, jid, "delete-old", payload).await.is_ok()
                && let Err(e) = ctx.provider.delete(live_id).await
            {
                {
                    message = Some(format!(
                        "the new connector is in place, but deleting the old one ({live_id}, now named {aside:?}) failed: {e}; delete it by hand"
                    ));
                }
            }
            match record_created(
                ctx,
                tenant,
                action,
                &created.summary,
                hash,
                source_hash,
                &created.warnings,
                jid,
            )
            .await
            {
                Ok(()) => {
                    let outcome = if message.is_some() {
                        Outcome::Failed
                    } else {
                        outcome_of(&created_warnings)
                    };
                    done(
                        action,
                        verb,
                        outcome,
                        std::mem::take(&mut created_warnings),
                        Some(created.id),
                        message,
                    )
                }
                Err(m) => done(
                    action,
                    verb,
                    Outcome::Failed,
                    created_warnings,
                    Some(created.id),
                    Some(m),
                ),
            }
        }
        Err(e) => {
            let cause = describe(ctx, action, &e);
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
    let payload =
        json!({"id": live_id, "from": from, "to": to, "hash": hash, "source_hash": source_hash});
    let jid = match begin(ctx, tenant, &action.connector, "rename", "rename", payload).await {
        Ok(id) => id,
        Err(m) => return done(action, verb, Outcome::Failed, vec![], None, Some(m)),
    };
    if let Err(e) = ctx.provider.rename(live_id, to).await {
        resolve(ctx, jid).await;
        return done(
            action,
            verb,
            Outcome::Failed,
            vec![],
            Some(live_id.to_owned()),
            Some(describe(ctx, action, &e)),
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
            clean::record(&tx, &tenant_s, &source_hash, &connector, &revision)?;
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
        if !e.is_transient() {
            resolve(ctx, jid).await;
        }
        return done(
            action,
            verb,
            Outcome::Failed,
            vec![],
            Some(live_id.to_owned()),
            Some(describe(ctx, action, &e)),
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

/// Resolve every open journal entry of a tenant against its live state. Returns one line
/// per entry saying what was done. Entries whose resolution fails stay open.
pub async fn recover(
    tenant: &str,
    provider: &dyn Provider,
    store: &Store,
) -> Result<Vec<String>, String> {
    let t = tenant.to_owned();
    let open = store
        .call(move |c| journal::open(c, &t))
        .await
        .map_err(|e| e.to_string())?;
    if open.is_empty() {
        return Ok(Vec::new());
    }
    let live = provider.list().await.map_err(|e| e.to_string())?;
    let mut notes = Vec::new();
    for entry in open {
        let note = recover_one(tenant, provider, store, &live, &entry).await?;
        info!(tenant, connector = %entry.connector, operation = %entry.operation, step = %entry.step, "{note}");
        notes.push(format!("{}: {note}", entry.connector));
    }
    Ok(notes)
}

fn field<'a>(p: &'a serde_json::Value, key: &str) -> &'a str {
    p.get(key).and_then(|v| v.as_str()).unwrap_or_default()
}

async fn recover_one(
    tenant: &str,
    provider: &dyn Provider,
    store: &Store,
    live: &[LiveSummary],
    entry: &journal::Entry,
) -> Result<String, String> {
    let p = &entry.payload;
    let kind: Kind = serde_json::from_value(p.get("kind").cloned().unwrap_or_default())
        .unwrap_or(Kind::SmartConnector);
    let hash = ContentHash(field(p, "hash").to_owned());
    let source_hash = ContentHash(field(p, "source_hash").to_owned());
    let adopt_row = |s: &LiveSummary| InventoryRow {
        connector: entry.connector.clone(),
        kind,
        live_id: s.id.clone(),
        name: s.name.clone(),
        applied_hash: hash.clone(),
        source_hash: source_hash.clone(),
        live_version: s.version,
        revision: String::new(),
        created_by_ferry: true,
    };
    let by_id = |id: &str| live.iter().find(|s| s.id == id);
    let by_name = |name: &str, not: &str| live.iter().find(|s| s.name == name && s.id != not);
    let id = entry.id;
    let t = tenant.to_owned();
    let note = match entry.operation.as_str() {
        "create" | "duplicate" => {
            let name = field(p, "name");
            // A CDE copy that crashed before its rename is still named "<name> - Copy".
            let found = by_name(name, "").or_else(|| by_name(&format!("{name} - Copy"), ""));
            match found {
                Some(s) => {
                    if s.name != name {
                        provider
                            .rename(&s.id, name)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    if s.active {
                        provider
                            .deactivate(&s.id)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    let mut row = adopt_row(s);
                    row.name = name.to_owned();
                    store
                        .call(move |c| {
                            let tx = c.transaction()?;
                            inventory::upsert(&tx, &t, &row)?;
                            journal::resolve(&tx, id)?;
                            tx.commit()?;
                            Ok(())
                        })
                        .await
                        .map_err(|e| e.to_string())?;
                    format!("adopted {} created before the interruption", s.id)
                }
                None => {
                    store
                        .call(move |c| journal::resolve(c, id))
                        .await
                        .map_err(|e| e.to_string())?;
                    "the interrupted create had not happened; the next plan creates it".to_owned()
                }
            }
        }
        "replace" => {
            let (old_id, old_name, name) =
                (field(p, "old_id"), field(p, "old_name"), field(p, "name"));
            let new = by_name(name, old_id).or_else(|| by_name(&format!("{name} - Copy"), old_id));
            let old = by_id(old_id);
            match (new, old) {
                (Some(n), old) => {
                    if n.name != name {
                        provider
                            .rename(&n.id, name)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    if n.active {
                        provider
                            .deactivate(&n.id)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    if old.is_some() {
                        provider.delete(old_id).await.map_err(|e| e.to_string())?;
                    }
                    let mut row = adopt_row(n);
                    row.name = name.to_owned();
                    store
                        .call(move |c| {
                            let tx = c.transaction()?;
                            inventory::upsert(&tx, &t, &row)?;
                            journal::resolve(&tx, id)?;
                            tx.commit()?;
                            Ok(())
                        })
                        .await
                        .map_err(|e| e.to_string())?;
                    format!(
                        "finished the interrupted replace: kept {} and removed {old_id}",
                        n.id
                    )
                }
                (None, Some(o)) => {
                    if o.name != old_name {
                        provider
                            .restore_name(old_id, old_name)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    store
                        .call(move |c| journal::resolve(c, id))
                        .await
                        .map_err(|e| e.to_string())?;
                    "rolled back the interrupted replace: the old connector is in place under its own name".to_owned()
                }
                (None, None) => {
                    store
                        .call(move |c| journal::resolve(c, id))
                        .await
                        .map_err(|e| e.to_string())?;
                    "neither the old nor a new connector exists; the next plan creates it"
                        .to_owned()
                }
            }
        }
        "rename" => {
            let target = field(p, "id");
            if let Some(s) = by_id(target) {
                let (s, connector) = (s.clone(), entry.connector.clone());
                store
                    .call(move |c| {
                        let tx = c.transaction()?;
                        if let Some(mut row) = inventory::list(&tx, &t)?
                            .into_iter()
                            .find(|r| r.connector == connector)
                        {
                            row.name = s.name.clone();
                            row.live_version = s.version;
                            inventory::upsert(&tx, &t, &row)?;
                        }
                        journal::resolve(&tx, id)?;
                        tx.commit()?;
                        Ok(())
                    })
                    .await
                    .map_err(|e| e.to_string())?;
            } else {
                store
                    .call(move |c| journal::resolve(c, id))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            "recorded the name the connector has now".to_owned()
        }
        "prune" => {
            let target = field(p, "id").to_owned();
            let gone = by_id(&target).is_none();
            let connector = entry.connector.clone();
            store
                .call(move |c| {
                    let tx = c.transaction()?;
                    if gone {
                        inventory::remove(&tx, &t, &connector)?;
                    }
                    journal::resolve(&tx, id)?;
                    tx.commit()?;
                    Ok(())
                })
                .await
                .map_err(|e| e.to_string())?;
            if gone {
                "the pruned connector is gone"
            } else {
                "the prune had not happened; the next plan prunes again"
            }
            .to_owned()
        }
        other => {
            store
                .call(move |c| journal::resolve(c, id))
                .await
                .map_err(|e| e.to_string())?;
            format!("unknown journaled operation {other:?} closed")
        }
    };
    Ok(note)
}
