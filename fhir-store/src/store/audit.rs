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
//! `audit::sealer`): one batch per transaction, which first updates the
//! single `audit_chain_head` row, so sealers of several processes take
//! turns on that row's lock (PostgreSQL) or SQLite's write lock, for the
//! length of one batch only, never while a request waits.
//!
//! **Cheap records.** The request path writes no search index rows for
//! its record: indexing an AuditEvent (about twenty rows in seven tables)
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
use diesel::sql_types::{Array, Binary, Text};
use fhir_model::primitives::{Id, Instant};
use fhir_model::{Resource, ResourceType};
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
/// the head row.
const SEAL_BATCH: i64 = 500;

/// Rows per INSERT of [`insert_unsealed`] (7 bound values a row at most,
/// well below SQLite's limit of 32,766).
const ROWS_PER_INSERT: usize = 500;

/// How long PostgreSQL lets a sealer's transaction sit idle (its process
/// frozen) before ending its session and releasing the head row.
const IDLE_TIMEOUT: &str = "SET LOCAL idle_in_transaction_session_timeout = '5s'";

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

/// An AuditEvent built by the server, checked against the model and
/// ready to be stored ([`Store::append_audits`]). Made before the
/// transaction, so the parse is not done while a write lock is held.
#[derive(Debug)]
pub struct AuditRecord {
    id: String,
    recorded: String,
    resource: Resource,
}

