//! Connections: one diesel connection type over both backends, the r2d2
//! pool, per-connection SQLite settings and the embedded migrations.
//!
//! The backend is chosen from the database URL at run time, so one binary
//! serves both. `DbConnection` is a `#[derive(MultiConnection)]` enum; its
//! `establish` would try each variant in turn and SQLite accepts any string
//! as a file name, which is why SQLite is the last variant *and* why the
//! pool does not use it: [`Manager`] opens exactly the backend the URL names,
//! so an unreachable PostgreSQL never silently becomes a file called
//! `postgres:…`.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{CustomizeConnection, HandleError, ManageConnection, Pool, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::encryption::{self, DatabaseKey};
use super::StoreError;

/// A connection to either backend; queries in [`super::queries`] take
/// `&mut DbConnection` and are written once for both.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    // SQLite last: its `establish` accepts any string (see the module doc).
    Sqlite(SqliteConnection),
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Which database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A parsed `--database` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    pub backend: Backend,
    /// What the driver is given: a file name (or `:memory:`) for SQLite, the
    /// URL itself for PostgreSQL.
    pub target: String,
}

impl DatabaseUrl {
    /// Accepts `sqlite:PATH`, `sqlite://PATH`, `sqlite::memory:` and
    /// `postgres://…` / `postgresql://…`.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self {
                backend: Backend::Postgres,
                target: url.to_owned(),
            });
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(StoreError::Config(format!(
                    "database URL {url:?} names no SQLite file"
                )));
            }
            return Ok(Self {
                backend: Backend::Sqlite,
                target: path.to_owned(),
            });
        }
        Err(StoreError::Config(format!(
            "database URL {url:?} is neither sqlite:PATH nor postgres://…"
        )))
    }

    /// An in-memory SQLite database exists once per connection, so its pool
    /// must hold exactly one connection.
    pub fn is_memory(&self) -> bool {
        self.backend == Backend::Sqlite && self.target == ":memory:"
    }
}

/// The r2d2 connection manager: opens the backend the URL names, no other.
#[derive(Debug)]
pub struct Manager {
    url: DatabaseUrl,
    /// The SQLCipher key every new SQLite connection is unlocked with.
    key: Option<DatabaseKey>,
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        let conn = match self.url.backend {
            Backend::Postgres => {
                PgConnection::establish(&self.url.target).map(DbConnection::Postgresql)
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.url.target)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                if let Some(key) = &self.key {
                    key.unlock(&mut conn).map_err(|e| {
                        diesel::r2d2::Error::ConnectionError(
                            diesel::ConnectionError::BadConnection(e.to_string()),
                        )
                    })?;
                }
                return Ok(DbConnection::Sqlite(conn));
            }
        };
        conn.map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// Per-connection SQLite settings (PRAGMAs are per connection, not per file),
/// set for a server rather than left at SQLite's embedded-use defaults
/// (issue #27: the defaults made a load flush cache pages mid-transaction,
/// checkpoint every 4 MB).
///
/// - `busy_timeout` first, so that switching to WAL waits for other
///   processes instead of failing at once.
/// - `journal_mode=WAL`: readers never block the writer and the writer never
///   blocks readers.
/// - `synchronous=FULL` kept: in WAL mode `NORMAL` skips the fsync of each
///   commit, so an acknowledged write would survive a crash of the process
///   but not a power loss or OS crash, which a clinical store cannot accept.
///   The cost is one fsync per commit, and a transaction Bundle (or an
///   `import` chunk) is one commit: measured on Synthea-120 the load is
///   CPU-bound, not sync-bound (issue #27).
/// - `cache_size=-65536`: a 64 MiB page cache per connection (the default
///   is 2 MiB), an upper bound that only a connection that writes large
///   transactions fills; `mmap_size` 256 MiB lets reads use the OS's pages
///   in place instead of copying them into that cache.
/// - `wal_autocheckpoint=10000` pages (~40 MB of WAL between checkpoints,
///   default 1,000): fewer, larger checkpoints during a load.
/// - `temp_store=MEMORY`: sorts and temporary b-trees of searches stay in
///   memory.
/// - `foreign_keys=ON`: SQLite leaves them off by default.
#[derive(Debug, Clone, Copy)]
struct SqlitePragmas;

