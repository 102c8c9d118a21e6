//! create: `POST [base]/[type]` (<https://hl7.org/fhir/R4/http.html#create>).
//!
//! The server assigns the id; an id in the body is ignored, as the spec
//! says. Answers 201 with `Location: …/[type]/[id]/_history/1`.
//!
//! Conditional create (<https://hl7.org/fhir/R4/http.html#ccreate>):
//! with `If-None-Exist: [search parameters]` the server searches first,
//! in the same database transaction as the create: no match creates
//! (201), one match answers 200 with the existing resource (shaped by
//! `Prefer: return=` like any other write, nothing stored), more than one
//! is 412. Identical concurrent conditional creates create one resource
//! (see `store::conditional`). Criteria the server cannot use (an unknown
//! parameter, a bad value) or no criteria at all are a 400: dropping a
//! criterion would widen the match, which for a write is never safe.
//! [`criteria`] does that checking for conditional update, delete and the
//! conditional entries of a Bundle too.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use fhir_model::primitives::Id;
use fhir_model::ResourceType;

use super::{
    headers, parse_resource, read_body, resource_type, run, version_location, written_response,
};
use crate::app::AppState;
use crate::error::{Error, Issue, IssueCode};
use crate::search::param::ParamRegistry;
use crate::search::query;
use crate::store::{CondOutcome, Conditional, Criteria, StoredVersion, Written};

pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let rt = resource_type(&path)?;
    let if_none_exist = match req.headers().get("if-none-exist") {
        None => None,
        Some(v) => {
            let text = v.to_str().map_err(|_| {
                Error::invalid(
                    IssueCode::Invalid,
                    "If-None-Exist must be a search query in visible ASCII",
                )
            })?;
            let base = super::base_url(&req);
            Some(criteria(&state.store.registry(), rt, text, &base)?)
        }
    };
    let body = read_body(&req, payload, state.max_body_bytes).await?;
    let id = Id::new(uuid::Uuid::new_v4().to_string()).map_err(|e| Error::Fault(e.to_string()))?;
    let store = state.store.clone();
    let new_id = id.clone();
    let validator = state.validator.clone();
    let (warnings, outcome) = run(move || {
        let mut resource = parse_resource(&body, rt)?;
        resource.set_id(Some(new_id));
        let warnings =
            crate::profile_enforcement::current().check_with(&validator, &resource, "")?;
        Ok::<_, Error>((
            warnings,
            match if_none_exist {
                None => CondOutcome::Created {
                    id: String::new(),
                    written: store.create(&mut resource)?,
                },
                Some(c) => store.conditional(Conditional::Create(resource, c))?,
            },
        ))
    })
    .await?;
    match outcome {
        CondOutcome::Created { written, .. } => {
            let location = version_location(&req, rt, id.as_str(), written.version);
            let resp = written_response(&req, StatusCode::CREATED, written, Some(location));
            Ok(crate::profile_enforcement::attach_warnings(
                &req, resp, warnings,
            ))
        }
        CondOutcome::Matched(v) => Ok(matched_response(&req, rt, v)),
        other => Err(Error::Fault(format!(
            "a conditional create ended as {other:?}"
        ))),
    }
}

/// http.html#ccreate: "One Match: The server ignores the post and returns
/// 200 OK". The existing resource is sent like a write's result, so
/// `Prefer: return=minimal` and `=OperationOutcome` work as for a create.
fn matched_response(req: &HttpRequest, rt: ResourceType, v: StoredVersion) -> HttpResponse {
    let location = version_location(req, rt, &v.id, v.version);
    if headers::prefer_return(req.headers()) == headers::Return::OperationOutcome {
        let outcome = serde_json::json!({
            "resourceType": "OperationOutcome",
            "issue": [{
                "severity": "information",
                "code": "informational",
                "diagnostics": format!(
                    "If-None-Exist matched {}/{}; nothing was created", rt.as_str(), v.id
                ),
            }],
        });
        return super::resource_response(
            StatusCode::OK,
            v.version,
            &v.last_updated,
            serde_json::to_vec(&outcome).unwrap_or_default(),
            Some(location),
        );
    }
    let w = Written {
        version: v.version,
        last_updated: v.last_updated,
        created: false,
        body: v.body,
    };
    written_response(req, StatusCode::OK, w, Some(location))
}

/// The criteria of a conditional write on `rt`, from a query string
/// (`a=1&b=2`; a leading `?` or `[type]?` is allowed, as in a Bundle's
/// `ifNoneExist`). Every parameter must be understood and there must be at
/// least one criterion; otherwise 400, never a silently wider match.
/// References written with this server's `base` are made relative, as
/// search does.
pub(crate) fn criteria(
    registry: &ParamRegistry,
    rt: ResourceType,
    text: &str,
    base: &str,
) -> Result<Criteria, Error> {
    let mut q = text.trim();
    if let Some((path, rest)) = q.split_once('?') {
        let path = path.trim_start_matches('/');
        if !path.is_empty() && path != rt.as_str() {
            return Err(Error::invalid(
                IssueCode::Invalid,
                format!(
                    "the criteria {text:?} name {path:?}, but the write is on {}",
                    rt.as_str()
                ),
            ));
        }
        q = rest;
    }
    let mut params: Vec<(String, String)> = serde_urlencoded::from_str(q).map_err(|e| {
        Error::invalid(
            IssueCode::Invalid,
            format!("cannot read the criteria {text:?}: {e}"),
        )
    })?;
    let own = format!("{base}/");
    let mut issues = Vec::new();
    for (name, value) in params.iter_mut() {
        if value.is_empty() && !matches!(name.as_str(), "_format" | "_pretty") {
            issues.push(
                Issue::new(
                    IssueCode::Required,
                    format!("{name} has no value; a conditional write does not ignore criteria"),
                )
                .at(name.clone()),
            );
        }
        // Without a base (`fhir-server import`) there is nothing to strip.
        if !base.is_empty() && value.contains(&own) {
            *value = value.replace(&own, "");
        }
    }
    let request = query::parse(registry, vec![rt.as_str().to_owned()], &params);
    issues.extend(request.ignored.iter().map(|i| {
        Issue::new(
            IssueCode::NotSupported,
            format!(
                "{}; a conditional write cannot ignore a criterion",
                i.reason
            ),
        )
        .at(i.name.clone())
    }));
    if issues.is_empty() && request.criteria.is_empty() {
        issues.push(Issue::new(
            IssueCode::Required,
            format!(
                "a conditional write needs search criteria that select {} resources; none given",
                rt.as_str()
            ),
        ));
    }
    if !issues.is_empty() {
        return Err(Error::Invalid(issues));
    }
    Ok(Criteria::new(request))
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

#[cfg(test)]
#[path = "conditional_tests.rs"]
mod conditional_tests;
