//! The request target and head as the application first sees them: a URI
//! longer than [`MAX_TARGET_BYTES`] answers 414 with an OperationOutcome
//! that points to `POST [type]/_search` (RFC 9110 §4.1, §15.5.15), and a
//! request the connection layer (`crate::wire`) refused is answered here,
//! before any handler parses it.
//!
//! The wire layer applies the same limit to the target percent-encoded,
//! so a long target gets the same answer whether it arrived raw (UTF-8)
//! or encoded; the check here covers requests that reach the app without
//! that layer (tests over `actix_web::test`).

use actix_web::dev::ServiceRequest;

use crate::error::{Error, IssueCode};
use crate::wire::{ConnRefusal, Refusal, REFUSED_PATH};

/// 16 KiB: far above any URL a FHIR client builds by hand, and under the
/// 64 KiB at which actix-http stops.
pub const MAX_TARGET_BYTES: usize = 16 * 1024;

/// The head limit of actix-http's parser, named in the 431 answer.
pub const MAX_HEAD_BYTES: usize = 128 * 1024;

/// The refusal of the wire layer, or 414 when the path and query are
/// longer than [`MAX_TARGET_BYTES`].
pub fn check(req: &ServiceRequest) -> Result<(), Error> {
    if req.path() == REFUSED_PATH {
        if let Some(refusal) = req.conn_data::<ConnRefusal>().and_then(ConnRefusal::get) {
            return Err(refused(refusal));
        }
    }
    let len = req.path().len() + req.query_string().len() + 1;
    if len > MAX_TARGET_BYTES {
        return Err(Error::UriTooLong {
            limit: MAX_TARGET_BYTES,
        });
    }
    Ok(())
}

/// The error a refusal of the wire layer answers with.
fn refused(refusal: Refusal) -> Error {
    match refusal {
        Refusal::TargetTooLong => Error::UriTooLong {
            limit: MAX_TARGET_BYTES,
        },
        Refusal::HeadTooLarge => Error::HeadTooLarge {
            limit: MAX_HEAD_BYTES,
        },
        Refusal::TargetNotUtf8 { offset } => Error::invalid(
            IssueCode::Invalid,
            format!(
                "the request target holds a byte that is not UTF-8 at offset {offset}; \
                 send non-ASCII characters as percent-encoded UTF-8 (RFC 3986 §2.1)"
            ),
        ),
        Refusal::Malformed(reason) => Error::invalid(
            IssueCode::Structure,
            format!(
                "the request line or a header field is malformed ({reason}); \
                 nothing was processed"
            ),
        ),
    }
}
