//! The middleware that decodes and classifies every request once, before
//! authorization, Consent and the router: a path that cannot be decoded
//! unambiguously is a 400 here; otherwise the URI is rewritten to the
//! canonical path (so the router sees exactly what was classified) and
//! the [`Classified`] route goes into the request's extensions.
//!
//! Routes no handler may take ([`Route::Unknown`], [`Route::Invalid`])
//! are not answered here but by the authorization middleware, after the
//! caller is authenticated, so that an anonymous caller learns nothing
//! about paths beyond the 401.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceRequest;
use actix_web::dev::ServiceResponse;
use actix_web::http::Uri;
use actix_web::middleware::Next;
use actix_web::HttpMessage;

use super::{classify, decode_path, Classified, Route};
use crate::error::{Error, IssueCode};

pub async fn decode(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let decoded = match decode_path(req.uri().path()) {
        Ok(d) => d,
        Err(e) => return Ok(req.into_response(e.into_error().response())),
    };
    let canonical = decoded.canonical();
    if canonical != req.uri().path() {
        let target = match req.uri().query() {
            Some(q) => format!("{canonical}?{q}"),
            None => canonical,
        };
        let Ok(uri) = target.parse::<Uri>() else {
            let e = Error::invalid(IssueCode::Invalid, "the request target cannot be read");
            return Ok(req.into_response(e.response()));
        };
        req.head_mut().uri = uri.clone();
        req.match_info_mut().get_mut().update(&uri);
    }
    let classified = classify(req.method(), &decoded);
    req.extensions_mut().insert(classified);
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

/// The route of a request that passed [`decode`].
pub fn route_of(req: &actix_web::HttpRequest) -> Option<Route> {
    req.extensions()
        .get::<Classified>()
        .map(|c| c.route.clone())
}
