//! The state store: one SQLite file per ferry replica.
//!
//! It owns, per tenant: the inventory (`metadata.name` ↔ live id, applied content hash,
//! revision), the content ferry applied (what a drift is compared against), the source
//! hashes applied cleanly (what promotion reads), the history of reconciles, the open
//! import warnings, the revision and drift bookkeeping (with each drift's fields and diff
//! and the live names last seen), whether a person suspended the tenant, and the journal
//! that apply writes *before* every mutating call so a crash can be resolved on the next
//! start.
//! Other modules add tables through named migrations (see [`Store::open_with`]).
//!
//! All access goes through [`Store::call`], which runs the closure on the blocking pool:
//! SQLite never runs on an async worker. The store holds no secrets: nothing that reaches
//! it (names, ids, hashes, messages) is a credential.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::model::{Body, ContentHash, Kind, Warning, WarningKind};

/// Errors of the state store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database file could not be opened or created.
    #[error(
        "cannot open the state store {path}: {source}. Check that the directory is writable, or pass another path with --state"
    )]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The directory of the database could not be created.
    #[error("cannot create the state directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A migration failed.
    #[error("state store migration {name} failed: {source}")]
    Migration {
        /// The migration's name.
        name: String,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// A query failed.
    #[error("state store query failed: {0}")]
    Query(#[from] rusqlite::Error),
    /// A stored value could not be decoded.
    #[error("state store holds an unreadable value in {table}: {message}")]
    Decode {
        /// The table.
        table: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The blocking task running the query panicked or was cancelled.
    #[error("state store task failed: {0}")]
    Task(String),
}

/// Result alias of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A named schema migration. Names are unique across ferry; each runs once, in order.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Unique name, e.g. `store-0001-init`.
    pub name: &'static str,
    /// SQL run in one transaction.
    pub sql: &'static str,
}

/// The store's own migrations.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "store-0001-init",
        sql: r#"
CREATE TABLE inventory (
    tenant            TEXT NOT NULL,
    connector         TEXT NOT NULL,
    kind              TEXT NOT NULL,
    live_id           TEXT NOT NULL,
    name              TEXT NOT NULL,
    applied_hash      TEXT NOT NULL,
    source_hash       TEXT NOT NULL,
    live_version      INTEGER NOT NULL,
    revision          TEXT NOT NULL,
    created_by_ferry  INTEGER NOT NULL,
    updated_at        TEXT NOT NULL,
    PRIMARY KEY (tenant, connector)
);
CREATE TABLE clean_sources (
    tenant       TEXT NOT NULL,
    source_hash  TEXT NOT NULL,
    connector    TEXT NOT NULL,
    revision     TEXT NOT NULL,
    applied_at   TEXT NOT NULL,
    PRIMARY KEY (tenant, source_hash)
);
CREATE TABLE history (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant       TEXT NOT NULL,
    revision     TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    summary      TEXT NOT NULL,
    detail       TEXT NOT NULL
);
CREATE INDEX history_tenant ON history (tenant, id);
CREATE TABLE warnings (
    tenant     TEXT NOT NULL,
    connector  TEXT NOT NULL,
    live_id    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    reference  TEXT NOT NULL,
    opened_at  TEXT NOT NULL,
    PRIMARY KEY (tenant, connector, kind, reference)
);
CREATE TABLE tenant_state (
    tenant            TEXT PRIMARY KEY,
    applied_revision  TEXT,
    seen_revision     TEXT,
    drift             TEXT NOT NULL DEFAULT '[]',
    last_error        TEXT,
    updated_at        TEXT NOT NULL
);
CREATE TABLE journal (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant      TEXT NOT NULL,
    connector   TEXT NOT NULL,
    operation   TEXT NOT NULL,
    step        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    resolved    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX journal_open ON journal (tenant, resolved);
"#,
    },
    Migration {
        name: "store-0002-drift-live-suspension",
        sql: r#"
ALTER TABLE tenant_state ADD COLUMN drift_detail TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tenant_state ADD COLUMN live_seen TEXT NOT NULL DEFAULT '{}';
CREATE TABLE applied_bodies (
    tenant     TEXT NOT NULL,
    connector  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (tenant, connector)
);
CREATE TABLE suspensions (
    tenant  TEXT PRIMARY KEY,
    since   TEXT NOT NULL,
    reason  TEXT
);
"#,
    },
];

