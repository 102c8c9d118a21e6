//! The one place Consent denials are enforced: every answer, before it
//! leaves, loses what the caller's Organization is denied (see the module
//! doc of [`super`]).

use std::collections::{HashMap, HashSet};

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};

use super::rules::Denial;
use crate::app::AppState;
use crate::error::Error;
use crate::route::{Classified, Route};
use crate::search::query::{Criterion, SearchRequest, TotalMode};
use crate::security::answer_filter::{filter_answer, Item, Key};
use crate::security::guard::compartment_filter;
use crate::security::{Access, Security};
use crate::store::Store;
use fhir_model::ResourceType;

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
    let route = req
        .extensions()
        .get::<Classified>()
        .map(|c| c.route.clone());
    // Any write that may touch a Consent, however its path was spelled:
    // the route is the decoded one.
    let may_write_consent = route.as_ref().is_some_and(|r| {
        r.writes() && matches!(r.resource_type(), None | Some(ResourceType::Consent))
    });
    // Consent governs disclosure: the answer to a write (the resource as
    // the client sent it) is not filtered.
    let write = route
        .as_ref()
        .is_some_and(|r| r.writes() && *r != Route::Bundle);
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
    filter_answer(body, &|items: &[Item]| hidden(store, denials, items))
}

/// Which of `items` (type, id, resource if known) some denial covers:
/// the denial covers the type and labels, and the resource is the
/// denying patient's (asked of the index, one query per patient and type).
fn hidden(store: &Store, denials: &[Denial], items: &[Item]) -> Result<HashSet<Key>, Error> {
    let mut wanted: HashMap<(String, String), Vec<String>> = HashMap::new();
    for Item {
        key: (t, id),
        resource,
    } in items
    {
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
