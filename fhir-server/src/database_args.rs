//! `--database` and its companions, the same in every subcommand that
//! opens the store (`serve`, `import`, `import-codes`, `audit verify`), and
//! the pool flags of `serve`.
//!
//! Issue #18 item 8: configuration by environment for containers, a
//! password kept out of `ps` and the logs, and no silent fallback to a
//! local SQLite file. So:
//! - `FHIR_DATABASE_URL` is read when `--database` is absent;
//! - `--database-password-file` (`FHIR_DATABASE_PASSWORD_FILE`) puts a
//!   password read from a file into a PostgreSQL URL that has none, so it
//!   appears in neither the command line nor the environment;
//! - every URL shown is [`masked`];
//! - with the generic `DATABASE_URL` set but neither of ours, the command
//!   refuses to start: running on `sqlite:fhir.db` next to a PostgreSQL
//!   the operator meant would split the data between nodes. Without any
//!   of them, the default `sqlite:fhir.db` is used and logged as such.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use crate::store::{masked, DbOptions, PoolConfig, Store};

/// Where data lives when nothing says otherwise.
pub const DEFAULT_DATABASE: &str = "sqlite:fhir.db";

/// The environment variable other tools (diesel CLI, Heroku-style
/// platforms) use; this server does not read it, and says so.
const GENERIC_VAR: &str = "DATABASE_URL";

/// The database flags, flattened into each subcommand that opens one.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite:PATH` (created if missing), `sqlite::memory:`, or
    /// `postgres://user@host:port/db` [default: sqlite:fhir.db]. Give the
    /// password with --database-password-file rather than in the URL,
    /// which `ps` shows.
    #[arg(long, env = "FHIR_DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,
    /// A file holding the database password (its first line), put into
    /// the PostgreSQL URL; the URL itself must carry none.
    #[arg(long, env = "FHIR_DATABASE_PASSWORD_FILE", value_name = "PATH")]
    pub database_password_file: Option<PathBuf>,
}

/// A database URL ready to open, and how it may be shown.
pub struct Database {
    url: String,
    /// Where the URL came from, for the log line.
    source: &'static str,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl Database {
    /// The URL with its password masked: the only form that is printed.
    pub fn display(&self) -> String {
        masked(&self.url)
    }

    /// Opens the store (migrations included) and logs which database is
    /// in use and why, masked.
    pub fn open(&self, pool: &PoolConfig) -> anyhow::Result<Store> {
        self.open_with(&DbOptions {
            pool: *pool,
            ..DbOptions::new(pool.max_size)
        })
    }

    /// [`Database::open`] with `serve`'s migration and timeout choices.
    pub fn open_with(&self, opts: &DbOptions) -> anyhow::Result<Store> {
        let store = Store::open_with(&self.url, opts)
            .with_context(|| format!("cannot open database {}", self.display()))?;
        log::info!(
            "database {} ready ({:?}; {})",
            self.display(),
            store.backend(),
            self.source
        );
        Ok(store)
    }
}

impl Database {
    /// `fhir-server migrate`: applies the pending migrations; their names.
    pub fn migrate(&self) -> anyhow::Result<Vec<String>> {
        Store::migrate(&self.url)
            .with_context(|| format!("cannot migrate database {}", self.display()))
    }
}

impl DatabaseArgs {
    /// The URL to use (see the module doc).
    pub fn resolve(&self) -> anyhow::Result<Database> {
        self.resolve_with(std::env::var_os(GENERIC_VAR).is_some())
    }

    fn resolve_with(&self, generic_set: bool) -> anyhow::Result<Database> {
        let (url, source) = match &self.database {
            Some(url) => (url.clone(), "from --database or FHIR_DATABASE_URL"),
            None if generic_set => bail!(
                "{GENERIC_VAR} is set, but fhir-server reads its database from \
                 FHIR_DATABASE_URL (or --database); set FHIR_DATABASE_URL, or pass \
                 --database {DEFAULT_DATABASE} to use the local file on purpose"
            ),
            None => (
                DEFAULT_DATABASE.to_owned(),
                "the default: neither --database nor FHIR_DATABASE_URL is set",
            ),
        };
        let url = match &self.database_password_file {
            Some(path) => with_password(&url, &read_password(path)?)?,
            None => url,
        };
        Ok(Database { url, source })
    }
}

/// The first line of the password file (a trailing newline is not part of
/// the password).
fn read_password(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the database password file {}", path.display()))?;
    let password = text.lines().next().unwrap_or("");
    if password.is_empty() {
        bail!("the database password file {} is empty", path.display());
    }
    Ok(password.to_owned())
}

/// `postgres://user@host/db` with `password` added to its user-info,
/// percent-encoded (a password may hold `@`, `:` or `/`).
fn with_password(url: &str, password: &str) -> anyhow::Result<String> {
    let Some((scheme, rest)) = url
        .split_once("://")
        .filter(|(s, _)| *s == "postgres" || *s == "postgresql")
    else {
        bail!(
            "--database-password-file needs a postgres:// database URL, not {}",
            masked(url)
        );
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((user, host)) = authority.rsplit_once('@') else {
        bail!(
            "{} names no user to give the password of --database-password-file to \
             (postgres://USER@host/db)",
            masked(url)
        );
    };
    if user.contains(':') || tail.to_ascii_lowercase().contains("password=") {
        bail!(
            "{} already has a password; give it in one place only",
            masked(url)
        );
    }
    let encoded =
        percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC);
    Ok(format!("{scheme}://{user}:{encoded}@{host}{tail}"))
}

