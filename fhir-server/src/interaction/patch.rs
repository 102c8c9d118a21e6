//! patch: `PATCH [base]/[type]/[id]` (<https://hl7.org/fhir/R4/http.html#patch>).
//!
//! Two patch formats, told apart by `Content-Type`:
//! - `application/json-patch+json`: JSON Patch (RFC 6902), see
//!   [`json_patch`];
//! - `application/fhir+json` or `application/fhir+xml` with a `Parameters`
//!   body: FHIRPath Patch (<https://hl7.org/fhir/R4/fhirpatch.html>), see
//!   [`fhirpath_patch`].
//!
//! The patch is applied to the JSON tree of the current version, and the
//! result must read as a valid resource of the URL's type and id, or the
//! request fails with 422 and nothing is stored (http.html#patch). The write
//! names the version that was read as the expected one, so a concurrent
//! write is never overwritten: with `If-Match` the client's version is
//! checked (412 when stale); without it a lost race re-reads and re-applies
//! the patch, and after [`ATTEMPTS`] lost races the answer is 409.
//!
//! | problem | status |
//! |---------|--------|
//! | `Content-Type` not one of the three above | 415 |
//! | patch document malformed (not JSON, unknown op, missing part, FHIRPath that does not compile) | 400 |
//! | patch does not apply (path matches nothing or too much, failed `test`) | 422 |
//! | result is not a valid resource, or changes its type or id | 422 |
//! | resource unknown / deleted | 404 / 410 |
//! | `If-Match` stale | 412 |

pub mod fhirpath_patch;
pub mod json_patch;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use fhir_model::json::tree::{self, Value};
use fhir_model::primitives::Id;
use fhir_model::{Resource, ResourceType};

use super::{headers, read_bytes, resource_type, run, url_id, written_response};
use crate::app::AppState;
use crate::error::{Error, Issue, IssueCode};
use crate::format::{self, Format};
use crate::store::StoreError;

pub use fhirpath_patch::FhirPathPatch;
pub use json_patch::JsonPatch;

/// How many times a patch is re-read and re-applied after another writer
/// changed the resource in between (only without `If-Match`). Each lost
/// race means another writer succeeded, so N concurrent patchers of one
/// resource all get through as long as N is at most this.
const ATTEMPTS: usize = 16;

/// The JSON Patch media type (RFC 6902 §6).
pub const JSON_PATCH: &str = "application/json-patch+json";

/// A parsed patch document of either kind.
#[derive(Debug, Clone)]
pub enum Patch {
    Json(JsonPatch),
    FhirPath(FhirPathPatch),
}

/// What a `Content-Type` says the patch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchFormat {
    JsonPatch,
    /// A `Parameters` resource in FHIR JSON or XML.
    FhirPath(Format),
}

impl PatchFormat {
    pub fn from_content_type(value: Option<&header::HeaderValue>) -> Result<Self, Error> {
        let text = value.and_then(|v| v.to_str().ok()).unwrap_or("");
        let essence = text.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case(JSON_PATCH) {
            return Ok(PatchFormat::JsonPatch);
        }
        format::format_of(text)
            .map(PatchFormat::FhirPath)
            .ok_or_else(|| {
                Error::UnsupportedMediaType(format!(
                    "Content-Type {text:?} is not a patch format; send {JSON_PATCH} (JSON Patch) \
                     or application/fhir+json / application/fhir+xml with a Parameters body (FHIRPath Patch)"
                ))
            })
    }
}

impl Patch {
    /// Reads a patch document; anything malformed is a 400.
    pub fn parse(format: PatchFormat, bytes: &[u8]) -> Result<Patch, Error> {
        match format {
            PatchFormat::JsonPatch => Ok(Patch::Json(JsonPatch::parse(bytes)?)),
            PatchFormat::FhirPath(f) => {
                let params = match f {
                    Format::Json => Resource::from_json_slice(bytes)?,
                    Format::Xml => Resource::from_xml_slice(bytes)?,
                };
                if params.resource_type() != ResourceType::Parameters {
                    return Err(Error::invalid(
                        IssueCode::Invalid,
                        format!(
                            "a FHIRPath Patch body must be a Parameters resource, not {}",
                            params.resource_type().as_str()
                        ),
                    ));
                }
                let params = tree::parse(&params.to_json_vec()).map_err(|e| {
                    Error::Fault(format!("the model wrote JSON it cannot read: {e}"))
                })?;
                Ok(Patch::FhirPath(FhirPathPatch::from_parameters(&params)?))
            }
        }
    }

    /// Applies the patch to a JSON tree (all or nothing: on error `doc` may
    /// be half changed, so patch a copy).
    pub fn apply(&self, doc: &mut Value) -> Result<(), Error> {
        match self {
            Patch::Json(p) => p.apply(doc),
            Patch::FhirPath(p) => p.apply(doc),
        }
    }
}