/// The SQLite state store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Open (creating it and its directory if needed) the store at `path` and run every
    /// migration ferry has: the store's own, then the status outbox's.
    pub fn open(path: &Path) -> Result<Store> {
        Self::open_with(path, &[])
    }

    /// Open the store and run the store's migrations followed by `extra` (tables other
    /// modules own, such as the status outbox).
    pub fn open_with(path: &Path, extra: &[Migration]) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| Error::Open {
            path: path.to_path_buf(),
            source,
        })?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let store = Store {
            conn: Arc::new(Mutex::new(conn)),
            path: Some(path.to_path_buf()),
        };
        store.migrate(extra)?;
        Ok(store)
    }

    /// An in-memory store (tests, `plan` without a state file).
    pub fn in_memory(extra: &[Migration]) -> Result<Store> {
        let conn = Connection::open_in_memory()?;
        let store = Store {
            conn: Arc::new(Mutex::new(conn)),
            path: None,
        };
        store.migrate(extra)?;
        Ok(store)
    }

    /// The shared connection, for modules that keep their own tables in the store (the
    /// status outbox). Lock it only off the async runtime.
    pub fn connection(&self) -> Arc<Mutex<Connection>> {
        self.conn.clone()
    }

    /// The file behind the store, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn migrate(&self, extra: &[Migration]) -> Result<()> {
        let mut conn = self.lock();
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)",
        )?;
        let report = crate::report::MIGRATIONS
            .iter()
            .enumerate()
            .map(|(i, sql)| (format!("report-{:04}", i + 1), *sql));
        let all = MIGRATIONS
            .iter()
            .map(|m| (m.name.to_owned(), m.sql))
            .chain(report)
            .chain(extra.iter().map(|m| (m.name.to_owned(), m.sql)));
        for (name, sql) in all {
            let done: bool = conn
                .query_row(
                    "SELECT 1 FROM schema_migrations WHERE name = ?1",
                    [&name],
                    |_| Ok(true),
                )
                .optional()?
                .unwrap_or(false);
            if done {
                continue;
            }
            let tx = conn.transaction()?;
            tx.execute_batch(sql).map_err(|source| Error::Migration {
                name: name.clone(),
                source,
            })?;
            tx.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?1, ?2)",
                params![name, now()],
            )?;
            tx.commit()?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back),
        // so a poisoned lock is safe to keep using.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Run `f` with the connection on the blocking pool.
    pub async fn call<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = store.lock();
            f(&mut conn)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?
    }

    /// Run `f` with the connection on the current thread (for synchronous callers that
    /// are already off the async runtime, and for tests).
    pub fn call_blocking<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut Connection) -> Result<R>,
    {
        let mut conn = self.lock();
        f(&mut conn)
    }
}

/// The current time as RFC 3339 (UTC, milliseconds).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// One inventory row: what ferry recorded when it last applied or adopted a connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryRow {
    /// `metadata.name`.
    pub connector: String,
    /// Manifest kind.
    pub kind: Kind,
    /// The platform's id.
    pub live_id: String,
    /// Tenant-side name at apply time.
    pub name: String,
    /// Hash of the body applied.
    pub applied_hash: ContentHash,
    /// Tenant-independent hash of the manifest applied.
    pub source_hash: ContentHash,
    /// The live `version` right after ferry's last write or read.
    pub live_version: u64,
    /// Revision applied.
    pub revision: String,
    /// Whether ferry created the object (only those may ever be pruned).
    pub created_by_ferry: bool,
}

#[cfg(test)]
impl InventoryRow {
    /// A row ferry created for `connector`, live as `live-<connector>` at version 1.
    pub(crate) fn test(connector: &str) -> Self {
        InventoryRow {
            connector: connector.to_owned(),
            kind: Kind::SmartConnector,
            live_id: format!("live-{connector}"),
            name: connector.to_uppercase(),
            applied_hash: ContentHash("a".repeat(64)),
            source_hash: ContentHash("b".repeat(64)),
            live_version: 1,
            revision: "d".repeat(40),
            created_by_ferry: true,
        }
    }
}

fn kind_from_str(s: &str) -> Result<Kind> {
    Kind::parse(s).ok_or_else(|| Error::Decode {
        table: "inventory",
        message: format!("unknown kind {s:?}"),
    })
}

/// Inventory queries.
pub mod inventory {
    use super::*;

    /// Every inventory row of a tenant, ordered by connector.
    pub fn list(conn: &Connection, tenant: &str) -> Result<Vec<InventoryRow>> {
        let mut stmt = conn.prepare_cached(
            "SELECT connector, kind, live_id, name, applied_hash, source_hash, live_version, revision, created_by_ferry
             FROM inventory WHERE tenant = ?1 ORDER BY connector",
        )?;
        let rows = stmt.query_map([tenant], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, bool>(8)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (connector, kind, live_id, name, applied, source, version, revision, created) =
                row?;
            out.push(InventoryRow {
                connector,
                kind: kind_from_str(&kind)?,
                live_id,
                name,
                applied_hash: ContentHash(applied),
                source_hash: ContentHash(source),
                live_version: u64::try_from(version).unwrap_or_default(),
                revision,
                created_by_ferry: created,
            });
        }
        Ok(out)
    }

