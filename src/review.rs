//! Open warnings after a create: closing them when ferry sees them resolved, or when a
//! person acknowledges them.
//!
//! A connector created with warnings is not "applied cleanly": promotion (`promoteFrom`)
//! holds its content back from the tenants downstream until every warning is closed. This
//! module closes them:
//!
//! - **Kizen references** (Agentic Workflow, seeding filter group, matching or mapping
//!   field). With `warnings: predicted` (the default) a warning closes when a later read
//!   of the tenant's catalog holds its reference. Kizen lists import warnings only in the
//!   confirmation e-mail and its status tracks the last live run, so ferry depends on no
//!   warnings field and no re-check call. With `warnings: platform` the platform's
//!   re-check decides.
//! - **Productsup CDE VCS credentials**: closes when the connector's VCS is seen
//!   authorised (`authorization` other than `public`, or a `username`).
//! - **Any kind**, when a person acknowledges it ([`acknowledge`]: `ferry ack`, or
//!   `POST /api/v1/tenants/{name}/warnings/ack`).
//!
//! Closing the last warning of a connector records its source hash as applied cleanly,
//! which releases promotion. [`review`] runs after every apply and drift check; with no
//! open warnings it makes no call at all.
//!
//! It must not create, change or delete anything in a tenant: it only reads.

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::config::WarningSource;
use crate::model::{Catalog, Warning, WarningKind};
use crate::provider::{self, Provider};
use crate::store::{self, Store, clean, inventory, warnings};

/// Errors of acknowledging a warning.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The connector has no open warning of that kind.
    #[error(
        "tenant {tenant}: connector {connector} has no open {kind} warning{}",
        open_list(open)
    )]
    NothingOpen {
        /// Tenant.
        tenant: String,
        /// `metadata.name`.
        connector: String,
        /// The kind asked for.
        kind: WarningKind,
        /// The connector's open warnings (`kind reference`), to pick from.
        open: Vec<String>,
    },
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
}

fn open_list(open: &[String]) -> String {
    if open.is_empty() {
        "; it has none open (`ferry status` lists the open warnings)".to_owned()
    } else {
        format!("; its open warnings: {}", open.join(", "))
    }
}

/// One warning closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Closed {
    /// `metadata.name`.
    pub connector: String,
    /// The warning.
    pub warning: Warning,
    /// Why it closed, for people.
    pub why: String,
}

/// What an acknowledgement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledged {
    /// The warnings closed.
    pub closed: Vec<Warning>,
    /// Warnings of the connector still open.
    pub remaining: usize,
    /// Whether the connector is now applied cleanly, so promotion takes its content.
    pub released: bool,
}

/// Whether `catalog` resolves the reference of a Kizen warning; `None` for other kinds.
fn catalog_resolves(catalog: &Catalog, w: &Warning) -> Option<bool> {
    let known = match w.kind {
        WarningKind::AgenticWorkflow => &catalog.agentic_workflows,
        WarningKind::SeedingFilterGroup => &catalog.filter_groups,
        WarningKind::FieldReference => &catalog.fields,
        WarningKind::VcsCredentials => return None,
    };
    Some(known.contains(&w.reference))
}

