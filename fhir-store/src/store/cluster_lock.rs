//! Locks that every server on one database shares, for the work only one
//! of them should do at a time: storing the packages' conformance
//! resources at start ([`ClusterLock::Schema`], the key migrations also
//! take) and refreshing the planner statistics ([`ClusterLock::Statistics`]).
//!
//! PostgreSQL: a session advisory lock, held on a connection of its own
//! (outside the pool, so the work under the lock can use the whole pool)
//! for the length of the work, released and closed on drop (a crashed
//! node's session ends, and its lock with it).
//! Waiting is by `pg_try_advisory_lock` in a loop rather than
//! `pg_advisory_lock`, so the pooled connection's `lock_timeout` does not
//! cut the wait short. SQLite: an OS file lock on `DATABASE.lock` beside
//! the database file (processes on one file share one host); an in-memory
//! database has one process, so nothing to lock.

use std::fs::File;
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Bool};
use diesel::RunQueryDsl;
use diesel::{Connection, PgConnection};

use super::connection::{DbConnection, SCHEMA_LOCK};
use super::{Backend, Store, StoreError};

/// The work a lock guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterLock {
    /// Migrations and package loading at start.
    Schema,
    /// `ANALYZE`: one node at a time; the others skip.
    Statistics,
}

impl ClusterLock {
    fn key(self) -> i64 {
        match self {
            ClusterLock::Schema => SCHEMA_LOCK,
            // "fhirstat" in ASCII.
            ClusterLock::Statistics => 0x6668_6972_7374_6174,
        }
    }
}

/// How long [`Store::hold`] waits for another node's package loading.
const HOLD_WAIT: Duration = Duration::from_secs(600);

/// A held lock; released on drop.
pub struct Held {
    inner: Inner,
}

enum Inner {
    Pg(Box<DbConnection>, i64),
    File(File),
    Nothing,
}

#[derive(diesel::QueryableByName)]
struct Got {
    #[diesel(sql_type = Bool)]
    got: bool,
}

fn try_pg(conn: &mut DbConnection, key: i64) -> Result<bool, StoreError> {
    let row: Got = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS got")
        .bind::<BigInt, _>(key)
        .get_result(conn)?;
    Ok(row.got)
}

impl Drop for Held {
    fn drop(&mut self) {
        match &mut self.inner {
            Inner::Pg(conn, key) => {
                if let Err(e) = diesel::sql_query("SELECT pg_advisory_unlock($1)")
                    .bind::<BigInt, _>(*key)
                    .execute(&mut **conn)
                {
                    log::error!("releasing a cluster lock failed: {e}");
                }
            }
            Inner::File(f) => {
                let _ = f.unlock();
            }
            Inner::Nothing => {}
        }
    }
}

impl Store {
    /// Waits (up to ten minutes) for `lock`, then holds it until the
    /// returned value is dropped.
    pub fn hold(&self, lock: ClusterLock) -> Result<Held, StoreError> {
        let deadline = Instant::now() + HOLD_WAIT;
        loop {
            if let Some(held) = self.try_hold(lock)? {
                return Ok(held);
            }
            if Instant::now() > deadline {
                return Err(StoreError::Unavailable(format!(
                    "another server held the {lock:?} lock for {} s",
                    HOLD_WAIT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `lock` if no other server holds it, else `None`.
    pub fn try_hold(&self, lock: ClusterLock) -> Result<Option<Held>, StoreError> {
        match self.backend {
            Backend::Postgres => {
                // A session of its own: a lock held on a pooled connection
                // would starve the work under it of the pool (the start-up
                // reindex with `--pool-max 1`).
                let mut conn = PgConnection::establish(&self.url.target)
                    .map(DbConnection::Postgresql)
                    .map_err(|e| StoreError::Unavailable(format!("cannot connect: {e}")))?;
                if try_pg(&mut conn, lock.key())? {
                    Ok(Some(Held {
                        inner: Inner::Pg(Box::new(conn), lock.key()),
                    }))
                } else {
                    Ok(None)
                }
            }
            Backend::Sqlite => {
                let Some(path) = self.lock_file(lock) else {
                    return Ok(Some(Held {
                        inner: Inner::Nothing,
                    }));
                };
                let file = File::options()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .map_err(|e| {
                        StoreError::Unavailable(format!("cannot open the lock file {path}: {e}"))
                    })?;
                match file.try_lock() {
                    Ok(()) => Ok(Some(Held {
                        inner: Inner::File(file),
                    })),
                    Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                    Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Unavailable(format!(
                        "cannot lock the lock file {path}: {e}"
                    ))),
                }
            }
        }
    }

    /// `DATABASE.schema.lock` / `DATABASE.statistics.lock`; none for an
    /// in-memory database.
    fn lock_file(&self, lock: ClusterLock) -> Option<String> {
        let url = &self.url;
        if url.backend != Backend::Sqlite || url.is_memory() {
            return None;
        }
        let target = &url.target;
        let suffix = match lock {
            ClusterLock::Schema => "schema",
            ClusterLock::Statistics => "statistics",
        };
        Some(format!("{target}.{suffix}.lock"))
    }
}
