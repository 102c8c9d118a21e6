//! Read replicas (`serve --replica-database URL`, issue #18): searches and
//! reads go to PostgreSQL streaming replicas; everything else stays on the
//! primary.
//!
//! **Which calls may use a replica.** Only the read calls that say so
//! ([`Store::read`], [`Store::vread`], [`Store::search`], history without
//! `_since`, and `$everything`'s [`Store::referenced`] /
//! [`Store::current_of`]) ask [`Store::on_reader`] for a connection, and
//! only while the server has put a [`ReplicaRead`] on the thread
//! ([`on_this_thread`]), which it does for read-only requests alone. Writes,
//! conditional writes, transactions, `_since` (the write clock's horizon
//! reads `pg_stat_activity` of the primary), the definition change feed,
//! the cluster locks and the migrations take the primary's pool: they never
//! call `on_reader`. No scope on the thread means the primary, so a new
//! caller is safe by default.
//!
//! **Read-your-writes.** A write's position in the primary's WAL (a
//! [`CommitPosition`], `pg_current_wal_lsn()` read after the commit, so at
//! or past the commit's own record) travels with the client; a read that
//! carries one is served by a replica only when that replica has replayed
//! it (`pg_last_wal_replay_lsn()`), else by the primary. The server hands
//! the position out in a header and remembers it per client
//! (`fhir-server/src/read_replicas.rs`).
//!
//! **Choosing.** Round robin over the replicas, skipping one that is down
//! (its connection or status query failed: skipped for [`DOWN_FOR`]) or
//! that has more than [`ReplicaConfig::max_lag_bytes`] of received WAL not
//! yet replayed;
//! when none fits, the primary. A read that fails on a replica for a reason
//! other than the request itself (a recovery conflict cancels a standby's
//! query with a serialization failure) is run again on the primary.

use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use diesel::r2d2::{Pool, PooledConnection};
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::RunQueryDsl;

use super::connection::{self, Backend, DatabaseUrl, DbConnection, DbOptions, Manager};
use super::{Store, StoreError};

/// A replica that failed is not asked again for this long.
pub const DOWN_FOR: Duration = Duration::from_secs(5);

/// `serve --replica-max-lag-bytes`'s default: 16 MiB, one WAL segment.
pub const DEFAULT_MAX_LAG_BYTES: u64 = 16 * 1024 * 1024;

/// The replicas `serve` is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// `postgres://…` URLs of streaming replicas of the primary.
    pub urls: Vec<String>,
    /// A replica with more WAL than this received but not replayed is
    /// behind enough that reads go elsewhere.
    pub max_lag_bytes: u64,
}

/// How long a read waits for a connection of a replica before it takes
/// the primary instead (and the replica is skipped for [`DOWN_FOR`]).
const CONNECTION_WAIT: Duration = Duration::from_millis(500);

/// A position in the primary's write-ahead log (a PostgreSQL `pg_lsn`,
/// written `XXXXXXXX/XXXXXXXX` in hex): what a replica must have replayed
/// to show a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitPosition(u64);

impl FromStr for CommitPosition {
    type Err = StoreError;

    /// PostgreSQL's text form: two hex numbers of at most 8 digits.
    fn from_str(s: &str) -> Result<Self, StoreError> {
        let bad = || {
            StoreError::BadRequest(format!(
                "{s:?} is not a commit position (two hex numbers, as in 0/16B3748)"
            ))
        };
        let (hi, lo) = s.split_once('/').ok_or_else(bad)?;
        let part = |p: &str| {
            if p.is_empty() || p.len() > 8 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            u64::from_str_radix(p, 16).map_err(|_| bad())
        };
        Ok(CommitPosition(part(hi)? << 32 | part(lo)?))
    }
}

impl fmt::Display for CommitPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// What the storage call on this thread may read from: a replica that has
/// replayed `at` (any replica when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaRead {
    pub at: Option<CommitPosition>,
}

thread_local! {
    static SCOPE: RefCell<Option<ReplicaRead>> = const { RefCell::new(None) };
}

/// Runs `f` with `read` as this thread's [`ReplicaRead`] (none: every call
/// uses the primary); the previous one is restored afterwards, even if `f`
/// panics.
pub fn on_this_thread<T>(read: Option<ReplicaRead>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<ReplicaRead>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            SCOPE.with(|s| *s.borrow_mut() = previous);
        }
    }
    let previous = SCOPE.with(|s| s.replace(read));
    let _restore = Restore(previous);
    f()
}

/// Runs `f` with no [`ReplicaRead`] on this thread: every read on the
/// primary. For caches keyed by the primary's definition stamps, which a
/// replica's older data must never fill, whatever request triggers them.
pub fn on_primary<T>(f: impl FnOnce() -> T) -> T {
    on_this_thread(None, f)
}

fn scope() -> Option<ReplicaRead> {
    SCOPE.with(|s| *s.borrow())
}

