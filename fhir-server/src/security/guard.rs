//! The authorization decisions for one request: scopes against the
//! [`Route`], the patient compartment, and SMART v2 constraints.
//!
//! Three places enforce them, so nothing outside what a token grants is
//! ever answered:
//! 1. [`check`], before the handler: the interaction must be granted
//!    (403 otherwise); instances must be visible (404 otherwise, so that a
//!    token cannot learn which resources of other patients exist); writes
//!    must leave the resource in the compartment; every batch/transaction
//!    entry is checked the same way ([`bundle_refusals`]): a refused entry
//!    answers its own 403 in a batch and refuses a transaction whole.
//! 2. [`restrict_search`], inside search and `$everything` (direct or in
//!    a Bundle entry): the compartment and the constraints become SQL
//!    criteria, so paging and totals stay right.
//! 3. [`filter_response`], after the handler: every resource in the answer
//!    (a resource, or any Bundle entry: `_include`d, `_revinclude`d,
//!    history, batch responses) must be visible, or it is dropped (a
//!    single resource becomes a 404). This is the net under 1 and 2.
//!
//! "Visible" ([`visible_ids`]) is decided by the search index, in SQL: the
//! ids of a type that meet the rule's compartment and constraints.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::answer_filter::{filter_answer, Item, Key};
use super::context::Access;
use super::patient_link;
use super::scopes::{Interaction, Rule};
use crate::app::AppState;
use crate::error::Error;
use crate::route::{Operation, Route};
use crate::search::query::{self, CompartmentFilter, Criterion, SearchRequest, TotalMode};
use crate::store::{Store, StoreError};
use fhir_model::primitives::Id;
use fhir_model::ResourceType;

fn forbidden(m: impl Into<String>) -> Error {
    Error::Forbidden(m.into())
}

fn not_granted(rt: &str, what: &str) -> Error {
    forbidden(format!("the token's scopes do not grant {what} on {rt}"))
}

/// The rule for `interaction` on `rt`, or 403.
fn need(access: &Access, rt: &str, interaction: Interaction) -> Result<Rule, Error> {
    let what = match interaction {
        Interaction::Create => "create (c)",
        Interaction::Read => "read (r)",
        Interaction::Update => "update (u)",
        Interaction::Delete => "delete (d)",
        Interaction::Search => "search (s)",
    };
    access
        .rule(rt, interaction)
        .ok_or_else(|| not_granted(rt, what))
}

/// A request body (or a Bundle entry's resource) as JSON.
pub struct Body<'a> {
    pub json: Option<&'a Value>,
    /// `If-None-Exist` was sent (a conditional create).
    pub conditional: bool,
}