/// The statements [`SqlitePragmas`] runs on every new connection.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; PRAGMA cache_size = -65536; \
     PRAGMA mmap_size = 268435456; PRAGMA wal_autocheckpoint = 10000; \
     PRAGMA temp_store = MEMORY; PRAGMA foreign_keys = ON;";

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        if let DbConnection::Sqlite(c) = conn {
            c.batch_execute(SQLITE_PRAGMAS)
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// Refuses a key where it would not encrypt, and reports a wrong key as a
/// configuration error (not "database unavailable").
fn check_key(url: &DatabaseUrl, key: &DatabaseKey) -> Result<(), StoreError> {
    if url.backend == Backend::Postgres {
        return Err(StoreError::Config(format!(
            "{} / {} apply to SQLite only: PostgreSQL data is encrypted by the \
             server's own storage encryption, and the link by TLS (sslmode=require)",
            encryption::KEY_FILE_VAR,
            encryption::KEY_VAR
        )));
    }
    let mut conn = SqliteConnection::establish(&url.target)
        .map_err(|e| StoreError::Unavailable(format!("cannot open the database: {e}")))?;
    if encryption::sqlcipher_version(&mut conn).is_none() {
        return Err(StoreError::Config(
            "a database key is set but this build's SQLite is not SQLCipher".into(),
        ));
    }
    key.unlock(&mut conn)
}

/// An encrypted file opened with no key reads as "file is not a database";
/// say what to do instead.
fn check_plain(url: &DatabaseUrl) -> Result<(), StoreError> {
    let mut conn = SqliteConnection::establish(&url.target)
        .map_err(|e| StoreError::Unavailable(format!("cannot open the database: {e}")))?;
    match conn.batch_execute("SELECT count(*) FROM sqlite_master;") {
        Err(e) if e.to_string().contains("not a database") => Err(StoreError::Config(format!(
            "{} is encrypted or is not a SQLite database: give its key in {} or {}",
            url.target,
            encryption::KEY_FILE_VAR,
            encryption::KEY_VAR
        ))),
        _ => Ok(()),
    }
}

/// r2d2's default handler logs every failed connection attempt at `error`,
/// many times a second while the database is down. The request that could
/// not get a connection is answered 503 and logged once; this only notes the
/// attempts.
#[derive(Debug, Clone, Copy)]
struct WarnOnError;

impl HandleError<diesel::r2d2::Error> for WarnOnError {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        log::warn!("database connection attempt failed: {error}");
    }
}

/// Builds the pool and applies pending migrations. A SQLite database is
/// encrypted with the key the environment gives ([`encryption`]).
pub fn open_pool(url: &DatabaseUrl, max_size: u32) -> Result<Pool<Manager>, StoreError> {
    let max_size = if url.is_memory() { 1 } else { max_size.max(1) };
    let key = DatabaseKey::from_env()?;
    match &key {
        Some(key) => check_key(url, key)?,
        None if url.backend == Backend::Sqlite && !url.is_memory() => check_plain(url)?,
        None => {}
    }
    let manager = Manager {
        url: url.clone(),
        key,
    };
    // One direct attempt first, so a wrong URL or a stopped server fails at
    // once with the driver's message instead of after the pool's timeout.
    // (For `:memory:` this throwaway connection is a database of its own.)
    manager
        .connect()
        .map_err(|e| StoreError::Unavailable(format!("cannot connect to the database: {e}")))?;
    let pool = Pool::builder()
        .max_size(max_size)
        .connection_timeout(Duration::from_secs(10))
        .connection_customizer(Box::new(SqlitePragmas))
        .error_handler(Box::new(WarnOnError))
        .build(manager)
        .map_err(|e| StoreError::Unavailable(format!("cannot connect to the database: {e}")))?;
    let mut conn = pool
        .get()
        .map_err(|e| StoreError::Unavailable(format!("cannot connect to the database: {e}")))?;
    let applied = match &mut *conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        DbConnection::Postgresql(c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(|v| v.len()),
    }
    .map_err(|e| StoreError::Fault(format!("applying migrations failed: {e}")))?;
    if applied > 0 {
        log::info!("applied {applied} database migration(s)");
    }
    drop(conn);
    Ok(pool)
}
