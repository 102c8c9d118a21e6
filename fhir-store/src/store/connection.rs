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
            "database URL {:?} is neither sqlite:PATH nor postgres://…",
            masked(url)
        )))
    }

    /// An in-memory SQLite database exists once per connection, so its pool
    /// must hold exactly one connection.
    pub fn is_memory(&self) -> bool {
        self.backend == Backend::Sqlite && self.target == ":memory:"
    }
}

/// `url` with its password (the user-info's, and a `password=` query
/// parameter's) replaced by `***`: what logs, errors and `ps`-visible
/// messages may show of a database URL.
pub fn masked(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let mut out = match head.split_once("://") {
        Some((scheme, rest)) => {
            // The authority ends at the first `/`; its user-info at the last `@`.
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                    let hidden = if userinfo.contains(':') { ":***" } else { "" };
                    format!("{scheme}://{user}{hidden}@{host}{path}")
                }
                None => head.to_owned(),
            }
        }
        None => head.to_owned(),
    };
    if let Some(q) = query {
        let params: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => p.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// How the pool of `serve` is sized (`--pool-max`, `--pool-min-idle`,
/// `--pool-timeout-secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// The most connections this process opens.
    pub max_size: u32,
    /// Idle connections kept open; the pool grows from here to `max_size`
    /// only under load. `None` keeps `max_size` open from the start, which
    /// N nodes multiply against PostgreSQL's `max_connections`.
    pub min_idle: Option<u32>,
    /// How long a request waits for a free connection before it is
    /// answered 503 with `Retry-After`.
    pub timeout: Duration,
}

impl PoolConfig {
    /// `max_size` connections, all opened at start, 10 s wait: the tools
    /// (`import`, `audit verify`) and the tests.
    pub fn fixed(max_size: u32) -> Self {
        PoolConfig {
            max_size,
            min_idle: None,
            timeout: Duration::from_secs(10),
        }
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

/// What a start does with migrations the database has not had yet
/// (`serve --migrate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrate {
    /// Apply them, under the schema lock ([`SCHEMA_LOCK`]), so nodes
    /// started together on one fresh database apply them once.
    Auto,
    /// Apply nothing; refuse to start while any is pending (the operator
    /// runs `fhir-server migrate` once, before rolling the nodes).
    Off,
}

/// How a store connects: pool size, migrations, and the PostgreSQL
/// timeouts every pooled connection gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbOptions {
    pub pool: PoolConfig,
    pub migrate: Migrate,
    /// PostgreSQL `statement_timeout` (0: none): a runaway statement ends
    /// with 503 instead of holding a connection and its locks forever.
    pub statement_timeout_ms: u64,
    /// PostgreSQL `lock_timeout` (0: none): a write queued behind a lock
    /// held by a stuck node ends with 503 instead of queueing every
    /// request of the cluster behind it.
    pub lock_timeout_ms: u64,
}

/// `serve`'s default statement timeout: a statement may run a minute (a
/// large `$everything` page; a 50 MB transaction's statements are each far
/// shorter).
pub const DEFAULT_STATEMENT_TIMEOUT_MS: u64 = 60_000;
/// `serve`'s default lock timeout: 10 s, the same as a pool connection wait.
pub const DEFAULT_LOCK_TIMEOUT_MS: u64 = 10_000;

impl DbOptions {
    /// Migrations `Auto` and the default timeouts.
    pub fn new(pool_size: u32) -> Self {
        Self {
            pool: PoolConfig::fixed(pool_size),
            migrate: Migrate::Auto,
            statement_timeout_ms: DEFAULT_STATEMENT_TIMEOUT_MS,
            lock_timeout_ms: DEFAULT_LOCK_TIMEOUT_MS,
        }
    }
}

/// The PostgreSQL advisory lock key every node takes around migrations
/// and package loading (see [`super::cluster_lock`]): "fhirschm" in ASCII.
pub const SCHEMA_LOCK: i64 = 0x6668_6972_7363_686d;

