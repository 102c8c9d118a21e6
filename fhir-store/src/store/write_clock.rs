//! One clock for `meta.lastUpdated`, and the "safe horizon" of `_since`.
//!
//! **The clock.** Each write's `lastUpdated` is read inside its own
//! transaction: on PostgreSQL from the database server's clock
//! (`clock_timestamp()`), so nodes with skewed clocks still stamp in one
//! time line; on SQLite from this host's clock (every process on a SQLite
//! file shares the host), after the write lock is taken, so writers stamp
//! in commit order.
//!
//! **History order.** History is ordered by `lastUpdated` (newest first),
//! ties by write position (`queries::history_page`), so its order is
//! `lastUpdated` order by construction, whatever order the writers
//! inserted in.
//!
//! **Commit order is not stamp order.** On PostgreSQL a transaction can
//! stamp at t₁, stay open (index rows, a large Bundle) and commit after
//! another one that stamped at t₂ > t₁ has committed. A poller that read
//! `_since` in between and then asked `_since=t₂` would never see the first
//! write. So a `_since` answer only lists versions stamped before a
//! horizon under which nothing can still appear, and says so in Bundle
//! `meta.lastUpdated`, which the poller sends as its next `_since`:
//! - PostgreSQL: the earliest `xact_start` of the transactions that hold a
//!   transaction id (every writer gets one before it stamps, see [`now`]),
//!   other than the reader's, read from `pg_stat_activity`; the current time
//!   when there are none. A writer that has no id yet will stamp after this
//!   moment; one that has stamped began no earlier than its `xact_start`.
//!   The database role must see other sessions' `backend_xid` (the same
//!   role on every node does, or grant `pg_read_all_stats`).
//! - SQLite: the current time, read while holding the write lock
//!   (`BEGIN IMMEDIATE`), so no writer is between its stamp and its commit.
//!
//! Stamps are milliseconds; the horizon is truncated to one and compared
//! strictly (`lastUpdated < horizon`), so a write stamped in the horizon's
//! own millisecond comes in the next poll. Cost: a writer that stays open
//! holds every poller's horizon back for as long (bounded by
//! `--statement-timeout-ms` per statement); a poller sees nothing newer
//! meanwhile, and loses nothing.

use diesel::result::Error as DieselError;
use diesel::sql_types::Text;
use diesel::RunQueryDsl;

use super::connection::DbConnection;
use super::{now_instant, TxError};

#[derive(diesel::QueryableByName)]
struct Stamp {
    #[diesel(sql_type = Text)]
    t: String,
}

/// The instant text form of the store (`2026-12-08T10:11:12.345Z`).
const PG_FORMAT: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'"#;

/// The `lastUpdated` of a write in the open transaction on `conn`. On
/// PostgreSQL the transaction id is taken first (`txid_current()`, in the
/// `CASE` condition, which is evaluated before its branch), so that a
/// reader's [`horizon`] sees this writer from before its stamp.
pub(super) fn now(conn: &mut DbConnection) -> Result<String, TxError> {
    match conn {
        DbConnection::Sqlite(_) => Ok(now_instant()),
        DbConnection::Postgresql(_) => {
            let sql = format!(
                "SELECT CASE WHEN txid_current() IS NOT NULL THEN \
                 to_char(clock_timestamp() AT TIME ZONE 'UTC', {PG_FORMAT}) END AS t"
            );
            let s: Stamp = diesel::sql_query(sql).get_result(conn)?;
            Ok(s.t)
        }
    }
}

/// The safe horizon of a `_since` read on `conn` (see the module doc).
/// `in_write` says `conn` is inside a write transaction (a Bundle's
/// `_history` entry), which on SQLite already holds the write lock.
pub(super) fn horizon(conn: &mut DbConnection, in_write: bool) -> Result<String, DieselError> {
    match conn {
        DbConnection::Sqlite(_) if in_write => Ok(now_instant()),
        DbConnection::Sqlite(c) => c.immediate_transaction(|_| Ok(now_instant())),
        DbConnection::Postgresql(_) => {
            let sql = format!(
                "SELECT to_char(date_trunc('milliseconds', LEAST(clock_timestamp(), \
                   COALESCE((SELECT min(xact_start) FROM pg_stat_activity \
                             WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() \
                             AND datname = current_database()), 'infinity'))) \
                   AT TIME ZONE 'UTC', {PG_FORMAT}) AS t"
            );
            let s: Stamp = diesel::sql_query(sql).get_result(conn)?;
            Ok(s.t)
        }
    }
}
