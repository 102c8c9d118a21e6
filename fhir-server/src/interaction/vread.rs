//! vread: `GET [base]/[type]/[id]/_history/[vid]`
//! (<https://hl7.org/fhir/R4/http.html#vread>).
//!
//! Version ids are the integers 1, 2, …; anything else names no version
//! (404). A version that records a deletion answers 410 Gone.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::{resource_response, resource_type, run, url_id};
use crate::app::AppState;
use crate::error::Error;

pub async fn handle(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, Error> {
    let (rt, id, vid) = path.into_inner();
    let rt = resource_type(&rt)?;
    let id = url_id(&id)?;
    let version = vid.parse::<i32>().ok().filter(|v| *v > 0).ok_or_else(|| {
        Error::NotFound(format!(
            "{}/{}/_history/{vid} is not known",
            rt.as_str(),
            id.as_str()
        ))
    })?;
    let store = state.store.clone();
    let v = run(move || store.vread(rt, &id, version)).await?;
    Ok(resource_response(
        StatusCode::OK,
        v.version,
        &v.last_updated,
        v.body.unwrap_or_default(),
        None,
    ))
}
