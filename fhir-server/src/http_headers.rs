//! Response and log hygiene for every request: CORS for the browser
//! origins of `serve --cors-origin`, `Cache-Control: no-store` on answers
//! that may carry patient data, and the request line as the access log may
//! print it (parameter names only). Issue #16 items 20 and 22.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Condition, Next};

/// `serve --cors-origin`: the exact browser origins (`https://app.example`)
/// allowed to call the API; none means no CORS at all. Registered as app
/// data so the CapabilityStatement can say whether CORS is on.
#[derive(Debug, Clone, Default)]
pub struct CorsOrigins(pub Vec<String>);

/// `--cors-origin`'s value: `http(s)://host[:port]`, exactly as a browser
/// sends it in `Origin` (no path, no trailing slash, no wildcard).
pub fn parse_origin(s: &str) -> Result<String, String> {
    let authority = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| format!("{s:?}: an origin starts with https:// or http://"))?;
    if !crate::forwarded::valid_authority(authority) {
        return Err(format!(
            "{s:?}: an origin is scheme://host[:port], without path or wildcard"
        ));
    }
    Ok(s.to_ascii_lowercase())
}

/// Request headers a SMART app sends: credentials, content, the
/// conditional and `Prefer` headers of FHIR's REST API.
const CORS_REQUEST_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "accept",
    "prefer",
    "if-match",
    "if-none-match",
    "if-none-exist",
    "if-modified-since",
    // Read-your-writes with read replicas (`read_replicas.rs`).
    crate::read_replicas::HEADER,
];

/// Response headers a browser app may read besides the simple ones.
const CORS_EXPOSED_HEADERS: &[&str] = &[
    "location",
    "etag",
    "content-location",
    "last-modified",
    crate::read_replicas::HEADER,
];

/// The CORS middleware, to be wrapped outermost so preflights (`OPTIONS`
/// without a token) are answered before authorization sees them. Off
/// (passes everything through, sends no CORS header) without origins.
///
/// `actix-cors` does the protocol (preflight checks, echoing only allowed
/// origins, `Vary: Origin`); hand-rolled CORS is easy to get subtly wrong.
/// A request from an origin not listed is served without CORS headers
/// (the browser then withholds the answer) rather than refused, so
/// non-browser clients that happen to send `Origin` keep working.
pub fn cors(origins: &CorsOrigins) -> Condition<actix_cors::Cors> {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers(CORS_REQUEST_HEADERS.iter().copied())
        .expose_headers(CORS_EXPOSED_HEADERS.iter().copied())
        .block_on_origin_mismatch(false)
        .max_age(3600_usize);
    for origin in &origins.0 {
        cors = cors.allowed_origin(origin);
    }
    Condition::new(!origins.0.is_empty(), cors)
}

/// `serve --body-timeout-secs`: the longest a request body may take to
/// arrive; registered as app data, the default when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTimeout(pub std::time::Duration);

/// Default `--body-timeout-secs`: a minute, time for a 50 MB Bundle on a
/// modest link, short enough that a client trickling bytes cannot hold a
/// worker for long.
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 60;

impl Default for BodyTimeout {
    fn default() -> Self {
        BodyTimeout(std::time::Duration::from_secs(DEFAULT_BODY_TIMEOUT_SECS))
    }
}

/// A middleware's read of a whole request body (to judge a Bundle or a
/// write before the handler runs), handed back to the handler: within the
/// body limit and `--body-timeout-secs`, like a handler's own read, and
/// marked as decoded so the handler does not undo a `Content-Encoding`
/// twice. The one way a middleware reads a body.
pub async fn take_body(
    req: &mut actix_web::dev::ServiceRequest,
    limit: usize,
) -> Result<actix_web::web::Bytes, crate::error::Error> {
    use crate::error::{Error, IssueCode};
    let timeout = req
        .app_data::<actix_web::web::Data<BodyTimeout>>()
        .map_or_else(Default::default, |t| *t.get_ref());
    let read = actix_web::rt::time::timeout(timeout.0, req.extract::<actix_web::web::Bytes>());
    let bytes = match read.await {
        Err(_) => {
            return Err(Error::BodyTimeout {
                secs: timeout.0.as_secs(),
            })
        }
        Ok(Err(e))
            if e.as_response_error().status_code()
                == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE =>
        {
            return Err(Error::PayloadTooLarge { limit })
        }
        Ok(Err(e)) => return Err(Error::invalid(IssueCode::Invalid, e.to_string())),
        Ok(Ok(b)) => b,
    };
    req.set_payload(actix_web::dev::Payload::from(bytes.clone()));
    crate::content_coding::mark_decoded(req);
    Ok(bytes)
}

/// Paths under the FHIR base whose answers never carry patient data, so
/// shared caches may keep them.
const PUBLIC_PATHS: &[&str] = &["/fhir/metadata", "/fhir/.well-known/smart-configuration"];

/// Whether the answer to a request for `path` may carry patient data:
/// everything under the FHIR base but the CapabilityStatement and the SMART
/// configuration, errors included (a 4xx can name a resource or a value).
pub fn carries_patient_data(path: &str) -> bool {
    let under_base = path == crate::route::BASE
        || path
            .strip_prefix(crate::route::BASE)
            .is_some_and(|rest| rest.starts_with('/'));
    under_base && !PUBLIC_PATHS.contains(&path)
}

/// Middleware: marks answers that may carry patient data
/// `Cache-Control: no-store`, so neither the browser nor a proxy keeps a
/// copy (the answer is a person's health record).
pub async fn no_store(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let private = carries_patient_data(req.path());
    let mut res = next.call(req).await?.map_into_boxed_body();
    if private {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

/// The request line with every query value replaced by `…`, as the
/// access log ([`crate::access_log`]) prints it:
/// `GET /fhir/Patient?family=…&access_token=… HTTP/1.1`. Query values are
/// search values (names, birth dates, identifiers) or bearer tokens
/// (`access_token`), which must never reach a log file.
pub fn redacted_request_line(req: &ServiceRequest) -> String {
    let mut line = format!("{} {}", req.method(), req.path());
    let query = req.query_string();
    if !query.is_empty() {
        let names: Vec<&str> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').map_or(p, |(name, _)| name))
            .collect();
        line.push('?');
        line.push_str(
            &names
                .iter()
                .map(|n| format!("{n}=…"))
                .collect::<Vec<_>>()
                .join("&"),
        );
    }
    line.push_str(&format!(" {:?}", req.version()));
    line
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn request_line_keeps_names_only() {
        let req = TestRequest::get()
            .uri("/fhir/Patient?family=SECRETNAME&access_token=abc.def&_count")
            .to_srv_request();
        let line = redacted_request_line(&req);
        assert_eq!(
            line,
            "GET /fhir/Patient?family=…&access_token=…&_count=… HTTP/1.1"
        );
    }

    #[test]
    fn only_public_paths_may_be_cached() {
        assert!(carries_patient_data("/fhir/Patient/1"));
        assert!(carries_patient_data("/fhir"));
        assert!(carries_patient_data("/fhir/nothing"));
        assert!(!carries_patient_data("/fhir/metadata"));
        assert!(!carries_patient_data(
            "/fhir/.well-known/smart-configuration"
        ));
        assert!(!carries_patient_data("/.well-known/smart-configuration"));
        assert!(!carries_patient_data("/fhirx"));
    }
}
