//! transaction: all entries succeed together or none is stored
//! (<https://hl7.org/fhir/R4/http.html#transaction>).
//!
//! Before anything is written, every POST gets its new id and every
//! `fullUrl` of a created or updated entry (`urn:uuid:…`, `urn:oid:…` or a
//! URL) is mapped to `Type/id`; each `Reference.reference` that names one, at
//! any depth (contained resources, extensions included), is rewritten. The
//! writes then run in one database transaction, in the spec's order; a
//! failing entry rolls all of them back and the OperationOutcome names it.
//!
//! Conditional entries and references (http.html#trules) are resolved in
//! that same database transaction, before any write, against what is
//! stored when it starts: first every conditional reference (exactly one
//! match, else the transaction fails), then every conditional entry is
//! planned (its search run, its outcome decided). Only then are the
//! `fullUrl`s of conditional entries known — a conditional create that
//! matched maps its `fullUrl` to the existing resource, so the entries
//! that point at it point there — and references are rewritten and the
//! writes run. The criteria's advisory locks are taken first, so two
//! identical transactions cannot both create what their `ifNoneExist`
//! looks for (see `store::conditional`).

use std::collections::{BTreeMap, HashMap};

use actix_web::http::StatusCode;
use fhir_model::generated::Bundle;
use fhir_model::json::tree::{self, Value};
use fhir_model::primitives::Id;
use fhir_model::{Resource, ResourceType};

use super::{
    conditional_refs, conditional_type, entries_of, in_processing_order, parse_entry,
    posted_resource, read_entry, resolve_ref, response_bundle, written_entry, written_from,
    CondRef, EntryJson, EntryOp,
};
use crate::error::{Error, Issue, IssueCode};
use crate::store::{CondOutcome, Conditional, Plan, Store, StoreError, TxError, TxWrite, Written};

/// What one write entry did: its type, id, status and stored version.
type Done = (usize, ResourceType, String, StatusCode, Option<Written>);

