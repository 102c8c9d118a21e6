//! `$validate` (resource-operation-validate.html): `POST [base]/[type]/$validate`,
//! `POST [base]/[type]/[id]/$validate` with the resource (or a
//! `Parameters` with `resource` and optional `profile`, `mode`) as the
//! body, and `GET [base]/[type]/[id]/$validate` for the stored version.
//! `profile` may also be a query parameter.
//!
//! The work is [`profiles::Validator`], with the packages the server was
//! started with (`serve --package`) and the conformance resources stored in
//! the database ([`crate::stored_profiles`]). The answer is always 200 with an
//! OperationOutcome of the issues found (an `information` "no issues" one
//! when clean): the operation succeeded even when the resource is invalid.
//! `mode=delete` has nothing to check here and answers "no issues".

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use fhir_model::json::tree::{self, Value as Json};
use profiles::{Issue, IssueType, Severity, Validator};

use crate::stored_profiles::Profiles;

use crate::app::AppState;
use crate::error::{Error, FHIR_JSON};
use crate::format;
use crate::interaction::{read_body, resource_type, run, url_id};

/// `POST [base]/[type]/$validate`
pub async fn type_level(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    params: web::Query<Vec<(String, String)>>,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let rt = path.into_inner();
    resource_type(&rt)?;
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    let json = format::body_as_json(body.format, &body.bytes)?;
    let validator = state.validator.clone();
    let query_profiles = query_profiles(&params);
    let issues = run(move || validate_with(&validator, &rt, &json, query_profiles)).await?;
    Ok(outcome_response(&issues))
}

/// `GET|POST [base]/[type]/[id]/$validate`
pub async fn instance(
    req: HttpRequest,
    state: web::Data<AppState>,
    rt: String,
    id: String,
    params: Vec<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let rtype = resource_type(&rt)?;
    let id = url_id(&id)?;
    let validator = state.validator.clone();
    let query_profiles = query_profiles(&params);
    if req.method() == actix_web::http::Method::POST {
        let body = read_body(&req, payload, state.max_body_bytes).await?;
        let json = format::body_as_json(body.format, &body.bytes)?;
        let issues = run(move || validate_with(&validator, &rt, &json, query_profiles)).await?;
        return Ok(outcome_response(&issues));
    }
    let store = state.store.clone();
    let v = run(move || store.read(rtype, &id)).await?;
    let body = v.body.unwrap_or_default();
    let issues = run(move || {
        let refs: Vec<&str> = query_profiles.iter().map(String::as_str).collect();
        Ok::<_, Error>(validator.validator()?.validate_json(&body, &refs))
    })
    .await?;
    Ok(outcome_response(&issues))
}

pub(crate) fn query_profiles(params: &[(String, String)]) -> Vec<String> {
    params
        .iter()
        .filter(|(k, _)| k == "profile")
        .map(|(_, v)| v.clone())
        .collect()
}

/// [`validate_body`] with the server's validator as of now (blocking).
fn validate_with(
    server_profiles: &Profiles,
    rt: &str,
    json: &[u8],
    profiles: Vec<String>,
) -> Result<Vec<Issue>, Error> {
    Ok(validate_body(
        &*server_profiles.validator()?,
        rt,
        json,
        profiles,
    ))
}

