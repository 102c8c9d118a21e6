//! transaction: all entries succeed together or none is stored
//! (<https://hl7.org/fhir/R4/http.html#transaction>).
//!
//! Before anything is written, every POST gets its new id and every
//! `fullUrl` of a created or updated entry (`urn:uuid:…`, `urn:oid:…` or a
//! URL) is mapped to `Type/id`; each link that names one, at any depth, is
//! rewritten (see `rewrite`). The writes then run in one database
//! transaction, in the spec's order, and the GETs last, inside it, so they
//! see the writes; a failing entry of any kind (a GET answering 404
//! included) rolls all of them back and the OperationOutcome names it.
//! Entries whose resolved identities overlap (two writes of one resource)
//! fail the transaction before anything is written.
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

use std::collections::{BTreeMap, HashMap, HashSet};

use actix_web::http::StatusCode;
use fhir_model::generated::Bundle;
use fhir_model::primitives::Id;
use fhir_model::{Resource, ResourceType};

use super::rewrite::{rewrite_early, rewrite_references};
use super::{
    conditional_refs, conditional_type, entries_of, in_processing_order, parse_entry,
    posted_resource, resolve_ref, response_bundle, written_entry, written_from, CondRef, EntryJson,
    EntryOp, Services,
};
use crate::error::{Error, Issue, IssueCode};
use crate::interaction::headers::Return;
use crate::store::{
    CondOutcome, Conditional, Plan, Prepared, Store, StoreError, Tx, TxError, TxWrite, Written,
};

/// What one write entry did: its type, id, status and stored version.
type Done = (usize, ResourceType, String, StatusCode, Option<Written>);

