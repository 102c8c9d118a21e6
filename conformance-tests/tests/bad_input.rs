//! Bad input: every failure is an OperationOutcome with the right status and
//! a message that says what and where (issue 3, point 5). No input may cause
//! a panic or a 5xx.

use conformance_tests::{assert_outcome, backend_tests, sample_patient, FHIR_JSON};
use serde_json::json;

/// Issue codes that fit "the JSON is not FHIR-shaped".
const STRUCTURE: &[&str] = &["structure", "invalid"];
/// Issue codes that fit "the request contradicts itself" (type or id mismatch).
const MISMATCH: &[&str] = &[
    "invalid",
    "processing",
    "business-rule",
    "value",
    "structure",
];

backend_tests! {
    /// Bytes that are not JSON: 400.
    fn malformed_json_is_400(server) {
        let c = server.client();
        let resp = c.request("POST", "/Patient", Some(FHIR_JSON), br#"{"resourceType": "Patient", "active": tru"#);
        assert_outcome(&resp, 400, STRUCTURE, None);
        let resp = c.request("PUT", "/Patient/x", Some(FHIR_JSON), b"{");
        assert_outcome(&resp, 400, STRUCTURE, None);
    }

    /// JSON that is not an object (an array, a string, a number, null): 400.
    fn body_not_an_object_is_400(server) {
        let c = server.client();
        for body in [&b"[1, 2]"[..], b"\"Patient\"", b"42", b"null", b"true"] {
            let resp = c.request("POST", "/Patient", Some(FHIR_JSON), body);
            assert_outcome(&resp, 400, STRUCTURE, None);
        }
    }

    /// `resourceType` different from the type in the URL: 400, on create and update.
    fn resource_type_not_matching_url_is_400(server) {
        let c = server.client();
        let obs = json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}});
        assert_outcome(&c.post("/Patient", &obs), 400, MISMATCH, None);
        let obs = json!({"resourceType": "Observation", "id": "x", "status": "final", "code": {"text": "x"}});
        assert_outcome(&c.put("/Patient/x", &obs), 400, MISMATCH, None);
        c.get("/Patient/x").expect_status(404);
        c.get("/Observation/x").expect_status(404);
    }

    /// A missing `resourceType`: 400.
    fn missing_resource_type_is_400(server) {
        let c = server.client();
        let resp = c.post("/Patient", &json!({"active": true}));
        assert_outcome(&resp, 400, &["structure", "invalid", "required"], None);
    }

    /// An element the definition does not have: 400 naming `Patient.foo`.
    fn unknown_element_is_400_and_names_the_path(server) {
        let c = server.client();
        let mut p = sample_patient();
        p["foo"] = json!(1);
        let resp = c.post("/Patient", &p);
        assert_outcome(&resp, 400, STRUCTURE, Some("Patient.foo"));
    }

    /// A nested unknown element is named with its full path.
    fn nested_unknown_element_names_the_full_path(server) {
        let c = server.client();
        let mut p = sample_patient();
        p["name"][0]["nickname"] = json!("Taro-chan");
        let resp = c.post("/Patient", &p);
        assert_outcome(&resp, 400, STRUCTURE, Some("Patient.name[0].nickname"));
    }

    /// A primitive that breaks its format: 400 naming `Patient.birthDate`.
    fn invalid_primitive_is_400_and_names_the_path(server) {
        let c = server.client();
        let mut p = sample_patient();
        p["birthDate"] = json!("1990-13-01");
        let resp = c.post("/Patient", &p);
        assert_outcome(&resp, 400, &["value", "invalid"], Some("Patient.birthDate"));
    }

    /// A primitive of the wrong JSON type (a string for a boolean): 400.
    fn primitive_of_wrong_json_type_is_400(server) {
        let c = server.client();
        let mut p = sample_patient();
        p["active"] = json!("yes");
        let resp = c.post("/Patient", &p);
        assert_outcome(&resp, 400, &["value", "structure", "invalid"], Some("Patient.active"));
    }

    /// PUT whose body id differs from the URL id: 400 (http.html#update), and
    /// nothing is stored under either id.
    fn put_with_different_id_in_body_is_400(server) {
        let c = server.client();
        let mut p = sample_patient();
        p["id"] = json!("other");
        let resp = c.put("/Patient/this-one", &p);
        assert_outcome(&resp, 400, MISMATCH, None);
        c.get("/Patient/this-one").expect_status(404);
        c.get("/Patient/other").expect_status(404);
    }

    /// A body over `--max-body-bytes`: 413, on create and update.
    fn oversize_body_is_413(server) with ["--max-body-bytes", "1024"] {
        let c = server.client();
        let mut p = sample_patient();
        p["id"] = json!("big");
        p["name"][0]["text"] = json!("x".repeat(4096));
        let resp = c.post("/Patient", &p);
        assert_outcome(&resp, 413, &["too-long", "too-costly"], None);
        let resp = c.put("/Patient/big", &p);
        assert_outcome(&resp, 413, &["too-long", "too-costly"], None);
        // Under the limit still works.
        c.post("/Patient", &sample_patient()).expect_status(201);
    }

    /// A media type the server does not read: 415.
    fn unsupported_media_type_is_415(server) {
        let c = server.client();
        let body = serde_json::to_vec(&sample_patient()).unwrap();
        let resp = c.request("POST", "/Patient", Some("text/plain"), &body);
        assert_outcome(&resp, 415, &["not-supported", "invalid"], None);
        // (XML is a FHIR format the server reads, so it is not used here.)
        let resp = c.request("PUT", "/Patient/x", Some("text/csv"), b"id,gender\nx,male\n");
        assert_outcome(&resp, 415, &["not-supported", "invalid"], None);
    }

    /// A resource type that R4 does not have: 404, for every interaction.
    fn unknown_resource_type_is_404(server) {
        let c = server.client();
        let codes = &["not-supported", "not-found"];
        assert_outcome(&c.get("/Foo/1"), 404, codes, None);
        assert_outcome(&c.get("/Foo/1/_history/1"), 404, codes, None);
        assert_outcome(&c.get("/Foo/_history"), 404, codes, None);
        assert_outcome(&c.post("/Foo", &json!({"resourceType": "Foo"})), 404, codes, None);
        assert_outcome(&c.put("/Foo/1", &json!({"resourceType": "Foo", "id": "1"})), 404, codes, None);
        assert_outcome(&c.delete("/Foo/1"), 404, codes, None);
    }

    /// An id in the URL that is not a FHIR id (over 64 characters): 400 or 404, never 5xx.
    fn invalid_id_in_url_is_a_client_error(server) {
        let c = server.client();
        let long = "a".repeat(65);
        let resp = c.get(&format!("/Patient/{long}"));
        assert!(matches!(resp.status, 400 | 404), "GET with a 65-char id answered {}", resp.status);
        let mut p = sample_patient();
        p["id"] = json!(long);
        let resp = c.put(&format!("/Patient/{long}"), &p);
        assert_outcome(&resp, 400, &["value", "invalid", "structure"], None);
    }

    /// A mixed bag of hostile bodies: always a 4xx OperationOutcome, never a 5xx.
    fn odd_bodies_never_cause_a_server_error(server) {
        let c = server.client();
        let bodies: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"{}".to_vec(),
            br#"{"resourceType": 7}"#.to_vec(),
            br#"{"resourceType": "Patient", "name": {"family": "x"}}"#.to_vec(),
            br#"{"resourceType": "Patient", "name": [null]}"#.to_vec(),
            br#"{"resourceType": "Patient", "birthDate": 19900101}"#.to_vec(),
            br#"{"resourceType": "Patient", "deceasedBoolean": true, "deceasedDateTime": "2000"}"#.to_vec(),
            br#"{"resourceType": "Patient", "contained": [{"resourceType": "Nope"}]}"#.to_vec(),
            vec![0xff, 0xfe, 0x00],
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
        ];
        for body in bodies {
            let resp = c.request("POST", "/Patient", Some(FHIR_JSON), &body);
            assert!((400..500).contains(&resp.status), "body {:?} answered {}: {}",
                String::from_utf8_lossy(&body[..body.len().min(60)]), resp.status, resp.text());
            assert_eq!(resp.json()["resourceType"], "OperationOutcome");
        }
    }
}
