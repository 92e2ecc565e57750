//! The outbox and the delivery record, two tables of the SQLite state store.
//!
//! `report_outbox` holds what is not delivered yet, one row per (reporter, commit,
//! context): a newer status replaces an undelivered older one. `report_delivered` holds
//! the last status each reporter delivered (or had refused) per (reporter, commit,
//! context), so the same status is never sent twice and no forge is asked what it holds.
//!
//! Notices ride in the same rows ([`Message::Notice`]): the receiver's id as reporter, the
//! notice's key as context, `notice` (or `heartbeat`) as state, its summary as
//! description and its rendered body in `payload`. A receiver's notices leave in the order
//! they were made: a new one is never due before an older one still waiting, and an older
//! one put off pushes the younger ones back with it.
//!
//! The functions here are plain SQL over a `&Connection`; [`OutboxDb`] runs them on the
//! blocking pool. The state store applies [`MIGRATIONS`] with its own runner; the
//! statements are idempotent so [`OutboxDb::open`] may apply them too. This module does not
//! talk to forges and does not decide when to retry (see `delivery.rs`).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::error::{ReportError, Result};
use super::notice::{HEARTBEAT_STATE, NOTICE_STATE, Notice};
use super::status::{CommitStatus, StatusState};

/// The reporting layer's schema, applied in order by the state store's migration runner.
/// Every statement is idempotent.
pub const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS report_outbox (
        reporter TEXT NOT NULL,
        sha TEXT NOT NULL,
        context TEXT NOT NULL,
        state TEXT NOT NULL,
        warnings INTEGER NOT NULL,
        description TEXT NOT NULL,
        target_url TEXT,
        version INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        due_at_ms INTEGER NOT NULL,
        created_at_ms INTEGER NOT NULL,
        last_error TEXT,
        PRIMARY KEY (reporter, sha, context)
    )",
    "CREATE INDEX IF NOT EXISTS report_outbox_due ON report_outbox (due_at_ms)",
    "CREATE TABLE IF NOT EXISTS report_delivered (
        reporter TEXT NOT NULL,
        sha TEXT NOT NULL,
        context TEXT NOT NULL,
        state TEXT NOT NULL,
        warnings INTEGER NOT NULL,
        description TEXT NOT NULL,
        target_url TEXT,
        outcome TEXT NOT NULL,
        http_status INTEGER,
        recorded_at_ms INTEGER NOT NULL,
        PRIMARY KEY (reporter, sha, context)
    )",
    "CREATE INDEX IF NOT EXISTS report_delivered_recorded ON report_delivered (recorded_at_ms)",
    // The rendered body of a notice; NULL for commit statuses.
    "ALTER TABLE report_outbox ADD COLUMN payload TEXT",
];

/// Which status slot a row is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct OutboxKey {
    /// [`crate::report::Reporter::id`].
    pub(crate) reporter: String,
    /// The commit.
    pub(crate) sha: String,
    /// The status context.
    pub(crate) context: String,
}

/// What waits in the outbox: a commit status for a forge, or a notice for a receiver.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Message {
    /// A commit status.
    Status(CommitStatus),
    /// A notification.
    Notice(Notice),
}

impl Message {
    fn state(&self) -> &str {
        match self {
            Message::Status(s) => s.state.as_str(),
            Message::Notice(n) => n.state(),
        }
    }

    fn warnings(&self) -> i64 {
        match self {
            Message::Status(s) => i64::from(s.warnings),
            Message::Notice(_) => 0,
        }
    }

    fn description(&self) -> &str {
        match self {
            Message::Status(s) => &s.description,
            Message::Notice(n) => &n.summary,
        }
    }

    fn target_url(&self) -> Option<&str> {
        match self {
            Message::Status(s) => s.target_url.as_deref(),
            Message::Notice(_) => None,
        }
    }

    fn payload(&self) -> Option<&str> {
        match self {
            Message::Status(_) => None,
            Message::Notice(n) => Some(&n.body),
        }
    }

