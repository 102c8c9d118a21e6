//! A throw-away PostgreSQL database per test server.
//!
//! The databases are made and dropped with the `psql` client rather than a
//! Rust driver: the tests need two statements per server, and `psql` is on
//! every machine that runs PostgreSQL, so this keeps the test build small.

use std::process::Command;

use crate::server::unique_suffix;

/// The server the tests use unless `FHIR_TEST_POSTGRES_URL` says otherwise:
/// local, trust authentication, an existing database `test` to connect to.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The admin URL: `FHIR_TEST_POSTGRES_URL` or [`DEFAULT_URL`].
pub fn admin_url() -> String {
    std::env::var("FHIR_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// A database `fhir_ct_<pid>_<nanos>` created on the admin server. Call
/// [`PgDatabase::drop_database`] to remove it (the test server does so on Drop).
#[derive(Debug)]
pub struct PgDatabase {
    admin: String,
    name: String,
    url: String,
}

impl PgDatabase {
    /// Creates a fresh, empty database.
    pub fn create() -> Result<PgDatabase, String> {
        let admin = admin_url();
        let name = format!("fhir_ct_{}", unique_suffix());
        psql(&admin, &format!("CREATE DATABASE \"{name}\""))?;
        let url = with_database(&admin, &name)?;
        Ok(PgDatabase { admin, name, url })
    }

    /// The connection URL of the new database, for `--database`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database, forcibly closing connections a killed server
    /// might have left. Failures are reported on stderr, not raised: this
    /// runs from Drop.
    pub fn drop_database(self) {
        if let Err(e) = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        ) {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

/// Replaces the database part of a `postgres://…/db?params` URL.
fn with_database(url: &str, db: &str) -> Result<String, String> {
    let scheme_end = url
        .find("://")
        .ok_or_else(|| format!("not a postgres:// URL: {url}"))?
        + 3;
    let (head, rest) = url.split_at(scheme_end);
    let (authority, query) = match rest.find('/') {
        Some(i) => {
            let after = &rest[i + 1..];
            (
                &rest[..i],
                after.find('?').map(|q| &after[q..]).unwrap_or(""),
            )
        }
        None => (
            rest.split('?').next().unwrap_or(rest),
            rest.find('?').map(|q| &rest[q..]).unwrap_or(""),
        ),
    };
    Ok(format!("{head}{authority}/{db}{query}"))
}

fn psql(url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "5")
        .output()
        .map_err(|e| format!("cannot run psql ({e}); install the PostgreSQL client"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "psql {url} -c {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/test?sslmode=disable", "x").unwrap(),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:1", "x").unwrap(),
            "postgres://u@h:1/x"
        );
    }
}
