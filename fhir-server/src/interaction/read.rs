//! read: `GET [base]/[type]/[id]` (<https://hl7.org/fhir/R4/http.html#read>).
//!
//! Returns the stored bytes of the current version as they are. A deleted
//! resource answers 410 Gone, one never stored 404. A conditional read
//! (`If-None-Match`, `If-Modified-Since`) that matches answers 304
//! (http.html#cread).

use actix_web::{web, HttpRequest, HttpResponse};

use super::{read_response, resource_type, run, url_id};
use crate::app::AppState;
use crate::error::Error;

pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (rt, id) = path.into_inner();
    let rt = resource_type(&rt)?;
    let id = url_id(&id)?;
    let store = state.store.clone();
    let v = run(move || store.read(rt, &id)).await?;
    read_response(&req, v)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use crate::interaction::testutil::{app, send};

    #[actix_web::test]
    async fn unknown_things_are_404_and_bad_ids_400() {
        let db = crate::store::testutil::sqlite();
        let app = app(&db.store).await;
        send(&app, TestRequest::get().uri("/fhir/Patient/nobody"))
            .await
            .assert_outcome(404, "not-found");
        send(&app, TestRequest::get().uri("/fhir/Nonsense/1"))
            .await
            .assert_outcome(404, "not-found");
        send(&app, TestRequest::get().uri("/fhir/Patient/a%20b"))
            .await
            .assert_outcome(400, "value");
    }
}
