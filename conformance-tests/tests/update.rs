//! update (PUT [base]/[type]/[id]): https://hl7.org/fhir/R4/http.html#update

use conformance_tests::{
    assert_outcome, backend_tests, create_patient, etag_version, location, sample_patient,
};
use serde_json::json;

fn patient_with_id(id: &str) -> serde_json::Value {
    let mut p = sample_patient();
    p["id"] = json!(id);
    p
}

backend_tests! {
    /// PUT to an id that does not exist creates it (update as create): 201,
    /// `Location` at version 1, `ETag: W/"1"`.
    fn update_as_create_answers_201(server) {
        let c = server.client();
        let resp = c.put("/Patient/pat-1", &patient_with_id("pat-1"));
        resp.expect_status(201);
        assert_eq!(etag_version(&resp), "1");
        let loc = location(&resp);
        assert_eq!((loc.resource_type.as_str(), loc.id.as_str(), loc.version.as_str()), ("Patient", "pat-1", "1"));
        let read = c.get("/Patient/pat-1");
        read.expect_status(200);
        assert_eq!(read.json()["meta"]["versionId"], "1");
    }

    /// PUT to an existing resource answers 200 and makes a new version.
    fn update_of_existing_answers_200_and_increments_version(server) {
        let c = server.client();
        let id = create_patient(&c);
        let mut p = patient_with_id(&id);
        p["active"] = json!(false);
        let resp = c.put(&format!("/Patient/{id}"), &p);
        resp.expect_status(200);
        assert_eq!(etag_version(&resp), "2");
        assert!(resp.header("last-modified").is_some(), "Last-Modified on update");
        if !resp.body.is_empty() {
            let body = resp.json();
            assert_eq!(body["meta"]["versionId"], "2");
            assert_eq!(body["active"], false);
        }
        p["active"] = json!(true);
        let resp = c.put(&format!("/Patient/{id}"), &p);
        resp.expect_status(200);
        assert_eq!(etag_version(&resp), "3");
        let read = c.get(&format!("/Patient/{id}"));
        assert_eq!(etag_version(&read), "3");
        assert_eq!(read.json()["active"], true);
    }

    /// The server owns `meta.versionId` and `meta.lastUpdated`; what the client
    /// sends there is replaced, other meta elements are kept.
    fn update_replaces_client_version_meta(server) {
        let c = server.client();
        let mut p = patient_with_id("meta-1");
        p["meta"] = json!({"versionId": "99", "lastUpdated": "2000-01-01T00:00:00Z", "tag": [{"system": "http://example.org/tags", "code": "t1"}]});
        c.put("/Patient/meta-1", &p).expect_status(201);
        let body = c.get("/Patient/meta-1").json();
        assert_eq!(body["meta"]["versionId"], "1");
        assert_ne!(body["meta"]["lastUpdated"], "2000-01-01T00:00:00Z");
        assert_eq!(body["meta"]["tag"], p["meta"]["tag"]);
    }

    /// http.html#update: "If no id element is provided … the server SHALL
    /// respond with an HTTP 400 error code".
    fn update_without_id_in_body_is_400(server) {
        let c = server.client();
        let resp = c.put("/Patient/no-id", &sample_patient());
        assert_outcome(&resp, 400, &["invalid", "required", "processing", "business-rule", "value", "structure"], None);
        c.get("/Patient/no-id").expect_status(404);
    }

    /// A PUT after a delete brings the resource back with the next version.
    fn update_after_delete_recreates(server) {
        let c = server.client();
        let id = create_patient(&c);
        let d = c.delete(&format!("/Patient/{id}"));
        assert!(matches!(d.status, 200 | 204), "DELETE answered {}: {}", d.status, d.text());
        let resp = c.put(&format!("/Patient/{id}"), &patient_with_id(&id));
        assert!(matches!(resp.status, 200 | 201), "PUT after DELETE answered {}: {}", resp.status, resp.text());
        assert_eq!(etag_version(&resp), "3");
        let read = c.get(&format!("/Patient/{id}"));
        read.expect_status(200);
        assert_eq!(read.json()["meta"]["versionId"], "3");
    }
}
