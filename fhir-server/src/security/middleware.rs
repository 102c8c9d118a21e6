//! The actix middleware that makes the server a SMART resource server:
//! every request but the public ones (`metadata`, the SMART
//! configuration, `/healthz`, `/readyz`: [`Route::is_public`]) needs `Authorization: Bearer <JWT>`; a missing or bad
//! token is a 401 with `WWW-Authenticate` (RFC 6750 §3) and an
//! OperationOutcome; a request the scopes do not grant is a 403. The
//! checked caller goes into the request's extensions as an [`Access`].
//!
//! It sits inside the format middleware, so it sees (and answers) FHIR
//! JSON, and its answers are turned into XML like any handler's.

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use serde_json::Value;

use super::context::Access;
use super::guard::{self, Body};
use super::Security;
use crate::app::AppState;
use crate::error::{Error, TokenProblem};
use crate::route::{Classified, Route};

pub async fn authorize(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // Deny by default: a request the route middleware did not classify
    // is not let through.
    let Some(route) = req
        .extensions()
        .get::<Classified>()
        .map(|c| c.route.clone())
    else {
        let e = Error::Fault("the request was not classified".into());
        return Ok(req.into_response(e.response()));
    };
    let verifier = req
        .app_data::<web::Data<Security>>()
        .and_then(|s| s.verifier.clone());
    let public = route.is_public();
    let Some(verifier) = verifier.filter(|_| !public) else {
        if let Some(e) = route.refusal() {
            return Ok(req.into_response(e.response()));
        }
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req.error_response(Error::Fault("no application state".into())));
    };
    let token = match bearer(&req) {
        Ok(t) => t,
        Err(e) => return Ok(req.into_response(e.response())),
    };
    let access = match web::block(move || verifier.verify(&token)).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => return Ok(req.into_response(e.response())),
        Err(e) => return Ok(req.into_response(Error::Fault(e.to_string()).response())),
    };
    // The caller is known from here on, refused or not (audit names it).
    req.extensions_mut().insert(access.clone());
    if let Some(e) = route.refusal() {
        return Ok(req.into_response(e.response()));
    }
    let body = match read_body_if_needed(&mut req, &route, &access).await {
        Ok(b) => b,
        Err(e) => return Ok(req.into_response(e.response())),
    };
    let conditional = req.headers().contains_key("if-none-exist");
    if route == Route::Bundle {
        // Each entry judged alone: a batch answers its refused entries,
        // a transaction with one is refused whole.
        let batch = super::entry_refusals::is_batch(body.as_ref());
        let (state, access) = (state.clone(), access.clone());
        let refused =
            web::block(move || guard::bundle_refusals(&state, &access, body.as_ref())).await;
        let refused = match refused {
            Ok(r) => r,
            Err(e) => return Ok(req.into_response(Error::Fault(e.to_string()).response())),
        };
        if let Err(e) = super::entry_refusals::record(&req, batch, refused) {
            return Ok(req.into_response(e.response()));
        }
    } else {
        let (state, access, route) = (state.clone(), access.clone(), route.clone());
        let checked = web::block(move || {
            guard::check(
                &state,
                &access,
                &route,
                &Body {
                    json: body.as_ref(),
                    conditional,
                },
            )
        })
        .await;
        match checked {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Ok(req.into_response(e.response())),
            Err(e) => return Ok(req.into_response(Error::Fault(e.to_string()).response())),
        }
    }
    let res = next.call(req).await?.map_into_boxed_body();
    // An export's NDJSON file holds only the types the kick-off's token
    // could search whole (`guard::export_types`), and only its owner gets it.
    if guard::unrestricted(&access)
        || !res.status().is_success()
        || matches!(route, Route::ExportFile(..))
    {
        return Ok(res);
    }
    filter(res, state, access).await
}

/// The token of `Authorization: Bearer …`.
fn bearer(req: &ServiceRequest) -> Result<String, Error> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Err(Error::Unauthorized {
            message: "this server needs a bearer token (Authorization: Bearer …)".into(),
            problem: TokenProblem::Missing,
        });
    };
    let value = value.to_str().unwrap_or("");
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim().to_owned())
        }
        _ => Err(Error::Unauthorized {
            message: "the Authorization header is not a bearer token".into(),
            problem: TokenProblem::Invalid,
        }),
    }
}

/// Bundles, and writes of a limited token, are checked against their
/// body: read it here (within the body limit, after authentication) and
/// hand it on to the handler.
async fn read_body_if_needed(
    req: &mut ServiceRequest,
    route: &Route,
    access: &Access,
) -> Result<Option<Value>, Error> {
    // Every Bundle's entries are judged one by one, whoever sends it (a
    // token that may read everything may still write nothing); a single
    // resource's body matters only to a token bounded by a compartment.
    let needed = (*route == Route::Bundle && !guard::may_do_anything(access))
        || (matches!(route, Route::Create(_) | Route::Update(..)) && !guard::unrestricted(access));
    if !needed {
        return Ok(None);
    }
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(crate::app::DEFAULT_MAX_BODY_BYTES, |s| s.max_body_bytes);
    let bytes = crate::http_headers::take_body(req, limit).await?;
    // A body that does not parse is the handler's 400 to give.
    Ok(body_json(req, &bytes))
}

/// A request body as JSON (FHIR XML by its `Content-Type` is converted);
/// `None` when it does not parse.
pub(crate) fn body_json(req: &ServiceRequest, bytes: &[u8]) -> Option<Value> {
    let is_xml = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::format::format_of)
        == Some(crate::format::Format::Xml);
    if is_xml {
        fhir_model::xml::read(bytes)
            .ok()
            .and_then(|t| serde_json::from_slice(&fhir_model::json::tree::to_json(&t)).ok())
    } else {
        serde_json::from_slice(bytes).ok()
    }
}

/// Step 3 of [`guard`]: the answer without what the token may not see.
async fn filter(
    res: ServiceResponse<BoxBody>,
    state: web::Data<AppState>,
    access: Access,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let (req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    let bytes = match to_bytes(body).await {
        Ok(b) => b,
        Err(_) => {
            return Ok(ServiceResponse::new(
                req,
                Error::Fault("cannot read the response body".into()).response(),
            ))
        }
    };
    let checked = bytes.clone();
    let outcome = web::block(move || guard::filter_response(&state.store, &access, &checked)).await;
    let res = match outcome {
        Ok(Ok(None)) => head.set_body(BoxBody::new(bytes)),
        Ok(Ok(Some(filtered))) => head.set_body(BoxBody::new(filtered)),
        Ok(Err(e)) => e.response(),
        Err(e) => Error::Fault(e.to_string()).response(),
    };
    Ok(ServiceResponse::new(req, res))
}