pub fn run(
    store: &Store,
    base: &str,
    mut bundle: Bundle,
    services: &Services<'_>,
    prefer: Return,
) -> Result<Vec<u8>, Error> {
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

    // The terminology operations read the server's terminology registry,
    // built from what is committed: they cannot see CodeSystems, ValueSets
    // or ConceptMaps this transaction writes, so that pairing is refused
    // rather than answered from the old state. The registry is taken
    // before the transaction holds a connection.
    let terminology_entry = ops
        .iter()
        .position(|op| matches!(op, EntryOp::Get(g) if g.is_terminology()));
    let mut term_registry = None;
    if let Some(i) = terminology_entry {
        if let Some(t) = ops.iter().find_map(written_terminology) {
            return Err(Error::NotImplemented(format!(
                "entry {i}: a terminology operation in a transaction that writes a {t} is not \
                 supported: it would not see the transaction's own {t}; send it in a batch after \
                 the transaction"
            )));
        }
        if let Some(service) = services.terminology {
            term_registry = Some(service.registry(store)?);
        }
    }
    let services = Services {
        registry: term_registry.as_ref().or(services.registry),
        ..*services
    };
    let ordered = in_processing_order(ops);
    // Before the writer lock: each plain create and update rewritten and
    // readied (parsed, checked, indexed) on all cores, with the
    // conditional references resolved as they stand now (issue #27: this
    // was done entry by entry while the lock was held). Inside the
    // transaction, which resolves them again, the work is used when they
    // resolve the same, else redone there.
    let early = Early::resolve(store, &full_urls, &cond_refs, &cond_urls);
    let mut ready: Vec<Option<EntryOp>> = ordered
        .iter()
        .map(|(_, op)| match op {
            EntryOp::Create(_) | EntryOp::Update { .. } => Some(op.clone()),
            _ => None,
        })
        .collect();
    let mut prepared = store.prepare_each(&mut ready, |slot| {
        let r = slot.as_mut().and_then(resource_of_mut)?;
        if !matches!(rewrite_early(r, &early.targets, &early.unknown), Ok(true)) {
            // Left to the transaction, which reports what went wrong.
            *slot = None;
            return None;
        }
        slot.as_mut().and_then(resource_of_mut)
    });
    let locks: Vec<i64> = ordered
        .iter()
        .filter_map(|(_, op)| match op {
            EntryOp::Conditional(c) => Some(c.criteria().lock_key()),
            _ => None,
        })
        .collect();
    let mut failed_at: Option<usize> = None;
    // An entry's own failure that is not a storage error (a patch that
    // does not apply, identities that overlap): it rolls back and is the
    // answer.
    let mut entry_err: Option<Error> = None;
    let result = store.transaction_with(&locks, |tx| {
        entry_err = None;
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
        failed_at = None;
        if let Some(e) = overlap(&ordered, &planned) {
            entry_err = Some(e);
            return Err(TxError::Store(StoreError::BadRequest("overlap".into())));
        }
        let agrees = early.agrees(&targets);
        let mut done: Vec<Done> = Vec::new();
        let mut reads: Vec<(usize, EntryJson)> = Vec::new();
        for (k, ((i, op), planned)) in ordered.iter().zip(planned).enumerate() {
            let i = *i;
            failed_at = Some(i);
            // The entry readied before the lock, if its links point where
            // they did then (taken: a rerun does the work here).
            let (ready, mut prep) = match (ready[k].take(), prepared[k].take()) {
                (Some(op), prep) if agrees => (Some(op), prep),
                _ => (None, None),
            };
            let (mut op, plan) = match (planned, ready) {
                (Some((op, plan)), _) => (op, Some(plan)),
                (None, Some(op)) => (op, None),
                (None, None) => {
                    let mut op = op.clone();
                    if let Some(r) = resource_of_mut(&mut op) {
                        rewrite_references(r, &targets)
                            .map_err(|e| TxError::Store(StoreError::BadRequest(e.to_string())))?;
                    }
                    (op, None)
                }
            };
            if plan.is_some() {
                if let Some(r) = resource_of_mut(&mut op) {
                    rewrite_references(r, &targets)
                        .map_err(|e| TxError::Store(StoreError::BadRequest(e.to_string())))?;
                }
            }
            match (op, plan) {
                (EntryOp::Conditional(mut c), Some(plan)) => {
                    let rt = conditional_type(&c);
                    done.push(conditional_done(i, rt, tx.apply(&mut c, plan)?));
                }
                (EntryOp::Conditional(_), None) => {
                    return Err(TxError::Store(StoreError::Fault(
                        "a conditional entry was not planned".into(),
                    )))
                }
                // GETs run last, inside the transaction: they see its
                // writes, and one that fails fails the transaction.
                (
                    EntryOp::Read {
                        rt,
                        id,
                        version,
                        if_none_match,
                        if_modified_since,
                    },
                    _,
                ) => {
                    let v = tx.read(rt, &id, version)?;
                    reads.push((
                        i,
                        super::read_result(
                            base,
                            v,
                            if_none_match.as_ref(),
                            if_modified_since.as_deref(),
                        ),
                    ));
                }
                (EntryOp::Get(get), _) => match get.run(tx, store, base, &services)? {
                    Ok(entry) => reads.push((i, entry)),
                    Err(e) => {
                        entry_err = Some(at_entry_error(i, e));
                        return Err(TxError::Store(StoreError::BadRequest("entry".into())));
                    }
                },
                (op, _) => match write_one(tx, op, &mut prep) {
                    Ok(Ok((rt, id, status, w))) => done.push((i, rt, id, status, w)),
                    Ok(Err(e)) => {
                        entry_err = Some(at_entry_error(i, e));
                        return Err(TxError::Store(StoreError::BadRequest("entry".into())));
                    }
                    Err(e) => return Err(e),
                },
            }
        }
        failed_at = None;
        Ok((done, reads))
    });
    let (done, reads) = result.map_err(|e| match entry_err.take() {
        Some(e) => e,
        None => entry_failure(failed_at, e),
    })?;
    // Stored now: the request's resources are no longer needed.
    drop(ordered);

    let mut out: Vec<EntryJson> = vec![Vec::new(); entries.len()];
    for (i, rt, id, status, w) in done {
        out[i] = written_entry(base, rt, &id, status, w, prefer);
    }
    for (i, entry) in reads {
        out[i] = entry;
    }
    Ok(response_bundle("transaction-response", out))
}

/// Where a transaction's links point as far as can be told before it
/// starts: its entries' `fullUrl`s and the conditional references that
/// match exactly one resource now. `unknown` holds the rest (the
/// `fullUrl`s of conditional entries, references that do not resolve),
/// decided inside the transaction.
struct Early {
    targets: HashMap<String, String>,
    unknown: HashSet<String>,
}

