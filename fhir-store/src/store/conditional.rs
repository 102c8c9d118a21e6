//! Conditional writes: search and write in ONE database transaction
//! (http.html#ccreate, #cond-update, #3.1.0.7.1 conditional delete, and
//! the conditional entries and references of a transaction, #trules).
//!
//! [`Store::transaction_with`] opens a transaction, takes the locks that
//! make "search, then write" safe against concurrent identical requests,
//! and hands a [`Tx`] to the caller, which can search ([`Tx::matching`]),
//! read, write ([`Tx::write`]) and run a whole [`Conditional`] inside it.
//! A lost race reruns the closure from the start in a new transaction, so
//! the closure must not keep state between runs.
//!
//! **Why conditional creates cannot double up.** Two clients sending the
//! same conditional create both search, both see no match and both create,
//! unless something orders them. SQLite writers already run one at a time
//! in this process ([`Store::write_guard`]), and every write transaction
//! here takes that guard before it searches. PostgreSQL runs transactions
//! side by side (READ COMMITTED), so each conditional write first takes
//! `pg_advisory_xact_lock(key)`, where `key` is a 64-bit FNV-1a hash of the
//! resource type and the canonical criteria ([`Criteria::lock_key`]). The
//! second request waits for the first to commit; its search, a new
//! statement under READ COMMITTED, then sees the created resource. The lock
//! is released at commit or rollback. Requests with *different* criteria
//! that happen to select the same resources are not ordered by this lock,
//! which is the usual limit of conditional create.

use diesel::connection::Connection;
use diesel::sql_types::BigInt;
use diesel::RunQueryDsl;
use fhir_model::primitives::Id;
use fhir_model::{Resource, ResourceType};

use super::connection::DbConnection;
use super::index_rows::PendingRows;
use super::{
    queries, search, type_and_id, write_once, Backend, Change, Prepared, Store, StoreError,
    StoredVersion, TxError, TxWrite, Written, WRITE_ATTEMPTS,
};
use crate::search::param::ParamRegistry;
use crate::search::query::SearchRequest;

/// The criteria of a conditional write: a parsed search over one type,
/// with its canonical text (the parameters as understood, sorted), which
/// names the lock identical requests share.
#[derive(Debug, Clone)]
pub struct Criteria {
    pub request: SearchRequest,
    /// `Type?a=1&b=2`, parameters sorted, so `b=2&a=1` is the same text.
    pub text: String,
}

impl Criteria {
    /// `request` must have been checked by the caller: criteria present and
    /// nothing ignored (a conditional write never drops a criterion).
    pub fn new(request: SearchRequest) -> Self {
        let mut used: Vec<String> = request
            .used
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        used.sort();
        let text = format!("{}?{}", request.types.join(","), used.join("&"));
        Self { request, text }
    }

    /// The advisory lock key of these criteria: FNV-1a (64-bit) of the
    /// canonical text. Computed here, not with PostgreSQL's `hashtext`,
    /// so the key does not depend on the server version.
    pub fn lock_key(&self) -> i64 {
        fnv1a(self.text.as_bytes())
    }
}

fn fnv1a(bytes: &[u8]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

/// A write that depends on what a search finds.
#[derive(Debug, Clone)]
pub enum Conditional {
    /// http.html#ccreate: no match creates `Resource` under the id it
    /// carries; one match returns that resource untouched; more is 412.
    Create(Resource, Criteria),
    /// http.html#cond-update: no match creates (under the body's id if it
    /// has one, else a new one); one match updates it (a body id must be
    /// the match's, else 400); more is 412.
    Update(Resource, Criteria),
    /// http.html#3.1.0.7.1: no match deletes nothing; up to `max` matches
    /// are all deleted; more than `max` is 412. With `if_match`
    /// (`If-Match`, `request.ifMatch`) the criteria must match exactly one
    /// resource, at that version, else 412: the version names one resource.
    Delete {
        resource_type: ResourceType,
        criteria: Criteria,
        max: usize,
        if_match: Option<i32>,
    },
}

impl Conditional {
    pub fn criteria(&self) -> &Criteria {
        match self {
            Conditional::Create(_, c) | Conditional::Update(_, c) => c,
            Conditional::Delete { criteria, .. } => criteria,
        }
    }
}

/// What a [`Conditional`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CondOutcome {
    /// Nothing matched; the resource was stored under `id`.
    Created { id: String, written: Written },
    /// A conditional create matched this resource; nothing was written.
    Matched(StoredVersion),
    /// A conditional update stored this version of `id` (`written.created`
    /// when no resource matched, or the match had been deleted).
    Updated { id: String, written: Written },
    /// A conditional delete removed these (empty: nothing matched).
    Deleted(Vec<(String, Written)>),
}

