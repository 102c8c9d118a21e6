//! AuditEvent records in storage: appending to the hash chain of
//! [`crate::audit::chain`] and reading every record back for
//! `fhir-server audit verify`.
//!
//! **Why appends cannot fork the chain.** An append reads the current head
//! and writes the next record in ONE transaction, after taking a lock that
//! every append takes: on SQLite the store's writer mutex (one writer per
//! process, and SQLite's own write lock across processes, taken by the
//! write that follows); on PostgreSQL `pg_advisory_xact_lock` on
//! [`CHAIN_LOCK`], held to commit, so a second server process on the same
//! database waits and then reads the head the first one wrote.

use diesel::connection::Connection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use fhir_model::{Resource, ResourceType};
use serde_json::Value;

use super::connection::DbConnection;
use super::schema::resource_versions;
use super::{write_once, Backend, Change, Store, StoreError, TxError, Written, WRITE_ATTEMPTS};
use crate::audit::chain::{self, Head};

/// The advisory lock key of the audit chain ("auditlog" in ASCII).
pub const CHAIN_LOCK: i64 = 0x6175_6469_746c_6f67;

/// Rows read per step while looking for the head.
const HEAD_BATCH: i64 = 64;

impl Store {
    /// Seals `event` (an AuditEvent as JSON, with its id) onto the chain
    /// and stores it, in one transaction. Returns what was written.
    pub fn append_audit(&self, event: &Value) -> Result<Written, StoreError> {
        let id = event
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| StoreError::Fault("an audit record needs an id".into()))?
            .to_owned();
        let local = self.local_codes().snapshot(self)?;
        let _guard = self.write_guard();
        let registry = self.registry();
        let backend = self.backend;
        let mut conn = self.conn()?;
        for attempt in 1..=WRITE_ATTEMPTS {
            let result = conn.transaction(|c| {
                if backend == Backend::Postgres {
                    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                        .bind::<BigInt, _>(CHAIN_LOCK)
                        .execute(c)?;
                }
                let head = chain_head(c)?;
                let mut sealed = event.clone();
                chain::seal(&mut sealed, &head);
                let bytes = serde_json::to_vec(&sealed)
                    .map_err(|e| TxError::Store(StoreError::Fault(e.to_string())))?;
                let mut resource = Resource::from_json_slice(&bytes)
                    .map_err(|e| TxError::Store(StoreError::Fault(format!("audit record: {e}"))))?;
                let mut change = Change::Create(&mut resource);
                write_once(
                    c,
                    &registry,
                    &local,
                    ResourceType::AuditEvent,
                    &id,
                    &mut change,
                )?
                .ok_or_else(|| TxError::Store(StoreError::Fault("stored nothing".into())))
            });
            match result {
                Ok(w) => return Ok(w),
                Err(TxError::Retry) => {
                    log::debug!("audit append lost a race (attempt {attempt}); retrying");
                }
                Err(TxError::Store(e)) => return Err(e),
                Err(TxError::Db(e)) => return Err(e.into()),
            }
        }
        Err(StoreError::VersionConflict(
            "the audit chain kept colliding with other writers".into(),
        ))
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
}

fn parse_body(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// The last chained record, read newest first; the genesis head when
/// there is none. AuditEvents without chain links (imported ones) are
/// stepped over.
fn chain_head(c: &mut DbConnection) -> Result<Head, TxError> {
    let mut offset = 0;
    loop {
        let bodies: Vec<Option<Vec<u8>>> = resource_versions::table
            .filter(resource_versions::resource_type.eq(ResourceType::AuditEvent.as_str()))
            .order(resource_versions::seq.desc())
            .select(resource_versions::body)
            .limit(HEAD_BATCH)
            .offset(offset)
            .load(c)?;
        for body in bodies.iter().flatten() {
            if let Some(l) = chain::links(&parse_body(body)) {
                return Ok(Head {
                    seq: l.seq,
                    hash: l.hash,
                });
            }
        }
        if (bodies.len() as i64) < HEAD_BATCH {
            return Ok(Head::genesis());
        }
        offset += HEAD_BATCH;
    }
}
