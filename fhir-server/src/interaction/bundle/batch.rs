//! batch: each entry on its own, each with its own outcome
//! (<https://hl7.org/fhir/R4/http.html#transaction>). A failing entry does
//! not stop the others; its response carries the status and an
//! OperationOutcome.
//!
//! Each write entry runs in a database transaction of its own, where its
//! conditional references are resolved and its conditional search (if it
//! is a conditional entry) runs before it writes; a conditional reference
//! that matches no or several resources fails that entry only.

use std::collections::BTreeMap;

use fhir_model::generated::{Bundle, BundleEntry};
use fhir_model::primitives::Id;

use super::transaction::{conditional_done, resource_of, resource_of_mut, write_one};
use super::{
    conditional_refs, error_entry, in_processing_order, parse_entry, resolve_ref, response_bundle,
    written_entry, CondRef, EntryJson, EntryOp, Services,
};
use crate::error::Error;
use crate::interaction::headers::Return;
use crate::store::{Store, StoreError, TxError};

/// Runs the entries of a batch Bundle. With a validator in `services`,
/// each resource written is checked by profile enforcement first
/// (`serve --profile-enforcement`), failing its entry alone. `refused`:
/// the entries authorization or Consent refused, which answer their error
/// and do not run.
pub fn run(
    store: &Store,
    base: &str,
    mut bundle: Bundle,
    services: &Services<'_>,
    refused: BTreeMap<usize, Error>,
    prefer: Return,
) -> Vec<u8> {
    let entries = std::mem::take(&mut bundle.entry);
    run_entries(
        store,
        base,
        entries.into_iter().map(Ok).collect(),
        services,
        refused,
        prefer,
    )
}

/// Runs the entries; each is the entry as parsed, or why it did not parse
/// (a batch whose Bundle did not parse as a whole: see `batch_entries`).
pub fn run_entries(
    store: &Store,
    base: &str,
    entries: Vec<Result<BundleEntry, Error>>,
    services: &Services<'_>,
    mut refused: BTreeMap<usize, Error>,
    prefer: Return,
) -> Vec<u8> {
    let registry = store.registry();
    let mut out: Vec<EntryJson> = vec![Vec::new(); entries.len()];
    let mut ops = Vec::with_capacity(entries.len());
    let mut failed = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        if let Some(e) = refused.remove(&i) {
            ops.push(None);
            failed.push((i, e));
            continue;
        }
        let entry = entry.and_then(|e| match services.validator {
            Some(v) => crate::profile_enforcement::check_entry(v, i, &e).map(|()| e),
            None => Ok(e),
        });
        let parsed = entry
            .and_then(|mut entry| parse_entry(i, &mut entry, &registry, base))
            .and_then(|op| {
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
        out[i] = match run_one(store, base, op, &refs, services, prefer) {
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
    services: &Services<'_>,
    prefer: Return,
) -> Result<EntryJson, Error> {
    if let EntryOp::Read {
        rt,
        id,
        version,
        if_none_match,
        if_modified_since,
    } = op
    {
        let v = store.read_version(rt, &id, version)?;
        return Ok(super::read_result(
            base,
            v,
            if_none_match.as_ref(),
            if_modified_since.as_deref(),
        ));
    }
    if let EntryOp::Get(get) = &op {
        let mut reader = store;
        return match get.run(&mut reader, store, base, services) {
            Ok(answer) => answer,
            Err(TxError::Store(e)) => Err(e.into()),
            Err(_) => Err(Error::Fault(
                "a read outside a transaction failed as one".into(),
            )),
        };
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
    // The entry's own failure (a patch that does not apply) rolls back
    // and is its answer.
    let mut entry_err: Option<Error> = None;
    let result = store.transaction_with(&locks, |tx| {
        entry_err = None;
        let mut op = op.clone();
        if !refs.is_empty() {
            let mut targets = std::collections::HashMap::new();
            for c in refs {
                targets.insert(c.text.clone(), resolve_ref(tx, c)?);
            }
            if let Some(r) = resource_of_mut(&mut op) {
                super::rewrite::rewrite_references(r, &targets)
                    .map_err(|e| TxError::Store(StoreError::BadRequest(e.to_string())))?;
            }
        }
        match op {
            EntryOp::Conditional(mut c) => {
                let rt = super::conditional_type(&c);
                let (_, rt, id, status, w) = conditional_done(0, rt, tx.conditional(&mut c)?);
                Ok((rt, id, status, w))
            }
            op => match write_one(tx, op, &mut None)? {
                Ok(stored) => Ok(stored),
                Err(e) => {
                    entry_err = Some(e);
                    Err(TxError::Store(StoreError::BadRequest("entry".into())))
                }
            },
        }
    });
    let (rt, id, status, w) = result.map_err(|e| entry_err.take().unwrap_or_else(|| e.into()))?;
    Ok(written_entry(base, rt, &id, status, w, prefer))
}
