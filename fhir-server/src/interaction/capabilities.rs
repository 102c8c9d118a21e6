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
//!
//! Search: type search (`search-type`) for every type and system search
//! (`search-system`), each type's `searchParam` (code, definition url,
//! type) as the search parameter registry has them now (built-in R4 plus
//! stored SearchParameters, so the statement follows them), its
//! `searchInclude` (`*` and each reference parameter) and
//! `searchRevInclude` (each reference parameter of any type that may point
//! to it). The `$reindex` operation is listed per type and system-wide.
//! `rest.documentation` says that updates keep security labels.
//!
//! `metadata?mode=terminology` answers a TerminologyCapabilities instead.

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use fhir_model::ResourceType;
use serde_json::{json, Value};

use super::{base_url, run};
use crate::app::AppState;
use crate::error::{Error, Issue, IssueCode, FHIR_JSON};
use crate::search::param::{ParamKind, ParamRegistry};

/// The type-level interactions every resource type supports.
const TYPE_INTERACTIONS: [&str; 9] = [
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
];

pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
    security: Option<web::Data<crate::security::Security>>,
) -> Result<HttpResponse, Error> {
    match crate::format::query_param(req.query_string(), "mode").as_deref() {
        None | Some("full") | Some("normative") => {}
        Some("terminology") => return terminology_capabilities(&req, &state).await,
        Some(other) => {
            return Err(Error::Invalid(vec![Issue::new(
                IssueCode::Value,
                format!("mode={other:?} is not one of full, normative, terminology"),
            )
            .at("mode")]))
        }
    }
    let registry = state.store.registry();
    let mut statement = capability_statement(&base_url(&req), &registry);
    // SMART on FHIR: `rest.security` says how to get a token, when one is
    // needed.
    if let Some(sec) = security
        .as_ref()
        .and_then(|s| crate::security::smart_config::capability_security(s))
    {
        if let Some(rest) = statement["rest"].get_mut(0) {
            rest["security"] = sec;
        }
    }
    // `rest.security.cors` tells the truth: true only with --cors-origin.
    let cors = req
        .app_data::<web::Data<crate::http_headers::CorsOrigins>>()
        .is_some_and(|c| !c.0.is_empty());
    if let Some(rest) = statement["rest"].get_mut(0) {
        if cors || rest.get("security").is_some() {
            rest["security"]["cors"] = serde_json::Value::Bool(cors);
        }
    }
    let body = serde_json::to_vec(&statement).unwrap_or_default();
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, FHIR_JSON))
        .body(body))
}

/// `GET [base]/metadata?mode=terminology` (capabilitystatement.html,
/// "mode"): a TerminologyCapabilities listing the code systems the
/// terminology operations know now and what `$expand`, `$validate-code`
/// and `$translate` support (operation/terminology/).
async fn terminology_capabilities(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<HttpResponse, Error> {
    let (store, service) = (state.store.clone(), state.terminology.clone());
    let registry = run(move || service.registry(&store)).await?;
    let mut systems: Vec<(String, Option<String>)> = registry
        .iter()
        .map(|cs| (cs.url().to_owned(), cs.version().map(str::to_owned)))
        .collect();
    systems.sort();
    systems.dedup();
    let mut code_system: Vec<Value> = Vec::new();
    for (url, version) in systems {
        match (code_system.last_mut(), version) {
            (Some(last), Some(v)) if last["uri"] == url.as_str() => {
                if let Some(list) = last["version"].as_array_mut() {
                    list.push(json!({"code": v}));
                }
            }
            (_, Some(v)) => code_system.push(json!({"uri": url, "version": [{"code": v}]})),
            (_, None) => code_system.push(json!({"uri": url})),
        }
    }
    let body = json!({
        "resourceType": "TerminologyCapabilities",
        "status": "active",
        "date": published(),
        "publisher": "fhir-server",
        "kind": "instance",
        "software": {"name": "fhir-server", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "FHIR R4 server", "url": base_url(req)},
        "codeSystem": code_system,
        "expansion": {"hierarchical": false, "paging": true, "incomplete": false},
        "codeSearch": "all",
        "validateCode": {"translations": false},
        "translation": {"needsMap": true},
        "closure": {"translation": false},
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, FHIR_JSON))
        .body(serde_json::to_vec(&body).unwrap_or_default()))
}

/// What batch and transaction entries may carry (http.html#transaction),
/// said in the CapabilityStatement.
pub const BUNDLE_ENTRIES: &str = "Entries may create, update (also conditionally), \
    PATCH (JSON Patch in a Binary, FHIRPath Patch in a Parameters), delete, read and vread \
    (ifNoneMatch and ifModifiedSince answer 304), search (type, system, compartment), read \
    history at every level and metadata, and run $everything, $meta, $validate and the \
    terminology operations (GET, or POST with a Parameters resource); each is judged by the \
    same authorization and Consent as a direct request. $meta-add, $meta-delete, type- and \
    system-level operations and nested Bundles answer 501 not-supported for their entry.";

