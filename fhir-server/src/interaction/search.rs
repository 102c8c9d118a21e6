//! search: `GET [base]/[type]` (<https://hl7.org/fhir/R4/http.html#search>).
//!
//! Not implemented yet, and so not listed in the CapabilityStatement. The
//! answer is 400 with `issue.code` `not-supported`: a 4xx (like the 400 the
//! search page prescribes for unsupported parameters) rather than 501, so
//! that no client input yields a 5xx.

use actix_web::{web, HttpResponse};

use super::resource_type;
use crate::error::{Error, IssueCode};

pub async fn handle(path: web::Path<String>) -> Result<HttpResponse, Error> {
    let rt = resource_type(&path)?;
    Err(Error::invalid(
        IssueCode::NotSupported,
        format!(
            "search (GET /fhir/{}) is not supported by this server yet",
            rt.as_str()
        ),
    ))
}