/// How long a replica's replay position, once read, answers for it: a
/// read whose commit position that replay already covers (replay only
/// moves forward) skips the status round trip, which otherwise doubles the
/// statements of every read a replica serves.
const STATUS_FRESH: Duration = Duration::from_millis(100);

/// A replica's status as last read: when, and how far it had replayed.
#[derive(Clone, Copy)]
struct Seen {
    at: Instant,
    replayed: CommitPosition,
}

/// One replica: its pool and when it may be asked again.
struct Member {
    pool: Pool<Manager>,
    /// The URL with its password masked, for the log.
    shown: String,
    down_until: Mutex<Option<Instant>>,
    /// The last status that found it fit (not lagging), if any.
    seen: Mutex<Option<Seen>>,
}

impl Member {
    fn is_down(&self, now: Instant) -> bool {
        let down = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        down.is_some_and(|t| t > now)
    }

    fn mark_down(&self, why: &dyn fmt::Display) {
        let mut down = self.down_until.lock().unwrap_or_else(|p| p.into_inner());
        if down.is_none_or(|t| t <= Instant::now()) {
            log::warn!(
                "replica {} skipped for {}s: {why}",
                self.shown,
                DOWN_FOR.as_secs()
            );
        }
        *down = Some(Instant::now() + DOWN_FOR);
        drop(down);
        self.forget_fit();
    }

    /// Whether a fit status read less than [`STATUS_FRESH`] ago already
    /// covers `at`.
    fn recently_fit(&self, at: Option<CommitPosition>, now: Instant) -> bool {
        let seen = *self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.is_some_and(|s| {
            now.duration_since(s.at) < STATUS_FRESH && at.is_none_or(|at| s.replayed >= at)
        })
    }

    /// After a read failed on it: its next read checks its status again.
    fn forget_fit(&self) {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn remember_fit(&self, replayed: CommitPosition, at: Instant) {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(Seen { at, replayed });
    }
}

/// The replicas of a store.
pub struct Replicas {
    members: Vec<Member>,
    next: AtomicUsize,
    max_lag_bytes: u64,
}

impl fmt::Debug for Replicas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.members.iter().map(|m| &m.shown))
            .finish()
    }
}

#[derive(diesel::QueryableByName)]
struct Status {
    #[diesel(sql_type = Nullable<Text>)]
    replayed: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    behind: Option<i64>,
}

#[derive(diesel::QueryableByName)]
struct Position {
    #[diesel(sql_type = Text)]
    lsn: String,
}

/// Whether a replica may serve a read that needs `at`.
enum Fit {
    /// Yes: it has replayed this far.
    Yes(CommitPosition),
    /// Behind `at`, or lagging: the next one, or the primary.
    Behind,
}

fn status(
    conn: &mut DbConnection,
    at: Option<CommitPosition>,
    max_lag_bytes: u64,
) -> Result<Fit, StoreError> {
    let s: Status = diesel::sql_query(
        "SELECT pg_last_wal_replay_lsn()::text AS replayed, \
         pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint AS behind",
    )
    .get_result(conn)?;
    let Some(replayed) = s.replayed else {
        return Err(StoreError::Config(
            "it is not a replica (pg_last_wal_replay_lsn() is NULL)".into(),
        ));
    };
    let replayed: CommitPosition = replayed.parse()?;
    let behind = u64::try_from(s.behind.unwrap_or(0)).unwrap_or(0);
    if behind > max_lag_bytes || at.is_some_and(|at| replayed < at) {
        return Ok(Fit::Behind);
    }
    Ok(Fit::Yes(replayed))
}

impl Replicas {
    /// Pools for `urls`, sized like the primary's (`opts.pool`). A replica
    /// that cannot be reached now is only warned about (reads go to the
    /// primary until it can); one that answers but is not in recovery is
    /// refused, since reading from "a replica" that is another primary
    /// would show data the primary does not hold.
    pub(super) fn open(config: &ReplicaConfig, opts: &DbOptions) -> Result<Self, StoreError> {
        let urls = &config.urls;
        let mut members = Vec::with_capacity(urls.len());
        for url in urls {
            let shown = connection::masked(url);
            let parsed = DatabaseUrl::parse(url)?;
            if parsed.backend != Backend::Postgres {
                return Err(StoreError::Config(format!(
                    "replica {shown} is not a postgres:// URL: replicas are PostgreSQL streaming replicas"
                )));
            }
            let pool = connection::replica_pool(&parsed, opts);
            match pool.get_timeout(opts.pool.timeout) {
                Ok(mut conn) => {
                    if let Err(e) = status(&mut conn, None, u64::MAX) {
                        return Err(StoreError::Config(format!(
                            "replica {shown} cannot serve reads: {e}"
                        )));
                    }
                    log::info!("replica {shown} ready");
                }
                Err(e) => log::warn!(
                    "replica {shown} cannot be reached now ({e}); reads go to the primary until it can"
                ),
            }
            members.push(Member {
                pool,
                shown,
                down_until: Mutex::new(None),
                seen: Mutex::new(None),
            });
        }
        Ok(Replicas {
            members,
            next: AtomicUsize::new(0),
            max_lag_bytes: config.max_lag_bytes,
        })
    }

