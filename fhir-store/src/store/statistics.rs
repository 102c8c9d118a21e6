//! Planner statistics that follow the data's growth, taken by one node at
//! a time and never from an empty store.
//!
//! Statistics taken while a table is empty or tiny are worse than none:
//! SQLite then records the full-text table as 2 rows and plans its merges
//! as full scans for the rest of the load (issue #27), and PostgreSQL plans
//! as for an empty table until autovacuum catches up. So `ANALYZE` runs
//! only once the store holds [`MIN_ROWS`] versions, and again whenever it
//! has doubled since the statistics were taken: O(log n) passes for a
//! store growing to n. What "when the statistics were taken" means is
//! read from the database itself (PostgreSQL `pg_class.reltuples`, SQLite
//! `sqlite_stat1`), not remembered by a node, so a node that restarts or
//! joins sees what another node did. The pass runs under
//! [`ClusterLock::Statistics`]: a node that finds it held skips its turn.

use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::RunQueryDsl;

use super::cluster_lock::ClusterLock;
use super::connection::DbConnection;
use super::{Store, StoreError};

/// Fewer versions than this and the store is left unanalysed.
pub const MIN_ROWS: i64 = 1_000;

/// What [`Store::refresh_statistics`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// `ANALYZE` ran: the store holds `rows` versions; the statistics
    /// before counted `before`.
    Analyzed { rows: i64, before: i64 },
    /// Nothing to do: too small, or not grown enough since the last pass.
    Current { rows: i64, analyzed: i64 },
    /// Another node holds the lock (it is analysing).
    Busy,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = Nullable<BigInt>)]
    n: Option<i64>,
}

#[derive(diesel::QueryableByName)]
struct Stat {
    #[diesel(sql_type = Text)]
    stat: String,
}

/// Versions stored: the newest write position (one index lookup; close to
/// the row count, since versions are never removed).
fn rows(conn: &mut DbConnection) -> Result<i64, StoreError> {
    let c: Count =
        diesel::sql_query("SELECT max(seq) AS n FROM resource_versions").get_result(conn)?;
    Ok(c.n.unwrap_or(0))
}

/// The row count of `resource_versions` the current statistics were
/// taken at (0: never).
fn analyzed(conn: &mut DbConnection) -> Result<i64, StoreError> {
    match conn {
        DbConnection::Postgresql(_) => {
            let c: Count = diesel::sql_query(
                "SELECT reltuples::bigint AS n FROM pg_class \
                 WHERE oid = 'resource_versions'::regclass",
            )
            .get_result(conn)?;
            Ok(c.n.unwrap_or(0).max(0))
        }
        DbConnection::Sqlite(_) => {
            let has: Count = diesel::sql_query(
                "SELECT count(*) AS n FROM sqlite_master WHERE name = 'sqlite_stat1'",
            )
            .get_result(conn)?;
            if has.n.unwrap_or(0) == 0 {
                return Ok(0);
            }
            let stat: Vec<Stat> = diesel::sql_query(
                "SELECT stat FROM sqlite_stat1 WHERE tbl = 'resource_versions' LIMIT 1",
            )
            .load(conn)?;
            Ok(stat
                .first()
                .and_then(|s| s.stat.split(' ').next()?.parse().ok())
                .unwrap_or(0))
        }
    }
}

/// The rule of the module doc.
fn due(rows: i64, analyzed: i64) -> bool {
    rows >= MIN_ROWS && rows >= analyzed.saturating_mul(2)
}

/// The versions stored and at the last pass when a pass is due, else
/// what to report.
fn check(conn: &mut DbConnection) -> Result<Result<(i64, i64), Refresh>, StoreError> {
    let (rows, before) = (rows(conn)?, analyzed(conn)?);
    Ok(match due(rows, before) {
        true => Ok((rows, before)),
        false => Err(Refresh::Current {
            rows,
            analyzed: before,
        }),
    })
}

impl Store {
    /// Runs `ANALYZE` when the store has grown enough (see the module doc)
    /// and no other node is doing it.
    pub fn refresh_statistics(&self) -> Result<Refresh, StoreError> {
        if let Err(current) = check(&mut *self.conn()?)? {
            return Ok(current);
        }
        let Some(_held) = self.try_hold(ClusterLock::Statistics)? else {
            return Ok(Refresh::Busy);
        };
        // Another node may have finished a pass just before we got the lock.
        let (rows, before) = match check(&mut *self.conn()?)? {
            Ok(counts) => counts,
            Err(current) => return Ok(current),
        };
        self.analyze()?;
        Ok(Refresh::Analyzed { rows, before })
    }
}

#[cfg(test)]
mod tests {
    use super::due;

    #[test]
    fn small_stores_are_not_analysed_and_growth_is_doubling() {
        assert!(!due(0, 0));
        assert!(!due(999, 0));
        assert!(due(1_000, 0));
        assert!(!due(1_500, 1_000));
        assert!(due(2_000, 1_000));
    }
}