impl Early {
    fn resolve(
        store: &Store,
        full_urls: &HashMap<String, String>,
        cond_refs: &BTreeMap<String, (usize, CondRef)>,
        cond_urls: &HashMap<usize, String>,
    ) -> Self {
        let mut targets = full_urls.clone();
        let mut unknown: HashSet<String> = cond_urls.values().cloned().collect();
        for (text, (_, c)) in cond_refs {
            match store.matching(&c.criteria.request, 2).as_deref() {
                Ok([(t, id)]) => {
                    targets.insert(text.clone(), format!("{t}/{id}"));
                }
                _ => {
                    unknown.insert(text.clone());
                }
            }
        }
        Self { targets, unknown }
    }

    /// Whether the links resolved inside the transaction point where
    /// these did (the entries readied with them can be written as they
    /// are).
    fn agrees(&self, targets: &HashMap<String, String>) -> bool {
        self.targets.iter().all(|(k, v)| targets.get(k) == Some(v))
    }
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

/// The terminology resource type an entry writes, if any.
fn written_terminology(op: &EntryOp) -> Option<ResourceType> {
    let rt = match op {
        EntryOp::Delete { rt, .. } | EntryOp::Patch { rt, .. } => Some(*rt),
        EntryOp::Conditional(c) => Some(conditional_type(c)),
        op => resource_of(op).map(Resource::resource_type),
    }?;
    matches!(
        rt,
        ResourceType::CodeSystem | ResourceType::ValueSet | ResourceType::ConceptMap
    )
    .then_some(rt)
}

/// The resource an entry writes, if any.
pub(crate) fn resource_of(op: &EntryOp) -> Option<&Resource> {
    match op {
        EntryOp::Create(r) | EntryOp::Update { resource: r, .. } => Some(r),
        EntryOp::Read { .. } | EntryOp::Get(_) | EntryOp::Delete { .. } | EntryOp::Patch { .. } => {
            None
        }
        EntryOp::Conditional(c) => match &**c {
            Conditional::Create(r, _) | Conditional::Update(r, _) => Some(r),
            Conditional::Delete { .. } => None,
        },
    }
}

pub(crate) fn resource_of_mut(op: &mut EntryOp) -> Option<&mut Resource> {
    match op {
        EntryOp::Create(r) | EntryOp::Update { resource: r, .. } => Some(r),
        EntryOp::Read { .. } | EntryOp::Get(_) | EntryOp::Delete { .. } | EntryOp::Patch { .. } => {
            None
        }
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
    match entry {
        Some(i) => at_entry_error(i, error),
        None => error,
    }
}

/// `e`, with entry `i` named in its message and every issue's location.
pub(crate) fn at_entry_error(i: usize, error: Error) -> Error {
    let at = format!("Bundle.entry[{i}]");
    let named = |issues: Vec<Issue>| -> Vec<Issue> {
        issues
            .into_iter()
            .map(|mut issue| {
                issue.diagnostics = format!("entry {i}: {}", issue.diagnostics);
                issue.expression = Some(at.clone());
                issue
            })
            .collect()
    };
    // The resource's own issues (`Observation.status`), located in the entry.
    let inside = |issues: Vec<Issue>| -> Vec<Issue> {
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
            .collect()
    };
    let joined = |issues: Vec<Issue>| {
        issues
            .iter()
            .map(|x| x.diagnostics.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    match error {
        Error::PreconditionFailed(_) => Error::PreconditionFailed(joined(named(error.issues()))),
        Error::Conflict(_) => Error::Conflict(joined(named(error.issues()))),
        Error::NotFound(m) => Error::NotFound(format!("entry {i}: {m}")),
        Error::Gone { message, version } => Error::Gone {
            message: format!("entry {i}: {message}"),
            version,
        },
        Error::Invalid(issues) => Error::Invalid(named(issues)),
        Error::Unprocessable(issues) => Error::Unprocessable(inside(issues)),
        other => other,
    }
}

/// What a write entry stored: its type, id, status and version.
pub(crate) type Stored = (ResourceType, String, StatusCode, Option<Written>);

/// One plain (not conditional) write entry inside `tx`: create, update,
/// delete or patch, its preconditions checked first. `prepared` is the
/// work [`Store::prepare_each`] did for a create's or update's resource.
/// The outer error is the store's (it may ask for a rerun); the inner one
/// is the entry's own (a patch that does not apply).
pub(crate) fn write_one(
    tx: &mut Tx<'_>,
    op: EntryOp,
    prepared: &mut Option<Prepared>,
) -> Result<Result<Stored, Error>, TxError> {
    Ok(Ok(match op {
        EntryOp::Create(r) => {
            let (rt, id) = (r.resource_type(), id_of(&r));
            let w = tx.write_with(&mut TxWrite::Create(r), prepared)?;
            (rt, id, StatusCode::CREATED, w)
        }
        EntryOp::Update { resource, pre } => {
            let (rt, id) = (resource.resource_type(), id_of(&resource));
            tx.check(rt, &id, &pre)?;
            let w = tx.write_with(&mut TxWrite::Update(resource, None), prepared)?;
            let status = created_or_ok(&w);
            (rt, id, status, w)
        }
        EntryOp::Delete { rt, id, pre } => {
            tx.check(rt, id.as_str(), &pre)?;
            let w = tx.write(&mut TxWrite::Delete(rt, id.clone()))?;
            (rt, id.as_str().to_owned(), StatusCode::NO_CONTENT, w)
        }
        EntryOp::Patch { rt, id, patch, pre } => {
            tx.check(rt, id.as_str(), &pre)?;
            let current = tx.read(rt, &id, None)?;
            let body = current.body.unwrap_or_default();
            let resource = match super::super::patch::patch_resource(&body, &patch, rt, Some(&id)) {
                Ok(r) => r,
                Err(e) => return Ok(Err(e)),
            };
            let w = tx.write(&mut TxWrite::Update(resource, Some(current.version)))?;
            (rt, id.as_str().to_owned(), StatusCode::OK, w)
        }
        EntryOp::Conditional(_) | EntryOp::Read { .. } | EntryOp::Get(_) => {
            return Err(TxError::Store(StoreError::Fault(
                "a conditional entry or a read reached write_one".into(),
            )))
        }
    }))
}

/// http.html#transaction: "If any resource identities (including resolved
/// identities from conditional update/delete) overlap in steps 1-3, then
/// the transaction SHALL fail." Steps 1-3 are the DELETEs, POSTs and
/// PUTs/PATCHes; a POST always gets a new id, and a conditional create
/// that matched writes nothing, so neither can overlap. The 400 names both
/// entries.
fn overlap(ordered: &[(usize, EntryOp)], planned: &[Option<(EntryOp, Plan)>]) -> Option<Error> {
    let mut seen: HashMap<(ResourceType, String), usize> = HashMap::new();
    for ((i, op), planned) in ordered.iter().zip(planned) {
        let ids: Vec<(ResourceType, String)> = match (op, planned) {
            (EntryOp::Update { resource, .. }, _) => {
                vec![(resource.resource_type(), id_of(resource))]
            }
            (EntryOp::Delete { rt, id, .. } | EntryOp::Patch { rt, id, .. }, _) => {
                vec![(*rt, id.as_str().to_owned())]
            }
            (EntryOp::Conditional(c), Some((_, plan))) => match (&**c, plan) {
                (Conditional::Update(r, _), Plan::Write(id)) => {
                    vec![(r.resource_type(), id.clone())]
                }
                (Conditional::Delete { resource_type, .. }, Plan::Delete(ids)) => {
                    ids.iter().map(|id| (*resource_type, id.clone())).collect()
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        for key in ids {
            if let Some(first) = seen.insert(key.clone(), *i) {
                let (a, b) = (first.min(*i), first.max(*i));
                let what = format!("{}/{}", key.0, key.1);
                let issue = |k: usize, other: usize| {
                    Issue::new(
                        IssueCode::Invalid,
                        format!(
                            "entries {a} and {b} both change {what}; a transaction may change \
                             each resource once (entry {k}, see entry {other})"
                        ),
                    )
                    .at(format!("Bundle.entry[{k}]"))
                };
                return Some(Error::Invalid(vec![issue(a, b), issue(b, a)]));
            }
        }
    }
    None
}