    fn is_notice(&self) -> bool {
        matches!(self, Message::Notice(_))
    }
}

/// An undelivered status or notice.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutboxItem {
    pub(crate) key: OutboxKey,
    pub(crate) message: Message,
    /// Bumped each time a newer status replaces this row's.
    pub(crate) version: i64,
    /// Failed attempts so far for this version.
    pub(crate) attempts: u32,
    /// Not to be tried before this Unix time in milliseconds.
    pub(crate) due_at_ms: i64,
}

/// What [`enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enqueued {
    /// The reporter already shows (or refused) exactly this status: nothing to send.
    Unchanged,
    /// The status waits in the outbox, first due at this time.
    Queued { due_at_ms: i64 },
}

/// How an attempt ended, for the delivery record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The forge took the status.
    Delivered,
    /// The forge refused it for good (with its HTTP status when there was one).
    Rejected(Option<u16>),
}

/// Apply [`MIGRATIONS`] (idempotent: a column an earlier run added is not added again).
pub(crate) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    for statement in MIGRATIONS {
        if let Some((table, column)) = added_column(statement) {
            let exists: bool = conn
                .query_row(
                    "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2",
                    params![table, column],
                    |_| Ok(true),
                )
                .optional()?
                .unwrap_or(false);
            if exists {
                continue;
            }
        }
        conn.execute_batch(statement)?;
    }
    Ok(())
}

