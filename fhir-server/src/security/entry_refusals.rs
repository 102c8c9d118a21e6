//! Bundle entries refused before the handler runs.
//!
//! Authorization ([`super::guard::bundle_refusals`]) and Consent
//! ([`super::consent::writes::bundle_refusals`]) judge every entry of a
//! batch or transaction as if it came alone. A transaction with a refused
//! entry is refused whole (all or nothing: nothing runs). A batch's
//! entries are independent (http.html#transaction), so its refused
//! entries are recorded here, in the request's extensions, and the batch
//! answers each with its own error (403) without running it, while the
//! others run.

use std::collections::BTreeMap;

use actix_web::dev::ServiceRequest;
use actix_web::{HttpMessage, HttpRequest};
use serde_json::Value;

use crate::error::Error;

/// The refused entries of a batch, by index.
#[derive(Default)]
pub struct EntryRefusals(BTreeMap<usize, Error>);

/// True when the request body (as JSON) is a batch Bundle.
pub fn is_batch(bundle: Option<&Value>) -> bool {
    bundle.and_then(|b| b.get("type")).and_then(Value::as_str) == Some("batch")
}

/// Records `refused` for the Bundle of `req`: `Err` (the first refusal)
/// when the whole request must be refused, that is for anything but a
/// batch (`batch`, from [`is_batch`]).
pub fn record(
    req: &ServiceRequest,
    batch: bool,
    refused: Vec<(usize, Error)>,
) -> Result<(), Error> {
    if refused.is_empty() {
        return Ok(());
    }
    if !batch {
        let mut refused = refused;
        refused.sort_by_key(|(i, _)| *i);
        return match refused.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        };
    }
    let mut ext = req.extensions_mut();
    if ext.get::<EntryRefusals>().is_none() {
        ext.insert(EntryRefusals::default());
    }
    if let Some(r) = ext.get_mut::<EntryRefusals>() {
        for (i, e) in refused {
            r.0.entry(i).or_insert(e);
        }
    }
    Ok(())
}

/// The refused entries of the request's batch, taken out of it (the batch
/// handler answers them).
pub fn take(req: &HttpRequest) -> BTreeMap<usize, Error> {
    req.extensions_mut()
        .remove::<EntryRefusals>()
        .map(|r| r.0)
        .unwrap_or_default()
}
