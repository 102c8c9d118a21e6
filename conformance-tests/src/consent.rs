//! Consent resources for the black-box tests of Consent enforcement
//! (`tests/consent.rs`, `tests/consent_holes.rs`).

use serde_json::{json, Value};

use crate::Client;

/// The identifier system of the Consents made here (value: the id), so
/// that conditional writes can name them.
pub const IDENTIFIER: &str = "urn:oid:1.2.3.4";
/// The security labels a deny provision names.
pub const CONFIDENTIALITY: &str = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality";

/// An active patient-privacy Consent `id` of `patient` (a reference):
/// a base permit with the deny `provisions` nested in it.
pub fn privacy_consent(id: &str, patient: &str, provisions: Vec<Value>) -> Value {
    json!({
        "resourceType": "Consent", "id": id, "status": "active",
        "identifier": [{"system": IDENTIFIER, "value": id}],
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": patient},
        "provision": {"type": "permit", "provision": provisions}
    })
}

/// A deny provision whose recipient is `actor` (a reference), limited to
/// resource types `classes` and to resources labelled with the
/// confidentiality codes `labels` when those are given.
pub fn deny(actor: &str, classes: &[&str], labels: &[&str]) -> Value {
    let mut p = json!({"type": "deny", "actor": [{
        "role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]},
        "reference": {"reference": actor}}]});
    if !classes.is_empty() {
        p["class"] = classes
            .iter()
            .map(|c| json!({"system": "http://hl7.org/fhir/resource-types", "code": c}))
            .collect();
    }
    if !labels.is_empty() {
        p["securityLabel"] = labels
            .iter()
            .map(|c| json!({"system": CONFIDENTIALITY, "code": c}))
            .collect();
    }
    p
}

/// PUTs each resource at `[base]/[type]/[id]` (from the resource),
/// asserting 200 or 201.
#[track_caller]
pub fn put_all(client: &Client, resources: &[Value]) {
    for r in resources {
        let path = format!(
            "/{}/{}",
            r["resourceType"].as_str().unwrap_or_default(),
            r["id"].as_str().unwrap_or_default()
        );
        let answer = client.put(&path, r);
        assert!(
            answer.status == 200 || answer.status == 201,
            "PUT {path}: {} {}",
            answer.status,
            answer.text()
        );
    }
}
