//! One module per FHIR RESTful interaction (http.html), plus the few steps
//! they share: checking the URL's type and id, reading and parsing the body,
//! running storage calls off the async threads, and building responses with
//! the headers FHIR asks for.

pub mod bundle;
pub mod capabilities;
pub mod create;
pub mod delete;
pub mod headers;
pub mod history;
pub mod patch;
pub mod read;
pub mod search;
pub mod update;
pub mod vread;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use fhir_model::primitives::Id;
use fhir_model::{Resource, ResourceType};

use crate::error::{Error, IssueCode, FHIR_JSON};
use crate::format::{self, Format};
use crate::store::{StoredVersion, Written};

/// The resource type named in the URL; an unknown one is a URL that names
/// nothing, hence 404.
pub(crate) fn resource_type(name: &str) -> Result<ResourceType, Error> {
    ResourceType::parse(name).ok_or_else(|| {
        Error::NotFound(format!(
            "{name:?} is not a FHIR R4 resource type this server knows"
        ))
    })
}

/// The logical id in the URL, checked against the `id` format.
pub(crate) fn url_id(id: &str) -> Result<Id, Error> {
    if crate::store::only_dots(id) {
        return Err(Error::invalid(
            IssueCode::Value,
            format!("{id:?} in the URL is made only of dots, which no resource can have as id"),
        ));
    }
    Id::new(id).map_err(|_| {
        Error::invalid(
            IssueCode::Value,
            format!("{id:?} in the URL is not a valid FHIR id ([A-Za-z0-9-.]{{1,64}})"),
        )
    })
}

/// A request body and the format its `Content-Type` named.
pub(crate) struct Body {
    pub bytes: web::Bytes,
    pub format: Format,
}

/// Checks the media type and reads the whole body, refusing more than
/// `limit` bytes (checked on `Content-Length` first, then while reading).
pub(crate) async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Body, Error> {
    let format = format::body_format(req.headers().get(header::CONTENT_TYPE))?;
    let bytes = read_bytes(req, payload, limit).await?;
    Ok(Body { bytes, format })
}

/// Reads the whole body, whatever its media type (the caller has checked
/// it), decoding any `Content-Encoding`, refusing more than `limit`
/// (decoded) bytes, empty bodies, and bodies that take longer than
/// `--body-timeout-secs` to arrive (actix's own `client_request_timeout`
/// covers the headers only).
pub(crate) async fn read_bytes(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, Error> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Error::PayloadTooLarge { limit });
    }
    let timeout = req
        .app_data::<web::Data<crate::http_headers::BodyTimeout>>()
        .map_or_else(Default::default, |t| *t.get_ref());
    let bytes = actix_web::rt::time::timeout(
        timeout.0,
        crate::content_coding::read(req.headers(), payload.into_inner(), limit),
    )
    .await
    .map_err(|_| Error::BodyTimeout {
        secs: timeout.0.as_secs(),
    })??;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid(
            IssueCode::Required,
            "the request body is empty; send a FHIR resource",
        ));
    }
    Ok(bytes)
}

/// Parses the body as a resource of type `expected` (the URL's type).
pub(crate) fn parse_resource(body: &Body, expected: ResourceType) -> Result<Resource, Error> {
    let resource = match body.format {
        Format::Json => parse_json_resource(&body.bytes)?,
        Format::Xml => Resource::from_xml_slice(&body.bytes)?,
    };
    check_type(resource, expected)
}

fn parse_json_resource(body: &[u8]) -> Result<Resource, Error> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first != Some(b'{') {
        // Tell "not JSON" apart from "JSON, but not an object".
        return Err(match serde_json::from_slice::<serde_json::Value>(body) {
            Err(e) => Error::invalid(IssueCode::Invalid, format!("malformed JSON: {e}")),
            Ok(v) => Error::invalid(
                IssueCode::Structure,
                format!(
                    "the body must be a JSON object (a FHIR resource), not {}",
                    json_kind(&v)
                ),
            ),
        });
    }
    Ok(Resource::from_json_slice(body)?)
}

