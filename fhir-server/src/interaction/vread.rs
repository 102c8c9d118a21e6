//! vread: `GET [base]/[type]/[id]/_history/[vid]`
//! (<https://hl7.org/fhir/R4/http.html#vread>).
//!
//! Version ids are the integers 1, 2, …; anything else names no version
//! (404). A version that records a deletion answers 410 Gone.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{read_response, resource_type, run, url_id};
use crate::app::AppState;
use crate::error::Error;

pub async fn handle(
    req: HttpRequest,
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
    read_response(&req, v)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use serde_json::json;

    use crate::interaction::testutil::{app, backends, send, with_json};

    #[actix_web::test]
    async fn vread_returns_each_version() {
        for db in backends() {
            let app = app(&db.store).await;
            for family in ["A", "B"] {
                let body =
                    json!({"resourceType": "Patient", "id": "v1", "name": [{"family": family}]});
                send(
                    &app,
                    with_json(TestRequest::put().uri("/fhir/Patient/v1"), &body),
                )
                .await;
            }
            let r = send(&app, TestRequest::get().uri("/fhir/Patient/v1/_history/1")).await;
            assert_eq!(
                (r.status, r.header("etag")),
                (200, Some("W/\"1\"")),
                "{}",
                db.label
            );
            assert_eq!(r.json()["name"][0]["family"], "A");
            for missing in ["3", "0", "abc", "-1"] {
                let uri = format!("/fhir/Patient/v1/_history/{missing}");
                send(&app, TestRequest::get().uri(&uri))
                    .await
                    .assert_outcome(404, "not-found");
            }
        }
    }
}
