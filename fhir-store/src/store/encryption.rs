//! Encryption at rest for the embedded store: SQLite is built as SQLCipher
//! (libsqlite3-sys `bundled-sqlcipher`, AES-256 over every page, the WAL
//! included), and a database opened with a key is unreadable without it.
//! A database opened with no key is plain SQLite, as before.
//!
//! The key comes from the environment, read once per store, so that every
//! command that opens the database (`serve`, `import`, `import-codes`) takes
//! it the same way and it never appears in a process listing:
//!
//! - `FHIR_DATABASE_KEY_FILE`: a file holding the key (surrounding whitespace
//!   is ignored) — the way a secret manager or a container mounts it;
//! - `FHIR_DATABASE_KEY`: the key itself.
//!
//! A key of 64 hexadecimal digits is used as the raw 256-bit key (no key
//! derivation); anything else is a passphrase SQLCipher derives the key from
//! (PBKDF2-HMAC-SHA512). PostgreSQL relies on the server's own encryption and
//! on TLS to it (`sslmode=require` in the URL), so a key with a PostgreSQL
//! URL is a configuration error rather than silently ignored.

use std::fmt;

use diesel::connection::SimpleConnection;
use diesel::SqliteConnection;

use super::StoreError;

/// The variable naming a file that holds the key.
pub const KEY_FILE_VAR: &str = "FHIR_DATABASE_KEY_FILE";
/// The variable holding the key itself.
pub const KEY_VAR: &str = "FHIR_DATABASE_KEY";

/// A SQLCipher key. Never printed: `Debug` shows only that there is one.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseKey(String);

impl fmt::Debug for DatabaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatabaseKey(…)")
    }
}

impl DatabaseKey {
    /// A key from its text; empty text is refused (SQLCipher would take an
    /// empty key as "no encryption", which is not what anyone setting one
    /// means).
    pub fn new(text: &str) -> Result<Self, StoreError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(StoreError::Config("the database key is empty".into()));
        }
        Ok(Self(text.to_owned()))
    }

    /// The key the environment gives (see the module doc), if any.
    pub fn from_env() -> Result<Option<Self>, StoreError> {
        if let Some(path) = std::env::var_os(KEY_FILE_VAR) {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                StoreError::Config(format!(
                    "{KEY_FILE_VAR}={}: cannot read the key file: {e}",
                    std::path::Path::new(&path).display()
                ))
            })?;
            return Self::new(&text).map(Some);
        }
        match std::env::var(KEY_VAR) {
            Ok(text) => Self::new(&text).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(StoreError::Config(format!("{KEY_VAR} is not valid UTF-8")))
            }
        }
    }

    /// The `PRAGMA key` statement: a raw key for 64 hex digits, else a
    /// passphrase, quoted as an SQL string literal.
    fn pragma(&self) -> String {
        if self.0.len() == 64 && self.0.bytes().all(|b| b.is_ascii_hexdigit()) {
            format!("PRAGMA key = \"x'{}'\";", self.0)
        } else {
            format!("PRAGMA key = '{}';", self.0.replace('\'', "''"))
        }
    }

    /// Unlocks a freshly opened connection. `PRAGMA key` must be the first
    /// statement and never fails by itself, so a page is read at once: a
    /// wrong key (or a plain database opened with a key) is reported here,
    /// naming the likely cause, instead of as "file is not a database" on the
    /// first query.
    pub fn unlock(&self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
        conn.batch_execute(&self.pragma())
            .and_then(|()| conn.batch_execute("SELECT count(*) FROM sqlite_master;"))
            .map_err(|e| {
                StoreError::Config(format!(
                    "cannot open the database with the configured key ({e}): \
                     the key is wrong, or the database was created without one"
                ))
            })
    }
}

/// Whether this SQLite build can encrypt (it is SQLCipher), checked once at
/// start-up so a key given to a plain build fails loudly rather than
/// writing plaintext.
pub fn sqlcipher_version(conn: &mut SqliteConnection) -> Option<String> {
    use diesel::{sql_query, QueryableByName, RunQueryDsl};
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        cipher_version: String,
    }
    sql_query("PRAGMA cipher_version")
        .get_result::<Row>(conn)
        .ok()
        .map(|r| r.cipher_version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::Connection;

    /// A file name no other test uses; removed when dropped.
    struct TempDb(std::path::PathBuf);

    impl Drop for TempDb {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn temp_db() -> (TempDb, String) {
        let path = std::env::temp_dir().join(format!("fhir_enc_{}.db", uuid::Uuid::new_v4()));
        let text = path.to_string_lossy().into_owned();
        (TempDb(path), text)
    }

    #[test]
    fn the_build_is_sqlcipher() {
        let mut conn = SqliteConnection::establish(":memory:").expect("open");
        assert!(sqlcipher_version(&mut conn).is_some());
    }

    #[test]
    fn encrypted_file_needs_its_key() {
        let (_dir, path) = temp_db();
        let key = DatabaseKey::new("correct horse battery staple").expect("key");
        {
            let mut conn = SqliteConnection::establish(&path).expect("open");
            key.unlock(&mut conn).expect("unlock new file");
            conn.batch_execute("CREATE TABLE t(x TEXT); INSERT INTO t VALUES ('secret-marker');")
                .expect("write");
        }
        let bytes = std::fs::read(&path).expect("read file");
        assert!(!bytes.starts_with(b"SQLite format 3\0"), "plain header");
        assert!(
            !bytes.windows(13).any(|w| w == b"secret-marker"),
            "plaintext in the file"
        );

        let mut conn = SqliteConnection::establish(&path).expect("open");
        key.unlock(&mut conn).expect("right key");
        let wrong = DatabaseKey::new("wrong").expect("key");
        let mut conn = SqliteConnection::establish(&path).expect("open");
        let err = wrong.unlock(&mut conn).expect_err("wrong key");
        assert!(err.to_string().contains("key is wrong"), "{err}");
        let mut conn = SqliteConnection::establish(&path).expect("open");
        assert!(conn
            .batch_execute("SELECT count(*) FROM sqlite_master")
            .is_err());
    }

    #[test]
    fn raw_hex_keys_and_quotes() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        assert_eq!(
            DatabaseKey::new(hex).expect("key").pragma(),
            format!("PRAGMA key = \"x'{hex}'\";")
        );
        assert_eq!(
            DatabaseKey::new(" it's ").expect("key").pragma(),
            "PRAGMA key = 'it''s';"
        );
        assert!(DatabaseKey::new("  \n").is_err());
        assert_eq!(
            format!("{:?}", DatabaseKey::new("s3cret").expect("key")),
            "DatabaseKey(…)"
        );
    }
}
