//! Writes the search index rows of one resource ([`IndexEntries`]) into the
//! `idx_*` tables, inside the caller's transaction. The index holds the
//! current version only: every write first removes the resource's rows.
//! The full-text rows (`idx_fulltext`, see `search/fulltext/`) are written
//! here too, in SQL of each backend's own (an FTS5 virtual table, a
//! `tsvector` column), so every write path that indexes also indexes text.
//!
//! **Full-text rows per transaction.** FTS5 keeps what a transaction adds
//! in memory and writes it out as a new segment at commit, but also at
//! the start of every later statement of the transaction that opens a
//! statement journal (a savepoint; the multi-row inserts of the other
//! index tables do): writing each resource's row as it is stored made one
//! segment, and later merges, per resource (issue #27: 92,257 segment
//! writes for 92,114 resources). A transaction of many writes therefore
//! holds its rows in a [`PendingRows`] and inserts them together,
//! in one statement, after its other writes ([`PendingRows::flush`]),
//! and before any search it runs, so it still sees its own text.
//!
//! **Index rows per transaction.** The other tables' rows of such a
//! transaction are held there too and written by the same flush, one
//! multi-row INSERT per table for the whole transaction (a Synthea
//! patient's Bundle: a handful of statements instead of five to seven
//! small ones per resource, each built and prepared anew, issue #27).

use diesel::prelude::*;
use diesel::result::QueryResult;
use diesel::sql_types::{Array, BigInt, Text};

use super::connection::DbConnection;
use super::schema::{
    idx_date, idx_number, idx_quantity, idx_reference, idx_string, idx_token, idx_uri,
};
use crate::search::fulltext::{self, Document};
use crate::search::index::IndexEntries;

/// Rows per INSERT statement: many rows per round trip, well below
/// SQLite's limit of 32,766 bound variables (14 columns at most here).
const CHUNK: usize = 500;

/// Full-text rows per INSERT (3 bound values each): every row of a
/// Synthea patient's transaction in one statement, so one segment.
const FULLTEXT_CHUNK: usize = 10_000;

diesel::table! {
    /// SQLite's FTS5 table as far as an INSERT needs it (the `schema`
    /// module leaves virtual tables out).
    idx_fulltext (rowid) {
        rowid -> BigInt,
        narrative -> Text,
        content -> Text,
    }
}

diesel::table! {
    /// SQLite's FTS5 rowid of each resource (`idx_fulltext_doc`).
    idx_fulltext_doc (id) {
        id -> BigInt,
        resource_type -> Text,
        resource_id -> Text,
    }
}

/// The index rows of an open transaction, inserted together by
/// [`PendingRows::flush`] (see the module doc): every table's rows on
/// both backends; the full-text rows on SQLite (on PostgreSQL those are
/// written at once).
#[derive(Debug, Default)]
pub(crate) struct PendingRows {
    rows: Vec<PendingRow>,
    /// Each resource's rows of the other tables (full text left out).
    index: Vec<PendingIndex>,
}

/// One held row, with the resource it indexes; its FTS5 rowid
/// (`idx_fulltext_doc.id`) is given when it is flushed.
#[derive(Debug)]
struct PendingRow {
    resource_type: String,
    resource_id: String,
    narrative: String,
    content: String,
}

/// One resource's held rows of the `idx_*` tables.
#[derive(Debug)]
struct PendingIndex {
    resource_type: String,
    resource_id: String,
    entries: IndexEntries,
}