/// Close the open warnings of `tenant` that ferry now sees resolved: a reference the
/// catalog holds (`catalog` when the caller has just read it, else one catalog call),
/// a VCS seen authorised (one read per connector with that warning), or what the
/// platform's re-check no longer reports (`warnings: platform`). Returns what closed.
///
/// # Errors
/// The state store failing; a platform call that fails leaves its warnings open and is
/// logged, not returned.
pub async fn review(
    tenant: &str,
    source: WarningSource,
    provider: &dyn Provider,
    store: &Store,
    catalog: Option<&Catalog>,
) -> Result<Vec<Closed>, store::Error> {
    let t = tenant.to_owned();
    let open = store.call(move |c| warnings::for_tenant(c, &t)).await?;
    if open.is_empty() {
        return Ok(Vec::new());
    }
    let mut closed = Vec::new();
    let references: Vec<&warnings::OpenWarning> = open
        .iter()
        .filter(|w| w.warning.kind != WarningKind::VcsCredentials)
        .collect();
    if !references.is_empty() {
        match source {
            WarningSource::Predicted => {
                let read;
                let catalog = match catalog {
                    Some(c) => Some(c),
                    None => match provider.catalog().await {
                        Ok(c) => {
                            read = c;
                            Some(&read)
                        }
                        Err(e) => {
                            warn!(tenant, error = %e, "cannot read the catalog; open warnings stay open");
                            None
                        }
                    },
                };
                if let Some(catalog) = catalog {
                    for w in &references {
                        if catalog_resolves(catalog, &w.warning) == Some(true) {
                            closed.push(Closed {
                                connector: w.connector.clone(),
                                warning: w.warning.clone(),
                                why: "the tenant's catalog holds the reference now".to_owned(),
                            });
                        }
                    }
                }
            }
            WarningSource::Platform => {
                let mut by_connector: BTreeMap<(&str, &str), Vec<&Warning>> = BTreeMap::new();
                for w in &references {
                    by_connector
                        .entry((&w.connector, &w.live_id))
                        .or_default()
                        .push(&w.warning);
                }
                for ((connector, live_id), open_here) in by_connector {
                    match provider.recheck(live_id).await {
                        Ok(result) => closed.extend(
                            open_here
                                .into_iter()
                                .filter(|w| !result.warnings.contains(w))
                                .map(|w| Closed {
                                    connector: connector.to_owned(),
                                    warning: w.clone(),
                                    why: "the platform's re-check no longer reports it".to_owned(),
                                }),
                        ),
                        Err(provider::Error::Unsupported { .. }) => break,
                        Err(e) => {
                            warn!(tenant, connector, error = %e, "re-checking warnings failed; they stay open")
                        }
                    }
                }
            }
        }
    }
    let mut vcs: BTreeMap<(&str, &str), Vec<&Warning>> = BTreeMap::new();
    for w in open
        .iter()
        .filter(|w| w.warning.kind == WarningKind::VcsCredentials)
    {
        vcs.entry((&w.connector, &w.live_id))
            .or_default()
            .push(&w.warning);
    }
    for ((connector, live_id), open_here) in vcs {
        match provider.vcs_authorised(live_id).await {
            Ok(true) => closed.extend(open_here.into_iter().map(|w| Closed {
                connector: connector.to_owned(),
                warning: w.clone(),
                why: "the connector's VCS is authorised".to_owned(),
            })),
            Ok(false) => {}
            Err(e) => {
                warn!(tenant, connector, error = %e, "cannot read the connector's VCS; its warning stays open")
            }
        }
    }
    if closed.is_empty() {
        return Ok(closed);
    }
    let (t, closing) = (tenant.to_owned(), closed.clone());
    store
        .call(move |c| {
            let tx = c.transaction()?;
            let mut by_connector: BTreeMap<String, Vec<Warning>> = BTreeMap::new();
            for c in closing {
                by_connector.entry(c.connector).or_default().push(c.warning);
            }
            for (connector, warnings) in by_connector {
                close(&tx, &t, &connector, &warnings)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
    for c in &closed {
        info!(tenant, connector = %c.connector, kind = %c.warning.kind, reference = %c.warning.reference, why = %c.why, "warning closed");
    }
    Ok(closed)
}

/// Close every open warning of `kind` on `connector` because a person says so (`ferry ack`,
/// the API). Runs in one transaction.
///
/// # Errors
/// [`Error::NothingOpen`] naming the connector's open warnings when none is of `kind`.
pub fn acknowledge(
    conn: &mut Connection,
    tenant: &str,
    connector: &str,
    kind: WarningKind,
) -> Result<Acknowledged, Error> {
    let tx = conn.transaction().map_err(store::Error::from)?;
    let open = warnings::for_connector(&tx, tenant, connector)?;
    let closing: Vec<Warning> = open
        .iter()
        .filter(|w| w.warning.kind == kind)
        .map(|w| w.warning.clone())
        .collect();
    if closing.is_empty() {
        return Err(Error::NothingOpen {
            tenant: tenant.to_owned(),
            connector: connector.to_owned(),
            kind,
            open: open
                .iter()
                .map(|w| format!("{} {:?}", w.warning.kind, w.warning.reference))
                .collect(),
        });
    }
    let released = close(&tx, tenant, connector, &closing)?;
    tx.commit().map_err(store::Error::from)?;
    info!(tenant, connector, %kind, closed = closing.len(), "warnings acknowledged");
    Ok(Acknowledged {
        remaining: open.len() - closing.len(),
        closed: closing,
        released,
    })
}

/// Close `closing` on `connector`; when none stays open, record the connector's applied
/// source hash as clean (promotion takes it). Returns whether it did.
fn close(
    conn: &Connection,
    tenant: &str,
    connector: &str,
    closing: &[Warning],
) -> store::Result<bool> {
    let open = warnings::for_connector(conn, tenant, connector)?;
    let Some(live_id) = open.first().map(|w| w.live_id.clone()) else {
        return Ok(false);
    };
    let remaining: Vec<Warning> = open
        .into_iter()
        .map(|w| w.warning)
        .filter(|w| !closing.contains(w))
        .collect();
    warnings::set(conn, tenant, connector, &live_id, &remaining)?;
    if !remaining.is_empty() {
        return Ok(false);
    }
    let row = inventory::list(conn, tenant)?
        .into_iter()
        .find(|r| r.connector == connector);
    match row {
        Some(row) => {
            clean::record(conn, tenant, &row.source_hash, connector, &row.revision)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ContentHash, Kind};
    use crate::store::InventoryRow;

    fn w(kind: WarningKind, reference: &str) -> Warning {
        Warning {
            kind,
            reference: reference.to_owned(),
        }
    }

    fn store_with(warnings_now: &[Warning]) -> Store {
        let store = Store::in_memory(&[]).unwrap();
        let row = InventoryRow {
            connector: "orders".into(),
            kind: Kind::SmartConnector,
            live_id: "sc_1".into(),
            name: "Orders".into(),
            applied_hash: ContentHash("a".repeat(64)),
            source_hash: ContentHash("s".repeat(64)),
            live_version: 1,
            revision: "rev1".into(),
            created_by_ferry: true,
        };
        let ws = warnings_now.to_vec();
        store
            .call_blocking(move |c| {
                inventory::upsert(c, "prod", &row)?;
                warnings::set(c, "prod", "orders", "sc_1", &ws)
            })
            .unwrap();
        store
    }

    #[test]
    fn acknowledging_the_last_kind_releases_promotion() {
        let store = store_with(&[
            w(WarningKind::AgenticWorkflow, "Lead Router"),
            w(WarningKind::FieldReference, "contacts.fax"),
        ]);
        let first = store
            .call_blocking(|c| {
                acknowledge(c, "prod", "orders", WarningKind::FieldReference)
                    .map_err(|e| store::Error::Task(e.to_string()))
            })
            .unwrap();
        assert_eq!(
            first.closed,
            vec![w(WarningKind::FieldReference, "contacts.fax")]
        );
        assert_eq!(first.remaining, 1);
        assert!(!first.released);
        assert!(
            store
                .call_blocking(|c| clean::hashes(c, "prod"))
                .unwrap()
                .is_empty()
        );
        let second = store
            .call_blocking(|c| {
                acknowledge(c, "prod", "orders", WarningKind::AgenticWorkflow)
                    .map_err(|e| store::Error::Task(e.to_string()))
            })
            .unwrap();
        assert!(second.released);
        assert!(
            store
                .call_blocking(|c| clean::hashes(c, "prod"))
                .unwrap()
                .contains(&ContentHash("s".repeat(64)))
        );
    }

    #[test]
    fn acknowledging_a_kind_that_is_not_open_names_what_is() {
        let store = store_with(&[w(WarningKind::AgenticWorkflow, "Lead Router")]);
        let err = store
            .call_blocking(|c| {
                Ok(acknowledge(c, "prod", "orders", WarningKind::VcsCredentials).unwrap_err())
            })
            .unwrap();
        assert_eq!(
            err.to_string(),
            "tenant prod: connector orders has no open vcs-credentials warning; its open warnings: agentic-workflow \"Lead Router\""
        );
        let none = store
            .call_blocking(|c| {
                Ok(acknowledge(c, "prod", "invoices", WarningKind::VcsCredentials).unwrap_err())
            })
            .unwrap();
        assert!(none.to_string().contains("it has none open"), "{none}");
    }

    #[test]
    fn the_catalog_resolves_only_reference_kinds() {
        let catalog = Catalog {
            agentic_workflows: vec!["Lead Router".into()],
            filter_groups: vec!["EU Leads".into()],
            fields: vec!["contacts.email".into()],
            ..Catalog::default()
        };
        let r = |k, s| catalog_resolves(&catalog, &w(k, s));
        assert_eq!(r(WarningKind::AgenticWorkflow, "Lead Router"), Some(true));
        assert_eq!(r(WarningKind::AgenticWorkflow, "EU Leads"), Some(false));
        assert_eq!(r(WarningKind::SeedingFilterGroup, "EU Leads"), Some(true));
        assert_eq!(r(WarningKind::FieldReference, "contacts.fax"), Some(false));
        assert_eq!(r(WarningKind::VcsCredentials, "set VCS credentials"), None);
    }
}
