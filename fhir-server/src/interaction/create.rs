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
    let id = Id::new(uuid::Uuid::new_v4().to_string()).map_err(|e| Error::Fault(e.to_string()))?;
    let store = state.store.clone();
    let new_id = id.clone();
    let written = run(move || {
        let mut resource = parse_resource(&body, rt)?;
        resource.set_id(Some(new_id));
        Ok::<_, Error>(store.create(&mut resource)?)
    })
    .await?;
    let location = version_location(&req, rt, id.as_str(), written.version);
    Ok(written_response(
        &req,
        StatusCode::CREATED,
        written,
        Some(location),
    ))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use serde_json::json;

    use crate::interaction::testutil::{app, backends, send, with_json, TEST_BODY_LIMIT};

    #[actix_web::test]
    async fn create_assigns_an_id_and_answers_201_with_location() {
        for db in backends() {
            let app = app(&db.store).await;
            let body = json!({"resourceType": "Patient", "id": "ignored", "active": true});
            let r = send(
                &app,
                with_json(TestRequest::post().uri("/fhir/Patient"), &body),
            )
            .await;
            assert_eq!(r.status, 201, "{}", db.label);
            assert_eq!(r.header("etag"), Some("W/\"1\""));
            assert!(r
                .header("last-modified")
                .is_some_and(|d| d.ends_with(" GMT")));
            assert_eq!(
                r.header("content-type"),
                Some("application/fhir+json; charset=utf-8")
            );
            let created = r.json();
            let id = created["id"].as_str().expect("an id").to_owned();
            assert_ne!(id, "ignored", "an id in a POST body is ignored");
            assert_eq!(created["meta"]["versionId"], "1");
            let location = r.header("location").expect("Location");
            assert!(
                location.ends_with(&format!("/fhir/Patient/{id}/_history/1")),
                "{location}"
            );
            let read = send(&app, TestRequest::get().uri(&format!("/fhir/Patient/{id}"))).await;
            assert_eq!((read.status, read.body), (200, r.body), "{}", db.label);
        }
    }

    #[actix_web::test]
    async fn bad_bodies_answer_operation_outcomes() {
        let db = crate::store::testutil::sqlite();
        let app = app(&db.store).await;
        let post = |body: &str, ct: Option<&str>| {
            let mut req = TestRequest::post()
                .uri("/fhir/Patient")
                .set_payload(body.to_owned());
            if let Some(ct) = ct {
                req = req.insert_header(("content-type", ct));
            }
            req
        };
        let fhir = Some("application/fhir+json");
        send(&app, post("{\"resourceType\": ", fhir))
            .await
            .assert_outcome(400, "invalid");
        send(&app, post("not json", fhir))
            .await
            .assert_outcome(400, "invalid");
        send(&app, post("[1, 2]", fhir))
            .await
            .assert_outcome(400, "structure");
        send(&app, post("", fhir))
            .await
            .assert_outcome(400, "required");
        let oo = send(
            &app,
            post(
                r#"{"resourceType": "Observation", "status": "final"}"#,
                fhir,
            ),
        )
        .await
        .assert_outcome(400, "invalid");
        assert_eq!(oo["issue"][0]["expression"][0], "resourceType");
        send(&app, post(r#"{"resourceType": "Nonsense"}"#, fhir))
            .await
            .assert_outcome(400, "invalid");
        send(
            &app,
            post(r#"{"resourceType": "Patient", "id": "bad id!"}"#, fhir),
        )
        .await
        .assert_outcome(400, "value");
        send(&app, post("{}", Some("text/plain")))
            .await
            .assert_outcome(415, "not-supported");
        send(&app, post("{}", None))
            .await
            .assert_outcome(415, "not-supported");
        for ct in [
            "application/json",
            "application/json+fhir",
            "application/fhir+json;charset=UTF-8",
        ] {
            let r = send(&app, post(r#"{"resourceType": "Patient"}"#, Some(ct))).await;
            assert_eq!(r.status, 201, "{ct}");
        }
        let big = format!(
            r#"{{"resourceType": "Patient", "text": "{}"}}"#,
            "x".repeat(TEST_BODY_LIMIT)
        );
        send(&app, post(&big, fhir))
            .await
            .assert_outcome(413, "too-costly");
        let r = send(
            &app,
            with_json(TestRequest::post().uri("/fhir/Nonsense"), &json!({})),
        )
        .await;
        r.assert_outcome(404, "not-found");
    }
}
