//! Formats: FHIR JSON and FHIR XML, in and out, and `_pretty`
//! (<https://hl7.org/fhir/R4/http.html#mime-type>).
//!
//! Every handler works in JSON: bodies are stored as compact FHIR JSON and
//! every response is built as JSON. The client's choice of format is honoured
//! in two places only. Request bodies are read by [`parse_body`], which takes
//! XML as well. Responses pass through [`negotiate`], a middleware that, when
//! the client asked for XML (`_format` or `Accept`) or for `_pretty`, rewrites
//! a JSON body into that form on the way out; resources, Bundles and
//! OperationOutcomes alike, so no handler has to know. `_format` wins over
//! `Accept`, as http.html says; `Accept` weights (`q`) pick among JSON
//! and XML. Binary in its own media type, in and out, is
//! [`crate::binary_raw`], called from here.

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;
use fhir_model::json::tree;

use crate::error::Error;

pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";
pub const FHIR_XML: &str = "application/fhir+xml; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

/// What the client asked the response to look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub format: Format,
    pub pretty: bool,
}

/// A media type or `_format` value: `json`, `xml`, and the FHIR and plain
/// JSON/XML mime types (with any parameters).
pub fn format_of(media: &str) -> Option<Format> {
    let essence = media
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "json"
        | "application/fhir+json"
        | "application/json"
        | "application/json+fhir"
        | "text/json" => Some(Format::Json),
        "xml"
        | "application/fhir+xml"
        | "application/xml"
        | "application/xml+fhir"
        | "text/xml" => Some(Format::Xml),
        _ => None,
    }
}

/// The first value of `name` in a query string, percent-decoded.
pub(crate) fn query_param<'a>(query: &'a str, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

/// `_format=application/fhir%2Bxml` is common: decode `%XX` and `+`.
fn percent_decode(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return s.into();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned().into()
}

/// The response format from `_format` (which wins) or `Accept`; JSON when
/// neither names a FHIR format. An unknown `_format` is the client's error:
/// http.html lets a server answer 406 for formats it does not support.
pub fn wanted(req: &ServiceRequest) -> Result<Wanted, Error> {
    let query = req.query_string();
    let pretty = query_param(query, "_pretty").is_some_and(|v| v == "true");
    if let Some(f) = query_param(query, "_format") {
        // `+` in a query means a space; `application/fhir xml` is what a
        // client that forgot to escape `+` sends.
        let f = f.replace(' ', "+");
        return match format_of(&f) {
            Some(format) => Ok(Wanted { format, pretty }),
            None => Err(Error::NotAcceptable(format!(
                "_format={f:?} is not supported; use json or xml"
            ))),
        };
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = accept_format(accept).unwrap_or(Format::Json);
    Ok(Wanted { format, pretty })
}

/// The FHIR format an `Accept` header prefers (RFC 9110 §12.5.1): the
/// media range with the highest `q` among those naming JSON or XML, the
/// first listed on a tie; `q=0` means "not this one". `None` when no
/// range names a FHIR format.
pub fn accept_format(accept: &str) -> Option<Format> {
    let mut best: Option<(Format, f32)> = None;
    for range in accept.split(',') {
        let Some(format) = format_of(range) else {
            continue;
        };
        let q = quality(range);
        if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((format, q));
        }
    }
    best.map(|(f, _)| f)
}

/// The `q` parameter of one media range; 1 when absent, 0 when malformed
/// (RFC 9110 §12.4.2: a weight is `0` to `1` with up to three decimals).
fn quality(range: &str) -> f32 {
    range
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
        .map_or(1.0, |(_, v)| {
            v.trim()
                .parse::<f32>()
                .ok()
                .filter(|q| (0.0..=1.0).contains(q))
                .unwrap_or(0.0)
        })
}

/// The format of a request body from its `Content-Type`.
pub fn body_format(content_type: Option<&HeaderValue>) -> Result<Format, Error> {
    let Some(value) = content_type else {
        return Err(Error::UnsupportedMediaType(
            "the request has no Content-Type; send application/fhir+json or application/fhir+xml"
                .to_owned(),
        ));
    };
    let text = value.to_str().unwrap_or("");
    format_of(text).ok_or_else(|| {
        Error::UnsupportedMediaType(format!(
            "Content-Type {text:?} is not supported; send application/fhir+json or application/fhir+xml"
        ))
    })
}

