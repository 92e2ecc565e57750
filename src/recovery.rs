//! Journal recovery: what a call left behind when ferry does not know its outcome is
//! settled by reading the tenant, never by calling again.
//!
//! Apply journals every mutating call before it makes it (see [`crate::apply`]). An entry
//! stays open while the outcome is unknown: the process died, the answer never came, it
//! came too late or could not be read, a 5xx answered a create, or the platform created an
//! object it then reported wrongly. [`recover`] (before every plan that may be applied)
//! and [`settle`] (right after such a failure) list the tenant once and resolve each open
//! entry against what it holds:
//!
//! - **create / duplicate**: the object the call made is found by what the call gave it —
//!   Kizen the name and API name, Productsup CDE a `<name> - Copy` (or `<name>`, if the
//!   rename went through) with the manifest's content, Agent Studio the installed plugin's
//!   name — and adopted: renamed to the manifest's name, turned off if the platform left it
//!   on, recorded with its warnings. An object that cannot be adopted (its name is taken)
//!   is moved to the bin. When nothing is found, the call had not happened.
//! - **replace**: with the new object found, it is adopted and the old one deleted;
//!   without, the old one gets its name back.
//! - **rename**: the name the object has now is recorded, with the applied content when
//!   the rename went through.
//! - **prune**: the record goes when the object is gone.
//!
//! # Guarantees
//! - One list call per tenant, plus one export per candidate whose identity needs its
//!   content; no create, ever.
//! - An entry whose resolution fails (the tenant cannot be reached) stays open; nothing
//!   else happens to its connector until it is resolved (apply skips it).
//! - Objects ferry does not know (other names, other content, another connector's) are
//!   never touched.
//!
//! It must not plan, and must not create anything.

use std::collections::HashSet;

use serde_json::Value;
use tracing::info;

use crate::model::{Body, ContentHash, Kind, LiveSummary, Platform, Warning};
use crate::provider::Provider;
use crate::store::{self, InventoryRow, Store, clean, inventory, journal, warnings};

/// How one journal entry was resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// What was found and done, for people.
    pub note: String,
    /// Whether the journaled operation took effect and is now recorded: a create's (or a
    /// replace's new) object adopted, a rename made, a pruned object gone.
    pub done: bool,
    /// The live id the connector has now, when it has one.
    pub live_id: Option<String>,
    /// The warnings recorded with an adopted object.
    pub warnings: Vec<Warning>,
    /// Whether the adopted object was active, against the platforms' rule (ferry turned
    /// it off; the caller reports it).
    pub was_active: bool,
}

/// Resolve every open journal entry of a tenant against its live state. Returns one line
/// per entry saying what was done.
///
/// # Errors
/// The first failure (listing the tenant, reading a candidate, a rename, the store); the
/// entries not resolved yet stay open.
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
    let mut live = provider.list().await.map_err(|e| e.to_string())?;
    let mut notes = Vec::new();
    for entry in open {
        let r = resolve(tenant, provider, store, &mut live, &entry).await?;
        info!(tenant, connector = %entry.connector, operation = %entry.operation, step = %entry.step, "{}", r.note);
        notes.push(format!("{}: {}", entry.connector, r.note));
    }
    Ok(notes)
}

/// Resolve the one open journal entry `id` now: list the tenant and settle it (what apply
/// does right after a call whose outcome it does not know).
///
/// # Errors
/// As [`recover`]; the entry then stays open for the next reconcile.
pub async fn settle(
    tenant: &str,
    provider: &dyn Provider,
    store: &Store,
    id: i64,
) -> Result<Resolution, String> {
    let t = tenant.to_owned();
    let entry = store
        .call(move |c| journal::open(c, &t))
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| format!("journal entry {id} is not open"))?;
    let mut live = provider.list().await.map_err(|e| e.to_string())?;
    let r = resolve(tenant, provider, store, &mut live, &entry).await?;
    info!(tenant, connector = %entry.connector, operation = %entry.operation, step = %entry.step, "{}", r.note);
    Ok(r)
}

/// What the journal says a call was meant to do.
struct Journaled {
    id: i64,
    connector: String,
    kind: Kind,
    name: String,
    api_name: Option<String>,
    hash: ContentHash,
    source_hash: ContentHash,
    warnings: Vec<Warning>,
    revision: String,
}

