//! delete: `DELETE [base]/[type]/[id]` (<https://hl7.org/fhir/R4/http.html#delete>).
//!
//! Answers 204 No Content. The spec asks for the same answer "if the
//! resource does not exist at all", and says deleting a deleted resource
//! "has no effect", so both also answer 204 and store nothing. A real
//! deletion is stored as a new version (its `ETag` is sent); a later read
//! answers 410 Gone, and a PUT brings the resource back with the next
//! version.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use super::{etag, resource_type, run, url_id};
use crate::app::AppState;
use crate::error::Error;

pub async fn handle(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (rt, id) = path.into_inner();
    let rt = resource_type(&rt)?;
    let id = url_id(&id)?;
    let store = state.store.clone();
    let deleted = run(move || store.delete(rt, &id)).await?;
    let mut resp = HttpResponse::NoContent();
    if let Some(w) = deleted {
        resp.insert_header((header::ETAG, etag(w.version)));
    }
    Ok(resp.finish())
}
