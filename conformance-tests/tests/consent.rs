//! Consent, black-box on both backends with authorization on: patient
//! `denied` has an active patient-privacy Consent denying Organization B.
//! A client acting for B (token claim `organization`) sees none of that
//! patient's data in any interaction (read, vread, search, `_include`,
//! `_revinclude`, `_has`, chain, compartment search, `$everything`,
//! history, batch GET); a client for A sees everything; a denial by class
//! hides only that type; deleting the Consent restores access.
//!
//! Every resource of the denied patient has an id starting with `denied`,
//! so a leak shows as `"id":"denied` in an answer.

use conformance_tests::consent::{deny, privacy_consent, put_all};
use conformance_tests::smart::{client, run_with_auth};
use conformance_tests::{Backend, Client, TestServer};
use serde_json::{json, Value};

const SCOPE: &str = "system/*.cruds";

fn consent(deny: Value) -> Value {
    privacy_consent("consent-1", "Patient/denied", vec![deny])
}

fn deny_b(classes: &[&str]) -> Value {
    deny("Organization/B", classes, &[])
}

/// Organizations A and B, patients `denied` and `free`, each with an
/// Observation and (denied) a Condition; returns the admin client.
fn seed(server: &TestServer) -> Client {
    let admin = client(server, SCOPE, None);
    let mut resources = vec![
        json!({"resourceType": "Organization", "id": "A"}),
        json!({"resourceType": "Organization", "id": "B"}),
    ];
    for (id, family) in [("denied", "Hidden"), ("free", "Open")] {
        resources.push(json!({"resourceType": "Patient", "id": id,
            "name": [{"family": family}]}));
        resources.push(json!({"resourceType": "Observation",
            "id": format!("{id}-obs"), "status": "final", "code": {"text": "glucose"},
            "subject": {"reference": format!("Patient/{id}")}}));
    }
    resources.push(json!({"resourceType": "Condition", "id": "denied-cond",
        "subject": {"reference": "Patient/denied"}}));
    put_all(&admin, &resources);
    admin
}

/// The answers of every kind of interaction a client for B might use.
fn answers(c: &Client) -> Vec<(String, u16, String)> {
    let mut out = Vec::new();
    for path in [
        "/Patient/denied",
        "/Patient/denied/_history/1",
        "/Observation/denied-obs",
        "/Observation",
        "/Patient",
        "/Observation?_include=Observation:subject",
        "/Patient?_revinclude=Observation:subject",
        "/Patient?_has:Observation:subject:status=final",
        "/Observation?subject.family=Hidden",
        "/Patient/denied/Observation",
        "/Patient/denied/$everything",
        "/Observation/denied-obs/_history",
        "/Observation/_history",
        "/_history",
        "?_type=Patient,Observation,Condition",
    ] {
        let r = c.get(path);
        out.push((path.to_owned(), r.status, r.text()));
    }
    let batch = c.post(
        "",
        &json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient/denied"}},
        {"request": {"method": "GET", "url": "Observation?subject=Patient/denied"}},
        {"request": {"method": "GET", "url": "Patient/free"}}]}),
    );
    out.push(("batch".into(), batch.status, batch.text()));
    out
}

fn leaks(answers: &[(String, u16, String)], marker: &str) -> Vec<String> {
    answers
        .iter()
        .filter(|(_, _, body)| body.contains(marker))
        .map(|(p, s, _)| format!("{p} ({s})"))
        .collect()
}

fn consent_hides_everything_from_b(backend: Backend) {
    run_with_auth(backend, &[], |server| {
        let admin = seed(server);
        admin
            .put("/Consent/consent-1", &consent(deny_b(&[])))
            .expect_status(201);
        let b = client(server, SCOPE, Some("Organization/B"));
        let a = client(server, SCOPE, Some("Organization/A"));

        let seen_by_b = answers(&b);
        assert_eq!(leaks(&seen_by_b, "\"id\":\"denied"), Vec::<String>::new());
        assert_eq!(b.get("/Patient/denied").status, 404);
        assert_eq!(b.get("/Observation/denied-obs").status, 404);
        assert_eq!(b.get("/Patient/denied/_history/1").status, 404);
        // B still sees the other patient, through the same interactions.
        let free = leaks(&seen_by_b, "\"id\":\"free-obs\"");
        assert!(free.len() >= 5, "{free:?}");
        let batch = &seen_by_b.last().unwrap().2;
        let batch: Value = serde_json::from_str(batch).unwrap();
        assert_eq!(batch["entry"][0]["response"]["status"], "404 Not Found");
        assert_eq!(batch["entry"][2]["resource"]["id"], "free");

        // A is not denied: it sees the patient's data everywhere B did not.
        let seen_by_a = answers(&a);
        let by_a = leaks(&seen_by_a, "\"id\":\"denied");
        assert!(by_a.len() >= 12, "{by_a:?}");
        assert_eq!(a.get("/Patient/denied").status, 200);
        // A token naming no organization is not a recipient either.
        assert_eq!(admin.get("/Observation/denied-obs").status, 200);

        // Removing the Consent gives B access again.
        admin.delete("/Consent/consent-1").expect_status(204);
        assert_eq!(b.get("/Patient/denied").status, 200);
        assert_eq!(b.get("/Observation/denied-obs").status, 200);
    });
}

fn consent_by_class_hides_only_that_type(backend: Backend) {
    run_with_auth(backend, &[], |server| {
        let admin = seed(server);
        admin
            .put("/Consent/consent-1", &consent(deny_b(&["Observation"])))
            .expect_status(201);
        let b = client(server, SCOPE, Some("Organization/B"));
        assert_eq!(b.get("/Observation/denied-obs").status, 404);
        assert_eq!(b.get("/Patient/denied").status, 200);
        assert_eq!(b.get("/Condition/denied-cond").status, 200);
        let everything = b.get("/Patient/denied/$everything").text();
        assert!(
            everything.contains("\"id\":\"denied-cond\""),
            "{everything}"
        );
        assert!(
            !everything.contains("\"id\":\"denied-obs\""),
            "{everything}"
        );
        // An inactive Consent denies nothing.
        let mut inactive = consent(deny_b(&["Observation"]));
        inactive["status"] = json!("inactive");
        admin
            .put("/Consent/consent-1", &inactive)
            .expect_status(200);
        assert_eq!(b.get("/Observation/denied-obs").status, 200);
    });
}

#[test]
fn consent_hides_everything_from_b_sqlite() {
    consent_hides_everything_from_b(Backend::Sqlite);
}

#[test]
fn consent_hides_everything_from_b_postgres() {
    consent_hides_everything_from_b(Backend::Postgres);
}

#[test]
fn consent_by_class_hides_only_that_type_sqlite() {
    consent_by_class_hides_only_that_type(Backend::Sqlite);
}

#[test]
fn consent_by_class_hides_only_that_type_postgres() {
    consent_by_class_hides_only_that_type(Backend::Postgres);
}
