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

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use crate::interaction::testutil::{app, send};

    #[actix_web::test]
    async fn search_is_refused_clearly() {
        let db = crate::store::testutil::sqlite();
        let app = app(&db.store).await;
        send(&app, TestRequest::get().uri("/fhir/Patient?name=x"))
            .await
            .assert_outcome(400, "not-supported");
        send(&app, TestRequest::get().uri("/fhir/Nonsense"))
            .await
            .assert_outcome(404, "not-found");
    }
}
