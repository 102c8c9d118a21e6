//! Test databases for the store and REST tests: every test gets a fresh
//! SQLite file and a fresh PostgreSQL database, dropped afterwards, so runs
//! (and tests within a run) never see each other's rows.
//!
//! PostgreSQL is at `postgres://postgres@127.0.0.1:5432/test` unless
//! `FHIR_TEST_POSTGRES_URL` says otherwise. When it cannot be reached the
//! tests fail, unless `FHIR_TEST_SKIP_POSTGRES=1`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use diesel::{Connection, PgConnection, RunQueryDsl};

use super::Store;

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A store on a database that is deleted when this is dropped.
pub struct TestDb {
    pub store: Store,
    pub label: &'static str,
    /// The `--database` URL of this database.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteFile(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

fn unique_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("fhir_t_{}_{}_{}", std::process::id(), nanos, n)
}

pub fn sqlite() -> TestDb {
    let path = std::env::temp_dir().join(format!("{}.db", unique_name()));
    let url = format!("sqlite:{}", path.display());
    let store = Store::open(&url, 4).expect("open SQLite test store");
    TestDb {
        store,
        label: "sqlite",
        url,
        cleanup: Cleanup::SqliteFile(path),
    }
}

fn skip_postgres() -> bool {
    std::env::var("FHIR_TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1")
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let prefix = match base[scheme_end..].rfind('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

pub fn postgres() -> Option<TestDb> {
    if skip_postgres() {
        return None;
    }
    let admin_url =
        std::env::var("FHIR_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
    let mut admin = PgConnection::establish(&admin_url).unwrap_or_else(|e| {
        panic!(
            "PostgreSQL tests need a server at {admin_url} ({e}). Start PostgreSQL, point \
             FHIR_TEST_POSTGRES_URL at one, or set FHIR_TEST_SKIP_POSTGRES=1 to skip them."
        )
    });
    let name = unique_name();
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .unwrap_or_else(|e| panic!("cannot create test database {name} at {admin_url}: {e}"));
    let url = with_database(&admin_url, &name);
    let store = Store::open(&url, 4).expect("open PostgreSQL test store");
    Some(TestDb {
        store,
        label: "postgres",
        url,
        cleanup: Cleanup::Postgres { admin_url, name },
    })
}

/// One fresh store per backend: SQLite always, PostgreSQL unless skipped.
pub fn backends() -> Vec<TestDb> {
    let mut v = vec![sqlite()];
    v.extend(postgres());
    v
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                // FORCE ends the pool's connections, which are still open here.
                if let Ok(mut admin) = PgConnection::establish(admin_url) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut admin);
                }
            }
        }
    }
}

#[test]
fn with_database_replaces_the_name() {
    assert_eq!(
        with_database("postgres://u@h:5432/test", "x"),
        "postgres://u@h:5432/x"
    );
    assert_eq!(
        with_database("postgres://u@h/test?sslmode=disable", "x"),
        "postgres://u@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
}