/// `(table, column)` of an `ALTER TABLE <table> ADD COLUMN <column> …` statement.
fn added_column(statement: &str) -> Option<(&str, &str)> {
    let rest = statement.strip_prefix("ALTER TABLE ")?;
    let (table, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix("ADD COLUMN ")?;
    Some((table, rest.split(' ').next()?))
}

fn same_message(
    message: &Message,
    state: &str,
    warnings: i64,
    description: &str,
    target_url: &Option<String>,
) -> bool {
    message.state() == state
        && message.warnings() == warnings
        && message.description() == description
        && message.target_url() == target_url.as_deref()
}

/// Record `message` for delivery unless the reporter already shows it. A different
/// message waiting for the same slot is replaced (new version, attempts reset, due now);
/// the same message waiting keeps its schedule. A notice is never due before the
/// receiver's older notices still waiting.
pub(crate) fn enqueue(
    conn: &Connection,
    key: &OutboxKey,
    message: &Message,
    now_ms: i64,
) -> rusqlite::Result<Enqueued> {
    if !conn.is_autocommit() {
        // Part of the caller's transaction (the notify room records a notice together
        // with the condition it announces).
        return enqueue_in(conn, key, message, now_ms);
    }
    let tx = conn.unchecked_transaction()?;
    let enqueued = enqueue_in(&tx, key, message, now_ms)?;
    tx.commit()?;
    Ok(enqueued)
}

/// [`enqueue`]'s statements, in a transaction the caller holds.
fn enqueue_in(
    conn: &Connection,
    key: &OutboxKey,
    message: &Message,
    now_ms: i64,
) -> rusqlite::Result<Enqueued> {
    let delivered: Option<(String, i64, String, Option<String>)> = conn
        .query_row(
            "SELECT state, warnings, description, target_url FROM report_delivered
             WHERE reporter = ?1 AND sha = ?2 AND context = ?3",
            params![key.reporter, key.sha, key.context],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    if let Some((state, warnings, description, target_url)) = &delivered
        && same_message(message, state, *warnings, description, target_url)
    {
        // Whatever older status still waits is superseded by one the reporter shows.
        conn.execute(
            "DELETE FROM report_outbox WHERE reporter = ?1 AND sha = ?2 AND context = ?3",
            params![key.reporter, key.sha, key.context],
        )?;
        return Ok(Enqueued::Unchanged);
    }
    let waiting: Option<(String, i64, String, Option<String>, i64)> = conn
        .query_row(
            "SELECT state, warnings, description, target_url, due_at_ms FROM report_outbox
             WHERE reporter = ?1 AND sha = ?2 AND context = ?3",
            params![key.reporter, key.sha, key.context],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    // A notice queues behind the receiver's older notices (the row it replaces aside).
    let due_now = if message.is_notice() {
        let behind: Option<i64> = conn.query_row(
            "SELECT MAX(due_at_ms) FROM report_outbox
             WHERE reporter = ?1 AND payload IS NOT NULL AND NOT (sha = ?2 AND context = ?3)",
            params![key.reporter, key.sha, key.context],
            |r| r.get(0),
        )?;
        behind.map_or(now_ms, |b| b.max(now_ms))
    } else {
        now_ms
    };
    let due_at_ms = match waiting {
        Some((state, warnings, description, target_url, due))
            if same_message(message, &state, warnings, &description, &target_url) =>
        {
            due
        }
        waiting => {
            // The same values either replace the waiting row (a new version) or make one.
            let sql = if waiting.is_some() {
                "UPDATE report_outbox SET state = ?4, warnings = ?5, description = ?6,
                     target_url = ?7, payload = ?9, version = version + 1, attempts = 0,
                     due_at_ms = ?10, created_at_ms = ?8, last_error = NULL
                 WHERE reporter = ?1 AND sha = ?2 AND context = ?3"
            } else {
                "INSERT INTO report_outbox (reporter, sha, context, state, warnings, description,
                     target_url, payload, version, attempts, due_at_ms, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?9, 1, 0, ?10, ?8)"
            };
            conn.execute(
                sql,
                params![
                    key.reporter,
                    key.sha,
                    key.context,
                    message.state(),
                    message.warnings(),
                    message.description(),
                    message.target_url(),
                    now_ms,
                    message.payload(),
                    due_now
                ],
            )?;
            due_now
        }
    };
    Ok(Enqueued::Queued { due_at_ms })
}

const ITEM_COLUMNS: &str = "reporter, sha, context, state, warnings, description, target_url, version, attempts, due_at_ms, payload";

fn item_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxItem> {
    let state: String = r.get(3)?;
    let message = match (state.as_str(), r.get::<_, Option<String>>(10)?) {
        (NOTICE_STATE | HEARTBEAT_STATE, Some(body)) => Message::Notice(Notice {
            key: r.get(2)?,
            summary: r.get(5)?,
            body,
            heartbeat: state == HEARTBEAT_STATE,
        }),
        (other, _) => {
            let state = StatusState::parse(other).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    3,
                    rusqlite::types::Type::Text,
                    format!("unknown state {state:?}").into(),
                )
            })?;
            Message::Status(CommitStatus {
                context: r.get(2)?,
                state,
                warnings: r.get(4)?,
                description: r.get(5)?,
                target_url: r.get(6)?,
            })
        }
    };
    Ok(OutboxItem {
        key: OutboxKey {
            reporter: r.get(0)?,
            sha: r.get(1)?,
            context: r.get(2)?,
        },
        message,
        version: r.get(7)?,
        attempts: r.get(8)?,
        due_at_ms: r.get(9)?,
    })
}

/// The waiting status of one slot.
pub(crate) fn get(conn: &Connection, key: &OutboxKey) -> rusqlite::Result<Option<OutboxItem>> {
    conn.query_row(
        &format!("SELECT {ITEM_COLUMNS} FROM report_outbox WHERE reporter = ?1 AND sha = ?2 AND context = ?3"),
        params![key.reporter, key.sha, key.context],
        item_from_row,
    )
    .optional()
}

/// Waiting statuses due at `now_ms`, earliest first, at most `limit`.
pub(crate) fn due(
    conn: &Connection,
    now_ms: i64,
    limit: usize,
) -> rusqlite::Result<Vec<OutboxItem>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ITEM_COLUMNS} FROM report_outbox WHERE due_at_ms <= ?1
         ORDER BY due_at_ms, created_at_ms, rowid LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![now_ms, limit as i64], item_from_row)?;
    rows.collect()
}

