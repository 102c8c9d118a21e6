//! capabilities (GET [base]/metadata): https://hl7.org/fhir/R4/http.html#capabilities

use std::collections::BTreeSet;

use conformance_tests::{assert_fhir_json_content_type, backend_tests, create_patient};

/// The type-level interactions this issue implements. The statement must list
/// exactly what works, so a new interaction is added here with its tests.
const IMPLEMENTED: &[&str] = &[
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

backend_tests! {
    /// A CapabilityStatement for FHIR 4.0.1 in JSON, server mode, listing the
    /// interactions and nothing more.
    fn metadata_answers_a_capability_statement(server) {
        let c = server.client();
        let resp = c.get("/metadata");
        resp.expect_status(200);
        assert_fhir_json_content_type(&resp);
        let cs = resp.json();
        assert_eq!(cs["resourceType"], "CapabilityStatement");
        assert_eq!(cs["fhirVersion"], "4.0.1");
        assert_eq!(cs["kind"], "instance");
        assert!(cs["status"].is_string(), "status is required: {cs}");
        assert!(cs["date"].is_string(), "date is required: {cs}");
        let formats: Vec<&str> = cs["format"].as_array().expect("format").iter().filter_map(|f| f.as_str()).collect();
        assert!(formats.iter().any(|f| f.contains("json")), "format {formats:?}");
        let rest = &cs["rest"][0];
        assert_eq!(rest["mode"], "server");
        let system: BTreeSet<&str> = rest["interaction"].as_array().map(|a| a.iter().filter_map(|i| i["code"].as_str()).collect()).unwrap_or_default();
        assert!(system.contains("history-system"), "rest.interaction lacks history-system: {system:?}");
        assert!(system.contains("search-system"), "rest.interaction lacks search-system: {system:?}");
        let resources = rest["resource"].as_array().expect("rest.resource");
        let mut seen = BTreeSet::new();
        for r in resources {
            let ty = r["type"].as_str().expect("resource.type");
            assert!(seen.insert(ty), "{ty} listed twice");
            let codes: BTreeSet<&str> = r["interaction"].as_array().expect("resource.interaction").iter().filter_map(|i| i["code"].as_str()).collect();
            let expected: BTreeSet<&str> = IMPLEMENTED.iter().copied().collect();
            assert_eq!(codes, expected, "interactions listed for {ty}");
        }
        for ty in ["Patient", "Observation", "Bundle", "Parameters", "StructureDefinition"] {
            assert!(seen.contains(ty), "{ty} is not listed");
        }
        // Search parameters come from the live registry: every core one of
        // Patient, with its type.
        let patient = resources.iter().find(|r| r["type"] == "Patient").expect("Patient");
        let params: Vec<(&str, &str)> = patient["searchParam"].as_array().into_iter().flatten()
            .filter_map(|p| Some((p["name"].as_str()?, p["type"].as_str()?))).collect();
        assert!(params.contains(&("birthdate", "date")) && params.contains(&("name", "string")), "{params:?}");
        let ops = |ty: &str| -> Vec<String> {
            resources.iter().find(|r| r["type"] == ty).and_then(|r| r["operation"].as_array())
                .map(|a| a.iter().filter_map(|o| o["name"].as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        for (ty, op) in [("Patient", "everything"), ("Patient", "validate"), ("ValueSet", "expand"),
                         ("CodeSystem", "lookup"), ("ConceptMap", "translate")] {
            assert!(ops(ty).iter().any(|o| o == op), "{ty} lacks ${op}: {:?}", ops(ty));
        }
        assert!(!ops("Observation").iter().any(|o| o == "everything"));
        // Full text (SQLite FTS5 / PostgreSQL tsvector) is claimed as string parameters.
        assert!(params.contains(&("_text", "string")) && params.contains(&("_content", "string")), "{params:?}");
        // Every R4 resource type is stored, so every one is listed (146 in R4 4.0.1).
        assert!(seen.len() >= 140, "only {} resource types listed", seen.len());
    }

    /// The statement does not change with the data.
    fn metadata_is_stable(server) {
        let c = server.client();
        let before = c.get("/metadata").json();
        create_patient(&c);
        let after = c.get("/metadata").json();
        assert_eq!(before["rest"], after["rest"]);
    }
}