/// Step 1: may `access` make this request? Blocking (reads the store).
///
/// This match is the one table of what each route needs; every route
/// is listed, so a new one does not compile until it is judged here:
///
/// | route | needs |
/// |-------|-------|
/// | metadata, SMART configuration | nothing (public) |
/// | search, compartment search, type-level `$everything` | `s` on the type (bounded in SQL by [`restrict_search`]) |
/// | read, vread, history, `$meta`, `$everything`, `$validate`, terminology operations on an instance | `r` on the type, and the instance visible |
/// | create | `c`; a limited token's resource must stay in its compartment |
/// | update | `u`; the stored and the new resource inside the compartment |
/// | patch, conditional update/delete, conditional create | `u`/`d`/`c` without patient or constraints |
/// | delete | `d`, the instance visible, no constraints |
/// | `$meta-add`, `$meta-delete` | `u`, the instance visible |
/// | type/system history, type `$meta` | `s` without patient or constraints (all resources of a type) |
/// | type `$validate` | any scope on the type (reads no stored data) |
/// | type terminology operations | `r` on the type |
/// | `$reindex`, `$import-codes` (server-wide writes) | `*.u` without patient or constraints |
/// | `$unmapped-codes` (a server-wide report) | `*.r` without patient or constraints |
/// | batch, transaction | each entry as if it came alone ([`bundle_refusals`]) |
/// | `$export` (system, `Patient`, `Group/[id]`) | `s` without patient or constraints on at least one type (the export holds only those: [`export_types`]); a Group must be readable; no `organization` claim (Consent is not applied to exports yet) |
/// | an export's status and files | the caller who kicked it off (checked by the handler) |
/// | anything else | refused |
pub fn check(
    state: &AppState,
    access: &Access,
    route: &Route,
    body: &Body<'_>,
) -> Result<(), Error> {
    let store = &state.store;
    let read_instance = |rt: &ResourceType, id: &Id| {
        let rule = need(access, rt.as_str(), Interaction::Read)?;
        must_see(store, rt.as_str(), id.as_str(), &rule)
    };
    match route {
        Route::Metadata
        | Route::SmartConfiguration
        | Route::Liveness
        | Route::Readiness
        | Route::MethodNotAllowed => Ok(()),
        Route::Unknown(_) | Route::Invalid(_) => match route.refusal() {
            Some(e) => Err(e),
            None => Err(forbidden("this request cannot be judged, so it is refused")),
        },
        Route::Search(t) | Route::TypeOperation(t, Operation::Everything) => {
            need(access, t.as_str(), Interaction::Search).map(drop)
        }
        Route::SystemSearch => Ok(()),
        Route::CompartmentSearch { target, .. } => match target {
            Some(t) => need(access, t.as_str(), Interaction::Search).map(drop),
            None => Ok(()),
        },
        Route::Create(rt) => {
            let rule = need(access, rt.as_str(), Interaction::Create)?;
            if body.conditional && !access.read_rule(rt.as_str()).is_some_and(|r| r.is_open()) {
                // Its answer names what matched: a search by another name.
                return Err(forbidden(format!(
                    "conditional create (If-None-Exist) answers with what matches, so it needs \
                     read or search on every {rt} as well"
                )));
            }
            if rule.is_open() {
                return Ok(());
            }
            if *rt == ResourceType::Patient && rule.patient.is_some() {
                return Err(forbidden(
                    "a token limited to one patient cannot create a Patient: the server gives \
                     it a new id, which is never that patient's",
                ));
            }
            if body.conditional {
                return Err(forbidden(
                    "conditional create is not available to a token limited to a patient or \
                     by constraints: its search would reach beyond them",
                ));
            }
            stays_inside(store, rt.as_str(), &rule, None, body.json)
        }
        Route::ConditionalUpdate(rt) | Route::ConditionalDelete(rt) => {
            let interaction = if matches!(route, Route::ConditionalUpdate(_)) {
                Interaction::Update
            } else {
                Interaction::Delete
            };
            if need(access, rt.as_str(), interaction)?.is_open() {
                Ok(())
            } else {
                Err(forbidden(
                    "conditional update and delete are not available to a token limited to a \
                     patient or by constraints: their search would reach beyond them",
                ))
            }
        }
        Route::Read(rt, id) | Route::History(rt, id) | Route::Vread(rt, id, _) => {
            read_instance(rt, id)
        }
        Route::InstanceOperation(rt, id, op) | Route::VersionOperation(rt, id, _, op) => match op {
            Operation::Everything | Operation::Meta | Operation::Validate => read_instance(rt, id),
            Operation::Export if *rt == ResourceType::Group => {
                read_instance(rt, id)?;
                may_export(access)
            }
            op if op.is_terminology() => read_instance(rt, id),
            Operation::MetaAdd | Operation::MetaDelete => {
                let rule = need(access, rt.as_str(), Interaction::Update)?;
                must_see(store, rt.as_str(), id.as_str(), &rule)
            }
            _ => Err(forbidden(format!(
                "{op} is not an operation on an instance"
            ))),
        },
        Route::Update(rt, id) => {
            let rule = need(access, rt.as_str(), Interaction::Update)?;
            if rule.is_open() {
                return Ok(());
            }
            if exists(store, rt.as_str(), id.as_str())? {
                must_see(store, rt.as_str(), id.as_str(), &rule)?;
            }
            stays_inside(store, rt.as_str(), &rule, Some(id.as_str()), body.json)
        }
        Route::Patch(rt, _) => {
            if need(access, rt.as_str(), Interaction::Update)?.is_open() {
                Ok(())
            } else {
                Err(forbidden(
                    "PATCH is not available to a token limited to a patient or by constraints: \
                     the patched resource could not be checked before it is written",
                ))
            }
        }
        Route::Delete(rt, id) => {
            let rule = need(access, rt.as_str(), Interaction::Delete)?;
            if rule.constraints.is_some() {
                return Err(forbidden(
                    "a constrained scope grants reads and searches, not deletes",
                ));
            }
            must_see(store, rt.as_str(), id.as_str(), &rule)
        }
        Route::TypeHistory(rt) | Route::TypeOperation(rt, Operation::Meta) => {
            if need(access, rt.as_str(), Interaction::Search)?.is_open() {
                Ok(())
            } else {
                Err(forbidden(format!(
                    "every {rt} resource is not available to a token limited to a patient or \
                     by constraints; ask for each resource instead"
                )))
            }
        }
        Route::SystemHistory | Route::SystemOperation(Operation::Meta) => {
            system_wide(access, Interaction::Search, "the system history and $meta")
        }
        Route::TypeOperation(rt, Operation::Validate) => {
            // Reads no stored data: any scope on the type will do.
            if access.scopes.mentions(rt.as_str()) {
                Ok(())
            } else {
                Err(not_granted(rt.as_str(), "any interaction"))
            }
        }
        Route::TypeOperation(rt, op) if op.is_terminology() => {
            need(access, rt.as_str(), Interaction::Read).map(drop)
        }
        Route::SystemOperation(Operation::Reindex)
        | Route::TypeOperation(_, Operation::Reindex)
        | Route::TypeOperation(ResourceType::CodeSystem, Operation::ImportCodes) => {
            system_wide(access, Interaction::Update, "this server-wide operation")
        }
        Route::TypeOperation(ResourceType::CodeSystem, Operation::UnmappedCodes) => {
            system_wide(access, Interaction::Read, "this server-wide report")
        }
        Route::SystemOperation(Operation::Export)
        | Route::TypeOperation(ResourceType::Patient, Operation::Export) => may_export(access),
        // The handler shows a job and its files to the caller who kicked
        // it off only (`operation::bulk_export`); any other caller gets 404.
        Route::ExportStatus(_) | Route::ExportFile(..) => Ok(()),
        Route::SystemOperation(op) | Route::TypeOperation(_, op) => Err(forbidden(format!(
            "{op} is not an operation this token can be judged for here"
        ))),
        Route::Bundle => match bundle_refusals(state, access, body.json).into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        },
    }
}