    /// Insert or replace a row.
    pub fn upsert(conn: &Connection, tenant: &str, row: &InventoryRow) -> Result<()> {
        // Called once per connector of an apply: prepared once per connection.
        conn.prepare_cached(
            "INSERT INTO inventory (tenant, connector, kind, live_id, name, applied_hash, source_hash, live_version, revision, created_by_ferry, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (tenant, connector) DO UPDATE SET kind = excluded.kind, live_id = excluded.live_id,
               name = excluded.name, applied_hash = excluded.applied_hash, source_hash = excluded.source_hash,
               live_version = excluded.live_version, revision = excluded.revision,
               created_by_ferry = excluded.created_by_ferry, updated_at = excluded.updated_at",
        )?
        .execute(params![
            tenant,
            row.connector,
            row.kind.as_str(),
            row.live_id,
            row.name,
            row.applied_hash.0,
            row.source_hash.0,
            i64::try_from(row.live_version).unwrap_or(i64::MAX),
            row.revision,
            row.created_by_ferry,
            now()
        ])?;
        Ok(())
    }

    /// Record the live version ferry has now seen for a connector (after a read that
    /// showed no drift, so the next no-op reconcile needs no export).
    pub fn set_version(
        conn: &Connection,
        tenant: &str,
        connector: &str,
        version: u64,
    ) -> Result<()> {
        conn.execute(
            "UPDATE inventory SET live_version = ?3, updated_at = ?4 WHERE tenant = ?1 AND connector = ?2",
            params![tenant, connector, i64::try_from(version).unwrap_or(i64::MAX), now()],
        )?;
        Ok(())
    }

    /// Remove a row (after a prune).
    pub fn remove(conn: &Connection, tenant: &str, connector: &str) -> Result<()> {
        conn.execute(
            "DELETE FROM inventory WHERE tenant = ?1 AND connector = ?2",
            params![tenant, connector],
        )?;
        Ok(())
    }
}

/// Source hashes applied cleanly per tenant (read by promotion).
pub mod clean {
    use super::*;

    /// Record that `source_hash` was applied without failure in `tenant`.
    pub fn record(
        conn: &Connection,
        tenant: &str,
        source_hash: &ContentHash,
        connector: &str,
        revision: &str,
    ) -> Result<()> {
        // Called once per connector of an apply: prepared once per connection.
        conn.prepare_cached(
            "INSERT OR REPLACE INTO clean_sources (tenant, source_hash, connector, revision, applied_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![tenant, source_hash.0, connector, revision, now()])?;
        Ok(())
    }

    /// Every source hash applied cleanly in `tenant`.
    pub fn hashes(
        conn: &Connection,
        tenant: &str,
    ) -> Result<std::collections::HashSet<ContentHash>> {
        let mut stmt =
            conn.prepare_cached("SELECT source_hash FROM clean_sources WHERE tenant = ?1")?;
        let rows = stmt.query_map([tenant], |r| r.get::<_, String>(0))?;
        rows.map(|r| r.map(ContentHash).map_err(Error::from))
            .collect()
    }
}

/// Open import warnings.
pub mod warnings {
    use super::*;

    /// An open warning of one connector.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct OpenWarning {
        /// `metadata.name`.
        pub connector: String,
        /// The live id it was reported on.
        pub live_id: String,
        /// The warning.
        pub warning: Warning,
        /// When ferry first saw it.
        pub opened_at: String,
    }

    /// Replace the open warnings of a connector with `current` (empty closes them all),
    /// keeping the opening time of warnings still present.
    pub fn set(
        conn: &Connection,
        tenant: &str,
        connector: &str,
        live_id: &str,
        current: &[Warning],
    ) -> Result<()> {
        let existing = for_connector(conn, tenant, connector)?;
        conn.execute(
            "DELETE FROM warnings WHERE tenant = ?1 AND connector = ?2",
            params![tenant, connector],
        )?;
        for w in current {
            let opened = existing
                .iter()
                .find(|e| &e.warning == w)
                .map(|e| e.opened_at.clone())
                .unwrap_or_else(now);
            conn.execute(
                "INSERT OR IGNORE INTO warnings (tenant, connector, live_id, kind, reference, opened_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![tenant, connector, live_id, w.kind.as_str(), w.reference, opened],
            )?;
        }
        Ok(())
    }

    fn decode(kind: &str) -> Result<WarningKind> {
        serde_json::from_value(serde_json::Value::String(kind.to_owned())).map_err(|e| {
            Error::Decode {
                table: "warnings",
                message: e.to_string(),
            }
        })
    }

