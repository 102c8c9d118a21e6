//! The actix middleware that records every request as an AuditEvent
//! ([`super::event`]) and keeps AuditEvents read-only
//! ([`super::immutable`]).
//!
//! It wraps the authorization middleware, so it also records the requests
//! that one refuses (401, 403), and reads the caller from the [`Access`]
//! that one put into the request's extensions. It sits inside the format
//! middleware, so it sees the FHIR JSON every handler answers.
//!
//! **When the record is written.** After the handler has answered and
//! before the answer leaves: the record is appended to the chain in its
//! own transaction ([`crate::store::Store::append_audit`]). If that append
//! fails, the client gets a 500 instead of the answer, so no read is ever
//! answered without a record. A write has been committed by then, so a
//! failed append after a write is logged as an error and answered 500: the
//! client must not assume the write failed (it re-reads), and the log
//! names the request. Recording a write in the write's own transaction
//! would close that gap, at the price of threading the audit record through
//! every write path (REST, conditional, batch, transaction); not done.
//!
//! The audit write goes straight to the store, not through HTTP, so
//! auditing never audits itself.

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use serde_json::Value;

use super::event::{self, Caller, Exchange};
use crate::app::AppState;
use crate::error::Error;
use crate::security::{Access, Security};

pub async fn record(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let security = req.app_data::<web::Data<Security>>().cloned();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(security), Some(state)) = (security.filter(|s| s.audit), state) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let method = req.method().clone();
    let path = req.path().to_owned();
    let query = req.query_string().to_owned();
    let peer = req.peer_addr().map(|a| a.ip().to_string());
    let host = crate::forwarded::host(req.request());
    let res = match refuse_audit_writes(&mut req, &method, &path).await {
        Ok(()) => next.call(req).await?.map_into_boxed_body(),
        Err(e) => req.into_response(e.response()),
    };
    let access = res.request().extensions().get::<Access>().cloned();
    let caller = match access {
        Some(a) => Caller::Token(a),
        None if security.verifier.is_some() => Caller::Unauthenticated,
        None => Caller::Anonymous,
    };
    let (http_req, res) = res.into_parts();
    let status = res.status().as_u16();
    let location = [header::LOCATION, header::CONTENT_LOCATION]
        .iter()
        .find_map(|h| res.headers().get(h)?.to_str().ok().map(str::to_owned));
    let (head, body) = res.into_parts();
    let Ok(bytes) = to_bytes(body).await else {
        let e = Error::Fault("cannot buffer the response".into());
        return Ok(ServiceResponse::new(http_req, e.response()));
    };
    let answer: Option<Value> = serde_json::from_slice(&bytes).ok();
    let recorded = crate::store::now_instant();
    let id = uuid::Uuid::new_v4().to_string();
    let audit = event::build(
        &id,
        &Exchange {
            method: &method,
            path: &path,
            query: &query,
            status,
            caller: &caller,
            peer,
            host: &host,
            answer: answer.as_ref(),
            location: location.as_deref(),
            recorded: &recorded,
        },
    );
    let store = state.store.clone();
    let failure = match web::block(move || store.append_audit(&audit)).await {
        Ok(Ok(_)) => {
            return Ok(ServiceResponse::new(
                http_req,
                head.set_body(BoxBody::new(bytes)),
            ))
        }
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    log::error!("cannot record the AuditEvent of {method} {path} (answered {status}): {failure}");
    let e = Error::Fault(format!("the request could not be audited: {failure}"));
    Ok(ServiceResponse::new(http_req, e.response()))
}

/// [`super::immutable::check`], reading the body of `POST [base]` (and
/// handing it on to the handler).
async fn refuse_audit_writes(
    req: &mut ServiceRequest,
    method: &Method,
    path: &str,
) -> Result<(), Error> {
    let is_bundle = method == Method::POST && path.trim_end_matches('/') == "/fhir";
    let bundle = if is_bundle {
        let bytes = req
            .extract::<web::Bytes>()
            .await
            .map_err(|e| Error::invalid(crate::error::IssueCode::Invalid, e.to_string()))?;
        req.set_payload(actix_web::dev::Payload::from(bytes.clone()));
        crate::security::middleware::body_json(req, &bytes)
    } else {
        None
    };
    super::immutable::check(method, path, bundle.as_ref())
}
