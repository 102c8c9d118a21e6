//! The one place Consent denials are enforced: every answer, before it
//! leaves, loses what the caller's Organization is denied (see the module
//! doc of [`super`]).

use std::collections::{HashMap, HashSet};

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use serde_json::{json, Value};

use super::rules::Denial;
use crate::app::AppState;
use crate::error::Error;
use crate::search::query::{Criterion, SearchRequest, TotalMode};
use crate::security::guard::{compartment_filter, entry_key};
use crate::security::route::{classify, Route};
use crate::security::{Access, Security};
use crate::store::Store;

/// The middleware: denials for the caller's Organization applied to the
/// answer; the loaded denials forgotten after a request that may have
/// written a Consent.
pub async fn enforce(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let security = req.app_data::<web::Data<Security>>().cloned();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(security), Some(state)) = (security, state) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let may_write_consent = req.method() != Method::GET
        && req.method() != Method::HEAD
        && (req.path().trim_end_matches('/') == "/fhir" || req.path().starts_with("/fhir/Consent"));
    // Consent governs disclosure: the answer to a write (the resource as
    // the client sent it) is not filtered.
    let write = matches!(
        classify(req.method(), req.path()),
        Route::Create(_)
            | Route::Update { .. }
            | Route::Delete(..)
            | Route::Conditional(..)
            | Route::MetaChange(..)
    );
    let organization = req
        .extensions()
        .get::<Access>()
        .and_then(|a| a.organization.clone())
        .filter(|_| !write);
    let res = next.call(req).await?.map_into_boxed_body();
    if may_write_consent {
        security.consents.invalidate();
    }
    let Some(org) = organization else {
        return Ok(res);
    };
    if !res.status().is_success() {
        return Ok(res);
    }
    let (http_req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    let Ok(bytes) = to_bytes(body).await else {
        let e = Error::Fault("cannot buffer the response".into());
        return Ok(ServiceResponse::new(http_req, e.response()));
    };
    let checked = bytes.clone();
    let outcome = web::block(move || {
        let denials = security.consents.against(&state.store, &org)?;
        if denials.is_empty() {
            return Ok(None);
        }
        filter_response(&state.store, &denials, &checked)
    })
    .await;
    let res = match outcome {
        Ok(Ok(None)) => head.set_body(BoxBody::new(bytes)),
        Ok(Ok(Some(filtered))) => head.set_body(BoxBody::new(filtered)),
        Ok(Err(e)) => e.response(),
        Err(e) => Error::Fault(e.to_string()).response(),
    };
    Ok(ServiceResponse::new(http_req, res))
}

/// The answer without what `denials` hide. `Ok(None)`: unchanged;
/// `Err(NotFound)`: the answer is one hidden resource. Blocking.
pub fn filter_response(
    store: &Store,
    denials: &[Denial],
    body: &[u8],
) -> Result<Option<Vec<u8>>, Error> {
    let Ok(mut json) = serde_json::from_slice::<Value>(body) else {
        return Ok(None);
    };
    let Some(rt) = json
        .get("resourceType")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Ok(None);
    };
    if rt != "Bundle" {
        let Some(id) = json.get("id").and_then(Value::as_str).map(str::to_owned) else {
            return Ok(None);
        };
        let hidden = hidden(store, denials, &[(rt.clone(), id.clone(), Some(&json))])?;
        return if hidden.is_empty() {
            Ok(None)
        } else {
            Err(Error::NotFound(format!("{rt}/{id} is not known")))
        };
    }
    if !filter_bundle(store, denials, &mut json)? {
        return Ok(None);
    }
    serde_json::to_vec(&json)
        .map(Some)
        .map_err(|e| Error::Fault(e.to_string()))
}

/// Takes the hidden entries out of a Bundle, and out of the Bundles its
/// entries hold (a batch answers a search entry with a searchset).
/// Returns whether anything changed.
fn filter_bundle(store: &Store, denials: &[Denial], bundle: &mut Value) -> Result<bool, Error> {
    let kind = bundle
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let Some(entries) = bundle.get_mut("entry").and_then(Value::as_array_mut) else {
        return Ok(false);
    };
    let mut changed = false;
    for e in entries.iter_mut() {
        if let Some(inner) = e
            .get_mut("resource")
            .filter(|r| r.get("resourceType").and_then(Value::as_str) == Some("Bundle"))
        {
            changed |= filter_bundle(store, denials, inner)?;
        }
    }
    let keys: Vec<Option<(String, String)>> = entries.iter().map(entry_key).collect();
    let items: Vec<(String, String, Option<&Value>)> = entries
        .iter()
        .zip(&keys)
        .filter_map(|(e, k)| k.clone().map(|(t, id)| (t, id, e.get("resource"))))
        .collect();
    let hidden = hidden(store, denials, &items)?;
    if hidden.is_empty() {
        return Ok(changed);
    }
    let is_hidden = |k: &Option<(String, String)>| k.as_ref().is_some_and(|k| hidden.contains(k));
    if kind.ends_with("-response") {
        for (e, k) in entries.iter_mut().zip(&keys) {
            if is_hidden(k) {
                if let Some(m) = e.as_object_mut() {
                    m.remove("resource");
                    m.insert("response".into(), json!({"status": "404 Not Found"}));
                }
            }
        }
    } else {
        let mut k = keys.iter();
        entries.retain(|_| !k.next().is_some_and(is_hidden));
    }
    Ok(true)
}

/// Which of `items` (type, id, resource if known) some denial covers:
/// the denial covers the type and labels, and the resource is the
/// denying patient's (asked of the index, one query per patient and type).
fn hidden(
    store: &Store,
    denials: &[Denial],
    items: &[(String, String, Option<&Value>)],
) -> Result<HashSet<(String, String)>, Error> {
    let mut wanted: HashMap<(String, String), Vec<String>> = HashMap::new();
    for (t, id, resource) in items {
        for d in denials.iter().filter(|d| d.covers(t, *resource)) {
            wanted
                .entry((d.patient.clone(), t.clone()))
                .or_default()
                .push(id.clone());
        }
    }
    let mut out = HashSet::new();
    for ((patient, t), mut ids) in wanted {
        let Some(compartment) = compartment_filter(&t, &patient) else {
            continue;
        };
        ids.sort();
        ids.dedup();
        let mut req = SearchRequest {
            types: vec![t.clone()],
            count: ids.len() + 1,
            total: TotalMode::None,
            compartment: Some(compartment),
            ..SearchRequest::default()
        };
        req.criteria.push(Criterion::Id(ids));
        for f in store.search(&req)?.matches {
            out.insert((t.clone(), f.id));
        }
    }
    Ok(out)
}
