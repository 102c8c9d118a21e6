//! create (POST [base]/[type]): https://hl7.org/fhir/R4/http.html#create

use conformance_tests::{
    assert_fhir_json_content_type, backend_tests, create_patient, etag_version, location,
    sample_patient,
};
use serde_json::json;

backend_tests! {
    /// 201 Created with `Location: [base]/Patient/{id}/_history/1`, `ETag: W/"1"`
    /// and `Last-Modified`.
    fn create_answers_201_with_location_etag_and_last_modified(server) {
        let c = server.client();
        let resp = c.post("/Patient", &sample_patient());
        resp.expect_status(201);
        let loc = location(&resp);
        assert_eq!(loc.resource_type, "Patient");
        assert_eq!(loc.version, "1");
        assert!(!loc.id.is_empty());
        assert_eq!(etag_version(&resp), "1");
        let lm = resp.header("last-modified").expect("Last-Modified header on create");
        assert!(lm.ends_with(" GMT"), "Last-Modified {lm:?} is not an HTTP date");
        if !resp.body.is_empty() {
            assert_fhir_json_content_type(&resp);
            let body = resp.json();
            assert_eq!(body["resourceType"], "Patient");
            assert_eq!(body["id"], loc.id.as_str());
            assert_eq!(body["meta"]["versionId"], "1");
        }
    }

    /// The server assigns the id; an id in the body is ignored (http.html#create:
    /// "If an id is provided, the server SHALL ignore it").
    fn create_ignores_an_id_in_the_body(server) {
        let c = server.client();
        let mut p = sample_patient();
        p["id"] = json!("client-chosen");
        let resp = c.post("/Patient", &p);
        resp.expect_status(201);
        let loc = location(&resp);
        assert_ne!(loc.id, "client-chosen");
        c.get("/Patient/client-chosen").expect_status(404);
        c.get(&format!("/Patient/{}", loc.id)).expect_status(200);
    }

    /// Two creates make two resources with different ids.
    fn create_assigns_distinct_ids(server) {
        let c = server.client();
        let a = create_patient(&c);
        let b = create_patient(&c);
        assert_ne!(a, b);
    }

    /// What was created reads back with the same content plus server meta.
    fn created_resource_reads_back(server) {
        let c = server.client();
        // Parsed from text so that the decimal keeps its written form `72.50`.
        let obs: serde_json::Value = serde_json::from_str(
            r#"{
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]},
                "valueQuantity": {"value": 72.50, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}
            }"#,
        )
        .unwrap();
        let resp = c.post("/Observation", &obs);
        resp.expect_status(201);
        let loc = location(&resp);
        assert_eq!(loc.resource_type, "Observation");
        let read = c.get(&format!("/Observation/{}", loc.id));
        read.expect_status(200);
        let mut body = read.json();
        assert_eq!(body["id"], loc.id.as_str());
        assert_eq!(body["meta"]["versionId"], "1");
        assert!(body["meta"]["lastUpdated"].is_string());
        body.as_object_mut().unwrap().remove("id");
        body.as_object_mut().unwrap().remove("meta");
        assert_eq!(body, obs);
        // The decimal keeps its text: 72.50, not 72.5.
        assert!(read.text().contains("72.50"), "decimal lost its form: {}", read.text());
    }
}