fn check_type(resource: Resource, expected: ResourceType) -> Result<Resource, Error> {
    let found = resource.resource_type();
    if found != expected {
        return Err(Error::Invalid(vec![crate::error::Issue::new(
            IssueCode::Invalid,
            format!(
                "resourceType {:?} does not match the URL, which names {:?}",
                found.as_str(),
                expected.as_str()
            ),
        )
        .at("resourceType")]));
    }
    Ok(resource)
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Runs synchronous work (diesel calls, and parsing of bodies that may be
/// megabytes) on actix's blocking pool, so it never stalls the threads that
/// serve other connections. A panic in `f` comes back as a fault (500), not
/// a dropped connection. The request's id goes along (its log lines name
/// it), and so does its audit context, so the writes `f` makes store their
/// AuditEvents in their own transactions ([`crate::audit::context`]), and
/// so does a read-only request's replica scope ([`crate::read_replicas`]).
pub(crate) async fn run<T, E, F>(f: F) -> Result<T, Error>
where
    T: Send + 'static,
    E: Into<Error> + Send + 'static,
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    let audit = crate::audit::context::current();
    let request = crate::request_id::current();
    let replica = crate::read_replicas::current();
    web::block(move || {
        crate::request_id::on_this_thread(request, || {
            crate::store::replica::on_this_thread(replica, || {
                crate::audit::context::on_this_thread(audit, f)
            })
        })
    })
    .await?
    .map_err(Into::into)
}

pub(crate) use crate::forwarded::base_url;

pub(crate) fn etag(version: i32) -> String {
    format!("W/\"{version}\"")
}

/// A FHIR instant as an HTTP date (`Last-Modified` wants RFC 7231 format).
pub(crate) fn http_date(instant: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(instant).ok().map(|t| {
        t.with_timezone(&chrono::Utc)
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string()
    })
}

/// A response carrying one stored resource version.
pub(crate) fn resource_response(
    status: StatusCode,
    version: i32,
    last_updated: &str,
    body: Vec<u8>,
    location: Option<String>,
) -> HttpResponse {
    let mut b = HttpResponse::build(status);
    b.insert_header((header::CONTENT_TYPE, FHIR_JSON));
    b.insert_header((header::ETAG, etag(version)));
    if let Some(d) = http_date(last_updated) {
        b.insert_header((header::LAST_MODIFIED, d));
    }
    if let Some(l) = location {
        b.insert_header((header::LOCATION, l));
    }
    b.body(body)
}

/// The response to a create or update, shaped by `Prefer: return=`: the
/// resource (the default), nothing, or an OperationOutcome saying what
/// happened; the headers are the same in all three.
pub(crate) fn written_response(
    req: &HttpRequest,
    status: StatusCode,
    w: Written,
    location: Option<String>,
) -> HttpResponse {
    let prefer = headers::prefer_return(req.headers());
    // Unmapped local codes (crate::local_codes) are warned about where
    // the answer is an OperationOutcome.
    let warnings = match (prefer, req.app_data::<web::Data<crate::app::AppState>>()) {
        (headers::Return::OperationOutcome, Some(state)) => crate::local_codes::scan::warnings(
            &state.store.local_codes().mapper(),
            w.body.as_deref().unwrap_or_default(),
        ),
        _ => Vec::new(),
    };
    let mut resp = resource_response(
        status,
        w.version,
        &w.last_updated,
        w.body.unwrap_or_default(),
        location,
    );
    match prefer {
        headers::Return::Representation => resp,
        headers::Return::Minimal => {
            resp.headers_mut().remove(header::CONTENT_TYPE);
            resp.set_body(actix_web::body::BoxBody::new(()))
        }
        headers::Return::OperationOutcome => {
            let what = if status == StatusCode::CREATED {
                "created"
            } else {
                "updated"
            };
            let mut issues = vec![serde_json::json!({
                "severity": "information",
                "code": "informational",
                "diagnostics": format!("resource {what} as version {}", w.version),
            })];
            issues.extend(warnings);
            let outcome = serde_json::json!({
                "resourceType": "OperationOutcome",
                "issue": issues,
            });
            resp.set_body(actix_web::body::BoxBody::new(
                serde_json::to_vec(&outcome).unwrap_or_default(),
            ))
        }
    }
}

/// Applies `_summary` and `_elements` (search.html#summary, #elements) to
/// a stored body; the body is returned untouched when neither is given.
/// `_summary=count` only means something for a search.
pub(crate) fn subset_body(req: &HttpRequest, body: Vec<u8>) -> Result<Vec<u8>, Error> {
    use fhir_model::subset::Summary;
    let query = req.query_string();
    let summary = format::query_param(query, "_summary");
    let elements = format::query_param(query, "_elements");
    if summary.is_none() && elements.is_none() {
        return Ok(body);
    }
    let mode = match summary.as_deref() {
        None => None,
        Some(v) => Some(Summary::parse(v).ok_or_else(|| {
            Error::invalid(
                IssueCode::Value,
                format!("_summary={v:?} is not one of true, text, data, false"),
            )
        })?),
    };
    Ok(apply_subset(&body, mode, elements.as_deref()).unwrap_or(body))
}

/// `_summary` (which wins) or `_elements` applied to a stored body; `None`
/// when neither is asked for or the body does not parse (it is then
/// returned whole).
pub(crate) fn apply_subset(
    body: &[u8],
    summary: Option<fhir_model::subset::Summary>,
    elements: Option<&str>,
) -> Option<Vec<u8>> {
    use fhir_model::subset;
    if summary.is_none() && elements.is_none() {
        return None;
    }
    let mut tree = fhir_model::json::tree::parse(body).ok()?;
    if let Some(mode) = summary {
        subset::summary(&mut tree, mode);
    } else if let Some(list) = elements {
        let names: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        subset::elements(&mut tree, &names);
    }
    Some(fhir_model::json::tree::to_json(&tree))
}

/// The answer to a read or vread of a stored version: 304 when the
/// client's copy is current (http.html#cread), else the body, cut down by
/// `_summary`/`_elements` when asked.
pub(crate) fn read_response(req: &HttpRequest, v: StoredVersion) -> Result<HttpResponse, Error> {
    if headers::not_modified(req.headers(), v.version, &v.last_updated) {
        return Ok(not_modified_response(v.version, &v.last_updated));
    }
    Ok(resource_response(
        StatusCode::OK,
        v.version,
        &v.last_updated,
        subset_body(req, v.body.unwrap_or_default())?,
        None,
    ))
}

/// 304 Not Modified, with the version's validators.
pub(crate) fn not_modified_response(version: i32, last_updated: &str) -> HttpResponse {
    let mut b = HttpResponse::NotModified();
    b.insert_header((header::ETAG, etag(version)));
    if let Some(d) = http_date(last_updated) {
        b.insert_header((header::LAST_MODIFIED, d));
    }
    b.finish()
}

/// `…/fhir/{type}/{id}/_history/{version}`.
pub(crate) fn version_location(
    req: &HttpRequest,
    rt: ResourceType,
    id: &str,
    version: i32,
) -> String {
    format!("{}/{}/{id}/_history/{version}", base_url(req), rt.as_str())
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    #[test]
    fn fhir_media_types_are_accepted_with_any_parameters() {
        let ct = |v: &'static str| format::body_format(Some(&HeaderValue::from_static(v)));
        for ok in [
            "application/fhir+json",
            "application/json; charset=utf-8",
            "Application/JSON+FHIR",
            "application/fhir+json;fhirVersion=4.0",
            "application/fhir+xml",
            "text/xml",
        ] {
            assert!(ct(ok).is_ok(), "{ok}");
        }
        for bad in ["text/plain", "application/x-www-form-urlencoded", ""] {
            assert!(
                matches!(ct(bad), Err(Error::UnsupportedMediaType(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            format::body_format(None),
            Err(Error::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn instants_become_http_dates() {
        assert_eq!(
            http_date("2026-11-25T20:01:06.717Z").as_deref(),
            Some("Wed, 25 Nov 2026 20:01:06 GMT")
        );
        assert_eq!(
            http_date("2026-11-25T21:01:06+01:00").as_deref(),
            Some("Wed, 25 Nov 2026 20:01:06 GMT")
        );
        assert_eq!(http_date("not a date"), None);
    }

    #[test]
    fn parse_resource_tells_bad_json_from_non_objects() {
        let json = |b: &[u8]| Body {
            bytes: web::Bytes::copy_from_slice(b),
            format: Format::Json,
        };
        let code = |body: &[u8]| match parse_resource(&json(body), ResourceType::Patient) {
            Err(Error::Invalid(issues)) => issues[0].code,
            other => panic!("expected a 400, got {other:?}"),
        };
        assert_eq!(code(b"[1]"), IssueCode::Structure);
        assert_eq!(code(b"  null"), IssueCode::Structure);
        assert_eq!(code(b"nope"), IssueCode::Invalid);
        assert_eq!(
            code(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).as_bytes()),
            IssueCode::Invalid
        );
        assert!(parse_resource(
            &json(br#"{"resourceType": "Patient"}"#),
            ResourceType::Patient
        )
        .is_ok());
    }
}