/// One open write transaction; see the module doc.
pub struct Tx<'a> {
    pub(super) conn: &'a mut DbConnection,
    registry: &'a ParamRegistry,
    local: &'a crate::local_codes::Snapshot,
    backend: Backend,
    /// The transaction's index and full-text rows, written before it
    /// searches and before it commits.
    pending: PendingRows,
}

impl Tx<'_> {
    /// One write, its index rows held for the transaction.
    fn write_change(
        &mut self,
        rt: ResourceType,
        id: &str,
        change: &mut Change<'_>,
        prepared: &mut Option<Prepared>,
    ) -> Result<Option<Written>, TxError> {
        write_once(
            self.conn,
            self.registry,
            self.local,
            rt,
            id,
            change,
            prepared,
            Some(&mut self.pending),
        )
    }

    /// The ids of at most `limit` resources matching `req`, seen from this
    /// transaction (its own earlier writes included).
    pub fn matching(
        &mut self,
        req: &SearchRequest,
        limit: usize,
    ) -> Result<Vec<(String, String)>, TxError> {
        self.pending.flush(self.conn)?;
        Ok(search::matching_ids(self.conn, self.backend, req, limit)?)
    }

    /// The current version of a resource, deletions included.
    pub fn current(
        &mut self,
        rt: ResourceType,
        id: &str,
    ) -> Result<Option<StoredVersion>, TxError> {
        Ok(queries::latest(self.conn, rt.as_str(), id)?.map(Into::into))
    }

    /// One page of a search seen from this transaction (its own writes
    /// included).
    pub fn search(&mut self, req: &SearchRequest) -> Result<super::SearchPage, TxError> {
        self.pending.flush(self.conn)?;
        Ok(search::search_on(self.conn, self.backend, req)?)
    }

    /// One page of history seen from this transaction.
    pub fn history(&mut self, q: &super::HistoryQuery) -> Result<super::HistoryPage, TxError> {
        Ok(super::history_on(self.conn, q, true)?)
    }

    /// A read or vread seen from this transaction (its own writes
    /// included): `NotFound` or `Gone` as [`Store::read_version`] answers.
    pub fn read(
        &mut self,
        rt: ResourceType,
        id: &Id,
        version: Option<i32>,
    ) -> Result<StoredVersion, TxError> {
        let (rtype, rid) = (rt.as_str(), id.as_str());
        let row = match version {
            None => queries::latest(self.conn, rtype, rid)?,
            Some(v) => queries::version(self.conn, rtype, rid, v)?,
        };
        let what = || match version {
            None => format!("{rtype}/{rid}"),
            Some(v) => format!("{rtype}/{rid}/_history/{v}"),
        };
        Ok(super::live(row, what)?.into())
    }

    /// One plain write, as [`Store::transaction`] does it.
    pub fn write(&mut self, w: &mut TxWrite) -> Result<Option<Written>, TxError> {
        self.write_with(w, &mut None)
    }

    /// [`Tx::write`] with the work [`Store::prepare_each`] did before the
    /// transaction took the writer lock (taken; redone here when it no
    /// longer fits).
    pub fn write_with(
        &mut self,
        w: &mut TxWrite,
        prepared: &mut Option<Prepared>,
    ) -> Result<Option<Written>, TxError> {
        let (rt, id, mut change) = match w {
            TxWrite::Create(r) => {
                let (rt, id) = type_and_id(r)?;
                (rt, id, Change::Create(r))
            }
            TxWrite::Update(r, if_match) => {
                let (rt, id) = type_and_id(r)?;
                (rt, id, Change::Update(r, *if_match))
            }
            TxWrite::Delete(rt, id) => (*rt, id.as_str().to_owned(), Change::Delete),
        };
        self.write_change(rt, &id, &mut change, prepared)
    }

    /// Searches, then writes according to what was found (see
    /// [`Conditional`]). The caller holds the criteria's lock (taken by
    /// [`Store::transaction_with`] from the keys it was given).
    pub fn conditional(&mut self, op: &mut Conditional) -> Result<CondOutcome, TxError> {
        let plan = self.plan(op)?;
        self.apply(op, plan)
    }

    /// The search half of [`Tx::conditional`]: what `op` will do, decided
    /// from the current matches, without writing. A conditional update's
    /// resource gets the id it will be stored under. A transaction plans
    /// every conditional entry first, so that references to their
    /// `fullUrl`s can be rewritten before anything is written.
    pub fn plan(&mut self, op: &mut Conditional) -> Result<Plan, TxError> {
        // Refused even when the criteria match nothing.
        super::audit::refuse_audit_write(
            self.conn,
            match op {
                Conditional::Create(r, _) | Conditional::Update(r, _) => r.resource_type(),
                Conditional::Delete { resource_type, .. } => *resource_type,
            },
        )?;
        match op {
            Conditional::Create(resource, criteria) => {
                let found = self.matching(&criteria.request, 2)?;
                match found.as_slice() {
                    [] => {
                        let (_, id) = type_and_id(resource)?;
                        Ok(Plan::Write(id))
                    }
                    [(_, id)] => Ok(Plan::Existing(id.clone())),
                    _ => Err(TxError::Store(many(criteria, "conditional create"))),
                }
            }
            Conditional::Update(resource, criteria) => {
                let found = self.matching(&criteria.request, 2)?;
                let body_id = resource.id().map(|i| i.as_str().to_owned());
                let id = match (found.as_slice(), body_id) {
                    ([], Some(body_id)) => body_id,
                    ([], None) => uuid::Uuid::new_v4().to_string(),
                    ([(_, id)], None) => id.clone(),
                    ([(_, id)], Some(body_id)) if *id == body_id => body_id,
                    ([(_, id)], Some(body_id)) => {
                        return Err(TxError::Store(StoreError::BadRequest(format!(
                            "the resource's id ({body_id:?}) is not the id of the resource \
                             the criteria {} match ({id:?})",
                            criteria.text
                        ))))
                    }
                    _ => return Err(TxError::Store(many(criteria, "conditional update"))),
                };
                resource.set_id(Some(
                    Id::new(id.clone()).map_err(|e| fault(&e.to_string()))?,
                ));
                Ok(Plan::Write(id))
            }
            Conditional::Delete {
                resource_type,
                criteria,
                if_match: Some(v),
                ..
            } => {
                let found = self.matching(&criteria.request, 2)?;
                let [(_, id)] = found.as_slice() else {
                    return Err(TxError::Store(StoreError::PreconditionFailed(format!(
                        "If-Match names one version, but the criteria {} match {} resources",
                        criteria.text,
                        if found.is_empty() { "no" } else { "several" }
                    ))));
                };
                let pre = super::Preconditions {
                    if_match: Some(*v),
                    if_none_match: None,
                };
                self.check(*resource_type, id, &pre)?;
                Ok(Plan::Delete(vec![id.clone()]))
            }
            Conditional::Delete { criteria, max, .. } => {
                let found = self.matching(&criteria.request, max.saturating_add(1))?;
                if found.len() > *max {
                    return Err(TxError::Store(StoreError::PreconditionFailed(format!(
                        "the criteria {} match more than {max} resource{}; \
                         make them more selective",
                        criteria.text,
                        if *max == 1 { "" } else { "s" }
                    ))));
                }
                Ok(Plan::Delete(found.into_iter().map(|(_, id)| id).collect()))
            }
        }
    }

    /// The write half of [`Tx::conditional`], for a plan made in this
    /// transaction.
    pub fn apply(&mut self, op: &mut Conditional, plan: Plan) -> Result<CondOutcome, TxError> {
        match (op, plan) {
            (Conditional::Create(resource, _), Plan::Write(id)) => {
                let rt = resource.resource_type();
                let written = self
                    .write_change(rt, &id, &mut Change::Create(resource), &mut None)?
                    .ok_or_else(|| fault("conditional create stored nothing"))?;
                Ok(CondOutcome::Created { id, written })
            }
            (Conditional::Create(resource, _), Plan::Existing(id)) => {
                let v = self
                    .current(resource.resource_type(), &id)?
                    .ok_or_else(|| fault("a matched resource has no current version"))?;
                Ok(CondOutcome::Matched(v))
            }
            (Conditional::Update(resource, _), Plan::Write(id)) => {
                let rt = resource.resource_type();
                let written = self
                    .write_change(rt, &id, &mut Change::Update(resource, None), &mut None)?
                    .ok_or_else(|| fault("conditional update stored nothing"))?;
                Ok(CondOutcome::Updated { id, written })
            }
            (Conditional::Delete { resource_type, .. }, Plan::Delete(ids)) => {
                let mut deleted = Vec::with_capacity(ids.len());
                for id in ids {
                    let w =
                        self.write_change(*resource_type, &id, &mut Change::Delete, &mut None)?;
                    if let Some(w) = w {
                        deleted.push((id, w));
                    }
                }
                Ok(CondOutcome::Deleted(deleted))
            }
            _ => Err(fault(
                "a conditional write was applied with another write's plan",
            )),
        }
    }
}

