//! `Prefer: return=` on batch and transaction Bundles (http.html#prefer,
//! #transaction-response; issue #27: transaction answers ignored
//! `return=minimal` and sent every resource back). The entries of writes
//! carry the stored resource by default, nothing but the response with
//! `return=minimal`, and an OperationOutcome in `response.outcome` with
//! `return=OperationOutcome`; GET entries are answered as always.

use conformance_tests::{backend_tests, TestServer};
use serde_json::{json, Value};

fn bundle(kind: &str) -> Value {
    json!({"resourceType": "Bundle", "type": kind, "entry": [
        {"fullUrl": "urn:uuid:6f3b9a0e-0d1c-4d7e-9b59-1a2b3c4d5e6f",
         "resource": {"resourceType": "Patient", "name": [{"family": "Prefer"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Observation", "id": "prefer-obs", "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": "urn:uuid:6f3b9a0e-0d1c-4d7e-9b59-1a2b3c4d5e6f"}},
         "request": {"method": "PUT", "url": "Observation/prefer-obs"}},
        {"request": {"method": "GET", "url": "Patient?family=Prefer"}}
    ]})
}

/// Posts `kind` with `prefer` (none: no header) and returns the entries.
fn post(server: &TestServer, kind: &str, prefer: Option<&str>) -> Vec<Value> {
    let body = serde_json::to_vec(&bundle(kind)).expect("json");
    let headers: Vec<(&str, &str)> = prefer.map(|p| ("Prefer", p)).into_iter().collect();
    let r = server
        .client()
        .try_request_with("POST", "", Some("application/fhir+json"), &body, &headers)
        .expect("request");
    assert_eq!(r.status, 200, "{}", r.text());
    let answer = r.json();
    answer["entry"].as_array().expect("entries").clone()
}

fn check(server: &TestServer, kind: &str) {
    // The default: the resources as stored.
    let entries = post(server, kind, None);
    assert_eq!(
        entries[0]["response"]["status"], "201 Created",
        "{entries:?}"
    );
    assert_eq!(entries[0]["resource"]["resourceType"], "Patient");
    assert_eq!(entries[1]["resource"]["resourceType"], "Observation");
    assert!(entries[0]["response"]["outcome"].is_null());

    let entries = post(server, kind, Some("return=minimal"));
    for e in &entries[..2] {
        assert!(
            e["resource"].is_null(),
            "{kind}: minimal entry with a resource: {e}"
        );
        assert!(e["fullUrl"].is_null(), "{e}");
        assert!(e["response"]["outcome"].is_null(), "{e}");
        let status = e["response"]["status"].as_str().expect("status");
        assert!(status.starts_with("20"), "{e}");
        assert!(e["response"]["location"].as_str().is_some(), "{e}");
        assert!(e["response"]["etag"].as_str().is_some(), "{e}");
    }
    // In a transaction the Observation's link to the Patient was still
    // rewritten: it is stored pointing at the created Patient.
    if kind == "transaction" {
        let obs = server.client().get("/Observation/prefer-obs").json();
        let subject = obs["subject"]["reference"].as_str().expect("subject");
        assert!(subject.starts_with("Patient/"), "{subject}");
    }
    // A search entry is a read: its Bundle comes back whatever the Prefer.
    assert_eq!(
        entries[2]["resource"]["resourceType"], "Bundle",
        "{entries:?}"
    );
    assert_eq!(entries[2]["response"]["status"], "200 OK");

    let entries = post(server, kind, Some("return=OperationOutcome"));
    for e in &entries[..2] {
        assert!(e["resource"].is_null(), "{e}");
        let outcome = &e["response"]["outcome"];
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{e}");
        assert_eq!(outcome["issue"][0]["severity"], "information", "{e}");
    }
    assert_eq!(entries[2]["resource"]["resourceType"], "Bundle");
}

backend_tests! {
    fn transaction_entries_follow_prefer_return(server) {
        check(server, "transaction");
    }

    fn batch_entries_follow_prefer_return(server) {
        check(server, "batch");
    }
}
