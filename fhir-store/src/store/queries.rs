//! The SQL, as plain functions taking `&mut DbConnection`; written once for
//! both backends. Callers own the transaction.

use diesel::prelude::*;
use diesel::result::QueryResult;

use super::connection::DbConnection;
use super::model::{CurrentRow, NewCurrent, NewVersion, VersionRow};
use super::schema::{resource_versions, resources};

type Db = <DbConnection as Connection>::Backend;

const VERSION_COLUMNS: (
    resource_versions::seq,
    resource_versions::resource_type,
    resource_versions::resource_id,
    resource_versions::version,
    resource_versions::last_updated,
    resource_versions::deleted,
    resource_versions::method,
    resource_versions::body,
) = (
    resource_versions::seq,
    resource_versions::resource_type,
    resource_versions::resource_id,
    resource_versions::version,
    resource_versions::last_updated,
    resource_versions::deleted,
    resource_versions::method,
    resource_versions::body,
);

pub fn current(conn: &mut DbConnection, rtype: &str, id: &str) -> QueryResult<Option<CurrentRow>> {
    resources::table
        .filter(resources::resource_type.eq(rtype))
        .filter(resources::resource_id.eq(id))
        .select((resources::version, resources::deleted))
        .first(conn)
        .optional()
}

/// Takes the write lock on a resource before reading its current version:
/// a no-op `UPDATE` of its row. On PostgreSQL this locks the row, so
/// concurrent writers of one resource queue instead of colliding and
/// retrying. On SQLite the first statement of the transaction being a write
/// takes the database write lock at once, while `busy_timeout` still
/// applies; a read first would make two processes' transactions deadlock
/// on the upgrade, and SQLite answers that with an immediate SQLITE_BUSY.
pub fn lock_current(conn: &mut DbConnection, rtype: &str, id: &str) -> QueryResult<()> {
    diesel::update(
        resources::table
            .filter(resources::resource_type.eq(rtype))
            .filter(resources::resource_id.eq(id)),
    )
    .set(resources::version.eq(resources::version))
    .execute(conn)
    .map(|_| ())
}

/// Inserts the current-version row of a resource that has none. A concurrent
/// insert of the same resource fails on the primary key; the caller retries.
pub fn insert_current(conn: &mut DbConnection, v: &NewVersion<'_>) -> QueryResult<()> {
    diesel::insert_into(resources::table)
        .values(NewCurrent::of(v))
        .execute(conn)
        .map(|_| ())
}

