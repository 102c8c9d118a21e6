//! The actix middleware that records every request as an AuditEvent
//! ([`super::event`]) and keeps AuditEvents read-only
//! ([`super::immutable`]).
//!
//! Two pieces:
//! - [`record`] wraps the authorization middleware, so it also records
//!   the requests that one refuses (401, 403), with the caller of the
//!   verified token when there was one (the authorization middleware puts
//!   the [`Access`] into the request's extensions as soon as the token is
//!   verified). It reads no request body: authentication comes first,
//!   and an anonymous request never has its body buffered.
//! - [`bind`] sits inside authorization and Consent, and runs the handler
//!   inside the request's audit [`Scope`]: each write the handler makes
//!   stores its AuditEvent in the write's own transaction
//!   ([`super::context`]), so no write commits without its record and no
//!   write is answered 500 after its commit.
//!
//! **The record of the answer.** After the handler, [`record_answer`]
//! stores one record of the request, in a transaction shared with the
//! records of concurrent requests ([`super::recorder`], a group commit
//! the request waits for), unless a
//! write of the request (not a batch or transaction, which always gets a
//! record of its own besides its entries') already stored its record and
//! the answer is a success. If that store fails and nothing was written, the client gets
//! a 500 instead of the answer, so no read is answered without a record;
//! if a write was recorded, the failure is logged and the answer sent.
//! [`crate::format::negotiate`] calls it for its own refusals (406), which
//! never reach this middleware. Records are sealed onto the chain after
//! commit ([`super::sealer`]).
//!
//! The audit write goes straight to the store, not through HTTP, so
//! auditing never audits itself.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest};
use serde_json::Value;

use super::context::{RequestInfo, Scope};
use super::event::{self, Caller, Exchange};
use super::Trail;
use crate::error::Error;
use crate::security::{Access, Security};

pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if trail(req.request()).is_none() {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let info = request_info(req.request());
    req.extensions_mut().insert(info.clone());
    let res = match super::immutable::check(&info.method, &info.path) {
        Ok(()) => next.call(req).await?.map_into_boxed_body(),
        Err(e) => req.into_response(e.response()),
    };
    let health_check = res
        .request()
        .extensions()
        .get::<crate::route::Classified>()
        .is_some_and(|c| c.route.is_health_check());
    if health_check {
        return Ok(res);
    }
    Ok(record_answer(res).await)
}

/// Runs the rest of the request (the handler) inside its audit scope.
pub async fn bind(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let info = req.extensions().get::<RequestInfo>().cloned();
    let (Some(trail), Some(info)) = (trail(req.request()), info) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let scope = Arc::new(Scope {
        info,
        caller: caller(req.request()),
        key: trail.key.clone(),
    });
    super::context::within(scope, next.call(req))
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

/// Records the answer `res` (see the module doc); returns it, or a 500
/// when it could not be recorded and the request wrote nothing.
pub async fn record_answer(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let Some(trail) = trail(res.request()) else {
        return res;
    };
    let info = res
        .request()
        .extensions()
        .get::<RequestInfo>()
        .cloned()
        .unwrap_or_else(|| request_info(res.request()));
    let status = res.status().as_u16();
    if info.write_recorded() && status < 400 && !info.is_bundle() {
        trail.nudge.nudge();
        return res;
    }
    let caller = caller(res.request());
    let (http_req, res) = res.into_parts();
    let location = [header::LOCATION, header::CONTENT_LOCATION]
        .iter()
        .find_map(|h| res.headers().get(h)?.to_str().ok().map(str::to_owned));
    let (head, body) = res.into_parts();
    let Ok(bytes) = to_bytes(body).await else {
        let e = Error::Fault("cannot buffer the response".into());
        return ServiceResponse::new(http_req, e.response());
    };
    let answer: Option<Value> = serde_json::from_slice(&bytes).ok();
    let recorded = crate::store::now_instant();
    let audit = event::build(
        &uuid::Uuid::new_v4().to_string(),
        &Exchange {
            method: &info.method,
            path: &info.path,
            query: &info.query,
            status,
            caller: &caller,
            peer: info.peer.clone(),
            host: &info.host,
            node: info.node.as_deref(),
            answer: answer.as_ref(),
            location: location.as_deref(),
            recorded: &recorded,
        },
    );
    let failure = match trail.recorder.record(&audit).await {
        Ok(()) => return ServiceResponse::new(http_req, head.set_body(BoxBody::new(bytes))),
        Err(e) => e,
    };
    let (method, path) = (&info.method, &info.path);
    log::error!("cannot record the AuditEvent of {method} {path} (answered {status}): {failure}");
    if info.write_recorded() {
        // The write and its own record committed; the answer stands.
        return ServiceResponse::new(http_req, head.set_body(BoxBody::new(bytes)));
    }
    let e = Error::Fault(format!("the request could not be audited: {failure}"));
    ServiceResponse::new(http_req, e.response())
}

/// The audit trail, when `serve --audit` is on.
fn trail(req: &HttpRequest) -> Option<Arc<Trail>> {
    req.app_data::<web::Data<Security>>()
        .and_then(|s| s.audit.clone())
}

fn request_info(req: &HttpRequest) -> RequestInfo {
    RequestInfo {
        method: req.method().clone(),
        path: super::target::path(req.path()),
        query: req.query_string().to_owned(),
        peer: crate::forwarded::client_addr(req).map(|a| a.to_string()),
        host: crate::forwarded::host(req),
        node: crate::node_id::get().map(|n| n.as_str().to_owned()),
        recorded: Arc::new(AtomicBool::new(false)),
    }
}

/// Who asked: the verified token (even when it was then refused), else
/// `unauthenticated` when authorization is on, else `anonymous`.
fn caller(req: &HttpRequest) -> Caller {
    if let Some(a) = req.extensions().get::<Access>() {
        return Caller::Token(a.clone());
    }
    let authorizing = req
        .app_data::<web::Data<Security>>()
        .is_some_and(|s| s.verifier.is_some());
    if authorizing {
        Caller::Unauthenticated
    } else {
        Caller::Anonymous
    }
}