/// Rewrites FHIR JSON responses into the format the client asked for.
pub async fn negotiate(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Err(e) = crate::request_target::check(&req) {
        return Ok(req.error_response(e));
    }
    let wanted = match wanted(&req) {
        Ok(w) => w,
        // Answered here, outside the audit middleware: recorded here too.
        Err(e) => return Ok(crate::audit::middleware::record_answer(req.error_response(e)).await),
    };
    let limit = req
        .app_data::<actix_web::web::Data<crate::app::AppState>>()
        .map_or(crate::app::DEFAULT_MAX_BODY_BYTES, |s| s.max_body_bytes);
    if let Err(e) = crate::binary_raw::wrap_request(&mut req, limit).await {
        return Ok(req.error_response(e));
    }
    let raw = crate::binary_raw::wants_raw(&req);
    req.extensions_mut().insert(wanted);
    let res = next.call(req).await?.map_into_boxed_body();
    if raw && res.status() == actix_web::http::StatusCode::OK {
        return Ok(raw_binary(res).await);
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/fhir+json"));
    if !is_json || (wanted.format == Format::Json && !wanted.pretty) {
        return Ok(res);
    }
    let (req, res) = res.into_parts();
    let (mut res, body) = res.into_parts();
    let bytes = match to_bytes(body).await {
        Ok(b) => b,
        Err(_) => {
            return Ok(ServiceResponse::new(
                req,
                Error::Fault("cannot buffer the response".into()).response(),
            ))
        }
    };
    let Ok(json) = tree::parse(&bytes) else {
        // Our own JSON always parses; if it did not, send it unchanged.
        return Ok(ServiceResponse::new(req, res.set_body(BoxBody::new(bytes))));
    };
    let (out, ct) = match wanted.format {
        Format::Xml => (fhir_model::xml::write(&json, wanted.pretty), FHIR_XML),
        Format::Json => (tree::to_pretty_json(&json), FHIR_JSON),
    };
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    res.headers_mut().remove(header::CONTENT_LENGTH);
    Ok(ServiceResponse::new(req, res.set_body(BoxBody::new(out))))
}

/// A Binary answer as its own content ([`crate::binary_raw`]); any other
/// answer unchanged.
async fn raw_binary(res: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let (req, res) = res.into_parts();
    let (mut res, body) = res.into_parts();
    let Ok(bytes) = to_bytes(body).await else {
        return ServiceResponse::new(
            req,
            Error::Fault("cannot buffer the response".into()).response(),
        );
    };
    let Some((ct, data)) = crate::binary_raw::content(&bytes) else {
        return ServiceResponse::new(req, res.set_body(BoxBody::new(bytes)));
    };
    let Ok(v) = HeaderValue::from_str(&ct) else {
        return ServiceResponse::new(req, res.set_body(BoxBody::new(bytes)));
    };
    res.headers_mut().insert(header::CONTENT_TYPE, v);
    res.headers_mut().remove(header::CONTENT_LENGTH);
    ServiceResponse::new(req, res.set_body(BoxBody::new(data)))
}

/// Reads a request body in the format its `Content-Type` names into the JSON
/// bytes every handler works with: XML becomes the JSON it stands for.
pub fn body_as_json(format: Format, body: &[u8]) -> Result<Vec<u8>, Error> {
    match format {
        Format::Json => Ok(body.to_vec()),
        Format::Xml => {
            let resource = fhir_model::Resource::from_xml_slice(body)?;
            Ok(resource.to_json_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_and_format_values() {
        assert_eq!(format_of("xml"), Some(Format::Xml));
        assert_eq!(
            format_of("application/fhir+xml;charset=utf-8"),
            Some(Format::Xml)
        );
        assert_eq!(format_of("text/xml"), Some(Format::Xml));
        assert_eq!(format_of("json"), Some(Format::Json));
        assert_eq!(format_of("Application/FHIR+JSON"), Some(Format::Json));
        assert_eq!(format_of("text/html"), None);
        assert_eq!(
            percent_decode("application%2Ffhir%2Bxml"),
            "application/fhir+xml"
        );
        assert_eq!(percent_decode("a%2"), "a%2");
    }

    #[test]
    fn accept_weights_pick_the_format() {
        let xml_low = "application/fhir+xml;q=0.9, application/fhir+json;q=1";
        assert_eq!(accept_format(xml_low), Some(Format::Json));
        assert_eq!(
            accept_format("application/fhir+json;q=0.5, application/fhir+xml"),
            Some(Format::Xml)
        );
        assert_eq!(
            accept_format("application/fhir+xml;q=0, application/fhir+json"),
            Some(Format::Json)
        );
        assert_eq!(
            accept_format("application/fhir+xml, application/fhir+json"),
            Some(Format::Xml)
        );
        assert_eq!(accept_format("text/html, */*;q=0.8"), None);
    }
}