/// What an update does with `meta.security` (store/mod.rs,
/// `keep_security_labels`).
pub const SECURITY_LABELS_KEPT: &str = "An update (PUT, also in a transaction) that carries no \
    meta.security keeps the security labels of the version it replaces; an update that carries \
    labels sets exactly those; $meta-delete removes labels.";

/// When this process first answered `metadata`: the statement only changes
/// with the binary, so its date should not move on every request.
fn published() -> &'static str {
    static DATE: OnceLock<String> = OnceLock::new();
    DATE.get_or_init(crate::store::now_instant)
}

/// `$reindex` (operation/reindex.rs). Not defined by the specification, so
/// its definition is a canonical of this server's own.
fn reindex_operation(base: &str) -> Value {
    json!({"name": "reindex", "definition": format!("{base}/OperationDefinition/reindex")})
}

/// The search parts of one `rest.resource`: `searchParam`,
/// `searchInclude`, `searchRevInclude`.
type SearchParts = (Vec<Value>, Vec<String>, Vec<String>);

/// Per type, its [`SearchParts`], each sorted.
fn search_parts(registry: &ParamRegistry) -> HashMap<String, SearchParts> {
    let mut out: HashMap<String, SearchParts> = HashMap::new();
    for t in registry.resource_types() {
        let mut params: Vec<_> = registry.for_type(&t).collect();
        params.sort_by(|a, b| a.code.cmp(&b.code));
        for p in params {
            // Only what the index answers: parameters without an
            // expression (`_query`) and special ones (`near`) are not
            // supported, so not claimed; `_text` and `_content` have no
            // expression but the full-text index (search/fulltext/).
            let fulltext = crate::search::fulltext::Field::from_code(&p.code).is_some();
            if (p.expression.is_none() && !fulltext) || p.kind == ParamKind::Special {
                continue;
            }
            let mut sp = json!({"name": p.code, "type": p.kind.as_str()});
            if !p.url.is_empty() {
                sp["definition"] = json!(p.url);
            }
            out.entry(t.clone()).or_default().0.push(sp);
            if p.kind != ParamKind::Reference {
                continue;
            }
            out.entry(t.clone())
                .or_default()
                .1
                .push(format!("{t}:{}", p.code));
            for target in &p.targets {
                out.entry(target.clone())
                    .or_default()
                    .2
                    .push(format!("{t}:{}", p.code));
            }
        }
    }
    for (_, includes, revincludes) in out.values_mut() {
        includes.insert(0, "*".to_owned());
        revincludes.sort();
        revincludes.dedup();
    }
    out
}

/// The Bulk Data Access IG's canonical base (its OperationDefinitions).
const BULK_IG: &str = "http://hl7.org/fhir/uv/bulkdata";

/// The operations of one type: those of every type plus `$everything`
/// (operation/everything.rs) and the terminology operations
/// (operation/terminology/) where they are defined.
fn type_operations(rt: &str, common: &[Value]) -> Vec<Value> {
    let own: &[&str] = match rt {
        "Patient" | "Encounter" => &["everything"],
        "CodeSystem" => &["lookup", "validate-code", "subsumes"],
        "ValueSet" => &["expand", "validate-code"],
        "ConceptMap" => &["translate"],
        _ => &[],
    };
    let mut out = common.to_vec();
    out.extend(own.iter().map(|op| {
        json!({"name": op, "definition": format!("http://hl7.org/fhir/OperationDefinition/{rt}-{op}")})
    }));
    // Bulk Data export (operation/bulk_export/), IG 2.0.0.
    let export = |op: &str| json!({"name": "export", "definition": format!("{BULK_IG}/OperationDefinition/{op}")});
    match rt {
        "Patient" => out.push(export("patient-export")),
        "Group" => out.push(export("group-export")),
        _ => {}
    }
    if rt == "CodeSystem" {
        // This server's own operations (operation/local_codes.rs).
        let base = terminology::local_codes::PROJECT_BASE;
        out.extend(["import-codes", "unmapped-codes"].iter().map(|op| {
            json!({"name": op, "definition": format!("{base}/OperationDefinition/CodeSystem-{op}")})
        }));
    }
    out
}