/// The types a Bulk Data export by `access` may hold: those it may
/// search without a patient or constraints (an export is every resource
/// of a type, which a bounded rule cannot grant).
pub fn export_types(access: &Access) -> Vec<ResourceType> {
    ResourceType::ALL
        .iter()
        .copied()
        .filter(|t| {
            access
                .rule(t.as_str(), Interaction::Search)
                .is_some_and(|r| r.is_open())
        })
        .collect()
}

/// A kick-off needs at least one type [`export_types`] grants. A client
/// acting for an Organization is refused: patients' Consents can deny it
/// their data, and exports do not apply Consent yet (deny by default
/// rather than export what a Consent refuses).
fn may_export(access: &Access) -> Result<(), Error> {
    if access.organization.is_some() {
        return Err(forbidden(
            "$export does not apply patients' Consents yet, so a client acting for an \
             Organization (the organization claim) cannot export",
        ));
    }
    if export_types(access).is_empty() {
        Err(forbidden(
            "$export needs a user/ or system/ scope granting search (s) on some type, \
             without patient or constraints",
        ))
    } else {
        Ok(())
    }
}

/// Operations over the whole server need a `user/*` or `system/*` scope
/// with the letter, without patient or constraints.
fn system_wide(access: &Access, interaction: Interaction, what: &str) -> Result<(), Error> {
    if access.scopes.grants_everything(interaction) {
        Ok(())
    } else {
        Err(forbidden(format!(
            "{what} needs a user/*.{0} or system/*.{0} scope without patient or constraints",
            interaction.letter()
        )))
    }
}