/// Record how `item` ended and take it out of the outbox (unless a newer version replaced
/// it meanwhile).
pub(crate) fn finish(
    conn: &Connection,
    item: &OutboxItem,
    outcome: Outcome,
    now_ms: i64,
) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    let (outcome, http_status) = match outcome {
        Outcome::Delivered => ("delivered", None),
        Outcome::Rejected(code) => ("rejected", code),
    };
    tx.execute(
        "INSERT OR REPLACE INTO report_delivered (reporter, sha, context, state, warnings,
             description, target_url, outcome, http_status, recorded_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            item.key.reporter,
            item.key.sha,
            item.key.context,
            item.message.state(),
            item.message.warnings(),
            item.message.description(),
            item.message.target_url(),
            outcome,
            http_status,
            now_ms
        ],
    )?;
    tx.execute(
        "DELETE FROM report_outbox WHERE reporter = ?1 AND sha = ?2 AND context = ?3 AND version = ?4",
        params![item.key.reporter, item.key.sha, item.key.context, item.version],
    )?;
    tx.commit()
}

/// Schedule the next attempt of `item` (unless a newer version replaced it meanwhile). A
/// notice put off takes the receiver's other waiting notices with it, so they keep their
/// order.
pub(crate) fn reschedule(
    conn: &Connection,
    item: &OutboxItem,
    attempts: u32,
    due_at_ms: i64,
    error: &str,
) -> rusqlite::Result<()> {
    if item.message.is_notice() {
        conn.execute(
            "UPDATE report_outbox SET due_at_ms = ?2
             WHERE reporter = ?1 AND payload IS NOT NULL AND due_at_ms < ?2",
            params![item.key.reporter, due_at_ms],
        )?;
    }
    conn.execute(
        "UPDATE report_outbox SET attempts = ?5, due_at_ms = ?6, last_error = ?7
         WHERE reporter = ?1 AND sha = ?2 AND context = ?3 AND version = ?4",
        params![
            item.key.reporter,
            item.key.sha,
            item.key.context,
            item.version,
            attempts,
            due_at_ms,
            error
        ],
    )?;
    Ok(())
}

/// Drop every waiting status of a reporter that is no longer configured.
pub(crate) fn remove_reporter(conn: &Connection, reporter: &str) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM report_outbox WHERE reporter = ?1",
        params![reporter],
    )
}

/// How many messages wait for `reporter`.
pub(crate) fn waiting_for(conn: &Connection, reporter: &str) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT COUNT(*) FROM report_outbox WHERE reporter = ?1",
        params![reporter],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n.max(0) as u64)
}

/// How many statuses wait.
pub(crate) fn count(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT COUNT(*) FROM report_outbox", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n.max(0) as u64)
}

/// Per reporter: how many statuses wait, and the error of the latest failed attempt.
pub(crate) fn waiting_by_reporter(
    conn: &Connection,
) -> rusqlite::Result<Vec<(String, u64, Option<String>)>> {
    let mut stmt = conn.prepare(
        "SELECT reporter, COUNT(*),
                (SELECT last_error FROM report_outbox AS o
                  WHERE o.reporter = r.reporter AND o.last_error IS NOT NULL
                  ORDER BY o.due_at_ms DESC LIMIT 1)
           FROM report_outbox AS r GROUP BY reporter ORDER BY reporter",
    )?;
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64, r.get(2)?))
    })?
    .collect()
}

/// The earliest due time of any waiting status.
pub(crate) fn next_due(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT MIN(due_at_ms) FROM report_outbox", [], |r| r.get(0))
}

/// Forget refusals, so that statuses refused before a restart (where a fixed token takes
/// effect) are tried once more.
pub(crate) fn forget_rejected(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM report_delivered WHERE outcome = 'rejected'",
        [],
    )
}

/// Forget delivery records older than `before_ms`.
pub(crate) fn prune_delivered(conn: &Connection, before_ms: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM report_delivered WHERE recorded_at_ms < ?1",
        params![before_ms],
    )
}

