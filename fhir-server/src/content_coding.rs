//! Request bodies sent with a `Content-Encoding` (RFC 9110 §8.4): a client
//! may gzip a large Bundle. The body is decoded as it is read, through
//! actix-http's decoder (gzip, deflate, br, zstd), and the size limit
//! applies to the decoded bytes, so a small compressed body cannot expand
//! past `--max-body-bytes`. A coding the server does not know is 415
//! (§15.5.16), never read as if it were plain.

use actix_web::dev::{Decompress, Payload, ServiceRequest};
use actix_web::http::header::{self, ContentEncoding, HeaderMap};

use crate::error::Error;

/// The body's content coding; `Identity` when none is named.
pub fn encoding(headers: &HeaderMap) -> Result<ContentEncoding, Error> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(ContentEncoding::Identity);
    };
    let text = value.to_str().unwrap_or("");
    text.parse::<ContentEncoding>().map_err(|_| {
        Error::UnsupportedMediaType(format!(
            "Content-Encoding {text:?} is not supported; send the body plain or as one of \
             gzip, deflate, br, zstd"
        ))
    })
}

/// Reads the whole body, decoded, refusing more than `limit` decoded bytes.
pub async fn read(
    headers: &HeaderMap,
    payload: Payload,
    limit: usize,
) -> Result<actix_web::web::Bytes, Error> {
    let coding = encoding(headers)?;
    let stream = actix_web::body::BodyStream::new(Decompress::new(payload, coding));
    actix_web::body::to_bytes_limited(stream, limit)
        .await
        .map_err(|_| Error::PayloadTooLarge { limit })?
        .map_err(|e| {
            Error::invalid(
                crate::error::IssueCode::Invalid,
                format!("cannot read the request body: {e}"),
            )
        })
}

/// After a middleware has read the body with actix's `Bytes` extractor
/// (which decodes known codings) and put the decoded bytes back: the
/// request no longer carries an encoded body, so the handler must not
/// decode it again. An unknown coding is left for the handler's 415.
pub fn mark_decoded(req: &mut ServiceRequest) {
    if encoding(req.headers()).is_ok() {
        req.headers_mut().remove(header::CONTENT_ENCODING);
    }
}