    fn query(
        conn: &Connection,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<OpenWarning>> {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(args, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (connector, live_id, kind, reference, opened_at) = row?;
            out.push(OpenWarning {
                connector,
                live_id,
                warning: Warning {
                    kind: decode(&kind)?,
                    reference,
                },
                opened_at,
            });
        }
        Ok(out)
    }

    /// Open warnings of one connector.
    pub fn for_connector(
        conn: &Connection,
        tenant: &str,
        connector: &str,
    ) -> Result<Vec<OpenWarning>> {
        query(
            conn,
            "SELECT connector, live_id, kind, reference, opened_at FROM warnings WHERE tenant = ?1 AND connector = ?2 ORDER BY kind, reference",
            &[&tenant, &connector],
        )
    }

    /// How many warnings of a tenant are open.
    pub fn count(conn: &Connection, tenant: &str) -> Result<u64> {
        let n: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM warnings WHERE tenant = ?1")?
            .query_row([tenant], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// Open warnings of a tenant.
    pub fn for_tenant(conn: &Connection, tenant: &str) -> Result<Vec<OpenWarning>> {
        query(
            conn,
            "SELECT connector, live_id, kind, reference, opened_at FROM warnings WHERE tenant = ?1 ORDER BY connector, kind, reference",
            &[&tenant],
        )
    }
}

/// Per-tenant revision, drift and error bookkeeping.
pub mod tenant {
    use super::*;

    /// What ferry knows of a tenant between reconciles.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct TenantState {
        /// Last revision applied without failed actions.
        pub applied_revision: Option<String>,
        /// Last revision reconciled (whatever the outcome).
        pub seen_revision: Option<String>,
        /// Connectors found drifted at the last check.
        pub drift: Vec<String>,
        /// The same drift with its fields and diffs.
        pub drift_detail: Vec<crate::drift::DriftRecord>,
        /// The live id and name of each connector (`metadata.name`) at the last check.
        pub live_seen: BTreeMap<String, LiveSeen>,
        /// The last error that stopped a reconcile, if the latest one failed.
        pub last_error: Option<String>,
        /// When this row last changed.
        pub updated_at: Option<String>,
    }

    /// A connector as the tenant's list showed it.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct LiveSeen {
        /// The platform's id.
        pub live_id: String,
        /// Its name in the tenant.
        pub name: String,
    }

    fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
        serde_json::from_str(text).map_err(|e| Error::Decode {
            table: "tenant_state",
            message: e.to_string(),
        })
    }

    /// Read a tenant's state (default when never reconciled).
    pub fn get(conn: &Connection, tenant: &str) -> Result<TenantState> {
        let row = conn
            .query_row(
                "SELECT applied_revision, seen_revision, drift, last_error, updated_at, drift_detail, live_seen FROM tenant_state WHERE tenant = ?1",
                [tenant],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                },
            )
            .optional()?;
        let Some((applied, seen, drift, last_error, updated, detail, live)) = row else {
            return Ok(TenantState::default());
        };
        Ok(TenantState {
            applied_revision: applied,
            seen_revision: seen,
            drift: decode(&drift)?,
            drift_detail: decode(&detail)?,
            live_seen: decode(&live)?,
            last_error,
            updated_at: Some(updated),
        })
    }

    /// Write a tenant's state.
    pub fn put(conn: &Connection, tenant: &str, state: &TenantState) -> Result<()> {
        let drift = serde_json::to_string(&state.drift).unwrap_or_else(|_| "[]".to_owned());
        let detail = serde_json::to_string(&state.drift_detail).unwrap_or_else(|_| "[]".to_owned());
        let live = serde_json::to_string(&state.live_seen).unwrap_or_else(|_| "{}".to_owned());
        conn.execute(
            "INSERT INTO tenant_state (tenant, applied_revision, seen_revision, drift, last_error, updated_at, drift_detail, live_seen)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (tenant) DO UPDATE SET applied_revision = excluded.applied_revision,
               seen_revision = excluded.seen_revision, drift = excluded.drift,
               last_error = excluded.last_error, updated_at = excluded.updated_at,
               drift_detail = excluded.drift_detail, live_seen = excluded.live_seen",
            params![tenant, state.applied_revision, state.seen_revision, drift, state.last_error, now(), detail, live],
        )?;
        Ok(())
    }
}

/// The content ferry applied per connector: what a drift is compared against, so the
/// diff of a drift shows what a person changed even after git moved on.
pub mod applied {
    use super::*;

