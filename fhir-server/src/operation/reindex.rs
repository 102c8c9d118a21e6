//! `$reindex`: `POST [base]/$reindex` and `POST [base]/[type]/$reindex`
//! extract the search index of every current resource (of that type)
//! again with the search parameters in force now, so that a
//! SearchParameter added after resources were stored finds them (the index
//! is otherwise written only when a resource is written). Not an operation
//! of the FHIR specification; HAPI and others offer the same under this
//! name.
//!
//! The work is done by [`crate::store::Store::reindex`], in transactions
//! of 500 resources while other writes go on.
//! The answer is a `Parameters` with the number of resources indexed
//! (`count`).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::app::AppState;
use crate::error::{Error, FHIR_JSON};
use crate::interaction::{resource_type, run};

/// `POST [base]/$reindex`
pub async fn system(state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    let store = state.store.clone();
    let n = run(move || store.reindex(None)).await?;
    Ok(response(n))
}

/// `POST [base]/[type]/$reindex`
pub async fn type_level(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let rt = resource_type(&path)?;
    let store = state.store.clone();
    let n = run(move || store.reindex(Some(rt.as_str()))).await?;
    Ok(response(n))
}

fn response(n: usize) -> HttpResponse {
    let body = json!({
        "resourceType": "Parameters",
        "parameter": [{"name": "count", "valueInteger": n.min(i32::MAX as usize)}],
    });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, FHIR_JSON))
        .body(body.to_string())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use serde_json::{json, Value};

    use crate::interaction::testutil::{app, backends, send, with_json};

    const COLOUR: &str = "http://example.org/fhir/StructureDefinition/favourite-colour";

    fn ids(b: &Value) -> Vec<&str> {
        b["entry"]
            .as_array()
            .map(|es| {
                es.iter()
                    .filter(|e| e["search"]["mode"] == "match")
                    .filter_map(|e| e["resource"]["id"].as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[actix_web::test]
    async fn a_new_search_parameter_finds_old_resources_after_reindex() {
        for db in backends() {
            let app = app(&db.store).await;
            let label = db.label;
            for (id, colour) in [("a", "blue"), ("b", "green")] {
                let p = json!({"resourceType": "Patient", "id": id,
                    "extension": [{"url": COLOUR, "valueCode": colour}]});
                let r = send(
                    &app,
                    with_json(TestRequest::put().uri(&format!("/fhir/Patient/{id}")), &p),
                )
                .await;
                assert_eq!(r.status, 201, "{label}");
            }
            let search = || {
                send(
                    &app,
                    TestRequest::get().uri("/fhir/Patient?favourite-colour=blue"),
                )
            };
            let strict = || {
                send(
                    &app,
                    TestRequest::get()
                        .uri("/fhir/Patient?favourite-colour=blue")
                        .insert_header(("prefer", "handling=strict")),
                )
            };
            // Unknown: ignored (lenient), refused (strict).
            strict().await.assert_outcome(400, "not-supported");

            let sp = json!({"resourceType": "SearchParameter", "id": "favourite-colour",
                "url": "http://example.org/fhir/SearchParameter/favourite-colour",
                "name": "favourite-colour", "status": "active",
                "description": "The patient's favourite colour",
                "code": "favourite-colour", "base": ["Patient"], "type": "token",
                "expression": format!("Patient.extension('{COLOUR}').value")});
            let r = send(
                &app,
                with_json(
                    TestRequest::put().uri("/fhir/SearchParameter/favourite-colour"),
                    &sp,
                ),
            )
            .await;
            assert_eq!(
                r.status,
                201,
                "{label}: {}",
                String::from_utf8_lossy(&r.body)
            );

            // Known now, but the Patients were indexed before it existed.
            let r = strict().await;
            assert_eq!(
                r.status,
                200,
                "{label}: {}",
                String::from_utf8_lossy(&r.body)
            );
            assert!(ids(&r.json()).is_empty(), "{label}");

            let r = send(&app, TestRequest::post().uri("/fhir/Patient/$reindex")).await;
            assert_eq!(
                r.status,
                200,
                "{label}: {}",
                String::from_utf8_lossy(&r.body)
            );
            let out = r.json();
            assert_eq!(out["resourceType"], "Parameters");
            assert_eq!(out["parameter"][0]["name"], "count");
            assert_eq!(out["parameter"][0]["valueInteger"], 2, "{label}");
            assert_eq!(ids(&search().await.json()), ["a"], "{label}");

            // A new resource is indexed by the parameter as it is written.
            let c = json!({"resourceType": "Patient", "id": "c",
                "extension": [{"url": COLOUR, "valueCode": "blue"}]});
            send(
                &app,
                with_json(TestRequest::put().uri("/fhir/Patient/c"), &c),
            )
            .await;
            assert_eq!(ids(&search().await.json()), ["a", "c"], "{label}");

            // System level: every type (2 Patients + c + the SearchParameter).
            let r = send(&app, TestRequest::post().uri("/fhir/$reindex")).await;
            assert_eq!(
                r.status,
                200,
                "{label}: {}",
                String::from_utf8_lossy(&r.body)
            );
            assert_eq!(r.json()["parameter"][0]["valueInteger"], 4, "{label}");

            // Deleting the SearchParameter takes the parameter away again.
            let r = send(
                &app,
                TestRequest::delete().uri("/fhir/SearchParameter/favourite-colour"),
            )
            .await;
            assert!(r.status == 200 || r.status == 204, "{label}");
            strict().await.assert_outcome(400, "not-supported");

            // Through a transaction Bundle as well.
            let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [{
                "resource": sp,
                "request": {"method": "PUT", "url": "SearchParameter/favourite-colour"}}]});
            let r = send(&app, with_json(TestRequest::post().uri("/fhir"), &bundle)).await;
            assert_eq!(
                r.status,
                200,
                "{label}: {}",
                String::from_utf8_lossy(&r.body)
            );
            assert_eq!(strict().await.status, 200, "{label}");

            // Only POST; an unknown type is refused.
            let r = send(&app, TestRequest::get().uri("/fhir/$reindex")).await;
            assert_eq!(r.status, 405, "{label}");
            let r = send(&app, TestRequest::post().uri("/fhir/Nothing/$reindex")).await;
            assert!(r.status == 400 || r.status == 404, "{label}: {}", r.status);
        }
    }
}