/// Per-connection settings: SQLite's PRAGMAs ([`SqlitePragmas`]) and
/// PostgreSQL's timeouts of [`DbOptions`].
#[derive(Debug, Clone, Copy)]
struct ConnectionSettings {
    statement_timeout_ms: u64,
    lock_timeout_ms: u64,
}

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for ConnectionSettings {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        SqlitePragmas.on_acquire(conn)?;
        if let DbConnection::Postgresql(c) = conn {
            c.batch_execute(&format!(
                "SET statement_timeout = {}; SET lock_timeout = {};",
                self.statement_timeout_ms, self.lock_timeout_ms
            ))
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// Checks the key (SQLite) and makes the first connection, outside the
/// pool, so a wrong URL or a stopped server fails at once with the
/// driver's message instead of after the pool's timeout.
fn first_connection(url: &DatabaseUrl) -> Result<(Manager, DbConnection), StoreError> {
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
    let conn = manager
        .connect()
        .map_err(|e| StoreError::Unavailable(format!("cannot connect to the database: {e}")))?;
    Ok((manager, conn))
}

/// `fhir-server migrate`: applies the pending migrations under the schema
/// lock; returns their names.
pub fn migrate(url: &DatabaseUrl) -> Result<Vec<String>, StoreError> {
    if url.is_memory() {
        return Err(StoreError::Config(
            "an in-memory database lives only as long as its process: nothing to migrate".into(),
        ));
    }
    let (_, mut conn) = first_connection(url)?;
    prepare_schema(&mut conn, Migrate::Auto)
}

/// Records the current search index format in a database that holds no
/// resource yet (a missing row means format 1, a database from before the
/// format was recorded). Without it, a database that `import` or `migrate`
/// made, not `serve`, looked old to the next `serve`, which reindexed every
/// resource at start (92,114 after an import of Synthea-120).
static EMPTY_IS_CURRENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO index_format (id, format) SELECT 1, {} \
         WHERE NOT EXISTS (SELECT 1 FROM index_format) \
         AND NOT EXISTS (SELECT 1 FROM resource_versions)",
        super::INDEX_FORMAT
    )
});

/// Applies (`Auto`) or checks (`Off`) the migrations on `conn`.
///
/// Nodes started together must not both apply them: diesel's bookkeeping
/// table and each migration's `CREATE` would race (PostgreSQL answers the
/// loser with a duplicate key in `pg_type`). PostgreSQL: a session
/// advisory lock on [`SCHEMA_LOCK`] around the run, waited for without a
/// timeout (this connection is not a pooled one); the next node then
/// finds nothing pending. SQLite: the run is one `BEGIN IMMEDIATE`
/// transaction, which holds the file's write lock (other processes wait
/// in `busy_timeout`).
fn prepare_schema(conn: &mut DbConnection, mode: Migrate) -> Result<Vec<String>, StoreError> {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| {
        StoreError::Fault(format!("applying migrations failed: {e}"))
    };
    // Another process may be switching the file to WAL or migrating it:
    // wait for it rather than fail (this connection is not a pooled one,
    // so it has no busy_timeout yet).
    if let DbConnection::Sqlite(c) = conn {
        c.batch_execute("PRAGMA busy_timeout = 60000;")
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    }
    if mode == Migrate::Off {
        let pending: Vec<String> = match conn {
            DbConnection::Sqlite(c) => c
                .pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.name().to_string()).collect()),
            DbConnection::Postgresql(c) => c
                .pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.iter().map(|m| m.name().to_string()).collect()),
        }
        .map_err(failed)?;
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        return Err(StoreError::Config(format!(
            "the database schema is not up to date: {} migration(s) pending ({}); \
             run `fhir-server migrate --database URL` once, or start with --migrate auto",
            pending.len(),
            pending.join(", ")
        )));
    }
    let applied = match conn {
        DbConnection::Sqlite(c) => c.immediate_transaction(|c| {
            let applied = c
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.iter().map(ToString::to_string).collect::<Vec<_>>())?;
            c.batch_execute(&EMPTY_IS_CURRENT)?;
            Ok(applied)
        }),
        DbConnection::Postgresql(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({SCHEMA_LOCK})"))
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let applied = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.iter().map(ToString::to_string).collect::<Vec<_>>())
                .and_then(|applied| {
                    c.batch_execute(&EMPTY_IS_CURRENT)?;
                    Ok(applied)
                });
            let _ = c.batch_execute(&format!("SELECT pg_advisory_unlock({SCHEMA_LOCK})"));
            applied
        }
    }
    .map_err(failed)?;
    if !applied.is_empty() {
        log::info!("applied {} database migration(s)", applied.len());
    }
    Ok(applied)
}

