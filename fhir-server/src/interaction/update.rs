//! update: `PUT [base]/[type]/[id]` (<https://hl7.org/fhir/R4/http.html#update>).
//!
//! The body must carry the same id as the URL ("If no id element is
//! provided, or the id disagrees with the id in the URL, the server SHALL
//! respond with 400"). This server allows update-as-create: a PUT to an id
//! that does not exist, or whose resource was deleted, stores the next
//! version and answers 201 with `Location`; otherwise 200. With `If-Match`
//! the update happens only if that is the current version, else 412
//! (http.html#concurrency): of clients updating the same version, one wins.
//! `If-None-Match: *` makes it a create only: 412 when the resource
//! exists (RFC 9110 §13.1.2), stored when it is absent or deleted.
//!
//! Conditional update: `PUT [base]/[type]?[search parameters]`
//! (<https://hl7.org/fhir/R4/http.html#cond-update>), searched and written
//! in one database transaction. No match: the resource is created, under
//! the id in the body if it has one (update-as-create) or a new id (201).
//! One match: that resource is updated (200); a body id that is not the
//! match's is 400. More than one match: 412. Criteria the server cannot
//! use, or none, are 400 (see [`super::create::criteria`]). `If-Match` is
//! refused with a conditional update: the version it names belongs to a
//! resource the client has not identified.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use fhir_model::primitives::Id;
use fhir_model::Resource;

use super::{
    headers, parse_resource, read_body, resource_type, run, url_id, version_location,
    written_response,
};
use crate::app::AppState;
use crate::error::{Error, Issue, IssueCode};
use crate::store::{CondOutcome, Conditional};

pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let (rt, id) = path.into_inner();
    let rt = resource_type(&rt)?;
    let id = url_id(&id)?;
    let pre = headers::preconditions(req.headers())?;
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    let store = state.store.clone();
    let expected_id = id.clone();
    let validator = state.validator.clone();
    let (warnings, written) = run(move || {
        let mut resource = parse_resource(&body, rt)?;
        check_body_id(&resource, &expected_id)?;
        let warnings =
            crate::profile_enforcement::current().check_with(&validator, &resource, "")?;
        Ok::<_, Error>((warnings, store.update_checked(&mut resource, &pre)?))
    })
    .await?;
    let resp = if written.created {
        let location = version_location(&req, rt, id.as_str(), written.version);
        written_response(&req, StatusCode::CREATED, written, Some(location))
    } else {
        written_response(&req, StatusCode::OK, written, None)
    };
    Ok(crate::profile_enforcement::attach_warnings(
        &req, resp, warnings,
    ))
}

/// `PUT [base]/[type]?…`: conditional update.
pub async fn conditional(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let rt = resource_type(&path)?;
    if !headers::preconditions(req.headers())?.is_empty() {
        return Err(Error::invalid(
            IssueCode::NotSupported,
            "If-Match and If-None-Match cannot be combined with a conditional update; \
             PUT to [type]/[id] instead",
        ));
    }
    let base = super::base_url(&req);
    let criteria = super::create::criteria(&state.store.registry(), rt, req.query_string(), &base)?;
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    let store = state.store.clone();
    let outcome = run(move || {
        let resource = parse_resource(&body, rt)?;
        Ok::<_, Error>(store.conditional(Conditional::Update(resource, criteria))?)
    })
    .await?;
    let CondOutcome::Updated { id, written } = outcome else {
        return Err(Error::Fault(format!(
            "a conditional update ended as {outcome:?}"
        )));
    };
    if written.created {
        let location = version_location(&req, rt, &id, written.version);
        Ok(written_response(
            &req,
            StatusCode::CREATED,
            written,
            Some(location),
        ))
    } else {
        Ok(written_response(&req, StatusCode::OK, written, None))
    }
}

/// http.html#update: "If no id element is provided, or the id disagrees
/// with the id in the URL, the server SHALL respond with an HTTP 400".
fn check_body_id(resource: &Resource, id: &Id) -> Result<(), Error> {
    let at = format!("{}.id", resource.resource_type().as_str());
    match resource.id().map(|i| i.as_str().to_owned()) {
        None => Err(Error::Invalid(vec![Issue::new(
            IssueCode::Required,
            format!(
                "the resource has no id; a PUT body must carry the id of the URL ({:?})",
                id.as_str()
            ),
        )
        .at(at)])),
        Some(body_id) if body_id != id.as_str() => Err(Error::Invalid(vec![Issue::new(
            IssueCode::Invalid,
            format!(
                "the id in the body ({body_id:?}) differs from the id in the URL ({:?})",
                id.as_str()
            ),
        )
        .at(at)])),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use serde_json::json;

    use crate::interaction::testutil::{app, backends, send, with_json};

    #[actix_web::test]
    async fn put_creates_then_updates() {
        for db in backends() {
            let app = app(&db.store).await;
            let put = |family: &str| {
                let body =
                    json!({"resourceType": "Patient", "id": "p1", "name": [{"family": family}]});
                with_json(TestRequest::put().uri("/fhir/Patient/p1"), &body)
            };
            let r = send(&app, put("A")).await;
            assert_eq!(r.status, 201, "{}", db.label);
            assert!(r
                .header("location")
                .is_some_and(|l| l.ends_with("/fhir/Patient/p1/_history/1")));
            let r = send(&app, put("B")).await;
            assert_eq!(r.status, 200, "{}", db.label);
            assert_eq!(r.header("etag"), Some("W/\"2\""));
            assert_eq!(r.header("location"), None);
            assert_eq!(r.json()["meta"]["versionId"], "2");
            assert_eq!(r.json()["name"][0]["family"], "B");
        }
    }

    #[actix_web::test]
    async fn put_checks_the_id() {
        let db = crate::store::testutil::sqlite();
        let app = app(&db.store).await;
        let r = send(
            &app,
            with_json(
                TestRequest::put().uri("/fhir/Patient/p1"),
                &json!({"resourceType": "Patient", "id": "p2"}),
            ),
        )
        .await;
        let oo = r.assert_outcome(400, "invalid");
        assert_eq!(oo["issue"][0]["expression"][0], "Patient.id");
        let r = send(
            &app,
            with_json(
                TestRequest::put().uri("/fhir/Patient/p1"),
                &json!({"resourceType": "Patient"}),
            ),
        )
        .await;
        r.assert_outcome(400, "required");
        let r = send(
            &app,
            with_json(
                TestRequest::put().uri("/fhir/Patient/a_b"),
                &json!({"resourceType": "Patient", "id": "a_b"}),
            ),
        )
        .await;
        r.assert_outcome(400, "value");
    }
}
