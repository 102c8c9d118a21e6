//! AuditEvent records in storage: stored unsealed in the transaction of
//! the write they record, sealed onto the keyed chain of
//! [`crate::audit::chain`] after commit, and read back for
//! `fhir-server audit verify`.
//!
//! **No cluster-wide lock on the request path.** A record is three
//! ordinary inserts (its current-version row, its version row and an
//! `audit_pending` row with its MAC) in the transaction of the request's
//! write, or, for a request that wrote nothing, in a transaction shared
//! with the records of other requests ([`Store::append_audits`], the
//! server's group commit); nothing every request shares is locked. The
//! chain order is assigned afterwards by [`Store::seal_audit`], which
//! every server process runs from its sealer (fhir-server's
//! `audit::sealer`): one batch per transaction, which first takes the
//! single `audit_chain_head` row, so sealers of several processes take
//! turns on that row's lock (PostgreSQL; a sealer that finds it taken
//! skips the round) or SQLite's write lock, for the length of one batch
//! only, never while a request waits.
//!
//! **Cheap records.** The request path writes no search index rows for
//! its record: indexing an AuditEvent (about twenty rows in six tables)
//! cost more than the read it records. A record can be read, and is
//! listed by a search of the type, as soon as it commits; the sealer
//! writes the index rows of a whole batch with its sealed bodies, a few
//! multi-row statements per batch, so a search by AuditEvent parameters
//! finds a record once it is sealed (within the sealer's tick). A record
//! left pending by a server of an older release was indexed when stored;
//! its rows are written again when sealed, which changes no search result
//! (criteria are `resource_id IN (…)`).
//!
//! **No write is audited by HTTP.** Records are inserted here, below the
//! write paths; writes of AuditEvents through the API are refused in
//! `write_once` (see [`refuse_audit_write`]).

use std::collections::{HashMap, HashSet};

use diesel::connection::Connection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Binary, Text};
use fhir_model::ResourceType;
use serde_json::Value;

use super::connection::DbConnection;
use super::index_rows;
use super::model::{NewCurrent, NewVersion};
use super::schema::{audit_chain_head, audit_pending, resource_versions, resources};
use super::{queries, write_clock, Backend, Store, StoreError, TxError, Written};
use crate::audit::chain::{self, Head};
use crate::audit::key::AuditKey;
use crate::local_codes::Snapshot;
use crate::search::index::IndexEntries;

/// Records sealed per transaction: a bound on how long one sealer holds
/// the head row (and on PostgreSQL works inside its transaction).
const SEAL_BATCH: i64 = 200;

/// Rows per INSERT of [`insert_unsealed`] (7 bound values a row at most,
/// well below SQLite's limit of 32,766).
const ROWS_PER_INSERT: usize = 500;

/// How long PostgreSQL lets a sealer's transaction sit idle (its process
/// frozen) before ending its session and releasing the head row; well
/// above the CPU work of one batch between two of its statements.
const IDLE_TIMEOUT: &str = "SET LOCAL idle_in_transaction_session_timeout = '10s'";

/// An unsealed record as `audit verify` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRecord {
    pub id: String,
    /// When it was written (the record's `recorded`).
    pub recorded: String,
}

/// The refusal of every write of an AuditEvent that does not come from
/// the audit code itself, whatever route, spelling or Bundle asked for it,
/// when the request is audited or the database holds an audit trail (so
/// `fhir-server import`, or a server started without `--audit`, cannot
/// change it either). A database that was never audited keeps
/// AuditEvents writable like any resource (clients may report their own
/// events to a server that keeps no trail).
pub(super) fn refuse_audit_write(conn: &mut DbConnection, rt: ResourceType) -> Result<(), TxError> {
    if rt != ResourceType::AuditEvent {
        return Ok(());
    }
    let audited = crate::audit::active().is_some() || holds_audit_trail(conn)?;
    if audited {
        return Err(TxError::Store(StoreError::ReadOnly(
            "AuditEvents are written by the server only; they cannot be created, changed or \
             deleted through the API"
                .into(),
        )));
    }
    Ok(())
}

