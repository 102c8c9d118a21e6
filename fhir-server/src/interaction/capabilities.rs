//! capabilities: `GET [base]/metadata` (<https://hl7.org/fhir/R4/http.html#capabilities>).
//!
//! The CapabilityStatement lists exactly what the server implements: for
//! every R4 resource type read, vread, update (also as create), delete,
//! instance and type history and create, plus system history. Creates,
//! updates and deletes can be conditional (`If-None-Exist`, `PUT` and
//! `DELETE` on `[type]?criteria`; a conditional delete removes every
//! match, up to a limit, hence `multiple`). Reads are conditional
//! (`If-None-Match`, `If-Modified-Since`) and
//! updates version-aware (`If-Match`); JSON and XML both work.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use fhir_model::ResourceType;
use serde_json::{json, Value};

use super::base_url;
use crate::error::FHIR_JSON;

/// The type-level interactions every resource type supports.
const TYPE_INTERACTIONS: [&str; 8] = [
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
];

pub async fn handle(req: HttpRequest) -> HttpResponse {
    let body = serde_json::to_vec(&capability_statement(&base_url(&req))).unwrap_or_default();
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, FHIR_JSON))
        .body(body)
}

/// When this process first answered `metadata`: the statement only changes
/// with the binary, so its date should not move on every request.
fn published() -> &'static str {
    static DATE: OnceLock<String> = OnceLock::new();
    DATE.get_or_init(crate::store::now_instant)
}

pub fn capability_statement(base: &str) -> Value {
    let interactions: Vec<Value> = TYPE_INTERACTIONS
        .iter()
        .map(|c| json!({"code": c}))
        .collect();
    // Instance-level only: type- and system-level $meta need the tag
    // index that search brings.
    let operations: Vec<Value> = ["meta", "meta-add", "meta-delete"]
        .iter()
        .map(|op| {
            json!({"name": op, "definition": format!("http://hl7.org/fhir/OperationDefinition/Resource-{op}")})
        })
        .collect();
    let resources: Vec<Value> = ResourceType::ALL
        .iter()
        .map(|rt| {
            json!({
                "type": rt.as_str(),
                "interaction": interactions,
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": true,
                "conditionalRead": "full-support",
                "conditionalUpdate": true,
                "conditionalDelete": "multiple",
                "operation": operations,
            })
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": published(),
        "publisher": "fhir-server",
        "kind": "instance",
        "software": {"name": "fhir-server", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "FHIR R4 server", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json", "application/fhir+xml", "xml"],
        "patchFormat": [
            "application/json-patch+json",
            "application/fhir+json",
            "application/fhir+xml",
        ],
        "rest": [{
            "mode": "server",
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}, {"code": "history-system"}],
        }],
    })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use crate::interaction::testutil::{app, send};

    #[actix_web::test]
    async fn lists_every_type_with_what_is_implemented() {
        let db = crate::store::testutil::sqlite();
        let app = app(&db.store).await;
        let r = send(&app, TestRequest::get().uri("/fhir/metadata")).await;
        assert_eq!(r.status, 200);
        let cs = r.json();
        assert_eq!(cs["resourceType"], "CapabilityStatement");
        assert_eq!(cs["fhirVersion"], "4.0.1");
        let resources = cs["rest"][0]["resource"].as_array().expect("resources");
        assert_eq!(resources.len(), 146);
        for res in resources {
            assert_eq!(res["interaction"].as_array().map(Vec::len), Some(8));
            assert_eq!(res["versioning"], "versioned-update");
            assert!(res.get("searchParam").is_none());
        }
        let system: Vec<&str> = cs["rest"][0]["interaction"]
            .as_array()
            .map(|a| a.iter().filter_map(|i| i["code"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(system, ["transaction", "batch", "history-system"]);
    }
}
