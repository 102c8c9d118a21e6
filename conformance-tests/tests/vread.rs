//! vread (GET [base]/[type]/[id]/_history/[vid]): https://hl7.org/fhir/R4/http.html#vread

use conformance_tests::{
    assert_fhir_json_content_type, assert_outcome, backend_tests, create_patient, etag_version,
    sample_patient,
};
use serde_json::json;

backend_tests! {
    /// Every version stays readable with its own content, versionId and ETag.
    fn vread_answers_each_version(server) {
        let c = server.client();
        let id = create_patient(&c);
        let mut p = sample_patient();
        p["id"] = json!(id);
        p["gender"] = json!("female");
        c.put(&format!("/Patient/{id}"), &p).expect_status(200);

        let v1 = c.get(&format!("/Patient/{id}/_history/1"));
        v1.expect_status(200);
        assert_fhir_json_content_type(&v1);
        assert_eq!(etag_version(&v1), "1");
        assert!(v1.header("last-modified").is_some(), "Last-Modified on vread");
        let b1 = v1.json();
        assert_eq!(b1["meta"]["versionId"], "1");
        assert_eq!(b1["gender"], "male");

        let v2 = c.get(&format!("/Patient/{id}/_history/2"));
        v2.expect_status(200);
        assert_eq!(etag_version(&v2), "2");
        let b2 = v2.json();
        assert_eq!(b2["meta"]["versionId"], "2");
        assert_eq!(b2["gender"], "female");
    }

    /// A version that does not exist is 404.
    fn vread_of_unknown_version_is_404(server) {
        let c = server.client();
        let id = create_patient(&c);
        assert_outcome(&c.get(&format!("/Patient/{id}/_history/7")), 404, &["not-found"], None);
        assert_outcome(&c.get("/Patient/nobody/_history/1"), 404, &["not-found"], None);
    }

    /// Versions before a delete can still be read.
    fn vread_after_delete_answers_old_versions(server) {
        let c = server.client();
        let id = create_patient(&c);
        let d = c.delete(&format!("/Patient/{id}"));
        assert!(matches!(d.status, 200 | 204), "DELETE answered {}: {}", d.status, d.text());
        let v1 = c.get(&format!("/Patient/{id}/_history/1"));
        v1.expect_status(200);
        assert_eq!(v1.json()["id"], id.as_str());
    }
}
