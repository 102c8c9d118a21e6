//! read: `GET [base]/[type]/[id]` (<https://hl7.org/fhir/R4/http.html#read>).
//!
//! Returns the stored bytes of the current version as they are. A deleted
//! resource answers 410 Gone, one never stored 404.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::{resource_response, resource_type, run, url_id};
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
    let v = run(move || store.read(rt, &id)).await?;
    Ok(resource_response(
        StatusCode::OK,
        v.version,
        &v.last_updated,
        v.body.unwrap_or_default(),
        None,
    ))
}
