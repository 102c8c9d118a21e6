//! The one place Consent denials are enforced: every answer, before it
//! leaves, loses what the caller's Organization is denied (see the module
//! doc of [`super`]).

use std::collections::{HashMap, HashSet};

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::CONTENT_TYPE;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};

use super::rules::Denial;
use super::writes;
use crate::app::AppState;
use crate::error::Error;
use crate::interaction::patch::PatchFormat;
use crate::route::{Classified, Route};
use crate::search::query::{Criterion, SearchRequest, TotalMode};
use crate::security::answer_filter::{filter_answer, Item, Key};
use crate::security::guard::compartment_filter;
use crate::security::middleware::body_json;
use crate::security::{Access, Security};
use crate::store::Store;

/// The middleware: writes and operations judged before they run
/// ([`super::writes`]); denials for the caller's Organization applied to
/// the answer; the loaded denials forgotten after a request that may have
/// written a Consent ([`super::may_write_consent`]).
pub async fn enforce(
    mut req: ServiceRequest,
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
    let organization = req
        .extensions()
        .get::<Access>()
        .and_then(|a| a.organization.clone());
    let if_none_exist = req.headers().contains_key("if-none-exist");
    if let Some(route) = route.as_ref().filter(|r| writes::judged(r)) {
        if let Err(e) = judge(&mut req, &security, &state, route, &organization).await {
            return Ok(req.into_response(e.response()));
        }
    }
    let res = next.call(req).await;
    if route.as_ref().is_some_and(super::may_write_consent) {
        security.consents.invalidate();
    }
    let res = res?.map_into_boxed_body();
    // The answer of a write that happened is the caller's own data (its
    // target was judged before it ran); every other answer is filtered.
    let own_write = route.as_ref().is_some_and(|r| match r {
        Route::Create(_) => !if_none_exist,
        Route::Update(..) | Route::ConditionalUpdate(_) | Route::Patch(..) => true,
        _ => false,
    });
    let organization = organization.filter(|_| !own_write);
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

/// [`writes::check`] for one request, reading the body it needs (handed
/// on to the handler).
async fn judge(
    req: &mut ServiceRequest,
    security: &web::Data<Security>,
    state: &web::Data<AppState>,
    route: &Route,
    organization: &Option<String>,
) -> Result<(), Error> {
    let mut raw = None;
    if writes::needs_body(route) {
        let limit = state.max_body_bytes;
        raw = Some(crate::http_headers::take_body(req, limit).await?);
    }
    // Bundles are parsed here only when Consent can matter to them.
    let parse = organization.is_some()
        || *route != Route::Bundle
        || raw
            .as_ref()
            .is_some_and(|b| b.windows(7).any(|w| w == b"Consent"));
    let is_patch = matches!(route, Route::Patch(..));
    let body = raw
        .as_ref()
        .filter(|_| parse && !is_patch)
        .and_then(|b| body_json(req, b));
    let patch_format = PatchFormat::from_content_type(req.headers().get(CONTENT_TYPE)).ok();
    let base = crate::interaction::base_url(req.request());
    let (security, state, route, organization) = (
        security.clone(),
        state.clone(),
        route.clone(),
        organization.clone(),
    );
    let if_none_exist = req.headers().contains_key("if-none-exist");
    let batch = crate::security::entry_refusals::is_batch(body.as_ref());
    let bundle = route == Route::Bundle;
    let refused = web::block(move || {
        let request = writes::Request {
            route: &route,
            organization: organization.as_deref(),
            base: &base,
            body: body.as_ref(),
            patch: patch_format.filter(|_| is_patch).zip(raw.as_deref()),
            if_none_exist,
        };
        if bundle {
            // Each entry judged alone: a batch answers its refused
            // entries, a transaction with one is refused whole.
            writes::bundle_refusals(&state.store, &security.consents, &request)
        } else {
            writes::check(&state.store, &security.consents, &request).map(|()| Vec::new())
        }
    })
    .await
    .map_err(|e| Error::Fault(e.to_string()))??;
    crate::security::entry_refusals::record(req, batch, refused)
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
pub(super) fn hidden(
    store: &Store,
    denials: &[Denial],
    items: &[Item],
) -> Result<HashSet<Key>, Error> {
    let mut wanted: HashMap<(String, String), Vec<String>> = HashMap::new();
    let mut out = HashSet::new();
    let registry = store.registry();
    for Item {
        key: (t, id),
        resource,
    } in items
    {
        for d in denials.iter().filter(|d| d.covers(t, *resource)) {
            // The index holds current versions only: an old version
            // (history, vread) that was the denying patient's is hidden by
            // its own content.
            if let Some(body) = resource {
                let own = (t == "Patient" && *id == d.patient)
                    || crate::security::guard::patient_refs(&registry, t, body)
                        .iter()
                        .any(|(_, p)| *p == d.patient);
                if own {
                    out.insert((t.clone(), id.clone()));
                }
            }
            wanted
                .entry((d.patient.clone(), t.clone()))
                .or_default()
                .push(id.clone());
        }
    }
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