impl Journaled {
    fn of(entry: &journal::Entry) -> Self {
        let p = &entry.payload;
        Journaled {
            id: entry.id,
            connector: entry.connector.clone(),
            kind: serde_json::from_value(p.get("kind").cloned().unwrap_or_default())
                .unwrap_or(Kind::SmartConnector),
            name: field(p, "name").to_owned(),
            api_name: p.get("api_name").and_then(Value::as_str).map(str::to_owned),
            hash: ContentHash(field(p, "hash").to_owned()),
            source_hash: ContentHash(field(p, "source_hash").to_owned()),
            warnings: serde_json::from_value(p.get("warnings").cloned().unwrap_or_default())
                .unwrap_or_default(),
            revision: field(p, "revision").to_owned(),
        }
    }

    fn row(&self, s: &LiveSummary) -> InventoryRow {
        InventoryRow {
            connector: self.connector.clone(),
            kind: self.kind,
            live_id: s.id.clone(),
            name: self.name.clone(),
            applied_hash: self.hash.clone(),
            source_hash: self.source_hash.clone(),
            live_version: s.version,
            revision: self.revision.clone(),
            created_by_ferry: true,
        }
    }
}

fn field<'a>(p: &'a Value, key: &str) -> &'a str {
    p.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

async fn resolve(
    tenant: &str,
    provider: &dyn Provider,
    store: &Store,
    live: &mut Vec<LiveSummary>,
    entry: &journal::Entry,
) -> Result<Resolution, String> {
    let j = Journaled::of(entry);
    let p = &entry.payload;
    match entry.operation.as_str() {
        "create" | "duplicate" => {
            let found = made_by_call(tenant, provider, store, live, &j, None).await?;
            match found {
                Some(s) => adopt(tenant, provider, store, live, &j, &s, None).await,
                None => {
                    close(store, j.id).await?;
                    Ok(Resolution {
                        note: "the interrupted create had not happened; the next plan creates it"
                            .to_owned(),
                        done: false,
                        live_id: None,
                        warnings: Vec::new(),
                        was_active: false,
                    })
                }
            }
        }
        "replace" => {
            let (old_id, old_name) = (field(p, "old_id"), field(p, "old_name"));
            let new = made_by_call(tenant, provider, store, live, &j, Some(old_id)).await?;
            let old = live.iter().find(|s| s.id == old_id).cloned();
            match (new, old) {
                (Some(n), old) => {
                    let mut r = adopt(tenant, provider, store, live, &j, &n, old.as_ref()).await?;
                    if r.done {
                        r.note = format!(
                            "finished the interrupted replace: kept {} and removed {old_id}",
                            n.id
                        );
                    }
                    Ok(r)
                }
                (None, Some(o)) => {
                    if o.name != old_name {
                        provider.restore_name(old_id, old_name).await.map_err(err)?;
                        if let Some(s) = live.iter_mut().find(|s| s.id == old_id) {
                            s.name = old_name.to_owned();
                        }
                    }
                    close(store, j.id).await?;
                    Ok(Resolution {
                        note: "rolled back the interrupted replace: the old connector is in place under its own name".to_owned(),
                        done: false,
                        live_id: Some(old_id.to_owned()),
                        warnings: Vec::new(),
                        was_active: false,
                    })
                }
                (None, None) => {
                    close(store, j.id).await?;
                    Ok(Resolution {
                        note:
                            "neither the old nor a new connector exists; the next plan creates it"
                                .to_owned(),
                        done: false,
                        live_id: None,
                        warnings: Vec::new(),
                        was_active: false,
                    })
                }
            }
        }
        "rename" => {
            let target = field(p, "id").to_owned();
            let (from, to) = (field(p, "from"), field(p, "to"));
            let now = live.iter().find(|s| s.id == target).cloned();
            let done = now.as_ref().is_some_and(|s| s.name == to);
            let (t, connector) = (tenant.to_owned(), j.connector.clone());
            let (hash, source_hash, revision, id) = (
                j.hash.clone(),
                j.source_hash.clone(),
                j.revision.clone(),
                j.id,
            );
            let seen = now.clone();
            store
                .call(move |c| {
                    let tx = c.transaction()?;
                    if let Some(s) = seen
                        && let Some(mut row) = inventory::list(&tx, &t)?
                            .into_iter()
                            .find(|r| r.connector == connector)
                    {
                        row.name = s.name.clone();
                        row.live_version = s.version;
                        if done && !hash.0.is_empty() {
                            row.applied_hash = hash;
                            row.source_hash = source_hash.clone();
                            row.revision = revision.clone();
                            if warnings::for_connector(&tx, &t, &connector)?.is_empty() {
                                clean::record(&tx, &t, &source_hash, &connector, &revision)?;
                            }
                        }
                        inventory::upsert(&tx, &t, &row)?;
                    }
                    journal::resolve(&tx, id)?;
                    tx.commit()?;
                    Ok(())
                })
                .await
                .map_err(err)?;
            let note = match &now {
                Some(_) if done => format!("the rename to {to:?} had happened; recorded"),
                Some(s) => format!(
                    "the rename to {to:?} had not happened (the connector is named {:?}); the next plan renames it",
                    s.name
                ),
                None => format!("the connector renamed from {from:?} is gone"),
            };
            Ok(Resolution {
                note,
                done,
                live_id: now.map(|s| s.id),
                warnings: Vec::new(),
                was_active: false,
            })
        }
        "prune" => {
            let target = field(p, "id").to_owned();
            let gone = !live.iter().any(|s| s.id == target);
            let (t, connector, id) = (tenant.to_owned(), j.connector.clone(), j.id);
            store
                .call(move |c| {
                    let tx = c.transaction()?;
                    if gone {
                        inventory::remove(&tx, &t, &connector)?;
                        warnings::set(&tx, &t, &connector, "", &[])?;
                    }
                    journal::resolve(&tx, id)?;
                    tx.commit()?;
                    Ok(())
                })
                .await
                .map_err(err)?;
            Ok(Resolution {
                note: if gone {
                    "the pruned connector is gone".to_owned()
                } else {
                    "the prune had not happened; the next plan prunes again".to_owned()
                },
                done: gone,
                live_id: (!gone).then_some(target),
                warnings: Vec::new(),
                was_active: false,
            })
        }
        other => {
            close(store, j.id).await?;
            Ok(Resolution {
                note: format!("unknown journaled operation {other:?} closed"),
                done: false,
                live_id: None,
                warnings: Vec::new(),
                was_active: false,
            })
        }
    }
}