impl PendingRows {
    /// Inserts the held rows; call before the transaction commits and
    /// before it searches.
    pub(crate) fn flush(&mut self, conn: &mut DbConnection) -> QueryResult<()> {
        if !self.index.is_empty() {
            let index = std::mem::take(&mut self.index);
            let held: Vec<_> = index
                .iter()
                .map(|p| (p.resource_type.as_str(), p.resource_id.as_str(), &p.entries))
                .collect();
            insert_rows(conn, &held)?;
        }
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        if let DbConnection::Sqlite(c) = conn {
            // The transaction holds SQLite's write lock: the ids above
            // the largest are free (one query instead of an
            // `INSERT … RETURNING` per resource).
            let first: DocId =
                diesel::sql_query("SELECT COALESCE(MAX(id), 0) + 1 AS id FROM idx_fulltext_doc")
                    .get_result(c)?;
            let ids = (first.id..).take(rows.len());
            let rows: Vec<_> = ids.zip(&rows).collect();
            for chunk in rows.chunks(FULLTEXT_CHUNK) {
                let docs: Vec<_> = chunk
                    .iter()
                    .map(|(doc, r)| {
                        (
                            idx_fulltext_doc::id.eq(*doc),
                            idx_fulltext_doc::resource_type.eq(r.resource_type.as_str()),
                            idx_fulltext_doc::resource_id.eq(r.resource_id.as_str()),
                        )
                    })
                    .collect();
                diesel::insert_into(idx_fulltext_doc::table)
                    .values(&docs)
                    .execute(c)?;
                let values: Vec<_> = chunk
                    .iter()
                    .map(|(doc, r)| {
                        (
                            idx_fulltext::rowid.eq(*doc),
                            idx_fulltext::narrative.eq(r.narrative.as_str()),
                            idx_fulltext::content.eq(r.content.as_str()),
                        )
                    })
                    .collect();
                diesel::insert_into(idx_fulltext::table)
                    .values(&values)
                    .execute(c)?;
            }
        }
        Ok(())
    }
}

#[derive(diesel::QueryableByName)]
struct DocId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Removes every index row of one resource, and the rows held for it in
/// `pending` (the write that follows holds its own).
pub(crate) fn delete(
    conn: &mut DbConnection,
    rtype: &str,
    id: &str,
    pending: Option<&mut PendingRows>,
) -> QueryResult<()> {
    if let Some(p) = pending {
        p.rows
            .retain(|r| !(r.resource_type == rtype && r.resource_id == id));
        p.index
            .retain(|r| !(r.resource_type == rtype && r.resource_id == id));
    }
    macro_rules! clear {
        ($($t:ident),*) => {$(
            diesel::delete($t::table.filter($t::resource_type.eq(rtype)).filter($t::resource_id.eq(id)))
                .execute(conn)?;
        )*};
    }
    clear!(
        idx_string,
        idx_token,
        idx_reference,
        idx_date,
        idx_number,
        idx_quantity,
        idx_uri
    );
    delete_fulltext(conn, rtype, id)
}

fn delete_fulltext(conn: &mut DbConnection, rtype: &str, id: &str) -> QueryResult<()> {
    match conn {
        DbConnection::Sqlite(c) => {
            diesel::sql_query(
                "DELETE FROM idx_fulltext WHERE rowid IN (SELECT id FROM idx_fulltext_doc \
                 WHERE resource_type = ? AND resource_id = ?)",
            )
            .bind::<Text, _>(rtype)
            .bind::<Text, _>(id)
            .execute(c)?;
            diesel::sql_query(
                "DELETE FROM idx_fulltext_doc WHERE resource_type = ? AND resource_id = ?",
            )
            .bind::<Text, _>(rtype)
            .bind::<Text, _>(id)
            .execute(c)?;
        }
        DbConnection::Postgresql(c) => {
            diesel::sql_query(
                "DELETE FROM idx_fulltext WHERE resource_type = $1 AND resource_id = $2",
            )
            .bind::<Text, _>(rtype)
            .bind::<Text, _>(id)
            .execute(c)?;
        }
    }
    Ok(())
}

