//! delete: `DELETE [base]/[type]/[id]` (<https://hl7.org/fhir/R4/http.html#delete>).
//!
//! Answers 204 No Content. The spec asks for the same answer "if the
//! resource does not exist at all", and says deleting a deleted resource
//! "has no effect", so both also answer 204 and store nothing. A real
//! deletion is stored as a new version (its `ETag` is sent); a later read
//! answers 410 Gone, and a PUT brings the resource back with the next
//! version.
//!
//! Conditional delete: `DELETE [base]/[type]?[search parameters]`
//! (<https://hl7.org/fhir/R4/http.html#3.1.0.7.1>), searched and deleted in
//! one database transaction. No match: 204, nothing stored. One match: it
//! is deleted (204 with its `ETag`). Several: this server supports
//! "multiple" (CapabilityStatement `conditionalDelete`), deleting every
//! match, up to [`MAX_CONDITIONAL_DELETE`]; above that it deletes nothing
//! and answers 412, so one broad query cannot wipe a whole type in one
//! request and the client learns it must narrow the criteria. Criteria the
//! server cannot use, or none, are 400 (see [`super::create::criteria`]):
//! `DELETE [base]/[type]` without criteria never deletes anything.
//!
//! `If-Match` (http.html#concurrency) deletes only that version (else
//! 412), also on a conditional delete, whose criteria must then match
//! exactly one resource; `If-None-Match` is honoured as RFC 9110 says.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::{etag, headers, resource_type, run, url_id};
use crate::app::AppState;
use crate::error::Error;
use crate::store::{CondOutcome, Conditional};

pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (rt, id) = path.into_inner();
    let rt = resource_type(&rt)?;
    let id = url_id(&id)?;
    let pre = headers::preconditions(req.headers())?;
    let store = state.store.clone();
    let deleted = run(move || store.delete_checked(rt, &id, &pre)).await?;
    let mut resp = HttpResponse::NoContent();
    if let Some(w) = deleted {
        resp.insert_header((header::ETAG, etag(w.version)));
    }
    Ok(resp.finish())
}

/// The most resources one conditional delete removes (see the module doc).
pub const MAX_CONDITIONAL_DELETE: usize = 100;

/// `DELETE [base]/[type]?…`: conditional delete.
pub async fn conditional(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let rt = resource_type(&path)?;
    let if_match = headers::if_match(req.headers())?;
    let base = super::base_url(&req);
    let criteria = super::create::criteria(&state.store.registry(), rt, req.query_string(), &base)?;
    let store = state.store.clone();
    let outcome = run(move || {
        store.conditional(Conditional::Delete {
            resource_type: rt,
            criteria,
            max: MAX_CONDITIONAL_DELETE,
            if_match,
        })
    })
    .await?;
    let CondOutcome::Deleted(deleted) = outcome else {
        return Err(Error::Fault(format!(
            "a conditional delete ended as {outcome:?}"
        )));
    };
    let mut resp = HttpResponse::NoContent();
    if let [(_, w)] = deleted.as_slice() {
        resp.insert_header((header::ETAG, etag(w.version)));
    }
    Ok(resp.finish())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use serde_json::json;

    use crate::interaction::testutil::{app, backends, send, with_json};

    #[actix_web::test]
    async fn delete_then_read_is_gone_and_put_recreates() {
        for db in backends() {
            let app = app(&db.store).await;
            let put = || {
                with_json(
                    TestRequest::put().uri("/fhir/Patient/d1"),
                    &json!({"resourceType": "Patient", "id": "d1"}),
                )
            };
            assert_eq!(send(&app, put()).await.status, 201);
            let r = send(&app, TestRequest::delete().uri("/fhir/Patient/d1")).await;
            assert_eq!(
                (r.status, r.header("etag")),
                (204, Some("W/\"2\"")),
                "{}",
                db.label
            );
            send(&app, TestRequest::get().uri("/fhir/Patient/d1"))
                .await
                .assert_outcome(410, "deleted");
            send(&app, TestRequest::get().uri("/fhir/Patient/d1/_history/2"))
                .await
                .assert_outcome(410, "deleted");
            let again = send(&app, TestRequest::delete().uri("/fhir/Patient/d1")).await;
            assert_eq!((again.status, again.header("etag")), (204, None));
            let missing = send(&app, TestRequest::delete().uri("/fhir/Patient/never")).await;
            assert_eq!(missing.status, 204);
            let r = send(&app, put()).await;
            assert_eq!(
                (r.status, r.header("etag")),
                (201, Some("W/\"3\"")),
                "{}",
                db.label
            );
            send(&app, TestRequest::delete().uri("/fhir/Nonsense/x"))
                .await
                .assert_outcome(404, "not-found");
        }
    }
}