/// Whether any record was ever stored by an audit trail in this database.
fn holds_audit_trail(conn: &mut DbConnection) -> Result<bool, TxError> {
    let head: i64 = audit_chain_head::table
        .filter(audit_chain_head::id.eq(1))
        .select(audit_chain_head::seq)
        .first(conn)?;
    let pending: Option<i64> = audit_pending::table
        .select(audit_pending::id)
        .first(conn)
        .optional()?;
    Ok(head > 0 || pending.is_some())
}

/// Stores the record of one write in the write's transaction, when the
/// storage call runs for an audited request
/// ([`crate::audit::active`]). `stamp` is the write's `lastUpdated`, read
/// in this transaction ([`super::write_clock::now`]), so the record sits
/// where the write does in history and under the `_since` horizon.
pub(super) fn record_write(
    conn: &mut DbConnection,
    rt: ResourceType,
    id: &str,
    method: &str,
    written: &Written,
    stamp: &str,
) -> Result<(), TxError> {
    let Some(scope) = crate::audit::active() else {
        return Ok(());
    };
    let method = if written.created && method == "PUT" {
        "POST"
    } else {
        method
    };
    let event = scope.write_event(
        rt.as_str(),
        id,
        written.version,
        method,
        written.body.as_deref(),
    );
    let mut record = AuditRecord::new(&event).map_err(TxError::Store)?;
    let row = record.stamp(stamp, scope.key()).map_err(TxError::Store)?;
    insert_unsealed(conn, std::slice::from_ref(&row))?;
    scope.mark_recorded();
    Ok(())
}

/// An AuditEvent built by the server (its JSON object, with its id),
/// ready to be stored ([`Store::append_audits`]).
///
/// Stored as the server built it, `meta.versionId` and
/// `meta.lastUpdated` added, without a round trip through the resource
/// model: parsing and writing an AuditEvent back cost more than the read
/// it records. The server's unit tests check that every event it builds
/// is a valid R4 AuditEvent.
#[derive(Debug)]
pub struct AuditRecord {
    id: String,
    recorded: String,
    event: serde_json::Map<String, Value>,
}

impl AuditRecord {
    /// `event` is an AuditEvent as JSON, with its id.
    pub fn new(event: &Value) -> Result<Self, StoreError> {
        let fault = |m: &str| StoreError::Fault(m.to_owned());
        let Some(event) = event.as_object() else {
            return Err(fault("an audit record is a JSON object"));
        };
        if event.get("resourceType").and_then(Value::as_str) != Some("AuditEvent") {
            return Err(fault("an audit record is an AuditEvent"));
        }
        let id = event
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| fault("an audit record needs an id"))?
            .to_owned();
        let recorded = event
            .get("recorded")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(AuditRecord {
            id,
            recorded,
            event: event.clone(),
        })
    }

    /// The record as stored at `stamp` (version 1), with the MAC the
    /// sealer checks before it chains it.
    fn stamp(&mut self, stamp: &str, key: &AuditKey) -> Result<Unsealed, StoreError> {
        let meta = self
            .event
            .entry("meta")
            .or_insert_with(|| Value::Object(Default::default()));
        let Value::Object(meta) = meta else {
            return Err(StoreError::Fault(
                "an audit record's meta is an object".into(),
            ));
        };
        meta.shift_insert(0, "versionId".into(), Value::String("1".into()));
        meta.shift_insert(1, "lastUpdated".into(), Value::String(stamp.to_owned()));
        let stored = Value::Object(self.event.clone());
        let body = serde_json::to_vec(&stored).map_err(|e| StoreError::Fault(e.to_string()))?;
        Ok(Unsealed {
            id: self.id.clone(),
            recorded: self.recorded.clone(),
            last_updated: stamp.to_owned(),
            mac: chain::record_mac(&stored, key),
            body,
        })
    }
}

/// One record's rows as the request path stores them.
struct Unsealed {
    id: String,
    recorded: String,
    last_updated: String,
    mac: String,
    body: Vec<u8>,
}

/// Runs one multi-row INSERT on the backend connection (diesel's batch
/// insert is not available through the `MultiConnection` wrapper).
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            DbConnection::Sqlite(c) => diesel::insert_into($table).values($rows).execute(c),
            DbConnection::Postgresql(c) => diesel::insert_into($table).values($rows).execute(c),
        }
    };
}