    /// The bodies ferry applied to `connectors` of `tenant`, with their hashes. The plan
    /// asks only for the connectors it exported: only those can show a drift.
    pub fn of(
        conn: &Connection,
        tenant: &str,
        connectors: &[String],
    ) -> Result<BTreeMap<String, (ContentHash, Body)>> {
        let mut stmt = conn.prepare_cached(
            "SELECT hash, body FROM applied_bodies WHERE tenant = ?1 AND connector = ?2",
        )?;
        let mut out = BTreeMap::new();
        for connector in connectors {
            let row = stmt
                .query_row(params![tenant, connector], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .optional()?;
            // A body this version cannot read is left out: the drift then shows no diff.
            if let Some((hash, body)) = row
                && let Ok(body) = serde_json::from_str::<Body>(&body)
            {
                out.insert(connector.clone(), (ContentHash(hash), body));
            }
        }
        Ok(out)
    }

    /// Record `body` (whose hash is `hash`) as applied to `connector`, when the inventory
    /// says ferry applied exactly that content there. Returns whether it was recorded.
    pub fn record(
        conn: &Connection,
        tenant: &str,
        connector: &str,
        hash: &ContentHash,
        body: &Body,
    ) -> Result<bool> {
        let applied: Option<String> = conn
            .query_row(
                "SELECT applied_hash FROM inventory WHERE tenant = ?1 AND connector = ?2",
                params![tenant, connector],
                |r| r.get(0),
            )
            .optional()?;
        if applied.as_deref() != Some(hash.0.as_str()) {
            return Ok(false);
        }
        let text = serde_json::to_string(body).map_err(|e| Error::Decode {
            table: "applied_bodies",
            message: e.to_string(),
        })?;
        conn.execute(
            "INSERT INTO applied_bodies (tenant, connector, hash, body) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (tenant, connector) DO UPDATE SET hash = excluded.hash, body = excluded.body",
            params![tenant, connector, hash.0, text],
        )?;
        Ok(true)
    }

    /// Forget the bodies of connectors the inventory no longer holds (pruned).
    pub fn forget_unmanaged(conn: &Connection, tenant: &str) -> Result<usize> {
        Ok(conn.execute(
            "DELETE FROM applied_bodies WHERE tenant = ?1
             AND connector NOT IN (SELECT connector FROM inventory WHERE tenant = ?1)",
            [tenant],
        )?)
    }
}

/// Tenants a person suspended: `ferry serve` plans and drift-checks them but applies
/// nothing until they are resumed. Kept across restarts.
pub mod suspension {
    use super::*;

    /// A suspension.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Suspension {
        /// When it began (RFC 3339).
        pub since: String,
        /// Why, in the words of whoever suspended it.
        pub reason: Option<String>,
    }