impl AuditRecord {
    /// `event` is an AuditEvent as JSON, with its id.
    pub fn new(event: &Value) -> Result<Self, StoreError> {
        let fault = |m: String| StoreError::Fault(m);
        let id = event
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| fault("an audit record needs an id".into()))?
            .to_owned();
        let recorded = event
            .get("recorded")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let bytes = serde_json::to_vec(event).map_err(|e| fault(e.to_string()))?;
        let resource =
            Resource::from_json_slice(&bytes).map_err(|e| fault(format!("audit record: {e}")))?;
        Ok(AuditRecord {
            id,
            recorded,
            resource,
        })
    }

    /// The record as stored at `stamp` (version 1), with the MAC the
    /// sealer checks before it chains it.
    fn stamp(&mut self, stamp: &str, key: &AuditKey) -> Result<Unsealed, StoreError> {
        let fault = |m: String| StoreError::Fault(m);
        let vid = Id::new("1".to_owned()).map_err(|e| fault(e.to_string()))?;
        let lu = Instant::new(stamp.to_owned()).map_err(|e| fault(e.to_string()))?;
        self.resource.set_version_meta(&vid, &lu);
        let body = self.resource.to_json_vec();
        let stored: Value = serde_json::from_slice(&body).map_err(|e| fault(e.to_string()))?;
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
/// it commits) and their `audit_pending` rows with the MAC, each table
/// in one multi-row statement. The search index rows are written by the
/// sealer, in batches, with the sealed body (see the module doc).
fn insert_unsealed(conn: &mut DbConnection, records: &[Unsealed]) -> Result<(), TxError> {
    let rtype = ResourceType::AuditEvent.as_str();
    for chunk in records.chunks(ROWS_PER_INSERT) {
        let current: Vec<NewCurrent<'_>> = chunk
            .iter()
            .map(|r| NewCurrent {
                resource_type: rtype,
                resource_id: &r.id,
                version: 1,
                last_updated: &r.last_updated,
                deleted: false,
            })
            .collect();
        insert_rows!(conn, resources::table, &current)?;
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
    /// The batch is read, checked and indexed before the transaction
    /// (the CPU work of a batch holds no lock); the transaction takes the
    /// head row, keeps the records no other sealer took meanwhile, chains
    /// them, and writes their sealed bodies and index rows in a few
    /// multi-row statements.
    pub fn seal_audit(&self, key: &AuditKey) -> Result<(Head, usize), StoreError> {
        let mut conn = self.conn()?;
        let pending: Vec<(i64, String, String)> = audit_pending::table
            .order(audit_pending::id.asc())
            .limit(SEAL_BATCH)
            .select((
                audit_pending::id,
                audit_pending::resource_id,
                audit_pending::mac,
            ))
            .load(&mut *conn)?;
        if pending.is_empty() {
            // The common case on a tick: no lock, no write.
            let (seq, hash): (i64, String) = audit_chain_head::table
                .filter(audit_chain_head::id.eq(1))
                .select((audit_chain_head::seq, audit_chain_head::hash))
                .first(&mut *conn)?;
            return Ok((Head { seq, hash }, 0));
        }
        let batch = self.checked_batch(&mut conn, pending, key)?;
        let _guard = self.write_guard();
        conn.transaction::<_, StoreError, _>(|c| {
            if self.backend == Backend::Postgres {
                // A sealer frozen inside its transaction (a stopped
                // process) holds the head row: ended by the database
                // so the other nodes' sealers go on.
                diesel::sql_query(IDLE_TIMEOUT).execute(c)?;
            }
            // Takes the head row's lock first: sealers queue here.
            diesel::update(audit_chain_head::table.filter(audit_chain_head::id.eq(1)))
                .set(audit_chain_head::seq.eq(audit_chain_head::seq))
                .execute(c)?;
            let (seq, hash): (i64, String) = audit_chain_head::table
                .filter(audit_chain_head::id.eq(1))
                .select((audit_chain_head::seq, audit_chain_head::hash))
                .first(c)?;
            let mut head = Head { seq, hash };
            let ids: Vec<i64> = batch.iter().map(|r| r.pending_id).collect();
            // Another sealer may have sealed some since they were read.
            let still: HashSet<i64> = audit_pending::table
                .filter(audit_pending::id.eq_any(&ids))
                .select(audit_pending::id)
                .load::<i64>(c)?
                .into_iter()
                .collect();
            let mut sealed: Vec<(&str, Vec<u8>, &IndexEntries)> = Vec::new();
            for r in batch.iter().filter(|r| still.contains(&r.pending_id)) {
                let Some(body) = &r.body else {
                    log::error!(
                        "AuditEvent/{} is pending but missing or not as the server wrote \
                         it; left unchained",
                        r.resource_id
                    );
                    continue;
                };
                let mut body = body.clone();
                head = chain::seal(&mut body, &head, key);
                let bytes =
                    serde_json::to_vec(&body).map_err(|e| StoreError::Fault(e.to_string()))?;
                sealed.push((r.resource_id.as_str(), bytes, &r.entries));
            }
            if still.is_empty() {
                return Ok((head, 0));
            }
            set_bodies(c, &sealed)?;
            let entries: Vec<(&str, &IndexEntries)> =
                sealed.iter().map(|(id, _, e)| (*id, *e)).collect();
            index_rows::insert_many(c, ResourceType::AuditEvent.as_str(), &entries)?;
            // By id, not by range: on PostgreSQL a lower id may commit
            // after this batch was read.
            let done: Vec<i64> = still.into_iter().collect();
            diesel::delete(audit_pending::table.filter(audit_pending::id.eq_any(done)))
                .execute(c)?;
            diesel::update(audit_chain_head::table.filter(audit_chain_head::id.eq(1)))
                .set((
                    audit_chain_head::seq.eq(head.seq),
                    audit_chain_head::hash.eq(&head.hash),
                ))
                .execute(c)?;
            Ok((head, sealed.len()))
        })
    }

    /// The bodies of `pending` (in order), each checked against its MAC
    /// and indexed (the chain extensions are no search parameter's, so
    /// the index of the unsealed body is the sealed one's).
    fn checked_batch(
        &self,
        conn: &mut DbConnection,
        pending: Vec<(i64, String, String)>,
        key: &AuditKey,
    ) -> Result<Vec<ToSeal>, StoreError> {
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