/// Stores records unsealed: their current-version and version rows (so
/// a record can be read, and listed by a search of the type, as soon as
/// it commits) and their `audit_pending` rows with the MAC. The search
/// index rows are written by the sealer, in batches, with the sealed body
/// (see the module doc). On PostgreSQL the three tables' rows go in ONE
/// statement (data-modifying CTEs over arrays: one round trip, which is
/// most of a record's cost on the request path); on SQLite, where a
/// statement is no round trip, one multi-row statement per table.
fn insert_unsealed(conn: &mut DbConnection, records: &[Unsealed]) -> Result<(), TxError> {
    if let DbConnection::Postgresql(c) = conn {
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        let stamps: Vec<&str> = records.iter().map(|r| r.last_updated.as_str()).collect();
        let bodies: Vec<&[u8]> = records.iter().map(|r| r.body.as_slice()).collect();
        let macs: Vec<&str> = records.iter().map(|r| r.mac.as_str()).collect();
        let recorded: Vec<&str> = records.iter().map(|r| r.recorded.as_str()).collect();
        diesel::sql_query(
            "WITH u AS (SELECT * FROM unnest($1, $2, $3, $4, $5) WITH ORDINALITY \
                 AS u(id, stamp, body, mac, recorded, n)), \
             c AS (INSERT INTO resources \
                 (resource_type, resource_id, version, last_updated, deleted) \
                 SELECT 'AuditEvent', id, 1, stamp, false FROM u), \
             v AS (INSERT INTO resource_versions \
                 (resource_type, resource_id, version, last_updated, deleted, method, body) \
                 SELECT 'AuditEvent', id, 1, stamp, false, 'POST', body FROM u ORDER BY n) \
             INSERT INTO audit_pending (resource_id, mac, recorded) \
             SELECT id, mac, recorded FROM u ORDER BY n",
        )
        .bind::<Array<Text>, _>(ids)
        .bind::<Array<Text>, _>(stamps)
        .bind::<Array<Binary>, _>(bodies)
        .bind::<Array<Text>, _>(macs)
        .bind::<Array<Text>, _>(recorded)
        .execute(c)?;
        return Ok(());
    }
    let rtype = ResourceType::AuditEvent.as_str();
    for chunk in records.chunks(ROWS_PER_INSERT) {
        let versions: Vec<NewVersion<'_>> = chunk
            .iter()
            .map(|r| NewVersion {
                resource_type: rtype,
                resource_id: &r.id,
                version: 1,
                last_updated: &r.last_updated,
                deleted: false,
                method: "POST",
                body: Some(&r.body),
            })
            .collect();
        let current: Vec<NewCurrent<'_>> = versions.iter().map(NewCurrent::of).collect();
        insert_rows!(conn, resources::table, &current)?;
        insert_rows!(conn, resource_versions::table, &versions)?;
        let pending: Vec<_> = chunk
            .iter()
            .map(|r| {
                (
                    audit_pending::resource_id.eq(&r.id),
                    audit_pending::mac.eq(&r.mac),
                    audit_pending::recorded.eq(&r.recorded),
                )
            })
            .collect();
        insert_rows!(conn, audit_pending::table, &pending)?;
    }
    Ok(())
}

/// A pending record read by the sealer, checked and indexed before its
/// transaction.
struct ToSeal {
    pending_id: i64,
    resource_id: String,
    /// `None` when the record is missing or not as the server wrote it.
    body: Option<Value>,
    entries: IndexEntries,
}