/// Patches a stored body and reads the result as a resource; it must still
/// be valid and keep its type and id (422 otherwise).
pub fn patch_resource(
    body: &[u8],
    patch: &Patch,
    rt: ResourceType,
    id: Option<&Id>,
) -> Result<Resource, Error> {
    let mut doc =
        tree::parse(body).map_err(|e| Error::Fault(format!("a stored body is not JSON: {e}")))?;
    patch.apply(&mut doc)?;
    let resource = Resource::from_json_slice(&tree::to_pretty_json(&doc)).map_err(|e| {
        let mut issues = match Error::from(e) {
            Error::Invalid(issues) => issues,
            other => other.issues(),
        };
        issues.insert(
            0,
            Issue::new(
                IssueCode::Processing,
                "the patched resource is not valid; nothing was changed",
            ),
        );
        Error::Unprocessable(issues)
    })?;
    if resource.resource_type() != rt {
        return Err(Error::Unprocessable(vec![Issue::new(
            IssueCode::Processing,
            format!(
                "the patch turns the {} into a {}; a patch cannot change the resource type",
                rt.as_str(),
                resource.resource_type().as_str()
            ),
        )
        .at("resourceType")]));
    }
    if resource.id().map(Id::as_str) != id.map(Id::as_str) {
        return Err(Error::Unprocessable(vec![Issue::new(
            IssueCode::Processing,
            "a patch cannot change or remove the resource id",
        )
        .at(format!("{}.id", rt.as_str()))]));
    }
    Ok(resource)
}

pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let (rt, id) = path.into_inner();
    let rt = resource_type(&rt)?;
    let id = url_id(&id)?;
    let if_match = headers::if_match(req.headers())?;
    let format = PatchFormat::from_content_type(req.headers().get(header::CONTENT_TYPE))?;
    let bytes = read_bytes(&req, payload, state.max_body_bytes).await?;
    let store = state.store.clone();
    let written = run(move || {
        let patch = Patch::parse(format, &bytes)?;
        for _ in 0..ATTEMPTS {
            let current = store.read(rt, &id)?;
            if let Some(expected) = if_match {
                if expected != current.version {
                    return Err(Error::PreconditionFailed(format!(
                        "If-Match names version {expected}, but the current version is {}",
                        current.version
                    )));
                }
            }
            let body = current.body.unwrap_or_default();
            let mut resource = patch_resource(&body, &patch, rt, Some(&id))?;
            match store.update_if(&mut resource, Some(current.version)) {
                // Someone wrote in between: without If-Match the client
                // asked to patch whatever is current, so patch that.
                Err(StoreError::PreconditionFailed(_)) if if_match.is_none() => continue,
                other => return Ok(other?),
            }
        }
        Err(Error::Conflict(format!(
            "{}/{} kept changing while it was being patched; try again",
            rt.as_str(),
            id.as_str()
        )))
    })
    .await?;
    Ok(written_response(&req, StatusCode::OK, written, None))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use serde_json::json;

    use crate::interaction::testutil::{app, backends, send, with_json};

    fn json_patch(uri: &str, body: &str) -> TestRequest {
        TestRequest::patch()
            .uri(uri)
            .insert_header(("content-type", super::JSON_PATCH))
            .set_payload(body.to_owned())
    }

    #[actix_web::test]
    async fn patch_stores_the_next_version_and_honours_prefer() {
        for db in backends() {
            let app = app(&db.store).await;
            let body = json!({"resourceType": "Patient", "id": "p1", "active": true});
            let r = send(
                &app,
                with_json(TestRequest::put().uri("/fhir/Patient/p1"), &body),
            )
            .await;
            assert_eq!(r.status, 201, "{}", db.label);
            let r = send(
                &app,
                json_patch(
                    "/fhir/Patient/p1",
                    r#"[{"op":"replace","path":"/active","value":false}]"#,
                ),
            )
            .await;
            assert_eq!(r.status, 200, "{}", db.label);
            assert_eq!(r.header("etag"), Some("W/\"2\""));
            assert!(r.header("last-modified").is_some());
            assert_eq!(r.json()["active"], false);
            let r = send(
                &app,
                json_patch(
                    "/fhir/Patient/p1",
                    r#"[{"op":"add","path":"/gender","value":"other"}]"#,
                )
                .insert_header(("prefer", "return=minimal")),
            )
            .await;
            assert_eq!(r.status, 200, "{}", db.label);
            assert!(r.body.is_empty());
            assert_eq!(r.header("etag"), Some("W/\"3\""));
            // Invalid result: 422, nothing stored.
            send(
                &app,
                json_patch(
                    "/fhir/Patient/p1",
                    r#"[{"op":"add","path":"/bogus","value":1}]"#,
                ),
            )
            .await
            .assert_outcome(422, "processing");
            let r = send(&app, TestRequest::get().uri("/fhir/Patient/p1")).await;
            assert_eq!(r.header("etag"), Some("W/\"3\""));
        }
    }
}
