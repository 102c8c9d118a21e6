//! read (GET [base]/[type]/[id]): https://hl7.org/fhir/R4/http.html#read

use conformance_tests::{
    assert_fhir_json_content_type, assert_outcome, backend_tests, create_patient, etag_version,
    sample_patient,
};
use serde_json::json;

backend_tests! {
    /// 200 with the resource, `meta.versionId` and `meta.lastUpdated`, `ETag`,
    /// `Last-Modified` and the FHIR JSON content type.
    fn read_answers_200_with_meta_and_headers(server) {
        let c = server.client();
        let id = create_patient(&c);
        let resp = c.get(&format!("/Patient/{id}"));
        resp.expect_status(200);
        assert_fhir_json_content_type(&resp);
        assert_eq!(etag_version(&resp), "1");
        let lm = resp.header("last-modified").expect("Last-Modified header");
        assert!(lm.ends_with(" GMT"), "Last-Modified {lm:?} is not an HTTP date");
        let body = resp.json();
        assert_eq!(body["resourceType"], "Patient");
        assert_eq!(body["id"], id.as_str());
        assert_eq!(body["meta"]["versionId"], "1");
        let last = body["meta"]["lastUpdated"].as_str().expect("meta.lastUpdated");
        // instant: YYYY-MM-DDThh:mm:ss(.sss)(Z|+hh:mm), with a zone.
        assert!(last.len() >= 20 && &last[4..5] == "-" && &last[10..11] == "T", "lastUpdated {last:?}");
        assert!(last.ends_with('Z') || last[19..].contains(['+', '-']), "lastUpdated {last:?} has no zone");
        let expected = sample_patient();
        for key in ["active", "name", "gender", "birthDate"] {
            assert_eq!(body[key], expected[key], "{key}");
        }
    }

    /// An id that was never used is 404 with an OperationOutcome.
    fn read_of_unknown_id_is_404(server) {
        let c = server.client();
        let resp = c.get("/Patient/does-not-exist");
        assert_outcome(&resp, 404, &["not-found"], None);
    }

    /// The same id on another type is a different resource.
    fn read_is_per_type(server) {
        let c = server.client();
        c.put("/Patient/shared-id", &json!({"resourceType": "Patient", "id": "shared-id"})).expect_status(201);
        let resp = c.get("/Observation/shared-id");
        assert_outcome(&resp, 404, &["not-found"], None);
    }

    /// A read after an update answers the newest version.
    fn read_answers_the_current_version(server) {
        let c = server.client();
        let id = create_patient(&c);
        let mut p = sample_patient();
        p["id"] = json!(id);
        p["gender"] = json!("female");
        c.put(&format!("/Patient/{id}"), &p).expect_status(200);
        let resp = c.get(&format!("/Patient/{id}"));
        resp.expect_status(200);
        assert_eq!(etag_version(&resp), "2");
        let body = resp.json();
        assert_eq!(body["gender"], "female");
        assert_eq!(body["meta"]["versionId"], "2");
    }

    /// Japanese text survives the round trip as UTF-8.
    fn read_keeps_non_ascii_text(server) {
        let c = server.client();
        let p = json!({"resourceType": "Patient", "id": "jp1",
            "name": [{"text": "山田 太郎", "family": "山田", "given": ["太郎"],
                      "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation", "valueCode": "IDE"}]}]});
        c.put("/Patient/jp1", &p).expect_status(201);
        let body = c.get("/Patient/jp1").json();
        assert_eq!(body["name"], p["name"]);
    }
}

backend_tests! {
    /// HEAD answers like GET, headers only (http.html#read).
    fn head_answers_headers_without_a_body(server) {
        let c = server.client();
        let id = conformance_tests::create_patient(&c);
        let r = c.request("HEAD", &format!("/Patient/{id}"), None, &[]);
        r.expect_status(200);
        assert!(r.body.is_empty(), "no body on HEAD");
        assert_eq!(r.header("etag"), Some("W/\"1\""));
        assert!(r.header("last-modified").is_some());
        let r = c.request("HEAD", &format!("/Patient/{id}/_history/1"), None, &[]);
        r.expect_status(200);
        assert_eq!(c.request("HEAD", "/Patient/nobody", None, &[]).status, 404);
    }
}
