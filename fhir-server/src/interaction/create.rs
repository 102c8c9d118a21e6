//! create: `POST [base]/[type]` (<https://hl7.org/fhir/R4/http.html#create>).
//!
//! The server assigns the id; an id in the body is ignored, as the spec
//! says. Answers 201 with `Location: …/[type]/[id]/_history/1`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use fhir_model::primitives::Id;

use super::{parse_resource, read_body, resource_type, run, version_location, written_response};
use crate::app::AppState;
use crate::error::Error;

pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let rt = resource_type(&path)?;
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    let mut resource = parse_resource(&body, rt)?;
    let id = Id::new(uuid::Uuid::new_v4().to_string()).map_err(|e| Error::Fault(e.to_string()))?;
    resource.set_id(Some(id.clone()));
    let store = state.store.clone();
    let written = run(move || store.create(&mut resource)).await?;
    let location = version_location(&req, rt, id.as_str(), written.version);
    Ok(written_response(
        StatusCode::CREATED,
        written,
        Some(location),
    ))
}
