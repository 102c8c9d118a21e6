//! batch and transaction (https://hl7.org/fhir/R4/http.html#transaction):
//! `urn:uuid` references rewritten, all-or-nothing transactions whose
//! OperationOutcome names the failing entry, independent batch entries, and
//! the processing order.

use conformance_tests::{backend_tests, create_patient};
use serde_json::{json, Value};

const PATIENT_URL: &str = "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a";

fn transaction(entries: Value) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

backend_tests! {
    /// A Patient and an Observation that points at it by `urn:uuid` are
    /// created together; the reference (also one inside an extension and a
    /// contained resource) now names the new Patient.
    fn transaction_creates_and_rewrites_references(server) {
        let c = server.client();
        let bundle = transaction(json!([
            {"fullUrl": PATIENT_URL, "resource": {"resourceType": "Patient", "name": [{"family": "Sato"}]},
             "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "t"},
              "subject": {"reference": PATIENT_URL},
              "extension": [{"url": "http://example.org/about", "valueReference": {"reference": PATIENT_URL}}],
              "contained": [{"resourceType": "Provenance", "id": "p", "recorded": "2020-01-01T00:00:00Z",
                             "target": [{"reference": PATIENT_URL}], "agent": [{"who": {"display": "x"}}]}]},
             "request": {"method": "POST", "url": "Observation"}}
        ]));
        let r = c.post("", &bundle);
        r.expect_status(200);
        let out = r.json();
        assert_eq!(out["type"], "transaction-response");
        let entries = out["entry"].as_array().expect("entries");
        assert_eq!(entries.len(), 2);
        for e in entries {
            assert_eq!(e["response"]["status"], "201 Created", "{e}");
            assert!(e["response"]["etag"].as_str().is_some());
        }
        let loc = entries[0]["response"]["location"].as_str().expect("location");
        let patient_ref = loc.split("/_history").next().expect("Type/id").to_owned();
        let obs_loc = entries[1]["response"]["location"].as_str().expect("location");
        let obs = c.get(&format!("/{}", obs_loc.split("/_history").next().expect("Type/id"))).json();
        assert_eq!(obs["subject"]["reference"], patient_ref.as_str());
        assert_eq!(obs["extension"][0]["valueReference"]["reference"], patient_ref.as_str());
        assert_eq!(obs["contained"][0]["target"][0]["reference"], patient_ref.as_str());
        c.get(&format!("/{patient_ref}")).expect_status(200);
        let full_url = entries[0]["fullUrl"].as_str().expect("fullUrl");
        assert_eq!(full_url, format!("{}/{patient_ref}", server.base_url()), "absolute fullUrl");
    }

    /// One failing entry (a stale ifMatch) fails the whole transaction:
    /// the other entries leave no trace, and the outcome names the entry.
    fn transaction_is_all_or_nothing(server) {
        let c = server.client();
        let id = create_patient(&c);
        let bundle = transaction(json!([
            {"resource": {"resourceType": "Patient", "id": "t-new", "active": true},
             "request": {"method": "PUT", "url": "Patient/t-new"}},
            {"resource": {"resourceType": "Patient", "id": id, "active": false},
             "request": {"method": "PUT", "url": format!("Patient/{id}"), "ifMatch": "W/\"7\""}}
        ]));
        let r = c.post("", &bundle);
        assert_eq!(r.status, 412, "{}", r.text());
        let outcome = r.json();
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert!(outcome["issue"][0]["diagnostics"].as_str().unwrap_or("").contains("entry 1"), "{outcome}");
        c.get("/Patient/t-new").expect_status(404);
        assert_eq!(c.get(&format!("/Patient/{id}")).json()["meta"]["versionId"], "1");
        // An invalid resource anywhere is a 400 before anything is written.
        let bundle = transaction(json!([
            {"resource": {"resourceType": "Patient", "id": "t-new", "active": true},
             "request": {"method": "PUT", "url": "Patient/t-new"}},
            {"resource": {"resourceType": "Patient", "birthDate": "1990-13-01"},
             "request": {"method": "POST", "url": "Patient"}}
        ]));
        let r = c.post("", &bundle);
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["issue"][0]["expression"][0], "Bundle.entry[1].resource.birthDate");
        c.get("/Patient/t-new").expect_status(404);
    }

    /// DELETE runs before POST, PUT before GET, whatever the entry order;
    /// the response keeps the request's order.
    fn transaction_processing_order(server) {
        let c = server.client();
        let id = create_patient(&c);
        let bundle = transaction(json!([
            {"request": {"method": "GET", "url": "Patient/ordered"}},
            {"resource": {"resourceType": "Patient", "id": "ordered", "active": true},
             "request": {"method": "PUT", "url": "Patient/ordered"}},
            {"request": {"method": "DELETE", "url": format!("Patient/{id}")}}
        ]));
        let r = c.post("", &bundle);
        r.expect_status(200);
        let out = r.json();
        assert_eq!(out["entry"][0]["response"]["status"], "200 OK", "the GET sees the PUT");
        assert_eq!(out["entry"][0]["resource"]["id"], "ordered");
        assert_eq!(out["entry"][1]["response"]["status"], "201 Created");
        assert_eq!(out["entry"][2]["response"]["status"], "204 No Content");
        c.get(&format!("/Patient/{id}")).expect_status(410);
    }

    /// Batch entries are independent: a bad one gets its own status and
    /// OperationOutcome, the others are stored.
    fn batch_entries_are_independent(server) {
        let c = server.client();
        let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"resource": {"resourceType": "Patient", "active": true}, "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Patient", "id": "b2", "active": true}, "request": {"method": "PUT", "url": "Patient/b2", "ifMatch": "W/\"3\""}},
            {"request": {"method": "GET", "url": "Patient/nobody"}},
            {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient?identifier=x"}}
        ]});
        let r = c.post("", &bundle);
        r.expect_status(200);
        let out = r.json();
        assert_eq!(out["type"], "batch-response");
        assert_eq!(out["entry"][0]["response"]["status"], "201 Created");
        assert_eq!(out["entry"][1]["response"]["status"], "412 Precondition Failed");
        assert_eq!(out["entry"][1]["response"]["outcome"]["resourceType"], "OperationOutcome");
        assert_eq!(out["entry"][2]["response"]["status"], "404 Not Found");
        assert_eq!(out["entry"][3]["response"]["status"], "400 Bad Request");
        assert_eq!(out["entry"][3]["response"]["outcome"]["issue"][0]["code"], "not-supported");
        let loc = out["entry"][0]["response"]["location"].as_str().expect("location");
        c.get(&format!("/{}", loc.split("/_history").next().expect("Type/id"))).expect_status(200);
        c.get("/Patient/b2").expect_status(404);
    }

    /// Only batch and transaction Bundles can be posted to the base.
    fn other_bundles_are_refused(server) {
        let c = server.client();
        let r = c.post("", &json!({"resourceType": "Bundle", "type": "collection"}));
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["issue"][0]["expression"][0], "Bundle.type");
        let r = c.post("", &json!({"resourceType": "Patient"}));
        assert_eq!(r.status, 400);
    }
}
