//! batch: each entry on its own, each with its own outcome
//! (<https://hl7.org/fhir/R4/http.html#transaction>). A failing entry does
//! not stop the others; its response carries the status and an
//! OperationOutcome.
//!
//! Each write entry runs in a database transaction of its own, where its
//! conditional references are resolved and its conditional search (if it
//! is a conditional entry) runs before it writes; a conditional reference
//! that matches no or several resources fails that entry only.

use fhir_model::generated::Bundle;
use fhir_model::primitives::Id;

use super::transaction::{conditional_done, created_or_ok, resource_of, resource_of_mut};
use super::{
    conditional_refs, entries_of, error_entry, in_processing_order, parse_entry, read_entry,
    resolve_ref, response_bundle, written_entry, CondRef, EntryJson, EntryOp,
};
use crate::error::Error;
use crate::store::{Store, StoreError, TxError, TxWrite};
use actix_web::http::StatusCode;

pub fn run(store: &Store, base: &str, mut bundle: Bundle) -> Vec<u8> {
    let registry = store.registry();
    let mut entries = entries_of(&mut bundle);
    let mut out: Vec<EntryJson> = vec![Vec::new(); entries.len()];
    let mut ops = Vec::with_capacity(entries.len());
    let mut failed = Vec::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        let parsed = parse_entry(i, entry, &registry, base).and_then(|op| {
            let refs = match resource_of(&op) {
                Some(r) => conditional_refs(i, r, &registry, base)?,
                None => Vec::new(),
            };
            Ok((op, refs))
        });
        match parsed {
            Ok(op) => ops.push(Some(op)),
            Err(e) => {
                ops.push(None);
                failed.push((i, e));
            }
        }
    }
    for (i, e) in failed {
        out[i] = error_entry(&e);
    }
    let ops: Vec<_> = ops
        .into_iter()
        .enumerate()
        .filter_map(|(i, op)| op.map(|op| (i, op)))
        .collect();
    let (indices, ops): (Vec<usize>, Vec<(EntryOp, Vec<CondRef>)>) = ops.into_iter().unzip();
    let (ops, mut refs): (Vec<EntryOp>, Vec<Vec<CondRef>>) = ops.into_iter().unzip();
    for (k, op) in in_processing_order(ops) {
        let i = indices[k];
        let refs = std::mem::take(&mut refs[k]);
        out[i] = match run_one(store, base, op, &refs) {
            Ok(v) => v,
            Err(e) => error_entry(&e),
        };
    }
    response_bundle("batch-response", out)
}

fn run_one(
    store: &Store,
    base: &str,
    mut op: EntryOp,
    refs: &[CondRef],
) -> Result<EntryJson, Error> {
    if let EntryOp::Read { rt, id, version } = op {
        return Ok(read_entry(base, store.read_version(rt, &id, version)?));
    }
    if let Some(r) = super::posted_resource(&mut op) {
        let id =
            Id::new(uuid::Uuid::new_v4().to_string()).map_err(|e| Error::Fault(e.to_string()))?;
        r.set_id(Some(id));
    }
    let locks: Vec<i64> = match &op {
        EntryOp::Conditional(c) => vec![c.criteria().lock_key()],
        _ => Vec::new(),
    };
    let (_, rt, id, status, w) = store.transaction_with(&locks, |tx| {
        let mut op = op.clone();
        if !refs.is_empty() {
            let mut targets = std::collections::HashMap::new();
            for c in refs {
                targets.insert(c.text.clone(), resolve_ref(tx, c)?);
            }
            if let Some(r) = resource_of_mut(&mut op) {
                super::transaction::rewrite_references(r, &targets)
                    .map_err(|e| TxError::Store(StoreError::BadRequest(e.to_string())))?;
            }
        }
        Ok(match op {
            EntryOp::Create(r) => {
                let (rt, id) = (r.resource_type(), id_string(&r));
                let w = tx.write(&mut TxWrite::Create(r))?;
                (0, rt, id, StatusCode::CREATED, w)
            }
            EntryOp::Update { resource, if_match } => {
                let (rt, id) = (resource.resource_type(), id_string(&resource));
                let w = tx.write(&mut TxWrite::Update(resource, if_match))?;
                let status = created_or_ok(&w);
                (0, rt, id, status, w)
            }
            EntryOp::Delete(rt, id) => {
                let w = tx.write(&mut TxWrite::Delete(rt, id.clone()))?;
                (0, rt, id.as_str().to_owned(), StatusCode::NO_CONTENT, w)
            }
            EntryOp::Conditional(mut c) => {
                let rt = super::conditional_type(&c);
                conditional_done(0, rt, tx.conditional(&mut c)?)
            }
            EntryOp::Read { .. } => {
                return Err(TxError::Store(StoreError::Fault(
                    "a read reached the write path".into(),
                )))
            }
        })
    })?;
    Ok(written_entry(base, rt, &id, status, w))
}

fn id_string(r: &fhir_model::Resource) -> String {
    r.id().map(|i| i.as_str().to_owned()).unwrap_or_default()
}
