//! update: `PUT [base]/[type]/[id]` (<https://hl7.org/fhir/R4/http.html#update>).
//!
//! The body must carry the same id as the URL ("If no id element is
//! provided, or the id disagrees with the id in the URL, the server SHALL
//! respond with 400"). This server allows update-as-create: a PUT to an id
//! that does not exist, or whose resource was deleted, stores the next
//! version and answers 201 with `Location`; otherwise 200.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::{
    parse_resource, read_body, resource_type, run, url_id, version_location, written_response,
};
use crate::app::AppState;
use crate::error::{Error, Issue, IssueCode};

pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let (rt, id) = path.into_inner();
    let rt = resource_type(&rt)?;
    let id = url_id(&id)?;
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    let mut resource = parse_resource(&body, rt)?;
    let at = format!("{}.id", rt.as_str());
    match resource.id().map(|i| i.as_str().to_owned()) {
        None => {
            return Err(Error::Invalid(vec![Issue::new(
                IssueCode::Required,
                format!(
                    "the resource has no id; a PUT body must carry the id of the URL ({:?})",
                    id.as_str()
                ),
            )
            .at(at)]))
        }
        Some(body_id) if body_id != id.as_str() => {
            return Err(Error::Invalid(vec![Issue::new(
                IssueCode::Invalid,
                format!(
                    "the id in the body ({body_id:?}) differs from the id in the URL ({:?})",
                    id.as_str()
                ),
            )
            .at(at)]))
        }
        Some(_) => {}
    }
    let store = state.store.clone();
    let written = run(move || store.update(&mut resource)).await?;
    if written.created {
        let location = version_location(&req, rt, id.as_str(), written.version);
        Ok(written_response(
            StatusCode::CREATED,
            written,
            Some(location),
        ))
    } else {
        Ok(written_response(StatusCode::OK, written, None))
    }
}