/// Builds the pool, after applying (or checking, `--migrate off`) the
/// migrations. A SQLite database is encrypted with the key the environment
/// gives ([`encryption`]).
pub fn open_pool(url: &DatabaseUrl, opts: &DbOptions) -> Result<Pool<Manager>, StoreError> {
    let max_size = if url.is_memory() {
        1
    } else {
        opts.pool.max_size.max(1)
    };
    let min_idle = opts.pool.min_idle.map(|n| n.min(max_size));
    let (manager, mut first) = first_connection(url)?;
    // `:memory:` is a database per connection: migrate the pool's own.
    if !url.is_memory() {
        prepare_schema(&mut first, opts.migrate)?;
    }
    drop(first);
    let pool = Pool::builder()
        .max_size(max_size)
        .min_idle(min_idle)
        .connection_timeout(opts.pool.timeout)
        .connection_customizer(Box::new(ConnectionSettings {
            statement_timeout_ms: opts.statement_timeout_ms,
            lock_timeout_ms: opts.lock_timeout_ms,
        }))
        .error_handler(Box::new(WarnOnError))
        .build(manager)
        .map_err(|e| StoreError::Unavailable(format!("cannot connect to the database: {e}")))?;
    if url.is_memory() {
        let mut conn = pool
            .get()
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to the database: {e}")))?;
        prepare_schema(&mut conn, opts.migrate)?;
    }
    Ok(pool)
}

/// The pool of a read replica (`serve --replica-database`): sized and set
/// up like the primary's, with no migrations (a standby is read-only and
/// receives the primary's), and built without waiting for a connection so
/// that a replica down at start does not stop the server.
pub fn replica_pool(url: &DatabaseUrl, opts: &DbOptions) -> Pool<Manager> {
    let max_size = opts.pool.max_size.max(1);
    Pool::builder()
        .max_size(max_size)
        .min_idle(opts.pool.min_idle.map(|n| n.min(max_size)))
        .connection_timeout(opts.pool.timeout)
        .connection_customizer(Box::new(ConnectionSettings {
            statement_timeout_ms: opts.statement_timeout_ms,
            lock_timeout_ms: opts.lock_timeout_ms,
        }))
        .error_handler(Box::new(WarnOnError))
        .build_unchecked(Manager {
            url: url.clone(),
            key: None,
        })
}

/// Whether migrations embedded in this binary are not yet applied to the
/// database `conn` is on (`/readyz`: a node must not serve a schema it
/// does not know).
pub fn has_pending_migrations(conn: &mut DbConnection) -> Result<bool, StoreError> {
    match conn {
        DbConnection::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
        DbConnection::Postgresql(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
    }
    .map_err(|e| StoreError::Fault(format!("reading the applied migrations failed: {e}")))
}

#[cfg(test)]
mod masked_tests {
    use super::masked;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            masked("postgres://fhir:s3cret@db:5432/fhir"),
            "postgres://fhir:***@db:5432/fhir"
        );
        assert_eq!(
            masked("postgres://fhir:p@ss@db/fhir?sslmode=require"),
            "postgres://fhir:***@db/fhir?sslmode=require"
        );
        assert_eq!(
            masked("postgresql://db/fhir?user=a&password=s3cret"),
            "postgresql://db/fhir?user=a&password=***"
        );
        assert_eq!(masked("postgres://fhir@db/fhir"), "postgres://fhir@db/fhir");
        assert_eq!(masked("sqlite:fhir.db"), "sqlite:fhir.db");
    }
}