impl Store {
    /// Stores `records` unsealed in ONE transaction of their own: the
    /// records of requests that wrote nothing, gathered by the server's
    /// group commit (fhir-server's `audit::recorder`), so one commit
    /// serves many requests and each table gets one statement. All are
    /// stored or none is.
    ///
    /// **Durable soon after the answer.** The commit does not wait for
    /// the log flush (PostgreSQL `synchronous_commit = off`, SQLite
    /// `synchronous = NORMAL`): a flush costs milliseconds on most disks
    /// (5.5 ms measured here), several times a read, and would bound the
    /// reads of every waiting client by it. The records are committed —
    /// visible, and kept if the server process dies — before the answer;
    /// they reach the disk with the next flushing commit, at the latest
    /// the sealer's, which seals them within its tick (PostgreSQL's WAL
    /// writer flushes within 0.6 s regardless). Only a crash of the
    /// database host in that window loses the records of reads; a write's
    /// record commits, flushed, with the write.
    pub fn append_audits(
        &self,
        records: &mut [AuditRecord],
        key: &AuditKey,
    ) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let _guard = self.write_guard();
        let mut conn = self.conn()?;
        without_flush(&mut conn, |conn| {
            conn.transaction(|c| self.insert_batch(c, records, key))
        })
        .map_err(|e| match e {
            TxError::Store(e) => e,
            TxError::Db(e) => e.into(),
            TxError::Retry => StoreError::VersionConflict("audit record id taken".into()),
        })
    }

    /// The transaction of [`Store::append_audits`].
    fn insert_batch(
        &self,
        c: &mut DbConnection,
        records: &mut [AuditRecord],
        key: &AuditKey,
    ) -> Result<(), TxError> {
        match self.backend {
            Backend::Postgres => {
                diesel::sql_query("SET LOCAL synchronous_commit = off").execute(c)?;
            }
            // SQLite stamps from this host's clock: take the write lock
            // first, so writers stamp in commit order (a no-op update, as
            // every write starts; see `write_clock.rs`).
            Backend::Sqlite => {
                queries::lock_current(c, ResourceType::AuditEvent.as_str(), &records[0].id)?
            }
        }
        let stamp = write_clock::now(c)?;
        let rows = records
            .iter_mut()
            .map(|r| r.stamp(&stamp, key))
            .collect::<Result<Vec<_>, _>>()?;
        insert_unsealed(c, &rows)
    }

    /// Seals up to one batch of pending records onto the chain, in the
    /// order they were written; returns the head and how many were
    /// sealed. A pending record whose MAC does not match (a row slipped
    /// into the database, or changed before sealing) is left unchained
    /// and logged: `audit verify` reports it.
    ///
    /// The records are checked and indexed (the CPU work of a batch) by
    /// one sealer only, and their sealed bodies and index rows written in
    /// a few multi-row statements:
    /// - PostgreSQL: the sealer that gets the head row (`FOR UPDATE SKIP
    ///   LOCKED`) reads, checks, indexes and seals the batch in its
    ///   transaction; the others skip the round instead of redoing the
    ///   work. A sealer frozen inside its transaction (a stopped process)
    ///   is ended by the database after [`IDLE_TIMEOUT`], so the others
    ///   go on.
    /// - SQLite: the batch is read, checked and indexed before the
    ///   transaction, whose write lock every writer of the file waits
    ///   for; the transaction keeps the records no other process's sealer
    ///   took meanwhile.
    pub fn seal_audit(&self, key: &AuditKey) -> Result<(Head, usize), StoreError> {
        let mut conn = self.conn()?;
        let any: Option<i64> = audit_pending::table
            .select(audit_pending::id)
            .first(&mut *conn)
            .optional()?;
        if any.is_none() {
            // The common case on a tick: no lock, no write.
            return Ok((read_head(&mut conn)?, 0));
        }
        if self.backend == Backend::Postgres {
            let sealed = conn.transaction::<_, StoreError, _>(|c| {
                diesel::sql_query(IDLE_TIMEOUT).execute(c)?;
                let head: Option<HeadRow> = diesel::sql_query(
                    "SELECT seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE SKIP LOCKED",
                )
                .get_result(c)
                .optional()?;
                let Some(head) = head else {
                    // Another node's sealer is at work; it takes them.
                    return Ok(None);
                };
                let batch = self.checked_batch(c, key)?;
                let head = Head {
                    seq: head.seq,
                    hash: head.hash,
                };
                write_sealed(c, &batch, head, key).map(Some)
            })?;
            return match sealed {
                Some(sealed) => Ok(sealed),
                None => Ok((read_head(&mut conn)?, 0)),
            };
        }
        let batch = self.checked_batch(&mut conn, key)?;
        let _guard = self.write_guard();
        conn.transaction::<_, StoreError, _>(|c| {
            // Takes the head row's lock (SQLite's write lock) first.
            diesel::update(audit_chain_head::table.filter(audit_chain_head::id.eq(1)))
                .set(audit_chain_head::seq.eq(audit_chain_head::seq))
                .execute(c)?;
            let head = read_head(c)?;
            write_sealed(c, &batch, head, key)
        })
    }

    /// The next batch of pending records, in order, each with its body
    /// checked against its MAC and indexed (the chain extensions are no
    /// search parameter's, so the index of the unsealed body is the
    /// sealed one's).
    fn checked_batch(
        &self,
        conn: &mut DbConnection,
        key: &AuditKey,
    ) -> Result<Vec<ToSeal>, StoreError> {
        let pending: Vec<(i64, String, String)> = audit_pending::table
            .order(audit_pending::id.asc())
            .limit(SEAL_BATCH)
            .select((
                audit_pending::id,
                audit_pending::resource_id,
                audit_pending::mac,
            ))
            .load(conn)?;
        let rtype = ResourceType::AuditEvent.as_str();
        let ids: Vec<&str> = pending.iter().map(|(_, rid, _)| rid.as_str()).collect();
        let mut bodies: HashMap<String, Vec<u8>> = resource_versions::table
            .filter(resource_versions::resource_type.eq(rtype))
            .filter(resource_versions::version.eq(1))
            .filter(resource_versions::resource_id.eq_any(ids))
            .select((resource_versions::resource_id, resource_versions::body))
            .load::<(String, Option<Vec<u8>>)>(conn)?
            .into_iter()
            .filter_map(|(id, body)| Some((id, body?)))
            .collect();
        let registry = self.registry();
        let local = Snapshot::none();
        Ok(pending
            .into_iter()
            .map(|(pending_id, resource_id, mac)| {
                let bytes = bodies.remove(&resource_id);
                let body = bytes
                    .as_deref()
                    .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                    .filter(|b| chain::record_mac(b, key) == mac);
                let entries = match (&body, &bytes) {
                    (Some(_), Some(b)) => super::index_entries(&registry, &local, rtype, b),
                    _ => IndexEntries::default(),
                };
                ToSeal {
                    pending_id,
                    resource_id,
                    body,
                    entries,
                }
            })
            .collect())
    }

    /// Every stored AuditEvent version that holds a body, as `(id, JSON)`;
    /// a body that is not JSON any more is returned as a JSON string of
    /// its bytes, so verification reports it rather than skipping it.
    pub fn audit_records(&self) -> Result<Vec<(String, Value)>, StoreError> {
        let mut conn = self.conn()?;
        let rows: Vec<(String, Option<Vec<u8>>)> = resource_versions::table
            .filter(resource_versions::resource_type.eq(ResourceType::AuditEvent.as_str()))
            .filter(resource_versions::deleted.eq(false))
            .order(resource_versions::seq.asc())
            .select((resource_versions::resource_id, resource_versions::body))
            .load(&mut *conn)?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, body)| Some((id, parse_body(&body?))))
            .collect())
    }

    /// The records waiting for the sealer.
    pub fn audit_pending(&self) -> Result<Vec<PendingRecord>, StoreError> {
        let mut conn = self.conn()?;
        let rows: Vec<(String, String)> = audit_pending::table
            .order(audit_pending::id.asc())
            .select((audit_pending::resource_id, audit_pending::recorded))
            .load(&mut *conn)?;
        Ok(rows
            .into_iter()
            .map(|(id, recorded)| PendingRecord { id, recorded })
            .collect())
    }
}