    /// A connection of the next replica that has replayed `at`, or `None`.
    fn choose(&self, at: Option<CommitPosition>) -> Option<(&Member, PooledConnection<Manager>)> {
        let n = self.members.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        for k in 0..n {
            let m = &self.members[(start + k) % n];
            if m.is_down(now) {
                continue;
            }
            let mut conn = match m.pool.get_timeout(CONNECTION_WAIT) {
                Ok(c) => c,
                Err(e) => {
                    m.mark_down(&e);
                    continue;
                }
            };
            if m.recently_fit(at, now) {
                return Some((m, conn));
            }
            match status(&mut conn, at, self.max_lag_bytes) {
                Ok(Fit::Yes(replayed)) => {
                    m.remember_fit(replayed, now);
                    return Some((m, conn));
                }
                Ok(Fit::Behind) => {
                    log::debug!("replica {} is behind; trying the next", m.shown)
                }
                Err(e) => m.mark_down(&e),
            }
        }
        None
    }
}

impl Store {
    /// Adds read replicas (`serve --replica-database`): only behind a
    /// PostgreSQL primary.
    pub fn with_replicas(
        mut self,
        config: &ReplicaConfig,
        opts: &DbOptions,
    ) -> Result<Self, StoreError> {
        if config.urls.is_empty() {
            return Ok(self);
        }
        if self.backend != Backend::Postgres {
            return Err(StoreError::Config(
                "--replica-database needs a PostgreSQL primary (--database postgres://…): \
                 replicas are PostgreSQL streaming replicas"
                    .into(),
            ));
        }
        self.replicas = Some(std::sync::Arc::new(Replicas::open(config, opts)?));
        Ok(self)
    }

    /// The replicas, when there are any.
    pub fn replicas(&self) -> Option<&Replicas> {
        self.replicas.as_deref()
    }

    /// The primary's current WAL position, read after a write has
    /// committed: at or past that write's commit. `None` without replicas
    /// (nothing needs it).
    pub fn commit_position(&self) -> Result<Option<CommitPosition>, StoreError> {
        if self.replicas.is_none() {
            return Ok(None);
        }
        let p: Position = diesel::sql_query("SELECT pg_current_wal_lsn()::text AS lsn")
            .get_result(&mut *self.conn()?)?;
        p.lsn.parse().map(Some)
    }

    /// Runs the read `f` on a replica when this thread's [`ReplicaRead`]
    /// allows one and one fits, else on the primary; a replica's failure
    /// that is not the request's own is retried on the primary.
    pub(super) fn on_reader<T>(
        &self,
        f: impl Fn(&mut DbConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let chosen = match (&self.replicas, scope()) {
            (Some(r), Some(read)) => r.choose(read.at),
            _ => None,
        };
        if let Some((member, mut conn)) = chosen {
            match f(&mut conn) {
                Err(
                    e @ (StoreError::Unavailable(_)
                    | StoreError::Contention(_)
                    | StoreError::Fault(_)),
                ) => {
                    member.forget_fit();
                    log::info!(
                        "a read on replica {} failed ({e}); reading from the primary",
                        member.shown
                    );
                }
                done => {
                    log::debug!("read served by replica {}", member.shown);
                    return done;
                }
            }
        }
        f(&mut *self.conn()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_positions_read_and_print_as_postgresql_does() {
        for text in ["0/16B3748", "1/0", "FFFFFFFF/FFFFFFFF", "A/B"] {
            let p: CommitPosition = text.parse().unwrap();
            assert_eq!(p.to_string(), text);
        }
        let a: CommitPosition = "0/FFFFFFFF".parse().unwrap();
        let b: CommitPosition = "1/0".parse().unwrap();
        assert!(a < b, "the high part orders first");
        assert_eq!(
            "0/16b3748".parse::<CommitPosition>().unwrap().to_string(),
            "0/16B3748"
        );
        for bad in [
            "",
            "0",
            "/1",
            "1/",
            "0/1/2",
            "g/1",
            "123456789/0",
            "-1/0",
            "+1/0",
            " 0/1",
        ] {
            assert!(bad.parse::<CommitPosition>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_scope_is_restored_after_a_call() {
        let read = ReplicaRead {
            at: Some("0/10".parse().unwrap()),
        };
        assert_eq!(scope(), None);
        on_this_thread(Some(read), || {
            assert_eq!(scope(), Some(read));
            on_this_thread(None, || assert_eq!(scope(), None));
            assert_eq!(scope(), Some(read));
        });
        assert_eq!(scope(), None);
    }
}