pub fn capability_statement(base: &str, registry: &ParamRegistry) -> Value {
    let interactions: Vec<Value> = TYPE_INTERACTIONS
        .iter()
        .map(|c| json!({"code": c}))
        .collect();
    // Instance-level only: type- and system-level $meta need the tag
    // index that search brings.
    let mut operations: Vec<Value> = ["meta", "meta-add", "meta-delete"]
        .iter()
        .map(|op| {
            json!({"name": op, "definition": format!("http://hl7.org/fhir/OperationDefinition/Resource-{op}")})
        })
        .collect();
    operations.push(reindex_operation(base));
    operations.push(json!({"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"}));
    let mut search = search_parts(registry);
    let resources: Vec<Value> = ResourceType::ALL
        .iter()
        .map(|rt| {
            let (params, includes, revincludes) = search.remove(rt.as_str()).unwrap_or_default();
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
                "searchInclude": includes,
                "searchRevInclude": revincludes,
                "searchParam": params,
                "operation": type_operations(rt.as_str(), &operations),
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
            "documentation": SECURITY_LABELS_KEPT,
            "resource": resources,
            "interaction": [
                {"code": "transaction", "documentation": format!("{BUNDLE_ENTRIES} A transaction \
                    is all or nothing: its GETs run after its writes and see them, and a failing \
                    or refused entry fails it, naming the entry.")},
                {"code": "batch", "documentation": format!("{BUNDLE_ENTRIES} Each batch entry \
                    succeeds or fails alone, a refused one with its own 403.")},
                {"code": "search-system"},
                {"code": "history-system"},
            ],
            "operation": [
                reindex_operation(base),
                json!({"name": "export", "definition": format!("{BULK_IG}/OperationDefinition/export")}),
            ],
        }],
    })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use serde_json::{json, Value};

    use crate::interaction::testutil::{app, send, with_json};

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
        let codes = |v: &Value, key: &str| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|i| i[key].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        for res in resources {
            let interactions = codes(&res["interaction"], "code");
            assert_eq!(interactions.len(), 9);
            assert!(interactions.iter().any(|c| c == "search-type"));
            assert_eq!(res["versioning"], "versioned-update");
            let params = codes(&res["searchParam"], "name");
            assert!(params.iter().any(|c| c == "_id"), "{}", res["type"]);
            assert!(codes(&res["operation"], "name")
                .iter()
                .any(|c| c == "reindex"));
        }
        let system = codes(&cs["rest"][0]["interaction"], "code");
        assert_eq!(
            system,
            ["transaction", "batch", "search-system", "history-system"]
        );
        assert_eq!(
            codes(&cs["rest"][0]["operation"], "name"),
            ["reindex", "export"]
        );

        let patient = resources
            .iter()
            .find(|r| r["type"] == "Patient")
            .expect("Patient");
        let name = patient["searchParam"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["name"] == "name"))
            .expect("Patient name");
        assert_eq!(name["type"], "string");
        assert_eq!(
            name["definition"],
            "http://hl7.org/fhir/SearchParameter/Patient-name"
        );
        let includes = |key: &str| -> Vec<&str> {
            patient[key]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default()
        };
        assert!(includes("searchInclude").contains(&"*"));
        assert!(includes("searchInclude").contains(&"Patient:general-practitioner"));
        assert!(includes("searchRevInclude").contains(&"Observation:subject"));
    }

    #[actix_web::test]
    async fn stored_search_parameters_are_listed() {
        let db = crate::store::testutil::sqlite();
        let app = app(&db.store).await;
        let sp = json!({"resourceType": "SearchParameter", "id": "kana",
            "url": "http://example.org/fhir/SearchParameter/kana", "name": "kana",
            "status": "active", "description": "Kana name", "code": "kana",
            "base": ["Patient"], "type": "string", "expression": "Patient.name.text"});
        let r = send(
            &app,
            with_json(TestRequest::put().uri("/fhir/SearchParameter/kana"), &sp),
        )
        .await;
        assert_eq!(r.status, 201);
        let cs = send(&app, TestRequest::get().uri("/fhir/metadata"))
            .await
            .json();
        let patient = cs["rest"][0]["resource"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["type"] == "Patient"))
            .cloned()
            .expect("Patient");
        let kana = patient["searchParam"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["name"] == "kana"))
            .cloned()
            .expect("kana listed");
        assert_eq!(
            kana["definition"],
            "http://example.org/fhir/SearchParameter/kana"
        );
        assert_eq!(kana["type"], "string");
    }

    #[actix_web::test]
    async fn full_text_parameters_are_claimed() {
        let db = crate::store::testutil::sqlite();
        let app = app(&db.store).await;
        let cs = send(&app, TestRequest::get().uri("/fhir/metadata"))
            .await
            .json();
        let params = |rt: &str| -> Vec<String> {
            cs["rest"][0]["resource"]
                .as_array()
                .and_then(|a| a.iter().find(|r| r["type"] == rt))
                .and_then(|r| r["searchParam"].as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        for rt in ["Patient", "Observation", "Composition"] {
            let p = params(rt);
            assert!(p.iter().any(|c| c == "_text"), "{rt} _text");
            assert!(p.iter().any(|c| c == "_content"), "{rt} _content");
            assert!(!p.iter().any(|c| c == "_query"), "{rt} _query");
        }
        // `_text` is a DomainResource parameter: a Bundle has no narrative.
        let bundle = params("Bundle");
        assert!(bundle.iter().any(|c| c == "_content"));
        assert!(!bundle.iter().any(|c| c == "_text"));
    }
}