/// What a planned [`Conditional`] will do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Store the resource under this id (create, or update).
    Write(String),
    /// A conditional create matched this resource: write nothing.
    Existing(String),
    /// Delete these.
    Delete(Vec<String>),
}

fn fault(m: &str) -> TxError {
    TxError::Store(StoreError::Fault(m.to_owned()))
}

/// http.html#ccreate, #cond-update: "Multiple matches: The server returns
/// a 412 Precondition Failed error indicating the client's criteria were
/// not selective enough".
fn many(criteria: &Criteria, what: &str) -> StoreError {
    StoreError::PreconditionFailed(format!(
        "{what}: the criteria {} match more than one resource; make them more selective",
        criteria.text
    ))
}

impl Store {
    /// Runs `f` in one write transaction, after taking the advisory locks
    /// `lock_keys` on PostgreSQL (sorted, so two transactions never wait
    /// for each other's keys in opposite order) and the in-process writer
    /// lock on SQLite. A lost race reruns `f` in a new transaction (see
    /// the module doc); `f`'s own errors roll everything back.
    pub fn transaction_with<T>(
        &self,
        lock_keys: &[i64],
        mut f: impl FnMut(&mut Tx<'_>) -> Result<T, TxError>,
    ) -> Result<T, StoreError> {
        let local = self.write_snapshot()?;
        let _guard = self.write_guard();
        let registry = self.registry();
        let mut keys = lock_keys.to_vec();
        keys.sort_unstable();
        keys.dedup();
        let backend = self.backend;
        let mut conn = self.conn()?;
        for attempt in 1..=WRITE_ATTEMPTS {
            let result = conn.transaction(|c| {
                if backend == Backend::Postgres {
                    for k in &keys {
                        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                            .bind::<BigInt, _>(*k)
                            .execute(c)?;
                    }
                }
                let mut tx = Tx {
                    conn: c,
                    registry: &registry,
                    local: &local,
                    backend,
                    pending: PendingRows::default(),
                };
                let out = f(&mut tx)?;
                tx.pending.flush(tx.conn)?;
                Ok(out)
            });
            match result {
                Ok(v) => return Ok(v),
                Err(TxError::Retry) => {
                    log::debug!("conditional write lost a race (attempt {attempt}); retrying");
                    super::retry::pause(attempt);
                }
                Err(TxError::Store(e)) => return Err(e),
                Err(TxError::Db(e)) => return Err(e.into()),
            }
        }
        Err(StoreError::VersionConflict(
            "the write kept colliding with other writers; try again".into(),
        ))
    }

    /// One conditional create, update or delete in its own transaction.
    pub fn conditional(&self, op: Conditional) -> Result<CondOutcome, StoreError> {
        let key = op.criteria().lock_key();
        self.transaction_with(&[key], |tx| {
            // A rerun starts again from the request as given.
            let mut op = op.clone();
            tx.conditional(&mut op)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::fnv1a;

    #[test]
    fn fnv1a_is_the_published_function() {
        // Test vectors of the FNV reference (offset basis; "a").
        assert_eq!(fnv1a(b"") as u64, 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a") as u64, 0xaf63_dc4c_8601_ec8c);
    }
}
