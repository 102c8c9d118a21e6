//! batch: each entry on its own, each with its own outcome
//! (<https://hl7.org/fhir/R4/http.html#transaction>). A failing entry does
//! not stop the others; its response carries the status and an
//! OperationOutcome.

use actix_web::http::StatusCode;
use fhir_model::generated::Bundle;
use fhir_model::json::tree::Value;

use super::{
    entries_of, error_entry, in_processing_order, parse_entry, read_entry, response_bundle,
    written_entry, EntryOp,
};
use crate::error::Error;
use crate::store::Store;

pub fn run(store: &Store, base: &str, mut bundle: Bundle) -> Vec<u8> {
    let mut entries = entries_of(&mut bundle);
    let mut out: Vec<Value> = vec![Value::Null; entries.len()];
    let mut ops = Vec::with_capacity(entries.len());
    let mut failed = Vec::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        match parse_entry(i, entry) {
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
    let (indices, ops): (Vec<usize>, Vec<EntryOp>) = ops.into_iter().unzip();
    for (k, op) in in_processing_order(ops) {
        let i = indices[k];
        out[i] = match run_one(store, base, op) {
            Ok(v) => v,
            Err(e) => error_entry(&e),
        };
    }
    response_bundle("batch-response", out)
}

fn run_one(store: &Store, base: &str, op: EntryOp) -> Result<Value, Error> {
    Ok(match op {
        EntryOp::Create(mut r) => {
            let id = fhir_model::primitives::Id::new(uuid::Uuid::new_v4().to_string())
                .map_err(|e| Error::Fault(e.to_string()))?;
            r.set_id(Some(id.clone()));
            let w = store.create(&mut r)?;
            written_entry(
                base,
                r.resource_type(),
                id.as_str(),
                StatusCode::CREATED,
                Some(w),
            )
        }
        EntryOp::Update {
            mut resource,
            if_match,
        } => {
            let w = store.update_if(&mut resource, if_match)?;
            let status = if w.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let id = resource
                .id()
                .map(|i| i.as_str().to_owned())
                .unwrap_or_default();
            written_entry(base, resource.resource_type(), &id, status, Some(w))
        }
        EntryOp::Delete(rt, id) => written_entry(
            base,
            rt,
            id.as_str(),
            StatusCode::NO_CONTENT,
            store.delete(rt, &id)?,
        ),
        EntryOp::Read { rt, id, version } => {
            read_entry(base, store.read_version(rt, &id, version)?)
        }
    })
}
