//! delete (DELETE [base]/[type]/[id]): https://hl7.org/fhir/R4/http.html#delete

use conformance_tests::{assert_outcome, backend_tests, create_patient};

backend_tests! {
    /// DELETE answers 200 or 204; a later read answers 410 Gone with an
    /// OperationOutcome.
    fn delete_then_read_answers_410(server) {
        let c = server.client();
        let id = create_patient(&c);
        let d = c.delete(&format!("/Patient/{id}"));
        assert!(matches!(d.status, 200 | 204), "DELETE answered {}: {}", d.status, d.text());
        let resp = c.get(&format!("/Patient/{id}"));
        assert_outcome(&resp, 410, &["deleted", "not-found"], None);
    }

    /// Deleting what is already gone, or never existed, is not an error the
    /// server may crash on: 200/204 (idempotent) or 404.
    fn delete_of_missing_resource_is_not_a_server_error(server) {
        let c = server.client();
        let resp = c.delete("/Patient/never-was");
        assert!(matches!(resp.status, 200 | 204 | 404), "DELETE of missing answered {}: {}", resp.status, resp.text());
        let id = create_patient(&c);
        c.delete(&format!("/Patient/{id}"));
        let again = c.delete(&format!("/Patient/{id}"));
        assert!(matches!(again.status, 200 | 204), "second DELETE answered {}: {}", again.status, again.text());
        assert_outcome(&c.get(&format!("/Patient/{id}")), 410, &["deleted", "not-found"], None);
    }

    /// The delete is recorded as a version in the instance history, newest
    /// first, with no resource and `request.method` DELETE.
    fn delete_is_recorded_in_history(server) {
        let c = server.client();
        let id = create_patient(&c);
        c.delete(&format!("/Patient/{id}"));
        let resp = c.get(&format!("/Patient/{id}/_history"));
        resp.expect_status(200);
        let bundle = resp.json();
        assert_eq!(bundle["type"], "history");
        let entries = bundle["entry"].as_array().expect("history entries");
        assert_eq!(entries.len(), 2, "{bundle}");
        assert_eq!(entries[0]["request"]["method"], "DELETE", "{bundle}");
        assert!(entries[0].get("resource").is_none(), "a deleted version carries no resource: {bundle}");
        assert_eq!(entries[1]["resource"]["meta"]["versionId"], "1");
    }
}