/// The pool of `serve` (issue #18 item 6: N nodes on one PostgreSQL; see
/// README "Running several servers" for sizing).
#[derive(Debug, Clone, Args)]
pub struct PoolArgs {
    /// The most database connections this process opens. With N servers
    /// on one PostgreSQL keep N × this below `max_connections` minus the
    /// connections kept for administration and tools.
    #[arg(long, alias = "pool-size", env = "FHIR_POOL_MAX", default_value_t = 16)]
    pub pool_max: u32,
    /// Connections kept open while idle; the pool grows up to --pool-max
    /// only under load and shrinks back after 10 idle minutes.
    #[arg(long, env = "FHIR_POOL_MIN_IDLE", default_value_t = 1)]
    pub pool_min_idle: u32,
    /// Seconds a request waits for a free connection; then it is answered
    /// 503 with `Retry-After` (a transient OperationOutcome).
    #[arg(long, env = "FHIR_POOL_TIMEOUT_SECS", default_value_t = 5)]
    pub pool_timeout_secs: u64,
}

impl PoolArgs {
    pub fn config(&self) -> PoolConfig {
        PoolConfig {
            max_size: self.pool_max,
            min_idle: Some(self.pool_min_idle),
            timeout: Duration::from_secs(self.pool_timeout_secs.max(1)),
        }
    }
}

/// `serve --replica-database` (issue #18): PostgreSQL streaming replicas
/// that reads and searches may be served from (`fhir_store::store::replica`).
#[derive(Debug, Clone, Args)]
pub struct ReplicaArgs {
    /// A PostgreSQL streaming replica of --database (`postgres://…`, the
    /// same database name) that reads, searches, history and $everything
    /// may be served from; repeatable (round robin). Writes stay on the
    /// primary, and a client's reads after its write see it (the
    /// `X-Commit-Position` header, see README). In the environment: a
    /// comma- or space-separated list.
    #[arg(
        long = "replica-database",
        value_name = "URL",
        env = "FHIR_REPLICA_DATABASE",
        hide_env_values = true
    )]
    pub replica_database: Vec<String>,
    /// A replica with more WAL than this received but not yet replayed is
    /// passed over (reads go to the next one, or the primary).
    #[arg(long, env = "FHIR_REPLICA_MAX_LAG_BYTES", default_value_t = crate::store::replica::DEFAULT_MAX_LAG_BYTES)]
    pub replica_max_lag_bytes: u64,
}

impl ReplicaArgs {
    /// Every URL given, the environment's list split on commas and spaces.
    pub fn urls(&self) -> Vec<String> {
        self.replica_database
            .iter()
            .flat_map(|v| v.split(|c: char| c == ',' || c.is_whitespace()))
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Adds the replicas to `store`, logging each masked.
    pub fn attach(&self, store: Store, opts: &DbOptions) -> anyhow::Result<Store> {
        let urls = self.urls();
        if urls.is_empty() {
            return Ok(store);
        }
        let shown: Vec<String> = urls.iter().map(|u| masked(u)).collect();
        let config = crate::store::replica::ReplicaConfig {
            urls,
            max_lag_bytes: self.replica_max_lag_bytes,
        };
        let store = store
            .with_replicas(&config, opts)
            .with_context(|| format!("cannot use the read replicas {}", shown.join(", ")))?;
        log::info!("reads may be served by the replicas {}", shown.join(", "));
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(database: Option<&str>, file: Option<PathBuf>) -> DatabaseArgs {
        DatabaseArgs {
            database: database.map(str::to_owned),
            database_password_file: file,
        }
    }

    #[test]
    fn replica_lists_split_on_commas_and_spaces() {
        let a = ReplicaArgs {
            replica_database: vec![
                "postgres://a/db, postgres://b/db".into(),
                "postgres://c/db".into(),
                " ".into(),
            ],
            replica_max_lag_bytes: 0,
        };
        assert_eq!(
            a.urls(),
            ["postgres://a/db", "postgres://b/db", "postgres://c/db"]
        );
    }

    #[test]
    fn the_generic_variable_alone_is_refused() {
        let e = args(None, None).resolve_with(true).unwrap_err().to_string();
        assert!(e.contains("FHIR_DATABASE_URL"), "{e}");
        let d = args(None, None).resolve_with(false).unwrap();
        assert_eq!(d.display(), DEFAULT_DATABASE);
        let d = args(Some("sqlite:x.db"), None).resolve_with(true).unwrap();
        assert_eq!(d.display(), "sqlite:x.db");
    }

    #[test]
    fn the_password_goes_into_the_url_encoded_and_is_never_shown() {
        let dir = std::env::temp_dir().join(format!("fhir-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "p@ss:w/rd\n").unwrap();
        let d = args(Some("postgres://fhir@db:5432/fhir"), Some(file.clone()))
            .resolve_with(false)
            .unwrap();
        assert_eq!(d.url, "postgres://fhir:p%40ss%3Aw%2Frd@db:5432/fhir");
        assert_eq!(d.display(), "postgres://fhir:***@db:5432/fhir");
        assert!(!format!("{d:?}").contains("p%40ss"));
        for bad in [
            "sqlite:fhir.db",
            "postgres://db/fhir",
            "postgres://fhir:other@db/fhir",
        ] {
            assert!(args(Some(bad), Some(file.clone()))
                .resolve_with(false)
                .is_err());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