pub fn run(store: &Store, base: &str, mut bundle: Bundle) -> Result<Vec<u8>, Error> {
    let registry = store.registry();
    let mut entries = entries_of(&mut bundle);
    let mut ops = Vec::with_capacity(entries.len());
    let mut full_urls: HashMap<String, String> = HashMap::new();
    // fullUrls of conditional entries: known once planned.
    let mut cond_urls: HashMap<usize, String> = HashMap::new();
    // Each distinct conditional reference once, with the first entry using it.
    let mut cond_refs: BTreeMap<String, (usize, CondRef)> = BTreeMap::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        let full_url = entry
            .full_url
            .as_ref()
            .and_then(|u| u.value.as_ref())
            .map(|u| u.as_str().to_owned());
        let mut op = parse_entry(i, entry, &registry, base)?;
        if let Some(r) = posted_resource(&mut op) {
            let id = Id::new(uuid::Uuid::new_v4().to_string())
                .map_err(|e| Error::Fault(e.to_string()))?;
            r.set_id(Some(id));
        }
        if let Some(url) = full_url {
            let duplicate = || {
                Error::Invalid(vec![Issue::new(
                    IssueCode::Invalid,
                    format!("fullUrl {url:?} is used by more than one entry"),
                )
                .at(format!("Bundle.entry[{i}].fullUrl"))])
            };
            match &op {
                EntryOp::Create(r) | EntryOp::Update { resource: r, .. } => {
                    let target = format!(
                        "{}/{}",
                        r.resource_type(),
                        r.id().map(Id::as_str).unwrap_or_default()
                    );
                    if cond_urls.values().any(|u| *u == url)
                        || full_urls.insert(url.clone(), target).is_some()
                    {
                        return Err(duplicate());
                    }
                }
                EntryOp::Conditional(c) if !matches!(**c, Conditional::Delete { .. }) => {
                    if full_urls.contains_key(&url) || cond_urls.values().any(|u| *u == url) {
                        return Err(duplicate());
                    }
                    cond_urls.insert(i, url);
                }
                _ => {}
            }
        }
        if let Some(r) = resource_of(&op) {
            for c in conditional_refs(i, r, &registry, base)? {
                cond_refs.entry(c.text.clone()).or_insert((i, c));
            }
        }
        ops.push(op);
    }

    let ordered = in_processing_order(ops);
    let locks: Vec<i64> = ordered
        .iter()
        .filter_map(|(_, op)| match op {
            EntryOp::Conditional(c) => Some(c.criteria().lock_key()),
            _ => None,
        })
        .collect();
    let mut failed_at: Option<usize> = None;
    let result = store.transaction_with(&locks, |tx| {
        // A rerun after a lost race starts again from the entries as sent,
        // so `ordered` stays as it is; each entry is cloned only while it
        // is rewritten and written (cloning them all up front held a
        // second copy of a large Bundle for the whole transaction).
        let mut targets = full_urls.clone();
        for (i, c) in cond_refs.values() {
            failed_at = Some(*i);
            targets.insert(c.text.clone(), resolve_ref(tx, c)?);
        }
        // Conditional entries are planned (and so cloned) first: their
        // outcome decides where their fullUrls point.
        let mut planned: Vec<Option<(EntryOp, Plan)>> = Vec::with_capacity(ordered.len());
        for (i, op) in &ordered {
            failed_at = Some(*i);
            let EntryOp::Conditional(c) = op else {
                planned.push(None);
                continue;
            };
            let mut c = c.clone();
            let plan = tx.plan(&mut c)?;
            if let (Some(url), Plan::Write(id) | Plan::Existing(id)) = (cond_urls.get(i), &plan) {
                let rt = conditional_type(&c);
                targets.insert(url.clone(), format!("{rt}/{id}"));
            }
            planned.push(Some((EntryOp::Conditional(c), plan)));
        }
        let mut done: Vec<Done> = Vec::new();
        let mut reads = Vec::new();
        for ((i, op), planned) in ordered.iter().zip(planned) {
            let i = *i;
            failed_at = Some(i);
            let (mut op, plan) = match planned {
                Some((op, plan)) => (op, Some(plan)),
                None => (op.clone(), None),
            };
            if let Some(r) = resource_of_mut(&mut op) {
                rewrite_references(r, &targets)
                    .map_err(|e| TxError::Store(StoreError::BadRequest(e.to_string())))?;
            }
            match (op, plan) {
                (EntryOp::Create(r), _) => {
                    let (rt, id) = (r.resource_type(), id_of(&r));
                    let w = tx.write(&mut TxWrite::Create(r))?;
                    done.push((i, rt, id, StatusCode::CREATED, w));
                }
                (EntryOp::Update { resource, if_match }, _) => {
                    let (rt, id) = (resource.resource_type(), id_of(&resource));
                    let w = tx.write(&mut TxWrite::Update(resource, if_match))?;
                    let status = created_or_ok(&w);
                    done.push((i, rt, id, status, w));
                }
                (EntryOp::Delete(rt, id), _) => {
                    let w = tx.write(&mut TxWrite::Delete(rt, id.clone()))?;
                    done.push((i, rt, id.as_str().to_owned(), StatusCode::NO_CONTENT, w));
                }
                (EntryOp::Conditional(mut c), Some(plan)) => {
                    let rt = conditional_type(&c);
                    done.push(conditional_done(i, rt, tx.apply(&mut c, plan)?));
                }
                (EntryOp::Conditional(_), None) => {
                    return Err(TxError::Store(StoreError::Fault(
                        "a conditional entry was not planned".into(),
                    )))
                }
                (EntryOp::Read { rt, id, version }, _) => reads.push((i, rt, id, version)),
            }
        }
        failed_at = None;
        Ok((done, reads))
    });
    let (done, reads) = result.map_err(|e| entry_failure(failed_at, e))?;
    // Stored now: the request's resources are no longer needed.
    drop(ordered);

    let mut out: Vec<EntryJson> = vec![Vec::new(); entries.len()];
    for (i, rt, id, status, w) in done {
        out[i] = written_entry(base, rt, &id, status, w);
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

/// 201 when the write created the resource, else 200.
pub(crate) fn created_or_ok(w: &Option<Written>) -> StatusCode {
    if w.as_ref().is_some_and(|w| w.created) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

/// The response of a conditional entry: 201/200 for a create or update,
/// 200 with the existing resource for a matched `ifNoneExist`, 204 for a
/// delete (with the `etag` when it deleted exactly one).
pub(crate) fn conditional_done(i: usize, rt: ResourceType, o: CondOutcome) -> Done {
    match o {
        CondOutcome::Created { id, written } => (i, rt, id, StatusCode::CREATED, Some(written)),
        CondOutcome::Matched(v) => {
            let id = v.id.clone();
            (i, rt, id, StatusCode::OK, Some(written_from(v)))
        }
        CondOutcome::Updated { id, written } => {
            let w = Some(written);
            let status = created_or_ok(&w);
            (i, rt, id, status, w)
        }
        CondOutcome::Deleted(mut list) => {
            if list.len() == 1 {
                let (id, w) = list.remove(0);
                (i, rt, id, StatusCode::NO_CONTENT, Some(w))
            } else {
                (i, rt, String::new(), StatusCode::NO_CONTENT, None)
            }
        }
    }
}

/// The resource an entry writes, if any.
pub(crate) fn resource_of(op: &EntryOp) -> Option<&Resource> {
    match op {
        EntryOp::Create(r) | EntryOp::Update { resource: r, .. } => Some(r),
        EntryOp::Read { .. } | EntryOp::Delete(..) => None,
        EntryOp::Conditional(c) => match &**c {
            Conditional::Create(r, _) | Conditional::Update(r, _) => Some(r),
            Conditional::Delete { .. } => None,
        },
    }
}

pub(crate) fn resource_of_mut(op: &mut EntryOp) -> Option<&mut Resource> {
    match op {
        EntryOp::Create(r) | EntryOp::Update { resource: r, .. } => Some(r),
        EntryOp::Read { .. } | EntryOp::Delete(..) => None,
        EntryOp::Conditional(c) => match &mut **c {
            Conditional::Create(r, _) | Conditional::Update(r, _) => Some(r),
            Conditional::Delete { .. } => None,
        },
    }
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
    if let Error::Unprocessable(issues) = error {
        // The resource's own issues (`Observation.status`), located in the entry.
        return Error::Unprocessable(
            issues
                .into_iter()
                .map(|mut issue| {
                    issue.diagnostics = format!("entry {i}: {}", issue.diagnostics);
                    let inner = issue.expression.as_deref().and_then(|e| e.split_once('.'));
                    issue.expression = Some(match inner {
                        Some((_, rest)) => format!("{at}.resource.{rest}"),
                        None => at.clone(),
                    });
                    issue
                })
                .collect(),
        );
    }
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
pub(crate) fn rewrite_references(
    r: &mut Resource,
    full_urls: &HashMap<String, String>,
) -> Result<(), Error> {
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