/// The full-text row of one resource (after [`delete`]); none when it has
/// no text at all. With `pending`, SQLite's FTS5 row is held there.
fn insert_fulltext(
    conn: &mut DbConnection,
    rtype: &str,
    id: &str,
    d: &Document,
    pending: Option<&mut PendingRows>,
) -> QueryResult<()> {
    if d.is_empty() {
        return Ok(());
    }
    match conn {
        DbConnection::Sqlite(_) if pending.is_some() => {
            if let Some(p) = pending {
                p.rows.push(PendingRow {
                    resource_type: rtype.to_owned(),
                    resource_id: id.to_owned(),
                    narrative: fulltext::fts5_text(&d.narrative),
                    content: fulltext::fts5_text(&d.content),
                });
            }
        }
        DbConnection::Sqlite(c) => {
            diesel::sql_query(
                "INSERT INTO idx_fulltext_doc (resource_type, resource_id) VALUES (?, ?)",
            )
            .bind::<Text, _>(rtype)
            .bind::<Text, _>(id)
            .execute(c)?;
            diesel::sql_query(
                "INSERT INTO idx_fulltext (rowid, narrative, content) \
                 VALUES (last_insert_rowid(), ?, ?)",
            )
            .bind::<Text, _>(fulltext::fts5_text(&d.narrative))
            .bind::<Text, _>(fulltext::fts5_text(&d.content))
            .execute(c)?;
        }
        DbConnection::Postgresql(c) => {
            diesel::sql_query(
                "INSERT INTO idx_fulltext (resource_type, resource_id, narrative, content) \
                 VALUES ($1, $2, CAST($3 AS tsvector), CAST($4 AS tsvector))",
            )
            .bind::<Text, _>(rtype)
            .bind::<Text, _>(id)
            .bind::<Text, _>(fulltext::tsvector_literal(&d.narrative))
            .bind::<Text, _>(fulltext::tsvector_literal(&d.content))
            .execute(c)?;
        }
    }
    Ok(())
}

/// Inserts the rows of one resource (after [`delete`]).
pub(crate) fn insert(
    conn: &mut DbConnection,
    rtype: &str,
    id: &str,
    e: &IndexEntries,
) -> QueryResult<()> {
    insert_rows(conn, &[(rtype, id, e)])?;
    insert_fulltext(conn, rtype, id, &e.fulltext, None)
}

/// [`insert`], or with `pending` the rows held there for the
/// transaction's flush (see the module doc).
pub(crate) fn insert_or_hold(
    conn: &mut DbConnection,
    rtype: &str,
    id: &str,
    mut e: IndexEntries,
    pending: Option<&mut PendingRows>,
) -> QueryResult<()> {
    let Some(p) = pending else {
        return insert(conn, rtype, id, &e);
    };
    let text = std::mem::take(&mut e.fulltext);
    insert_fulltext(conn, rtype, id, &text, Some(&mut *p))?;
    if !e.is_empty() {
        p.index.push(PendingIndex {
            resource_type: rtype.to_owned(),
            resource_id: id.to_owned(),
            entries: e,
        });
    }
    Ok(())
}

/// Inserts the rows of several new resources of one type, each table's
/// (and the full-text rows) in multi-row statements across them: the
/// audit sealer indexes a batch of records this way.
pub(crate) fn insert_many(
    conn: &mut DbConnection,
    rtype: &str,
    items: &[(&str, &IndexEntries)],
) -> QueryResult<()> {
    let held: Vec<_> = items.iter().map(|&(id, e)| (rtype, id, e)).collect();
    insert_rows(conn, &held)?;
    if let DbConnection::Sqlite(_) = conn {
        let mut pending = PendingRows::default();
        for (id, e) in items {
            insert_fulltext(conn, rtype, id, &e.fulltext, Some(&mut pending))?;
        }
        return pending.flush(conn);
    }
    let docs: Vec<(&str, &Document)> = items
        .iter()
        .filter(|(_, e)| !e.fulltext.is_empty())
        .map(|(id, e)| (*id, &e.fulltext))
        .collect();
    if let (DbConnection::Postgresql(c), false) = (conn, docs.is_empty()) {
        let ids: Vec<&str> = docs.iter().map(|(id, _)| *id).collect();
        let narrative: Vec<String> = docs
            .iter()
            .map(|(_, d)| fulltext::tsvector_literal(&d.narrative))
            .collect();
        let content: Vec<String> = docs
            .iter()
            .map(|(_, d)| fulltext::tsvector_literal(&d.content))
            .collect();
        diesel::sql_query(
            "INSERT INTO idx_fulltext (resource_type, resource_id, narrative, content) \
             SELECT $1, u.id, CAST(u.narrative AS tsvector), CAST(u.content AS tsvector) \
             FROM unnest($2, $3, $4) AS u(id, narrative, content)",
        )
        .bind::<Text, _>(rtype)
        .bind::<Array<Text>, _>(ids)
        .bind::<Array<Text>, _>(narrative)
        .bind::<Array<Text>, _>(content)
        .execute(c)?;
    }
    Ok(())
}

