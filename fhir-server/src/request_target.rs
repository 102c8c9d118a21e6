//! The request target's length (RFC 9110 §4.1, §15.5.15): a URI longer
//! than [`MAX_TARGET_BYTES`] answers 414 with an OperationOutcome that
//! points to `POST [type]/_search`, before any handler parses it.
//!
//! Limit: actix-http itself refuses targets of 64 KiB and more (the
//! `http` crate's `Uri` limit) and raw non-ASCII bytes in the target,
//! with an empty 400 before the application sees the request; answering
//! those needs a layer over the accepted connection (not done yet).

use actix_web::dev::ServiceRequest;

use crate::error::Error;

/// 16 KiB: far above any URL a FHIR client builds by hand, and under the
/// 64 KiB at which actix-http stops.
pub const MAX_TARGET_BYTES: usize = 16 * 1024;

/// 414 when the path and query are longer than [`MAX_TARGET_BYTES`].
pub fn check(req: &ServiceRequest) -> Result<(), Error> {
    let len = req.path().len() + req.query_string().len() + 1;
    if len > MAX_TARGET_BYTES {
        return Err(Error::UriTooLong {
            limit: MAX_TARGET_BYTES,
        });
    }
    Ok(())
}