/// Validates a request body: the resource itself, or a `Parameters` with
/// `resource` (unless the type is `Parameters` and no `resource` is in it).
/// Also what a Bundle entry's `$validate` runs.
pub(crate) fn validate_body(
    validator: &Validator,
    rt: &str,
    json: &[u8],
    mut profiles: Vec<String>,
) -> Vec<Issue> {
    let mut resource_bytes = None;
    if let Ok(t) = tree::parse(json) {
        if str_field(&t, "resourceType") == Some("Parameters") {
            let params = match field(&t, "parameter") {
                Some(Json::Array(list)) => list.as_slice(),
                _ => &[],
            };
            let wrapped = params
                .iter()
                .find(|p| str_field(p, "name") == Some("resource"))
                .and_then(|p| field(p, "resource"));
            if let Some(r) = wrapped {
                resource_bytes = Some(tree::to_json(r));
                for p in params {
                    match str_field(p, "name") {
                        Some("profile") => {
                            if let Some(u) =
                                str_field(p, "valueUri").or_else(|| str_field(p, "valueCanonical"))
                            {
                                profiles.push(u.to_owned());
                            }
                        }
                        Some("mode") if str_field(p, "valueCode") == Some("delete") => {
                            return Vec::new();
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    let bytes = resource_bytes.as_deref().unwrap_or(json);
    let refs: Vec<&str> = profiles.iter().map(String::as_str).collect();
    let mut issues = validator.validate_json(bytes, &refs);
    if let Ok(t) = tree::parse(bytes) {
        if let Some(given) = str_field(&t, "resourceType").filter(|g| *g != rt) {
            issues.insert(
                0,
                Issue::new(
                    Severity::Error,
                    IssueType::Invalid,
                    "",
                    format!("the resource is a {given}, but the URL names {rt}"),
                ),
            );
        }
    }
    issues
}

fn field<'a>(v: &'a Json, name: &str) -> Option<&'a Json> {
    match v {
        Json::Object(m) => m.iter().find(|(k, _)| k == name).map(|(_, v)| v),
        _ => None,
    }
}

fn str_field<'a>(v: &'a Json, name: &str) -> Option<&'a str> {
    match field(v, name)? {
        Json::String(s) => Some(s),
        _ => None,
    }
}

fn outcome_response(issues: &[Issue]) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, FHIR_JSON))
        .body(outcome_json(issues))
}