/// Every entry of a batch or transaction, as if it came alone, with its
/// `request.url` decoded and classified exactly as a request's path: the
/// entries refused, each with its error (a batch answers each alone, a
/// transaction is refused whole: see [`super::entry_refusals`]).
/// Searches and `$everything` in entries are bounded by
/// [`restrict_search`] when they run, as direct ones are.
pub fn bundle_refusals(
    state: &AppState,
    access: &Access,
    bundle: Option<&Value>,
) -> Vec<(usize, Error)> {
    let Some(entries) = bundle
        .and_then(|b| b.get("entry"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let limited = !unrestricted(access);
    let mut refused = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let request = entry.get("request");
        let method = request
            .and_then(|r| r.get("method"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let url = request
            .and_then(|r| r.get("url"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let refuse = |why: String| {
            forbidden(format!(
                "Bundle.entry[{i}]: {method} {url:?} {why}; it is refused"
            ))
        };
        let method = actix_web::http::Method::from_bytes(method.as_bytes()).ok();
        let classified = method.as_ref().map(|m| crate::route::classify_url(m, url));
        let route = match classified {
            Some(Ok((c, _))) => c.route,
            // Malformed entries are the handler's to answer (it decodes
            // them the same way); a limited token gets no benefit of the
            // doubt.
            _ if !limited => continue,
            Some(Err(e)) => {
                refused.push((i, refuse(format!("cannot be judged ({e})"))));
                continue;
            }
            None => {
                refused.push((
                    i,
                    refuse("has no method this token can be judged for".into()),
                ));
                continue;
            }
        };
        if matches!(
            route,
            Route::Bundle | Route::MethodNotAllowed | Route::Unknown(_) | Route::Invalid(_)
        ) {
            if limited {
                refused.push((
                    i,
                    refuse("is not an interaction this token can be judged for".into()),
                ));
            }
            continue;
        }
        let body = Body {
            json: entry.get("resource"),
            conditional: request.and_then(|r| r.get("ifNoneExist")).is_some(),
        };
        if let Err(e) = check(state, access, &route, &body) {
            refused.push((
                i,
                match e {
                    Error::Forbidden(m) | Error::NotFound(m) => {
                        Error::Forbidden(format!("Bundle.entry[{i}]: {m}"))
                    }
                    other => other,
                },
            ));
        }
    }
    refused
}

fn exists(store: &Store, rt: &str, id: &str) -> Result<bool, Error> {
    let (Some(t), Ok(i)) = (
        fhir_model::ResourceType::parse(rt),
        fhir_model::primitives::Id::new(id),
    ) else {
        return Ok(false);
    };
    match store.read(t, &i) {
        Ok(_) => Ok(true),
        Err(StoreError::NotFound(_) | StoreError::Gone { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// 404 unless `rt/id` is visible under `rule`: the same answer as for a
/// resource that does not exist, so none is learnt about.
fn must_see(store: &Store, rt: &str, id: &str, rule: &Rule) -> Result<(), Error> {
    if rule.is_open() || visible_ids(store, rt, &[id.to_owned()], rule)?.contains(id) {
        Ok(())
    } else {
        Err(Error::NotFound(format!("{rt}/{id} is not known")))
    }
}

/// A resource written under a limited rule must be the patient's own:
/// one of the references that link its type to patients names the
/// patient, and none names another patient (an Observation about `pb`
/// "performed by" `pa` is `pb`'s). Constraints, which cannot be checked
/// on a body not yet indexed, do not grant writes. Conditional
/// references are refused: their search would reach beyond the
/// compartment.
fn stays_inside(
    store: &Store,
    rt: &str,
    rule: &Rule,
    url_id: Option<&str>,
    body: Option<&Value>,
) -> Result<(), Error> {
    if rule.constraints.is_some() {
        return Err(forbidden(
            "a constrained scope grants reads and searches, not writes",
        ));
    }
    let Some(patient) = &rule.patient else {
        return Ok(());
    };
    let Some(body) = body else {
        return Ok(()); // no resource: the handler answers 400
    };
    if let Some(at) = conditional_reference(body) {
        return Err(forbidden(format!(
            "conditional references ({at}) are not available to a token limited to \
             Patient/{patient}: their search would reach beyond its compartment"
        )));
    }
    if rt == "Patient" {
        let id = url_id.or_else(|| body.get("id").and_then(Value::as_str));
        return if id == Some(patient.as_str()) {
            Ok(())
        } else {
            Err(forbidden(format!(
                "a token for Patient/{patient} can write that Patient only"
            )))
        };
    }
    let registry = store.registry();
    let link = patient_link::link(&registry, rt);
    let params = match &link {
        patient_link::Link::Owned(p) => p.clone(),
        _ => {
            return Err(forbidden(format!(
                "{rt} holds no patient's data: a token limited to Patient/{patient} cannot \
                 write it"
            )))
        }
    };
    let refs = patient_refs(&registry, rt, body);
    let others: Vec<&str> = refs
        .iter()
        .filter(|(code, id)| params.contains(code) && id != patient)
        .map(|(code, _)| code.as_str())
        .collect();
    if !others.is_empty() {
        return Err(forbidden(format!(
            "the {rt} names another patient ({}): a token limited to Patient/{patient} \
             writes that patient's data only",
            others.join(", ")
        )));
    }
    if patient_link::owns(&link, &refs, patient, None) {
        Ok(())
    } else {
        Err(forbidden(format!(
            "the {rt} must stay in the compartment of Patient/{patient}: none of {} refers to it",
            params.join(", ")
        )))
    }
}

/// The Patient references of a body, by parameter code: what the index
/// would hold for it (so a body is judged like a stored resource).
pub(crate) fn patient_refs(
    registry: &crate::search::param::ParamRegistry,
    rt: &str,
    body: &Value,
) -> Vec<(String, String)> {
    let Ok(bytes) = serde_json::to_vec(body) else {
        return Vec::new();
    };
    let Ok(tree) = fhir_model::json::tree::parse(&bytes) else {
        return Vec::new(); // the handler answers 400
    };
    crate::search::extract::extract(registry, rt, &tree)
        .references
        .into_iter()
        .filter(|r| r.target_type.as_deref() == Some("Patient"))
        .filter_map(|r| Some((r.param, r.target_id?)))
        .collect()
}

/// The path of the first conditional reference (`Type?criteria`) in a
/// body, if any.
fn conditional_reference(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) => m.iter().find_map(|(k, v)| {
            if k == "reference" && v.as_str().is_some_and(|r| r.contains('?')) {
                return Some(k.clone());
            }
            conditional_reference(v).map(|p| format!("{k}.{p}"))
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, v)| conditional_reference(v).map(|p| format!("[{i}].{p}"))),
        _ => None,
    }
}

/// The compartment filter a patient rule puts on a search of `rt`: the
/// patient's resources by the parameters that link `rt` to patients
/// ([`patient_link`]); `None` for types that are not a patient's own
/// (reference data, bounded by [`patient_link::bound`] instead).
pub(crate) fn compartment_filter(rt: &str, patient: &str) -> Option<CompartmentFilter> {
    let params = match patient_link::link(&crate::search::registry::core(), rt) {
        patient_link::Link::Owned(p) => p,
        _ => return None,
    };
    Some(CompartmentFilter {
        compartment: "Patient".into(),
        id: patient.to_owned(),
        params: vec![(rt.to_owned(), params)],
        include_owner: rt == "Patient",
    })
}

/// The v2 constraint alternatives of a rule as search criteria on `rt`,
/// one list per alternative. A constraint the index cannot evaluate
/// refuses the request: ignoring it would widen the scope.
fn constraint_criteria(
    store: &Store,
    rt: &str,
    alternatives: &[Vec<(String, String)>],
) -> Result<Vec<Vec<Criterion>>, Error> {
    let registry = store.registry();
    alternatives
        .iter()
        .map(|params| {
            let parsed = query::parse(&registry, vec![rt.to_owned()], params);
            if let Some(i) = parsed.ignored.first() {
                return Err(forbidden(format!(
                    "the scope constraint {}={:?} on {rt} cannot be applied: {}",
                    i.name,
                    params.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>(),
                    i.reason
                )));
            }
            Ok(parsed.criteria)
        })
        .collect()
}

/// Of `ids` (of type `rt`), those `rule` lets the caller see: the
/// patient's own (or reference data naming no other patient) and meeting
/// one of the constraint alternatives, as the search index says. Deleted
/// resources are not indexed, so never visible under a limited rule.
pub fn visible_ids(
    store: &Store,
    rt: &str,
    ids: &[String],
    rule: &Rule,
) -> Result<HashSet<String>, Error> {
    if rule.is_open() || ids.is_empty() {
        return Ok(ids.iter().cloned().collect());
    }
    let registry = store.registry();
    let bound = rule
        .patient
        .as_deref()
        .and_then(|p| patient_link::bound(&registry, rt, p));
    let alternatives = match &rule.constraints {
        Some(alts) => constraint_criteria(store, rt, alts)?,
        None => vec![Vec::new()],
    };
    if bound.is_none() && rule.constraints.is_none() {
        return Ok(ids.iter().cloned().collect());
    }
    let mut seen = HashSet::new();
    for criteria in alternatives {
        let mut req = SearchRequest {
            types: vec![rt.to_owned()],
            count: ids.len() + 1,
            total: TotalMode::None,
            ..SearchRequest::default()
        };
        req.criteria.push(Criterion::Id(ids.to_vec()));
        req.criteria.extend(bound.clone());
        req.criteria.extend(criteria);
        let page = store.search(&req)?;
        seen.extend(page.matches.into_iter().map(|f| f.id));
    }
    Ok(seen)
}

/// The criteria that bound a sub-search of `rt` (a chain's target, a
/// `_has` source) to what `access` may read, or 403 when it may read no
/// `rt` at all. Sub-searches answer yes/no questions about resources
/// the caller never sees, so they are held to the same bounds as a
/// search of `rt`: the patient, the v2 constraints.
fn sub_bounds(store: &Store, access: &Access, rt: &str) -> Result<Vec<Criterion>, Error> {
    let Some(rule) = access.read_rule(rt) else {
        return Err(forbidden(format!(
            "the search reaches {rt} resources (a chain or _has), which the token's scopes do \
             not grant"
        )));
    };
    let mut out = Vec::new();
    if let Some(p) = &rule.patient {
        out.extend(patient_link::bound(&store.registry(), rt, p));
    }
    if let Some(alts) = &rule.constraints {
        let merged = merge_alternatives(alts).ok_or_else(|| {
            forbidden(format!(
                "the token's constraints on {rt} differ in their parameters, so a search \
                 reaching {rt} cannot be bounded by them"
            ))
        })?;
        out.extend(
            constraint_criteria(store, rt, &[merged])?
                .into_iter()
                .flatten(),
        );
    }
    Ok(out)
}

/// Puts the caller's bounds into every sub-search of `c`, at any depth.
fn bound_sub_searches(store: &Store, access: &Access, c: &mut Criterion) -> Result<(), Error> {
    let wrap = |inner: &mut Box<Criterion>, rt: &str| -> Result<(), Error> {
        bound_sub_searches(store, access, inner)?;
        let bounds = sub_bounds(store, access, rt)?;
        if !bounds.is_empty() {
            let original = std::mem::replace(inner.as_mut(), Criterion::All(Vec::new()));
            let mut all = vec![original];
            all.extend(bounds);
            **inner = Criterion::All(all);
        }
        Ok(())
    };
    match c {
        Criterion::Chain { targets, .. } => {
            for (t, inner) in targets.iter_mut() {
                let t = t.clone();
                wrap(inner, &t)?;
            }
            Ok(())
        }
        Criterion::Has {
            source_type, inner, ..
        } => {
            let t = source_type.clone();
            wrap(inner, &t)
        }
        Criterion::All(cs) => cs
            .iter_mut()
            .try_for_each(|c| bound_sub_searches(store, access, c)),
        _ => Ok(()),
    }
}

/// Step 2: narrows a parsed search (type, system, compartment search,
/// `$everything`) to what the request's token may see. No-op without a
/// token.
pub fn restrict_search(
    access: Option<&Access>,
    store: &Store,
    search: &mut SearchRequest,
) -> Result<(), Error> {
    let Some(access) = access else {
        return Ok(());
    };
    if !unrestricted(access) {
        for c in search.criteria.iter_mut() {
            bound_sub_searches(store, access, c)?;
        }
        for (_, c) in search.type_criteria.iter_mut() {
            bound_sub_searches(store, access, c)?;
        }
    }
    let single = search.types.len() == 1;
    let mut rules: Vec<(String, Rule)> = Vec::new();
    for t in &search.types {
        match access.rule(t, Interaction::Search) {
            Some(r) => rules.push((t.clone(), r)),
            None if single => return Err(not_granted(t, "search (s)")),
            None => {}
        }
    }
    // Several types: those the index cannot bound the same way are left
    // out (constrained types, and unlimited ones mixed with limited).
    let any_patient = rules.iter().any(|(_, r)| r.patient.is_some());
    if !single {
        rules.retain(|(_, r)| r.constraints.is_none() && (r.patient.is_some() || !any_patient));
    }
    if rules.is_empty() {
        return Err(forbidden(
            "the token's scopes grant search on none of the types searched",
        ));
    }
    search.types = rules.iter().map(|(t, _)| t.clone()).collect();
    if let Some(patient) = rules.iter().find_map(|(_, r)| r.patient.clone()) {
        bound_to_patient(search, &patient)?;
    }
    if let [(t, rule)] = rules.as_slice() {
        if let Some(alts) = &rule.constraints {
            let merged = merge_alternatives(alts).ok_or_else(|| {
                forbidden(format!(
                    "the token's constraints on {t} differ in their parameters; search with one \
                     scope's constraint at a time"
                ))
            })?;
            let criteria = constraint_criteria(store, t, &[merged])?;
            search.criteria.extend(criteria.into_iter().flatten());
        }
    }
    Ok(())
}

/// Puts the search inside Patient/`patient`'s compartment, or refuses one
/// that is already bound to another compartment.
fn bound_to_patient(search: &mut SearchRequest, patient: &str) -> Result<(), Error> {
    if let Some(c) = &search.compartment {
        return if c.compartment == "Patient" && c.id == patient {
            Ok(())
        } else {
            Err(forbidden(format!(
                "a token limited to Patient/{patient} cannot search the {} compartment of {}",
                c.compartment, c.id
            )))
        };
    }
    if let [t] = search.types.as_slice() {
        if let Some(filter) = compartment_filter(t, patient) {
            search.compartment = Some(filter);
        } else if let Some(bound) =
            patient_link::bound(&crate::search::registry::core(), t, patient)
        {
            // Reference data: everything but what names another patient.
            search.criteria.push(bound);
        }
        return Ok(());
    }
    let mut params = Vec::new();
    for t in &search.types {
        if let Some(filter) = compartment_filter(t, patient) {
            params.extend(filter.params);
        }
    }
    if params.is_empty() {
        return Err(forbidden(
            "none of the types searched is in the Patient compartment",
        ));
    }
    search.types = params.iter().map(|(t, _)| t.clone()).collect();
    let owner = search.types.iter().any(|t| t == "Patient");
    search.compartment = Some(CompartmentFilter {
        compartment: "Patient".into(),
        id: patient.to_owned(),
        params,
        include_owner: owner,
    });
    Ok(())
}

/// Alternatives (OR) as one AND list: one alternative as it is; several
/// that each constrain the same single parameter as that parameter with
/// their values OR-ed (`category=laboratory,vital-signs`). `None`
/// otherwise: search criteria are ANDs of ORs, and OR across parameters
/// has no form.
fn merge_alternatives(alts: &[Vec<(String, String)>]) -> Option<Vec<(String, String)>> {
    if let [one] = alts {
        return Some(one.clone());
    }
    let key = &alts.first()?.first()?.0;
    let mut values = Vec::new();
    for alt in alts {
        match alt.as_slice() {
            [(k, v)] if k == key => values.push(v.clone()),
            _ => return None,
        }
    }
    Some(vec![(key.clone(), values.join(","))])
}

/// True when the token sees everything it can read at all (no patient, no
/// constraint for any type), so answers need no filtering.
pub fn unrestricted(access: &Access) -> bool {
    access.patient.is_none()
        && access
            .scopes
            .scopes
            .iter()
            .all(|s| s.constraints.is_empty())
        && access.scopes.grants_everything(Interaction::Read)
}

/// True when the token may do every interaction on every resource, so
/// that a Bundle's entries need no judging one by one.
pub fn may_do_anything(access: &Access) -> bool {
    unrestricted(access)
        && [
            Interaction::Create,
            Interaction::Update,
            Interaction::Delete,
            Interaction::Search,
        ]
        .into_iter()
        .all(|i| access.scopes.grants_everything(i))
}

/// Step 3: the answer with every resource the token may not see taken
/// out. `Ok(None)`: unchanged. `Err(NotFound)`: the answer is one such
/// resource. Blocking (reads the store).
pub fn filter_response(
    store: &Store,
    access: &Access,
    body: &[u8],
) -> Result<Option<Vec<u8>>, Error> {
    filter_answer(body, &|items: &[Item]| {
        // Group the items' ids and ask the index once per type.
        let mut wanted: HashMap<&str, Vec<String>> = HashMap::new();
        for i in items {
            wanted.entry(&i.key.0).or_default().push(i.key.1.clone());
        }
        let mut visible: HashSet<Key> = HashSet::new();
        for (t, ids) in wanted {
            if let Some(rule) = access.read_rule(t) {
                for id in visible_ids(store, t, &ids, &rule)? {
                    visible.insert((t.to_owned(), id));
                }
            }
        }
        // The index holds current versions only: an old version (history,
        // vread) is judged by its own content as well, so a resource that
        // moved between patients does not show its past to the new one.
        let registry = store.registry();
        let own_content = |i: &Item| {
            let (Some(body), Some(patient)) = (
                i.resource,
                access.read_rule(&i.key.0).and_then(|r| r.patient),
            ) else {
                return true;
            };
            let link = patient_link::link(&registry, &i.key.0);
            let refs = patient_refs(&registry, &i.key.0, body);
            let own_id = (i.key.0 == "Patient").then_some(i.key.1.as_str());
            patient_link::owns(&link, &refs, &patient, own_id)
        };
        Ok(items
            .iter()
            .filter(|i| !visible.contains(&i.key) || !own_content(i))
            .map(|i| i.key.clone())
            .collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_alternatives() {
        let a = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert_eq!(
            merge_alternatives(&[a("category", "laboratory")]),
            Some(a("category", "laboratory"))
        );
        assert_eq!(
            merge_alternatives(&[a("category", "laboratory"), a("category", "vital-signs")]),
            Some(a("category", "laboratory,vital-signs"))
        );
        assert_eq!(
            merge_alternatives(&[a("category", "laboratory"), a("code", "x")]),
            None
        );
    }
}