/// A shared SQLite connection holding the outbox, used from async code through the
/// blocking pool.
#[derive(Debug, Clone)]
pub struct OutboxDb {
    conn: Arc<Mutex<Connection>>,
}

impl OutboxDb {
    /// Use a connection the state store opened and migrated (with [`MIGRATIONS`]).
    pub fn new(conn: Arc<Mutex<Connection>>) -> Self {
        OutboxDb { conn }
    }

    /// Open (or create) the SQLite file at `path` and apply [`MIGRATIONS`].
    ///
    /// # Errors
    /// [`ReportError::Store`] when the file cannot be opened or migrated. Blocking.
    pub fn open(path: &Path) -> Result<Self> {
        let store = |action| move |source| ReportError::Store { action, source };
        let conn = Connection::open(path).map_err(store("open the state store"))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(store("set the busy timeout"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(store("switch to WAL"))?;
        migrate(&conn).map_err(store("create the outbox tables"))?;
        Ok(OutboxDb::new(Arc::new(Mutex::new(conn))))
    }

    /// Run `f` on the connection in the blocking pool.
    pub(crate) async fn run<T, F>(&self, action: &'static str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&guard).map_err(|source| ReportError::Store { action, source })
        })
        .await
        .map_err(|e| ReportError::task(action, e))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        migrate(&conn).unwrap(); // idempotent
        conn
    }

    fn status(s: CommitStatus) -> Message {
        Message::Status(s)
    }

    fn key() -> OutboxKey {
        OutboxKey {
            reporter: "github https://api.github.com acme/c".into(),
            sha: "a".repeat(40),
            context: "ferry/prod".into(),
        }
    }

    #[test]
    fn newer_status_supersedes_the_waiting_one() {
        let conn = db();
        let first = status(CommitStatus::applying("prod", 3));
        assert_eq!(
            enqueue(&conn, &key(), &first, 10).unwrap(),
            Enqueued::Queued { due_at_ms: 10 }
        );
        let item = get(&conn, &key()).unwrap().unwrap();
        reschedule(&conn, &item, 1, 5_000, "503").unwrap();
        // The same status again keeps its backoff.
        assert_eq!(
            enqueue(&conn, &key(), &first, 20).unwrap(),
            Enqueued::Queued { due_at_ms: 5_000 }
        );
        // A newer one replaces it and is due now.
        let second = status(CommitStatus::in_sync("prod", 14, 0));
        assert_eq!(
            enqueue(&conn, &key(), &second, 30).unwrap(),
            Enqueued::Queued { due_at_ms: 30 }
        );
        assert_eq!(count(&conn).unwrap(), 1);
        let item = get(&conn, &key()).unwrap().unwrap();
        assert_eq!(item.message, second);
        assert_eq!(item.version, 2);
        assert_eq!(item.attempts, 0);
        // Finishing the stale version does not remove the newer one.
        let stale = OutboxItem {
            version: 1,
            ..item.clone()
        };
        finish(&conn, &stale, Outcome::Delivered, 40).unwrap();
        assert_eq!(count(&conn).unwrap(), 1);
        finish(&conn, &item, Outcome::Delivered, 50).unwrap();
        assert_eq!(count(&conn).unwrap(), 0);
        assert_eq!(
            enqueue(&conn, &key(), &second, 60).unwrap(),
            Enqueued::Unchanged
        );
    }

