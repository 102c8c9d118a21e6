//! The format of the stored search index rows, and the reindex that
//! brings an older database up to it when the server starts.
//!
//! Index rows hold values as the code of their time folded and extracted
//! them (`search/normalize.rs`, `search/extract/`). When that changes, a
//! search value prepared the new way would meet rows stored the old way
//! (a half-width `ﾔﾏﾀﾞ` folded to `ヤマダ` against a stored `ﾔﾏﾀﾞ`), so the
//! change bumps [`INDEX_FORMAT`] and `serve` calls
//! [`Store::reindex_if_stale`] before it answers requests.

use diesel::connection::Connection;
use diesel::prelude::*;
use diesel::sql_types::Integer;

use super::{Store, StoreError};

/// The current format of the index rows. 1: every database before the
/// `index_format` table. 2: strings folded with NFKC (half-width
/// katakana), `code` elements with a required binding indexed with the
/// binding's system, numbers indexed exactly beyond `f64`.
pub const INDEX_FORMAT: i32 = 2;

#[derive(QueryableByName)]
struct FormatRow {
    #[diesel(sql_type = Integer)]
    format: i32,
}

impl Store {
    /// The format the stored index rows are in (1 when never recorded).
    pub fn index_format(&self) -> Result<i32, StoreError> {
        let mut conn = self.conn()?;
        let rows: Vec<FormatRow> =
            diesel::sql_query("SELECT format FROM index_format WHERE id = 1").load(&mut conn)?;
        Ok(rows.first().map_or(1, |r| r.format))
    }

    /// Reindexes every current resource when the stored rows are older
    /// than [`INDEX_FORMAT`], then records the format. Returns how many
    /// resources were reindexed (`None`: the index was current). Needs the
    /// full registry (stored SearchParameters included), so `serve` calls
    /// it after [`Store::rebuild_registry`].
    pub fn reindex_if_stale(&self) -> Result<Option<usize>, StoreError> {
        let format = self.index_format()?;
        if format >= INDEX_FORMAT {
            return Ok(None);
        }
        log::info!(
            "search index format {format} is older than {INDEX_FORMAT}: reindexing every resource"
        );
        let n = self.reindex(None)?;
        let mut conn = self.conn()?;
        conn.transaction::<_, diesel::result::Error, _>(|c| {
            diesel::sql_query("DELETE FROM index_format").execute(c)?;
            diesel::sql_query(format!(
                "INSERT INTO index_format (id, format) VALUES (1, {INDEX_FORMAT})"
            ))
            .execute(c)?;
            Ok(())
        })?;
        log::info!("search index format {INDEX_FORMAT}: {n} resource(s) reindexed");
        Ok(Some(n))
    }
}

#[cfg(test)]
mod tests {
    use fhir_model::Resource;

    use super::INDEX_FORMAT;
    use crate::search::query;
    use crate::store::testutil::backends;
    use crate::store::TxWrite;

    /// A database the migrations make from nothing is in the current
    /// format: whichever command made it (`import`, `migrate`), the next
    /// `serve` does not reindex it.
    #[test]
    fn a_new_database_is_current() {
        for db in backends() {
            assert_eq!(
                db.store.index_format().expect("format"),
                INDEX_FORMAT,
                "{}",
                db.label
            );
            assert_eq!(
                db.store.reindex_if_stale().expect("reindex"),
                None,
                "{}",
                db.label
            );
        }
    }

    /// A database whose string rows were folded the old way (no NFKC) is
    /// reindexed once at start, and half-width searches find it.
    #[test]
    fn a_stale_index_is_rebuilt_once() {
        for db in backends() {
            let body = serde_json::json!({"resourceType": "Patient", "id": "p1",
                "name": [{"family": "ﾔﾏﾀﾞ"}]});
            let r = Resource::from_json_slice(body.to_string().as_bytes()).expect("resource");
            db.store
                .transaction(&mut [TxWrite::Update(r, None)])
                .map_err(|(_, e)| e)
                .expect("write");
            let found = || {
                let params = [("family".to_owned(), "ヤマダ".to_owned())];
                let req = query::parse(&db.store.registry(), vec!["Patient".into()], &params);
                let page = db.store.search(&req).expect("search");
                page.matches.into_iter().map(|m| m.id).collect::<Vec<_>>()
            };
            {
                use diesel::RunQueryDsl;
                let mut c = db.store.conn().expect("connection");
                // As a format-1 database stored it: folded without NFKC.
                diesel::sql_query("UPDATE idx_string SET normalized = 'ﾔﾏﾀﾞ'")
                    .execute(&mut *c)
                    .expect("old row");
                diesel::sql_query("DELETE FROM index_format")
                    .execute(&mut *c)
                    .expect("no format recorded");
            }
            assert!(found().is_empty(), "{}", db.label);
            assert_eq!(db.store.index_format().expect("format"), 1, "{}", db.label);
            assert_eq!(
                db.store.reindex_if_stale().expect("reindex"),
                Some(1),
                "{}",
                db.label
            );
            assert_eq!(db.store.index_format().expect("format"), INDEX_FORMAT);
            assert_eq!(found(), ["p1"], "{}", db.label);
            assert_eq!(
                db.store.reindex_if_stale().expect("again"),
                None,
                "{}",
                db.label
            );
        }
    }
}