/// The `idx_*` rows of several resources, one multi-row INSERT per table
/// (per [`CHUNK`] rows).
fn insert_rows(conn: &mut DbConnection, held: &[(&str, &str, &IndexEntries)]) -> QueryResult<()> {
    macro_rules! put {
        ($list:ident, $t:ident, |$x:ident| ($($col:ident = $val:expr),* $(,)?)) => {
            let all: Vec<_> = held
                .iter()
                .flat_map(|&(rtype, id, e)| e.$list.iter().map(move |x| (rtype, id, x)))
                .collect();
            for chunk in all.chunks(CHUNK) {
                let rows: Vec<_> = chunk
                    .iter()
                    .map(|&(rtype, id, $x)| (
                        $t::resource_type.eq(rtype),
                        $t::resource_id.eq(id),
                        $t::param.eq($x.param.as_str()),
                        $t::grp.eq($x.group),
                        $($t::$col.eq($val),)*
                    ))
                    .collect();
                // diesel's multi-row INSERT is not available through
                // the MultiConnection wrapper; the same statement
                // goes to the backend connection inside it.
                match conn {
                    DbConnection::Sqlite(c) => {
                        diesel::insert_into($t::table).values(&rows).execute(c)?
                    }
                    DbConnection::Postgresql(c) => {
                        diesel::insert_into($t::table).values(&rows).execute(c)?
                    }
                };
            }
        };
    }
    put!(strings, idx_string, |x| (
        normalized = x.normalized.as_str(),
        exact = x.exact.as_str(),
    ));
    put!(tokens, idx_token, |x| (
        system = x.system.as_deref(),
        code = x.code.as_deref(),
        text = x.text.as_deref(),
        type_system = x.type_system.as_deref(),
        type_code = x.type_code.as_deref(),
    ));
    put!(references, idx_reference, |x| (
        target_type = x.target_type.as_deref(),
        target_id = x.target_id.as_deref(),
        target_version = x.target_version.as_deref(),
        url = x.url.as_deref(),
        url_version = x.url_version.as_deref(),
        identifier_system = x.identifier_system.as_deref(),
        identifier_value = x.identifier_value.as_deref(),
    ));
    put!(dates, idx_date, |x| (lo = x.lo, hi = x.hi));
    put!(numbers, idx_number, |x| (
        value = x.value,
        lo = x.lo,
        hi = x.hi,
        value_key = Some(x.key.as_str()),
    ));
    put!(quantities, idx_quantity, |x| (
        value = x.value,
        lo = x.lo,
        hi = x.hi,
        system = x.system.as_deref(),
        code = x.code.as_deref(),
        unit = x.unit.as_deref(),
        canonical_code = x.canonical_code.as_deref(),
        canonical_lo = x.canonical_lo,
        canonical_hi = x.canonical_hi,
        value_key = x.key.as_deref(),
    ));
    put!(uris, idx_uri, |x| (uri = x.uri.as_str()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::Integer;
    use diesel::RunQueryDsl;
    use fhir_model::Resource;

    use super::super::testutil::{backends, sqlite};
    use super::super::{Backend, TxWrite};
    use crate::search::query;

    #[derive(diesel::QueryableByName)]
    struct Flag {
        #[diesel(sql_type = Integer)]
        enabled: i32,
    }

    #[test]
    fn the_bundled_sqlite_has_fts5() {
        let db = sqlite();
        let mut c = db.store.conn().expect("connection");
        let f: Flag =
            diesel::sql_query("SELECT sqlite_compileoption_used('ENABLE_FTS5') AS enabled")
                .get_result(&mut *c)
                .expect("compile options");
        assert_eq!(f.enabled, 1);
    }

    /// A database from before the full-text migration has stored
    /// resources but no full-text rows: `$reindex` writes them.
    #[test]
    fn reindex_fills_the_full_text_index() {
        for db in backends() {
            let body = serde_json::json!({"resourceType": "Condition", "id": "c1",
                "subject": {"reference": "Patient/p1"}, "code": {"text": "2型糖尿病"}});
            let r = Resource::from_json_slice(body.to_string().as_bytes()).expect("resource");
            db.store
                .transaction(&mut [TxWrite::Update(r, None)])
                .map_err(|(_, e)| e)
                .expect("write");
            let found = || {
                let params = [("_content".to_owned(), "糖尿病".to_owned())];
                let req = query::parse(&db.store.registry(), vec!["Condition".into()], &params);
                assert!(req.ignored.is_empty(), "{:?}", req.ignored);
                let page = db.store.search(&req).expect("search");
                page.matches.into_iter().map(|m| m.id).collect::<Vec<_>>()
            };
            assert_eq!(found(), ["c1"], "{}", db.label);
            {
                let mut c = db.store.conn().expect("connection");
                let tables: &[&str] = match db.store.backend() {
                    Backend::Sqlite => &["idx_fulltext", "idx_fulltext_doc"],
                    Backend::Postgres => &["idx_fulltext"],
                };
                for table in tables {
                    diesel::sql_query(format!("DELETE FROM {table}"))
                        .execute(&mut *c)
                        .expect("wipe");
                }
            }
            assert!(found().is_empty(), "{}", db.label);
            assert_eq!(db.store.reindex(None).expect("reindex"), 1, "{}", db.label);
            assert_eq!(found(), ["c1"], "{}", db.label);
        }
    }

    /// The rows a transaction holds are written before it searches: it
    /// finds what it wrote, and a second write of one resource in it
    /// leaves only the second version's rows.
    #[test]
    fn a_transaction_searches_its_own_held_rows() {
        for db in backends() {
            let patient = |family: &str| {
                let body = serde_json::json!({"resourceType": "Patient", "id": "p1",
                    "name": [{"family": family}]});
                Resource::from_json_slice(body.to_string().as_bytes()).expect("resource")
            };
            let by_family = |family: &str| {
                let params = [("family".to_owned(), family.to_owned())];
                query::parse(&db.store.registry(), vec!["Patient".into()], &params)
            };
            let (first, second) = (by_family("heldfirst"), by_family("heldsecond"));
            let found = db
                .store
                .transaction_with(&[], |tx| {
                    tx.write(&mut TxWrite::Create(patient("Heldfirst")))?;
                    let first = tx.matching(&first, 10)?;
                    tx.write(&mut TxWrite::Update(patient("Heldsecond"), None))?;
                    Ok((first, tx.matching(&by_family("heldfirst"), 10)?))
                })
                .expect("transaction");
            let p1 = vec![("Patient".to_owned(), "p1".to_owned())];
            assert_eq!(found, (p1, Vec::new()), "{}", db.label);
            let ids = |req| {
                let page = db.store.search(req).expect("search");
                page.matches.into_iter().map(|m| m.id).collect::<Vec<_>>()
            };
            assert!(ids(&first).is_empty(), "{}", db.label);
            assert_eq!(ids(&second), ["p1"], "{}", db.label);
        }
    }
}