    #[test]
    fn due_items_in_order_and_rejections_forgotten() {
        let conn = db();
        let mut k2 = key();
        k2.context = "ferry/sandbox".into();
        enqueue(&conn, &k2, &status(CommitStatus::applying("sandbox", 1)), 5).unwrap();
        enqueue(&conn, &key(), &status(CommitStatus::applying("prod", 1)), 1).unwrap();
        let items = due(&conn, 5, 10).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].key, key());
        assert_eq!(due(&conn, 4, 10).unwrap().len(), 1);
        assert_eq!(next_due(&conn).unwrap(), Some(1));

        finish(&conn, &items[0], Outcome::Rejected(Some(401)), 6).unwrap();
        assert_eq!(
            enqueue(&conn, &key(), &items[0].message, 7).unwrap(),
            Enqueued::Unchanged
        );
        assert_eq!(forget_rejected(&conn).unwrap(), 1);
        assert!(matches!(
            enqueue(&conn, &key(), &items[0].message, 8).unwrap(),
            Enqueued::Queued { .. }
        ));
        assert_eq!(prune_delivered(&conn, 100).unwrap(), 0);
    }

    fn notice(key: &str) -> Message {
        Message::Notice(Notice {
            key: key.to_owned(),
            summary: format!("summary of {key}"),
            body: format!("{{\"key\":\"{key}\"}}"),
            heartbeat: false,
        })
    }

    fn notice_key(context: &str) -> OutboxKey {
        OutboxKey {
            reporter: "notify:oncall".into(),
            sha: "b".repeat(40),
            context: context.into(),
        }
    }

    #[test]
    fn a_receivers_notices_keep_their_order_through_retries() {
        let conn = db();
        migrate(&conn).unwrap(); // the added column is not added twice
        enqueue(&conn, &notice_key("one"), &notice("one"), 10).unwrap();
        // A status of another reporter is not held back by notices.
        enqueue(
            &conn,
            &key(),
            &status(CommitStatus::applying("prod", 1)),
            11,
        )
        .unwrap();
        let first = get(&conn, &notice_key("one")).unwrap().unwrap();
        assert_eq!(first.message, notice("one"));
        // The first one failed: it is put off to 5 s.
        reschedule(&conn, &first, 1, 5_000, "503").unwrap();
        // A newer one waits behind it, though made later and due "now".
        assert_eq!(
            enqueue(&conn, &notice_key("two"), &notice("two"), 20).unwrap(),
            Enqueued::Queued { due_at_ms: 5_000 }
        );
        assert_eq!(due(&conn, 4_999, 10).unwrap().len(), 1, "only the status");
        let ready = due(&conn, 5_000, 10).unwrap();
        let order: Vec<&str> = ready.iter().map(|i| i.key.context.as_str()).collect();
        assert_eq!(order, ["ferry/prod", "one", "two"]);
        // Put off again, the first takes the second with it.
        reschedule(&conn, &first, 2, 9_000, "503").unwrap();
        assert_eq!(
            get(&conn, &notice_key("two")).unwrap().unwrap().due_at_ms,
            9_000
        );
        // Delivered, a key is not sent again.
        let first = get(&conn, &notice_key("one")).unwrap().unwrap();
        finish(&conn, &first, Outcome::Delivered, 9_100).unwrap();
        assert_eq!(
            enqueue(&conn, &notice_key("one"), &notice("one"), 9_200).unwrap(),
            Enqueued::Unchanged
        );
    }

    #[test]
    fn a_newer_heartbeat_replaces_the_waiting_one() {
        let conn = db();
        let beat = |n: u32| {
            Message::Notice(Notice {
                key: "heartbeat".into(),
                summary: format!("still firing ({n})"),
                body: format!("[{n}]"),
                heartbeat: true,
            })
        };
        enqueue(&conn, &notice_key("heartbeat"), &beat(1), 10).unwrap();
        enqueue(&conn, &notice_key("heartbeat"), &beat(2), 20).unwrap();
        assert_eq!(count(&conn).unwrap(), 1);
        let item = get(&conn, &notice_key("heartbeat")).unwrap().unwrap();
        assert_eq!(item.message, beat(2));
        finish(&conn, &item, Outcome::Delivered, 30).unwrap();
        // The next one is sent although the key was delivered: it says something new.
        assert!(matches!(
            enqueue(&conn, &notice_key("heartbeat"), &beat(3), 40).unwrap(),
            Enqueued::Queued { .. }
        ));
    }
}