fn parse_body(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// Writes the sealed bodies of a batch: on PostgreSQL in one statement
/// (the ids and bodies as two arrays), on SQLite (no round trips) one
/// update each.
fn set_bodies(
    conn: &mut DbConnection,
    sealed: &[(&str, Vec<u8>, &IndexEntries)],
) -> QueryResult<()> {
    let rtype = ResourceType::AuditEvent.as_str();
    match conn {
        DbConnection::Postgresql(c) => {
            let ids: Vec<&str> = sealed.iter().map(|(id, _, _)| *id).collect();
            let bodies: Vec<&[u8]> = sealed.iter().map(|(_, b, _)| b.as_slice()).collect();
            diesel::sql_query(
                "UPDATE resource_versions AS v SET body = u.body \
                 FROM unnest($1, $2) AS u(id, body) \
                 WHERE v.resource_type = 'AuditEvent' AND v.resource_id = u.id AND v.version = 1",
            )
            .bind::<Array<Text>, _>(ids)
            .bind::<Array<Binary>, _>(bodies)
            .execute(c)?;
        }
        DbConnection::Sqlite(_) => {
            for (id, body, _) in sealed {
                queries::set_body(conn, rtype, id, 1, body)?;
            }
        }
    }
    Ok(())
}

/// Runs `f` on `conn` with commits that do not wait for the log flush
/// on SQLite (`synchronous = NORMAL` for the call, `FULL` again after;
/// PostgreSQL sets `synchronous_commit` per transaction instead). See
/// [`Store::append_audits`].
fn without_flush<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, TxError>,
) -> Result<T, TxError> {
    use diesel::connection::SimpleConnection;
    if let DbConnection::Sqlite(c) = conn {
        c.batch_execute("PRAGMA synchronous = NORMAL")?;
    }
    let out = f(conn);
    if let DbConnection::Sqlite(c) = conn {
        if let Err(e) = c.batch_execute("PRAGMA synchronous = FULL") {
            log::error!("cannot restore synchronous = FULL on a pooled SQLite connection: {e}");
        }
    }
    out
}