async fn close(store: &Store, id: i64) -> Result<(), String> {
    store
        .call(move |c| journal::resolve(c, id))
        .await
        .map_err(err)
}

/// The names a create can leave its object under: the manifest's name, and on Productsup
/// CDE the `<name> - Copy` a copy gets before ferry renames it.
fn names_of_a_create(platform: Platform, name: &str) -> Vec<String> {
    match platform {
        Platform::ProductsupCde => vec![format!("{name} - Copy"), name.to_owned()],
        Platform::Kizen | Platform::AgentStudio => vec![name.to_owned()],
    }
}

/// The object the journaled create made, if the tenant holds it: listed under one of the
/// names a create leaves, owned by no other connector, not `except` (a replace's old
/// object), and made by this call ([`made_by`]). Further objects this very call would
/// have made (which ferry never creates) are reported, not touched.
async fn made_by_call(
    tenant: &str,
    provider: &dyn Provider,
    store: &Store,
    live: &[LiveSummary],
    j: &Journaled,
    except: Option<&str>,
) -> Result<Option<LiveSummary>, String> {
    let names = names_of_a_create(provider.platform(), &j.name);
    let (t, connector) = (tenant.to_owned(), j.connector.clone());
    let others: HashSet<String> = store
        .call(move |c| inventory::list(c, &t))
        .await
        .map_err(err)?
        .into_iter()
        .filter(|r| r.connector != connector)
        .map(|r| r.live_id)
        .collect();
    let mut found: Option<LiveSummary> = None;
    for name in &names {
        for s in live.iter().filter(|s| &s.name == name) {
            if Some(s.id.as_str()) == except || others.contains(&s.id) {
                continue;
            }
            if !made_by(provider, j, s).await? {
                continue;
            }
            match &found {
                None => found = Some(s.clone()),
                Some(first) => tracing::warn!(
                    tenant,
                    connector = %j.connector,
                    kept = %first.id,
                    other = %s.id,
                    "a second object matches what the interrupted call made; it is left for a person to review"
                ),
            }
        }
    }
    Ok(found)
}

