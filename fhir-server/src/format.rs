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
//! `Accept`, as http.html says.

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
    let format = accept
        .split(',')
        .find_map(format_of)
        .unwrap_or(Format::Json);
    Ok(Wanted { format, pretty })
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
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let wanted = match wanted(&req) {
        Ok(w) => w,
        // Answered here, outside the audit middleware: recorded here too.
        Err(e) => return Ok(crate::audit::middleware::record_answer(req.error_response(e)).await),
    };
    req.extensions_mut().insert(wanted);
    let res = next.call(req).await?.map_into_boxed_body();
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
}