#[derive(diesel::QueryableByName)]
struct HeadRow {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    hash: String,
}

fn read_head(conn: &mut DbConnection) -> QueryResult<Head> {
    let (seq, hash): (i64, String) = audit_chain_head::table
        .filter(audit_chain_head::id.eq(1))
        .select((audit_chain_head::seq, audit_chain_head::hash))
        .first(conn)?;
    Ok(Head { seq, hash })
}

/// Chains the records of `batch` still pending after `head` (whose row
/// the caller's transaction holds), and writes their sealed bodies, their
/// index rows, the queue and the new head.
fn write_sealed(
    c: &mut DbConnection,
    batch: &[ToSeal],
    mut head: Head,
    key: &AuditKey,
) -> Result<(Head, usize), StoreError> {
    let ids: Vec<i64> = batch.iter().map(|r| r.pending_id).collect();
    // Another process's sealer may have sealed some since they were read.
    let still: HashSet<i64> = audit_pending::table
        .filter(audit_pending::id.eq_any(&ids))
        .select(audit_pending::id)
        .load::<i64>(c)?
        .into_iter()
        .collect();
    if still.is_empty() {
        return Ok((head, 0));
    }
    let mut sealed: Vec<(&str, Vec<u8>, &IndexEntries)> = Vec::new();
    for r in batch.iter().filter(|r| still.contains(&r.pending_id)) {
        let Some(body) = &r.body else {
            log::error!(
                "AuditEvent/{} is pending but missing or not as the server wrote it; left \
                 unchained",
                r.resource_id
            );
            continue;
        };
        let mut body = body.clone();
        head = chain::seal(&mut body, &head, key);
        let bytes = serde_json::to_vec(&body).map_err(|e| StoreError::Fault(e.to_string()))?;
        sealed.push((r.resource_id.as_str(), bytes, &r.entries));
    }
    set_bodies(c, &sealed)?;
    let entries: Vec<(&str, &IndexEntries)> = sealed.iter().map(|(id, _, e)| (*id, *e)).collect();
    index_rows::insert_many(c, ResourceType::AuditEvent.as_str(), &entries)?;
    // By id, not by range: on PostgreSQL a lower id may commit after this
    // batch was read.
    let done: Vec<i64> = still.into_iter().collect();
    diesel::delete(audit_pending::table.filter(audit_pending::id.eq_any(done))).execute(c)?;
    diesel::update(audit_chain_head::table.filter(audit_chain_head::id.eq(1)))
        .set((
            audit_chain_head::seq.eq(head.seq),
            audit_chain_head::hash.eq(&head.hash),
        ))
        .execute(c)?;
    Ok((head, sealed.len()))
}
