//! AuditEvent records in storage: stored unsealed in the transaction of
//! the write they record, sealed onto the keyed chain of
//! [`crate::audit::chain`] after commit, and read back for
//! `fhir-server audit verify`.
//!
//! **No cluster-wide lock on the request path.** A record is an ordinary
//! insert (the AuditEvent and an `audit_pending` row with its MAC) in the
//! transaction of the request's write, or in a transaction of its own for
//! a read; nothing every request shares is locked. The chain order is
//! assigned afterwards by [`Store::seal_audit`], which every server
//! process runs from its sealer (fhir-server's `audit::sealer`): one batch per
//! transaction, which first updates the single `audit_chain_head` row, so
//! sealers of several processes take turns on that row's lock (PostgreSQL)
//! or SQLite's write lock, for the length of one batch only, never while a
//! request waits.
//!
//! **No write is audited by HTTP.** Records are inserted here, below the
//! write paths; writes of AuditEvents through the API are refused in
//! `write_once` (see [`refuse_audit_write`]).

use diesel::connection::Connection;
use diesel::prelude::*;
use fhir_model::{Resource, ResourceType};
use serde_json::Value;

use super::connection::DbConnection;
use super::schema::{audit_chain_head, audit_pending, resource_versions};
use super::{queries, store_version, Change, Store, StoreError, TxError, Written};
use crate::audit::chain::{self, Head};
use crate::audit::key::AuditKey;
use crate::local_codes::Snapshot;
use crate::search::param::ParamRegistry;

/// Records sealed per transaction: a bound on how long one sealer holds
/// the head row.
const SEAL_BATCH: i64 = 500;

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
/// ([`crate::audit::active`]).
pub(super) fn record_write(
    conn: &mut DbConnection,
    registry: &ParamRegistry,
    local: &Snapshot,
    rt: ResourceType,
    id: &str,
    method: &str,
    written: &Written,
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
    insert_record(conn, registry, local, &event, scope.key())?;
    scope.mark_recorded();
    Ok(())
}

/// Stores `event` as a new, unsealed AuditEvent and queues it for the
/// sealer with its MAC.
fn insert_record(
    conn: &mut DbConnection,
    registry: &ParamRegistry,
    local: &Snapshot,
    event: &Value,
    key: &AuditKey,
) -> Result<(), TxError> {
    let fault = |m: String| TxError::Store(StoreError::Fault(m));
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
    let mut resource =
        Resource::from_json_slice(&bytes).map_err(|e| fault(format!("audit record: {e}")))?;
    let written = store_version(
        conn,
        registry,
        local,
        ResourceType::AuditEvent,
        &id,
        &mut Change::Create(&mut resource),
        None,
        None,
    )?
    .ok_or_else(|| fault("the audit record stored nothing".into()))?;
    let stored: Value = serde_json::from_slice(written.body.as_deref().unwrap_or_default())
        .map_err(|e| fault(e.to_string()))?;
    diesel::insert_into(audit_pending::table)
        .values((
            audit_pending::resource_id.eq(&id),
            audit_pending::mac.eq(chain::record_mac(&stored, key)),
            audit_pending::recorded.eq(&recorded),
        ))
        .execute(conn)?;
    Ok(())
}

impl Store {
    /// Stores `event` (an AuditEvent as JSON, with its id) unsealed in a
    /// transaction of its own: the record of a request that wrote nothing.
    pub fn append_audit(&self, event: &Value, key: &AuditKey) -> Result<(), StoreError> {
        let local = self.local_codes().snapshot(self)?;
        let _guard = self.write_guard();
        let registry = self.registry();
        let mut conn = self.conn()?;
        conn.transaction(|c| insert_record(c, &registry, &local, event, key))
            .map_err(|e| match e {
                TxError::Store(e) => e,
                TxError::Db(e) => e.into(),
                TxError::Retry => StoreError::VersionConflict("audit record id taken".into()),
            })
    }

    /// Seals up to one batch of pending records onto the chain, in the
    /// order they were written; returns the head and how many were
    /// sealed. A pending record whose MAC does not match (a row slipped
    /// into the database, or changed before sealing) is left unchained
    /// and logged: `audit verify` reports it.
    pub fn seal_audit(&self, key: &AuditKey) -> Result<(Head, usize), StoreError> {
        let mut conn = self.conn()?;
        // Nothing pending (the common case on a tick): no lock, no write.
        let any: Option<i64> = audit_pending::table
            .select(audit_pending::id)
            .first(&mut *conn)
            .optional()?;
        if any.is_none() {
            let (seq, hash): (i64, String) = audit_chain_head::table
                .filter(audit_chain_head::id.eq(1))
                .select((audit_chain_head::seq, audit_chain_head::hash))
                .first(&mut *conn)?;
            return Ok((Head { seq, hash }, 0));
        }
        let _guard = self.write_guard();
        conn.transaction::<_, StoreError, _>(|c| {
            // Takes the head row's lock first: sealers queue here.
            diesel::update(audit_chain_head::table.filter(audit_chain_head::id.eq(1)))
                .set(audit_chain_head::seq.eq(audit_chain_head::seq))
                .execute(c)?;
            let (seq, hash): (i64, String) = audit_chain_head::table
                .filter(audit_chain_head::id.eq(1))
                .select((audit_chain_head::seq, audit_chain_head::hash))
                .first(c)?;
            let mut head = Head { seq, hash };
            let pending: Vec<(i64, String, String)> = audit_pending::table
                .order(audit_pending::id.asc())
                .limit(SEAL_BATCH)
                .select((
                    audit_pending::id,
                    audit_pending::resource_id,
                    audit_pending::mac,
                ))
                .load(c)?;
            let mut sealed = 0;
            for (_, rid, mac) in &pending {
                let row = queries::version(c, ResourceType::AuditEvent.as_str(), rid, 1)?;
                let body = row
                    .and_then(|r| r.body)
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
                let Some(mut body) = body.filter(|b| chain::record_mac(b, key) == *mac) else {
                    log::error!(
                        "AuditEvent/{rid} is pending but missing or not as the server wrote \
                         it; left unchained"
                    );
                    continue;
                };
                head = chain::seal(&mut body, &head, key);
                let bytes =
                    serde_json::to_vec(&body).map_err(|e| StoreError::Fault(e.to_string()))?;
                queries::set_body(c, ResourceType::AuditEvent.as_str(), rid, 1, &bytes)?;
                sealed += 1;
            }
            if !pending.is_empty() {
                // By id, not by range: on PostgreSQL a lower id may commit
                // after this batch was read.
                let ids: Vec<i64> = pending.iter().map(|(id, _, _)| *id).collect();
                diesel::delete(audit_pending::table.filter(audit_pending::id.eq_any(ids)))
                    .execute(c)?;
                diesel::update(audit_chain_head::table.filter(audit_chain_head::id.eq(1)))
                    .set((
                        audit_chain_head::seq.eq(head.seq),
                        audit_chain_head::hash.eq(&head.hash),
                    ))
                    .execute(c)?;
            }
            Ok((head, sealed))
        })
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
