//! Binary in its own media type (binary.html#rest): a `Binary` read with
//! an `Accept` that names no FHIR format answers the content itself (its
//! `contentType`, its decoded `data`), and a `POST [base]/Binary` or
//! `PUT [base]/Binary/[id]` whose `Content-Type` is not FHIR stores the
//! body as a Binary of that type.
//!
//! Both happen in the format middleware ([`crate::format::negotiate`]),
//! the outermost layer: every handler, the authorization checks and the
//! answer filters see an ordinary FHIR JSON Binary, so raw content gets
//! exactly the protection the resource has.

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpMessage};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use crate::error::{Error, IssueCode};
use crate::format::format_of;

/// `Binary`, `Binary/[id]` or `Binary/[id]/_history/[vid]` under `/fhir`:
/// the id, when there is one.
fn binary_path(path: &str) -> Option<Option<&str>> {
    let rest = path.strip_prefix("/fhir/Binary")?;
    if rest.is_empty() || rest == "/" {
        return Some(None);
    }
    let rest = rest.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let id = parts.next()?;
    match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) => Some(Some(id)),
        (Some("_history"), Some(_), None) => Some(Some(id)),
        _ => None,
    }
}

/// Whether a read of this request should answer raw content: a Binary
/// instance read, no `_format`, and an `Accept` that names a media type
/// but no FHIR format (`*/*` alone, what many tools send, keeps FHIR).
pub fn wants_raw(req: &ServiceRequest) -> bool {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return false;
    }
    if !matches!(binary_path(req.path()), Some(Some(_))) {
        return false;
    }
    if crate::format::query_param(req.query_string(), "_format").is_some() {
        return false;
    }
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let ranges: Vec<&str> = accept
        .split(',')
        .map(|r| r.split(';').next().unwrap_or("").trim())
        .filter(|r| !r.is_empty())
        .collect();
    !ranges.is_empty()
        && ranges.iter().all(|r| format_of(r).is_none())
        && !ranges.iter().all(|r| *r == "*/*")
}

/// A Binary's content as (media type, bytes); `None` when `body` is not a
/// Binary.
pub fn content(body: &[u8]) -> Option<(String, Vec<u8>)> {
    let json: Value = serde_json::from_slice(body).ok()?;
    if json.get("resourceType")?.as_str()? != "Binary" {
        return None;
    }
    let ct = json.get("contentType")?.as_str()?.to_owned();
    let data = match json.get("data").and_then(Value::as_str) {
        Some(d) => STANDARD.decode(d).ok()?,
        None => Vec::new(),
    };
    Some((ct, data))
}

/// A raw `POST [base]/Binary` or `PUT [base]/Binary/[id]`: the body
/// becomes a FHIR JSON Binary (`contentType` from the header, `data` the
/// bytes in base64) before anything else reads it. Other requests are
/// left alone.
pub async fn wrap_request(req: &mut ServiceRequest, limit: usize) -> Result<(), Error> {
    let id = match (req.method().clone(), binary_path(req.path())) {
        (Method::POST, Some(None)) => None,
        (Method::PUT, Some(Some(id))) if !req.path().contains("/_history") => Some(id.to_owned()),
        _ => return Ok(()),
    };
    let Some(ct) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return Ok(());
    };
    if format_of(&ct).is_some() || ct.starts_with("application/x-www-form-urlencoded") {
        return Ok(());
    }
    // Base64 makes the stored resource 4/3 of the content.
    let raw_limit = limit / 4 * 3;
    let payload = req.take_payload();
    let bytes = crate::content_coding::read(req.headers(), payload, raw_limit).await?;
    let mut binary = json!({"resourceType": "Binary"});
    if let Some(id) = id {
        binary["id"] = json!(id);
    }
    binary["contentType"] = json!(ct);
    if !bytes.is_empty() {
        binary["data"] = json!(STANDARD.encode(&bytes));
    }
    let body = serde_json::to_vec(&binary)
        .map_err(|e| Error::invalid(IssueCode::Invalid, e.to_string()))?;
    let headers = req.headers_mut();
    headers.remove(header::CONTENT_ENCODING);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/fhir+json"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    req.set_payload(actix_web::dev::Payload::from(web::Bytes::from(body)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_paths() {
        assert_eq!(binary_path("/fhir/Binary"), Some(None));
        assert_eq!(binary_path("/fhir/Binary/b1"), Some(Some("b1")));
        assert_eq!(binary_path("/fhir/Binary/b1/_history/2"), Some(Some("b1")));
        assert_eq!(binary_path("/fhir/Binary/b1/$meta"), None);
        assert_eq!(binary_path("/fhir/BinaryX/b1"), None);
    }

    #[test]
    fn content_decodes_data() {
        let body = br#"{"resourceType":"Binary","contentType":"text/plain","data":"aGVsbG8="}"#;
        assert_eq!(
            content(body),
            Some(("text/plain".to_owned(), b"hello".to_vec()))
        );
        assert_eq!(content(br#"{"resourceType":"Patient"}"#), None);
    }
}
