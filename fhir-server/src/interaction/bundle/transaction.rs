//! transaction: all entries succeed together or none is stored
//! (<https://hl7.org/fhir/R4/http.html#transaction>).
//!
//! Before anything is written, every POST gets its new id and every
//! `fullUrl` of a created or updated entry (`urn:uuid:…`, `urn:oid:…` or a
//! URL) is mapped to `Type/id`; each `Reference.reference` that names one, at
//! any depth (contained resources, extensions included), is rewritten. The
//! writes then run in one database transaction, in the spec's order; a
//! failing entry rolls all of them back and the OperationOutcome names it.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use fhir_model::generated::Bundle;
use fhir_model::json::tree::{self, Value};
use fhir_model::primitives::Id;
use fhir_model::Resource;

use super::{
    entries_of, in_processing_order, parse_entry, read_entry, response_bundle, written_entry,
    EntryOp,
};
use crate::error::{Error, Issue, IssueCode};
use crate::store::{Store, StoreError, TxWrite};

pub fn run(store: &Store, base: &str, mut bundle: Bundle) -> Result<Vec<u8>, Error> {
    let mut entries = entries_of(&mut bundle);
    let mut ops = Vec::with_capacity(entries.len());
    let mut full_urls: HashMap<String, String> = HashMap::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        let full_url = entry
            .full_url
            .as_ref()
            .and_then(|u| u.value.as_ref())
            .map(|u| u.as_str().to_owned());
        let mut op = parse_entry(i, entry)?;
        if let EntryOp::Create(r) = &mut op {
            let id = Id::new(uuid::Uuid::new_v4().to_string())
                .map_err(|e| Error::Fault(e.to_string()))?;
            r.set_id(Some(id));
        }
        if let (Some(url), EntryOp::Create(r) | EntryOp::Update { resource: r, .. }) =
            (full_url, &op)
        {
            let target = format!(
                "{}/{}",
                r.resource_type(),
                r.id().map(Id::as_str).unwrap_or_default()
            );
            if full_urls.insert(url.clone(), target).is_some() {
                return Err(Error::Invalid(vec![Issue::new(
                    IssueCode::Invalid,
                    format!("fullUrl {url:?} is used by more than one entry"),
                )
                .at(format!("Bundle.entry[{i}].fullUrl"))]));
            }
        }
        ops.push(op);
    }
    for op in &mut ops {
        if let EntryOp::Create(r) | EntryOp::Update { resource: r, .. } = op {
            rewrite_references(r, &full_urls)?;
        }
    }

    let ordered = in_processing_order(ops);
    let mut writes = Vec::new();
    let mut write_of = Vec::new(); // entry index of each write
    let mut reads = Vec::new();
    for (i, op) in ordered {
        match op {
            EntryOp::Create(r) => {
                write_of.push(i);
                writes.push(TxWrite::Create(r));
            }
            EntryOp::Update { resource, if_match } => {
                write_of.push(i);
                writes.push(TxWrite::Update(resource, if_match));
            }
            EntryOp::Delete(rt, id) => {
                write_of.push(i);
                writes.push(TxWrite::Delete(rt, id));
            }
            EntryOp::Read { rt, id, version } => reads.push((i, rt, id, version)),
        }
    }
    let written = store.transaction(&mut writes).map_err(|(at, e)| {
        let entry = at.and_then(|k| write_of.get(k).copied());
        entry_failure(entry, e)
    })?;

    let mut out: Vec<Value> = vec![Value::Null; entries.len()];
    for ((w, i), write) in written.into_iter().zip(&write_of).zip(&writes) {
        let (rt, id, status) = match write {
            TxWrite::Create(r) => (r.resource_type(), id_of(r), StatusCode::CREATED),
            TxWrite::Update(r, _) => {
                let created = w.as_ref().is_some_and(|w| w.created);
                (
                    r.resource_type(),
                    id_of(r),
                    if created {
                        StatusCode::CREATED
                    } else {
                        StatusCode::OK
                    },
                )
            }
            TxWrite::Delete(rt, id) => (*rt, id.as_str().to_owned(), StatusCode::NO_CONTENT),
        };
        out[*i] = written_entry(base, rt, &id, status, w);
    }
    // GETs run after the writes have committed, so they see them.
    for (i, rt, id, version) in reads {
        out[i] = match store.read_version(rt, &id, version) {
            Ok(v) => read_entry(base, v),
            Err(e) => super::error_entry(&e.into()),
        };
    }
    Ok(response_bundle("transaction-response", out))
}

fn id_of(r: &Resource) -> String {
    r.id().map(|i| i.as_str().to_owned()).unwrap_or_default()
}

/// The whole transaction failed because of entry `entry`: its status, with
/// the entry named in every issue.
fn entry_failure(entry: Option<usize>, e: StoreError) -> Error {
    let error: Error = e.into();
    let Some(i) = entry else { return error };
    let at = format!("Bundle.entry[{i}]");
    let issues: Vec<Issue> = error
        .issues()
        .into_iter()
        .map(|mut issue| {
            issue.diagnostics = format!("entry {i}: {}", issue.diagnostics);
            issue.expression = Some(at.clone());
            issue
        })
        .collect();
    match error {
        Error::PreconditionFailed(_) => Error::PreconditionFailed(
            issues
                .iter()
                .map(|x| x.diagnostics.clone())
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Error::Conflict(_) => Error::Conflict(
            issues
                .iter()
                .map(|x| x.diagnostics.clone())
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Error::Invalid(_) => Error::Invalid(issues),
        other => other,
    }
}

/// Rewrites every `reference` that names a `fullUrl` of this Bundle.
fn rewrite_references(r: &mut Resource, full_urls: &HashMap<String, String>) -> Result<(), Error> {
    if full_urls.is_empty() {
        return Ok(());
    }
    let Ok(mut json) = tree::parse(&r.to_json_vec()) else {
        return Ok(());
    };
    if rewrite(&mut json, full_urls) {
        *r = Resource::from_json_slice(&tree::to_json(&json))?;
    }
    Ok(())
}

fn rewrite(v: &mut Value, full_urls: &HashMap<String, String>) -> bool {
    let mut changed = false;
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "reference" {
                    if let Value::String(s) = child {
                        if let Some(target) = full_urls.get(s.as_str()) {
                            *s = target.clone();
                            changed = true;
                        }
                        continue;
                    }
                }
                changed |= rewrite(child, full_urls);
            }
        }
        Value::Array(items) => {
            for item in items {
                changed |= rewrite(item, full_urls);
            }
        }
        _ => {}
    }
    changed
}