/// Whether `s` is what the journaled call made: Kizen by its API name (unique per
/// business, carried over by an import and given by a duplicate), Productsup CDE by the
/// manifest's content, Agent Studio by the plugin's name alone.
async fn made_by(provider: &dyn Provider, j: &Journaled, s: &LiveSummary) -> Result<bool, String> {
    match provider.platform() {
        Platform::Kizen => {
            let Some(api_name) = &j.api_name else {
                return Ok(true);
            };
            let object = provider.export(&s.id).await.map_err(err)?;
            Ok(matches!(&object.body, Body::Kizen(p) if &p.api_name == api_name))
        }
        Platform::ProductsupCde => {
            if j.hash.0.is_empty() {
                return Ok(true);
            }
            let object = provider.export(&s.id).await.map_err(err)?;
            let Body::ProductsupCde(mut body) = object.body else {
                return Ok(false);
            };
            body.name = j.name.clone();
            Ok(Body::ProductsupCde(body).content_hash() == j.hash)
        }
        Platform::AgentStudio => Ok(true),
    }
}

/// Adopt `s` as what the journaled call made: rename it to the manifest's name, turn it
/// off if the platform left it on, delete `old` (a replace's old object), and record it
/// with the journaled warnings. When its name is taken by another object it cannot be
/// adopted: it is moved to the bin instead.
async fn adopt(
    tenant: &str,
    provider: &dyn Provider,
    store: &Store,
    live: &mut Vec<LiveSummary>,
    j: &Journaled,
    s: &LiveSummary,
    old: Option<&LiveSummary>,
) -> Result<Resolution, String> {
    // With the modelled rename switched off, what the call made keeps the name the
    // platform gave it (a CDE `<name> - Copy`); the next plan shows the rename as a manual
    // step.
    let mut kept_name = None;
    if s.name != j.name {
        let renamed = provider.rename(&s.id, &j.name).await;
        if let Err(e) = &renamed
            && e.switched_off_capability().is_some()
        {
            kept_name = Some(s.name.clone());
        } else if let Err(e) = renamed {
            if e.is_transient() {
                return Err(e.to_string());
            }
            provider.delete(&s.id).await.map_err(err)?;
            live.retain(|x| x.id != s.id);
            close(store, j.id).await?;
            return Ok(Resolution {
                note: format!(
                    "{} ({}) made by the interrupted call could not take the name {:?} ({e}); it was moved to the bin and the next plan creates the connector",
                    s.name, s.id, j.name
                ),
                done: false,
                live_id: None,
                warnings: Vec::new(),
                was_active: false,
            });
        }
        if kept_name.is_none()
            && let Some(x) = live.iter_mut().find(|x| x.id == s.id)
        {
            x.name = j.name.clone();
        }
    }
    if s.active {
        provider.deactivate(&s.id).await.map_err(err)?;
        if let Some(x) = live.iter_mut().find(|x| x.id == s.id) {
            x.active = false;
        }
    }
    if let Some(old) = old {
        provider.delete(&old.id).await.map_err(err)?;
        live.retain(|x| x.id != old.id);
    }
    let mut row = j.row(s);
    if let Some(name) = &kept_name {
        row.name = name.clone();
    }
    let (t, recorded, id, source_hash, revision) = (
        tenant.to_owned(),
        j.warnings.clone(),
        j.id,
        j.source_hash.clone(),
        j.revision.clone(),
    );
    store
        .call(move |c| {
            let tx = c.transaction()?;
            inventory::upsert(&tx, &t, &row)?;
            warnings::set(&tx, &t, &row.connector, &row.live_id, &recorded)?;
            if recorded.is_empty() && !source_hash.0.is_empty() {
                clean::record(&tx, &t, &source_hash, &row.connector, &revision)?;
            }
            journal::resolve(&tx, id)?;
            tx.commit()?;
            Ok::<_, store::Error>(())
        })
        .await
        .map_err(err)?;
    Ok(Resolution {
        note: format!(
            "adopted {} ({:?}) made by the interrupted call{}{}",
            s.id,
            kept_name.as_deref().unwrap_or(&j.name),
            if s.active {
                "; the platform had left it active, ferry turned it off"
            } else {
                ""
            },
            if kept_name.is_some() {
                "; it keeps the platform's name because the tenant switched rename off: rename it by hand"
            } else {
                ""
            }
        ),
        done: true,
        live_id: Some(s.id.clone()),
        warnings: j.warnings.clone(),
        was_active: s.active,
    })
}