/// Moves the current-version row from `expected` to `v.version`; returns
/// false when another writer got there first (the row no longer holds
/// `expected`), which is how no update is lost.
pub fn advance_current(
    conn: &mut DbConnection,
    v: &NewVersion<'_>,
    expected: i32,
) -> QueryResult<bool> {
    let n = diesel::update(
        resources::table
            .filter(resources::resource_type.eq(v.resource_type))
            .filter(resources::resource_id.eq(v.resource_id))
            .filter(resources::version.eq(expected)),
    )
    .set((
        resources::version.eq(v.version),
        resources::last_updated.eq(v.last_updated),
        resources::deleted.eq(v.deleted),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn insert_version(conn: &mut DbConnection, v: &NewVersion<'_>) -> QueryResult<()> {
    diesel::insert_into(resource_versions::table)
        .values(v)
        .execute(conn)
        .map(|_| ())
}

/// The newest version of a resource (one lookup on the unique index).
pub fn latest(conn: &mut DbConnection, rtype: &str, id: &str) -> QueryResult<Option<VersionRow>> {
    resource_versions::table
        .filter(resource_versions::resource_type.eq(rtype))
        .filter(resource_versions::resource_id.eq(id))
        .order(resource_versions::version.desc())
        .select(VERSION_COLUMNS)
        .first(conn)
        .optional()
}

/// Replaces the body of one stored version in place ($meta-add and
/// $meta-delete change meta without making a new version).
pub fn set_body(
    conn: &mut DbConnection,
    rtype: &str,
    id: &str,
    version: i32,
    body: &[u8],
) -> QueryResult<usize> {
    diesel::update(
        resource_versions::table
            .filter(resource_versions::resource_type.eq(rtype))
            .filter(resource_versions::resource_id.eq(id))
            .filter(resource_versions::version.eq(version)),
    )
    .set(resource_versions::body.eq(body))
    .execute(conn)
}

pub fn version(
    conn: &mut DbConnection,
    rtype: &str,
    id: &str,
    version: i32,
) -> QueryResult<Option<VersionRow>> {
    resource_versions::table
        .filter(resource_versions::resource_type.eq(rtype))
        .filter(resource_versions::resource_id.eq(id))
        .filter(resource_versions::version.eq(version))
        .select(VERSION_COLUMNS)
        .first(conn)
        .optional()
}

/// Which versions a history request covers, before paging.
#[derive(Debug, Clone, Copy)]
pub struct HistoryFilter<'a> {
    pub resource_type: Option<&'a str>,
    pub resource_id: Option<&'a str>,
    /// Only versions with `last_updated >= since` (same fixed-width UTC
    /// format as stored, so text order is time order).
    pub since: Option<&'a str>,
    /// Only versions with `last_updated < until`: the safe horizon of a
    /// `_since` read (`store/write_clock.rs`).
    pub until: Option<&'a str>,
    /// `_at`: only versions current at some point of this inclusive
    /// period (same format): written at or before its end and not
    /// replaced by a later version at or before its start.
    pub at: Option<(&'a str, &'a str)>,
}

fn filtered<'a>(f: HistoryFilter<'a>) -> resource_versions::BoxedQuery<'a, Db> {
    let mut q = resource_versions::table.into_boxed::<Db>();
    if let Some(t) = f.resource_type {
        q = q.filter(resource_versions::resource_type.eq(t));
    }
    if let Some(id) = f.resource_id {
        q = q.filter(resource_versions::resource_id.eq(id));
    }
    if let Some(s) = f.since {
        q = q.filter(resource_versions::last_updated.ge(s));
    }
    if let Some(u) = f.until {
        q = q.filter(resource_versions::last_updated.lt(u));
    }
    if let Some((start, end)) = f.at {
        q = q.filter(resource_versions::last_updated.le(end)).filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>(
                "NOT EXISTS (SELECT 1 FROM resource_versions later \
                     WHERE later.resource_type = resource_versions.resource_type \
                     AND later.resource_id = resource_versions.resource_id \
                     AND later.version > resource_versions.version \
                     AND later.last_updated <= ",
            )
            .bind::<diesel::sql_types::Text, _>(start)
            .sql(")"),
        );
    }
    q
}

pub fn history_count(conn: &mut DbConnection, f: HistoryFilter<'_>) -> QueryResult<i64> {
    filtered(f).count().get_result(conn)
}

/// Newest first by `lastUpdated`, ties by write position (so history order
/// is `lastUpdated` order even when concurrent writers inserted out of
/// stamp order: `store/write_clock.rs`); only versions after the cursor
/// row `before` in that order when given; at most `limit` rows.
pub fn history_page(
    conn: &mut DbConnection,
    f: HistoryFilter<'_>,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<VersionRow>> {
    let mut q = filtered(f);
    if let Some(b) = before {
        q = q.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>(
                "(resource_versions.last_updated, resource_versions.seq) < \
                 (SELECT c.last_updated, c.seq FROM resource_versions c WHERE c.seq = ",
            )
            .bind::<diesel::sql_types::BigInt, _>(b)
            .sql(")"),
        );
    }
    q.order((
        resource_versions::last_updated.desc(),
        resource_versions::seq.desc(),
    ))
    .limit(limit)
    .select(VERSION_COLUMNS)
    .load(conn)
}