    /// The tenant's suspension, if any.
    pub fn get(conn: &Connection, tenant: &str) -> Result<Option<Suspension>> {
        Ok(conn
            .query_row(
                "SELECT since, reason FROM suspensions WHERE tenant = ?1",
                [tenant],
                |r| {
                    Ok(Suspension {
                        since: r.get(0)?,
                        reason: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    /// Suspend `tenant` (a tenant already suspended keeps its start, and takes the new
    /// reason when one is given). Returns the suspension in force.
    pub fn suspend(conn: &Connection, tenant: &str, reason: Option<&str>) -> Result<Suspension> {
        conn.execute(
            "INSERT INTO suspensions (tenant, since, reason) VALUES (?1, ?2, ?3)
             ON CONFLICT (tenant) DO UPDATE SET reason = coalesce(excluded.reason, reason)",
            params![tenant, now(), reason],
        )?;
        get(conn, tenant)?.ok_or_else(|| Error::Decode {
            table: "suspensions",
            message: format!("{tenant} was not recorded"),
        })
    }

    /// Resume `tenant`; the suspension it had, if any.
    pub fn resume(conn: &Connection, tenant: &str) -> Result<Option<Suspension>> {
        let was = get(conn, tenant)?;
        conn.execute("DELETE FROM suspensions WHERE tenant = ?1", [tenant])?;
        Ok(was)
    }
}

/// History of reconciles.
pub mod history {
    use super::*;

    /// One finished reconcile of one tenant.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Entry {
        /// Row id.
        pub id: i64,
        /// Revision reconciled.
        pub revision: String,
        /// Start time.
        pub started_at: String,
        /// End time.
        pub finished_at: String,
        /// `applied`, `warning`, `failed`, `noop`, `error`, `blocked`.
        pub outcome: String,
        /// One line for people.
        pub summary: String,
        /// Machine-readable detail (JSON).
        pub detail: serde_json::Value,
    }

    /// How many entries a tenant keeps: the oldest beyond it are deleted as new ones
    /// come, so a daemon checking drift every minute does not grow its store for ever.
    pub const KEPT: u32 = 1000;

    /// Append an entry, deleting the tenant's entries older than its newest [`KEPT`];
    /// returns the new entry's id.
    pub fn append(conn: &Connection, tenant: &str, e: &Entry) -> Result<i64> {
        conn.execute(
            "INSERT INTO history (tenant, revision, started_at, finished_at, outcome, summary, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![tenant, e.revision, e.started_at, e.finished_at, e.outcome, e.summary, e.detail.to_string()],
        )?;
        let id = conn.last_insert_rowid();
        conn.execute(
            "DELETE FROM history WHERE tenant = ?1 AND id <= (SELECT id FROM history WHERE tenant = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            params![tenant, KEPT],
        )?;
        Ok(id)
    }

    /// The newest `limit` entries of a tenant, newest first.
    pub fn recent(conn: &Connection, tenant: &str, limit: u32) -> Result<Vec<Entry>> {
        let mut stmt = conn.prepare_cached(
            "SELECT id, revision, started_at, finished_at, outcome, summary, detail FROM history WHERE tenant = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![tenant, limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, revision, started_at, finished_at, outcome, summary, detail) = row?;
            out.push(Entry {
                id,
                revision,
                started_at,
                finished_at,
                outcome,
                summary,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
            });
        }
        Ok(out)
    }
}

/// The apply journal: written before every mutating call, resolved after a crash.
pub mod journal {
    use super::*;

    /// One journaled operation.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Entry {
        /// Row id.
        pub id: i64,
        /// Tenant.
        pub tenant: String,
        /// `metadata.name`.
        pub connector: String,
        /// `create`, `duplicate`, `replace`, `rename`, `prune`.
        pub operation: String,
        /// How far the operation got (set before each call).
        pub step: String,
        /// What recovery needs (names, ids, hashes), as JSON.
        pub payload: serde_json::Value,
    }

    /// Journal an operation before its first call; returns the entry id.
    pub fn begin(
        conn: &Connection,
        tenant: &str,
        connector: &str,
        operation: &str,
        step: &str,
        payload: &serde_json::Value,
    ) -> Result<i64> {
        conn.execute(
            "INSERT INTO journal (tenant, connector, operation, step, payload, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![tenant, connector, operation, step, payload.to_string(), now()],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Record the next step (and updated payload) before making its call.
    pub fn step(conn: &Connection, id: i64, step: &str, payload: &serde_json::Value) -> Result<()> {
        conn.execute(
            "UPDATE journal SET step = ?2, payload = ?3 WHERE id = ?1",
            params![id, step, payload.to_string()],
        )?;
        Ok(())
    }

    /// Record that the call of an entry failed with an unknown outcome (no answer, a
    /// timeout, an unreadable answer, a 5xx to a create): `payload.unknown` holds why. The
    /// entry stays open until the tenant has been read.
    pub fn mark_unknown(conn: &Connection, id: i64, reason: &str) -> Result<()> {
        conn.execute(
            "UPDATE journal SET payload = json_set(payload, '$.unknown', ?2) WHERE id = ?1",
            params![id, reason],
        )?;
        Ok(())
    }

    /// Mark an entry resolved (finished, rolled back or adopted).
    pub fn resolve(conn: &Connection, id: i64) -> Result<()> {
        conn.execute("UPDATE journal SET resolved = 1 WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Unresolved entries of a tenant, oldest first.
    pub fn open(conn: &Connection, tenant: &str) -> Result<Vec<Entry>> {
        let mut stmt = conn.prepare_cached(
            "SELECT id, tenant, connector, operation, step, payload FROM journal WHERE tenant = ?1 AND resolved = 0 ORDER BY id",
        )?;
        let rows = stmt.query_map([tenant], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, tenant, connector, operation, step, payload) = row?;
            out.push(Entry {
                id,
                tenant,
                connector,
                operation,
                step,
                payload: serde_json::from_str(&payload).map_err(|e| Error::Decode {
                    table: "journal",
                    message: e.to_string(),
                })?,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(connector: &str) -> InventoryRow {
        InventoryRow::test(connector)
    }

    #[test]
    fn migrations_run_once_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/state.db");
        let store = Store::open(&path).unwrap();
        store
            .call_blocking(|c| inventory::upsert(c, "sandbox", &row("orders")))
            .unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        let rows = store
            .call_blocking(|c| inventory::list(c, "sandbox"))
            .unwrap();
        assert_eq!(rows, vec![row("orders")]);
        let applied: i64 = store
            .call_blocking(|c| {
                Ok(c.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))?)
            })
            .unwrap();
        assert_eq!(
            applied,
            (MIGRATIONS.len() + crate::report::MIGRATIONS.len()) as i64
        );
    }

    #[test]
    fn inventory_is_per_tenant_and_upserts() {
        let store = Store::in_memory(&[]).unwrap();
        store
            .call_blocking(|c| {
                inventory::upsert(c, "sandbox", &row("orders"))?;
                inventory::upsert(c, "prod", &row("orders"))?;
                let mut changed = row("orders");
                changed.live_id = "id-new".into();
                inventory::upsert(c, "sandbox", &changed)?;
                inventory::set_version(c, "prod", "orders", 9)
            })
            .unwrap();
        let sandbox = store
            .call_blocking(|c| inventory::list(c, "sandbox"))
            .unwrap();
        let prod = store.call_blocking(|c| inventory::list(c, "prod")).unwrap();
        assert_eq!(sandbox.len(), 1);
        assert_eq!(sandbox[0].live_id, "id-new");
        assert_eq!(prod[0].live_version, 9);
    }

    #[test]
    fn warnings_keep_opening_time_and_close() {
        let store = Store::in_memory(&[]).unwrap();
        let w1 = Warning {
            kind: WarningKind::AgenticWorkflow,
            reference: "Lead Router".into(),
        };
        let w2 = Warning {
            kind: WarningKind::FieldReference,
            reference: "contacts.fax".into(),
        };
        store
            .call_blocking(|c| {
                warnings::set(c, "prod", "orders", "1", &[w1.clone(), w2.clone()])?;
                c.execute("UPDATE warnings SET opened_at = 'earlier'", [])?;
                warnings::set(c, "prod", "orders", "1", std::slice::from_ref(&w1))
            })
            .unwrap();
        let open = store
            .call_blocking(|c| warnings::for_tenant(c, "prod"))
            .unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].warning, w1);
        assert_eq!(open[0].opened_at, "earlier");
        let count = |tenant: &'static str| {
            store
                .call_blocking(move |c| warnings::count(c, tenant))
                .unwrap()
        };
        assert_eq!((count("prod"), count("sandbox")), (1, 0));
        store
            .call_blocking(|c| warnings::set(c, "prod", "orders", "1", &[]))
            .unwrap();
        assert!(
            store
                .call_blocking(|c| warnings::for_tenant(c, "prod"))
                .unwrap()
                .is_empty()
        );
        assert_eq!(count("prod"), 0);
    }

    #[test]
    fn journal_entries_stay_open_until_resolved() {
        let store = Store::in_memory(&[]).unwrap();
        let payload = serde_json::json!({"name": "Orders Sync"});
        let id = store
            .call_blocking(|c| journal::begin(c, "prod", "orders", "create", "import", &payload))
            .unwrap();
        let open = store.call_blocking(|c| journal::open(c, "prod")).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].payload, payload);
        store
            .call_blocking(|c| journal::step(c, id, "read-back", &payload))
            .unwrap();
        assert_eq!(
            store.call_blocking(|c| journal::open(c, "prod")).unwrap()[0].step,
            "read-back"
        );
        store.call_blocking(|c| journal::resolve(c, id)).unwrap();
        assert!(
            store
                .call_blocking(|c| journal::open(c, "prod"))
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .call_blocking(|c| journal::open(c, "sandbox"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn an_unknown_outcome_keeps_the_entry_open_with_its_payload() {
        let store = Store::in_memory(&[]).unwrap();
        let payload = serde_json::json!({"name": "Orders Sync", "hash": "h"});
        let id = store
            .call_blocking(|c| journal::begin(c, "prod", "orders", "create", "create", &payload))
            .unwrap();
        store
            .call_blocking(|c| journal::mark_unknown(c, id, "no answer"))
            .unwrap();
        let open = store.call_blocking(|c| journal::open(c, "prod")).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(
            open[0].payload,
            serde_json::json!({"name": "Orders Sync", "hash": "h", "unknown": "no answer"})
        );
    }

    #[test]
    fn extra_migrations_run_after_the_store_s_own() {
        const EXTRA: &[Migration] = &[Migration {
            name: "test-0001",
            sql: "CREATE TABLE extra_table (x INTEGER)",
        }];
        let store = Store::in_memory(EXTRA).unwrap();
        store
            .call_blocking(|c| Ok(c.execute("INSERT INTO extra_table (x) VALUES (1)", [])?))
            .unwrap();
    }

    #[test]
    fn suspensions_survive_a_reopen_and_keep_their_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = Store::open(&path).unwrap();
        let first = store
            .call_blocking(|c| suspension::suspend(c, "prod", Some("migration")))
            .unwrap();
        assert_eq!(first.reason.as_deref(), Some("migration"));
        let again = store
            .call_blocking(|c| suspension::suspend(c, "prod", None))
            .unwrap();
        assert_eq!(
            again, first,
            "suspending again keeps the start and the reason"
        );
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.call_blocking(|c| suspension::get(c, "prod")).unwrap(),
            Some(first.clone())
        );
        assert_eq!(
            store
                .call_blocking(|c| suspension::get(c, "sandbox"))
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .call_blocking(|c| suspension::resume(c, "prod"))
                .unwrap(),
            Some(first)
        );
        assert_eq!(
            store.call_blocking(|c| suspension::get(c, "prod")).unwrap(),
            None
        );
    }

    #[test]
    fn applied_bodies_are_kept_only_for_what_the_inventory_says_was_applied() {
        use crate::plan::testing::kizen;
        let store = Store::in_memory(&[]).unwrap();
        let d = kizen("orders").sql("select 1\n").build();
        let other = kizen("orders").sql("select 2\n").build();
        let mut r = row("orders");
        r.applied_hash = d.hash.clone();
        store
            .call_blocking(|c| inventory::upsert(c, "prod", &r))
            .unwrap();
        let recorded = store
            .call_blocking(|c| {
                Ok((
                    applied::record(c, "prod", "orders", &other.hash, &other.body)?,
                    applied::record(c, "prod", "orders", &d.hash, &d.body)?,
                    applied::record(c, "prod", "refunds", &d.hash, &d.body)?,
                ))
            })
            .unwrap();
        assert_eq!(recorded, (false, true, false));
        let asked = ["orders".to_owned(), "refunds".to_owned()];
        let kept = store
            .call_blocking(|c| applied::of(c, "prod", &asked))
            .unwrap();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(kept["orders"], (d.hash.clone(), (*d.body).clone()));
        store
            .call_blocking(|c| {
                inventory::remove(c, "prod", "orders")?;
                applied::forget_unmanaged(c, "prod")
            })
            .unwrap();
        assert!(
            store
                .call_blocking(|c| applied::of(c, "prod", &asked))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn history_keeps_the_newest_entries_of_each_tenant() {
        let store = Store::in_memory(&[]).unwrap();
        let entry = |n: u32| history::Entry {
            id: 0,
            revision: format!("r{n}"),
            started_at: String::new(),
            finished_at: String::new(),
            outcome: "noop".into(),
            summary: String::new(),
            detail: serde_json::json!({}),
        };
        let extra = 5;
        store
            .call_blocking(move |c| {
                history::append(c, "staging", &entry(0))?;
                for n in 0..history::KEPT + extra {
                    history::append(c, "prod", &entry(n))?;
                }
                Ok(())
            })
            .unwrap();
        let prod = store
            .call_blocking(|c| history::recent(c, "prod", history::KEPT * 2))
            .unwrap();
        assert_eq!(prod.len(), history::KEPT as usize);
        assert_eq!(prod[0].revision, format!("r{}", history::KEPT + extra - 1));
        assert_eq!(prod.last().unwrap().revision, format!("r{extra}"));
        let staging = store
            .call_blocking(|c| history::recent(c, "staging", 10))
            .unwrap();
        assert_eq!(staging.len(), 1, "another tenant's entries are kept");
    }

    #[test]
    fn drift_detail_and_live_names_round_trip() {
        let store = Store::in_memory(&[]).unwrap();
        let state = tenant::TenantState {
            drift: vec!["orders".into()],
            drift_detail: vec![crate::drift::DriftRecord {
                connector: "orders".into(),
                kind: Kind::SmartConnector,
                live_name: "Orders (edited)".into(),
                live_id: "7".into(),
                fields: vec!["name".into()],
                diff: Vec::new(),
            }],
            live_seen: BTreeMap::from([(
                "orders".to_owned(),
                tenant::LiveSeen {
                    live_id: "7".into(),
                    name: "Orders (edited)".into(),
                },
            )]),
            ..Default::default()
        };
        store
            .call_blocking(|c| tenant::put(c, "prod", &state))
            .unwrap();
        let read = store.call_blocking(|c| tenant::get(c, "prod")).unwrap();
        assert_eq!(read.drift_detail, state.drift_detail);
        assert_eq!(read.live_seen, state.live_seen);
    }

    #[test]
    fn clean_sources_are_per_tenant() {
        let store = Store::in_memory(&[]).unwrap();
        let h = ContentHash("c".repeat(64));
        store
            .call_blocking(|c| clean::record(c, "sandbox", &h, "orders", "abc"))
            .unwrap();
        assert!(
            store
                .call_blocking(|c| clean::hashes(c, "sandbox"))
                .unwrap()
                .contains(&h)
        );
        assert!(
            store
                .call_blocking(|c| clean::hashes(c, "prod"))
                .unwrap()
                .is_empty()
        );
    }
}