/// The OperationOutcome `$validate` answers with (200 whatever it found).
pub(crate) fn outcome_json(issues: &[Issue]) -> Vec<u8> {
    tree::to_json(&profiles::operation_outcome(issues))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use serde_json::json;

    use crate::interaction::testutil::{app, send, with_json};

    #[actix_web::test]
    async fn validate_type_and_instance() {
        let db = crate::store::testutil::sqlite();
        let app = app(&db.store).await;
        // Clean (but for the dom-6 narrative warning).
        let ok = json!({"resourceType": "Patient", "name": [{"family": "Yamada"}]});
        let r = send(
            &app,
            with_json(TestRequest::post().uri("/fhir/Patient/$validate"), &ok),
        )
        .await;
        assert_eq!(r.status, 200);
        let oo = r.json();
        assert_eq!(oo["resourceType"], "OperationOutcome");
        assert!(
            oo["issue"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["severity"] != "error"),
            "{oo}"
        );

        // pat-1 and an unknown element, with locations.
        let bad = json!({"resourceType": "Patient", "contact": [{"gender": "male"}], "foo": 1});
        let r = send(
            &app,
            with_json(TestRequest::post().uri("/fhir/Patient/$validate"), &bad),
        )
        .await;
        assert_eq!(r.status, 200);
        let oo = r.json();
        let issues = oo["issue"].as_array().unwrap();
        assert!(
            issues.iter().any(|i| i["severity"] == "error"
                && i["expression"][0] == "Patient.contact[0]"
                && i["details"]["text"].as_str().unwrap().contains("pat-1")),
            "{oo}"
        );
        assert!(
            issues.iter().any(|i| i["expression"][0] == "Patient.foo"),
            "{oo}"
        );

        // Wrapped in Parameters, with an unknown profile: a warning.
        let params = json!({"resourceType": "Parameters", "parameter": [
            {"name": "resource", "resource": ok},
            {"name": "profile", "valueUri": "http://example.org/none"}]});
        let r = send(
            &app,
            with_json(TestRequest::post().uri("/fhir/Patient/$validate"), &params),
        )
        .await;
        let oo = r.json();
        assert!(
            oo["issue"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["severity"] == "warning"
                    && i["details"]["text"]
                        .as_str()
                        .unwrap()
                        .contains("http://example.org/none is not known")),
            "{oo}"
        );

        // Instance level: the stored version, and a posted body.
        let stored = json!({"resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"text": "x"}, "text": {"status": "generated",
            "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}});
        let r = send(
            &app,
            with_json(TestRequest::put().uri("/fhir/Observation/o1"), &stored),
        )
        .await;
        assert!(r.status == 201 || r.status == 200, "{}", r.status);
        let r = send(
            &app,
            TestRequest::get().uri("/fhir/Observation/o1/$validate"),
        )
        .await;
        assert_eq!(r.status, 200);
        let oo = r.json();
        assert_eq!(oo["issue"][0]["severity"], "information", "{oo}");
        assert_eq!(oo["issue"][0]["details"]["text"], "no issues");
        let missing = json!({"resourceType": "Observation", "id": "o1", "code": {"text": "x"}});
        let r = send(
            &app,
            with_json(
                TestRequest::post().uri("/fhir/Observation/o1/$validate"),
                &missing,
            ),
        )
        .await;
        let oo = r.json();
        assert!(
            oo["issue"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["code"] == "required"
                    && i["details"]["text"]
                        .as_str()
                        .unwrap()
                        .contains("Observation.status")),
            "{oo}"
        );

        // Unknown instance: 404.
        let r = send(
            &app,
            TestRequest::get().uri("/fhir/Observation/nope/$validate"),
        )
        .await;
        assert_eq!(r.status, 404);
    }

    /// With JP Core loaded (as `serve --package` does), declared and
    /// requested profiles are checked.
    #[actix_web::test]
    async fn validate_against_jp_core_profiles() {
        use std::sync::Arc;

        use actix_web::test;

        use crate::app::{build_app, AppState};

        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fhir-packages/jp-core.r4-1.1.2.tgz");
        let set = crate::packages::load(&[path]).expect("JP Core");
        let db = crate::store::testutil::sqlite();
        let app = test::init_service(build_app(AppState {
            store: db.store.clone(),
            max_body_bytes: 1 << 20,
            validator: Arc::new(crate::stored_profiles::Profiles::fixed(
                profiles::Validator::new(Arc::new(set)),
            )),
            terminology: Default::default(),
        }))
        .await;
        const JP_PATIENT: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient";
        // A requested profile the server's packages have is found.
        let p = json!({"resourceType": "Patient",
            "name": [{"family": "山田", "given": ["太郎"]}], "gender": "male",
            "birthDate": "1970-01-01"});
        let r = send(
            &app,
            with_json(
                TestRequest::post().uri(&format!("/fhir/Patient/$validate?profile={JP_PATIENT}")),
                &p,
            ),
        )
        .await;
        assert_eq!(r.status, 200);
        let oo = r.json();
        let issues = oo["issue"].as_array().unwrap();
        assert!(
            !issues.iter().any(|i| i["details"]["text"]
                .as_str()
                .unwrap_or("")
                .contains("is not known")),
            "{oo}"
        );
        // A JP-CLINS example validates without errors against its declared
        // JP Core profile.
        let example =
            std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
                "../../shared/data/jp-clins-examples/Patient-Example-JP-Patient-minimun.json",
            ));
        if let Ok(bytes) = example {
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let r = send(
                &app,
                with_json(TestRequest::post().uri("/fhir/Patient/$validate"), &body),
            )
            .await;
            let oo = r.json();
            assert!(
                oo["issue"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|i| i["severity"] != "error" && i["severity"] != "fatal"),
                "{oo}"
            );
        }
        // JP_Patient_Race with a value type its definition does not allow.
        let bad = json!({"resourceType": "Patient", "extension": [{
            "url": "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/JP_Patient_Race",
            "valueString": "x"}]});
        let r = send(
            &app,
            with_json(
                TestRequest::post().uri(&format!("/fhir/Patient/$validate?profile={JP_PATIENT}")),
                &bad,
            ),
        )
        .await;
        let oo = r.json();
        assert!(
            oo["issue"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["severity"] == "error"
                    && i["expression"][0]
                        .as_str()
                        .unwrap_or("")
                        .starts_with("Patient.extension[0]")),
            "{oo}"
        );
    }
}
