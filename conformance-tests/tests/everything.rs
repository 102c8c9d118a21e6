//! `Patient/[id]/$everything` (patient-operation-everything.html) and
//! `Encounter/[id]/$everything`: the compartment, its owner, and what
//! they reference (one level: Practitioner, Organization, Location,
//! Medication, …) — by default all in ONE Bundle, paged only when the
//! client gives `_count` (issue #17, item 20).

use std::collections::BTreeMap;

use conformance_tests::{backend_tests, put_resource, Client};
use serde_json::{json, Value};

/// `Type/id` → `search.mode` of each entry; panics on a duplicate.
fn entries(b: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in b["entry"].as_array().into_iter().flatten() {
        let r = &e["resource"];
        let key = format!(
            "{}/{}",
            r["resourceType"].as_str().unwrap_or(""),
            r["id"].as_str().unwrap_or("")
        );
        let mode = e["search"]["mode"].as_str().unwrap_or("").to_owned();
        assert!(out.insert(key.clone(), mode).is_none(), "{key} twice");
    }
    out
}

fn next(b: &Value) -> Option<String> {
    b["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")?["url"]
        .as_str()
        .map(str::to_owned)
}

/// A patient whose record references a practitioner, an organization, a
/// location and a medication; plus data that must stay out.
fn seed(c: &Client) {
    for r in [
        json!({"resourceType": "Organization", "id": "org", "name": "Clinic"}),
        json!({"resourceType": "Practitioner", "id": "dr"}),
        json!({"resourceType": "Practitioner", "id": "unrelated-dr"}),
        json!({"resourceType": "Location", "id": "ward"}),
        json!({"resourceType": "Medication", "id": "med", "code": {"text": "aspirin"}}),
        json!({"resourceType": "Patient", "id": "pat", "managingOrganization": {"reference": "Organization/org"},
            "generalPractitioner": [{"reference": "Practitioner/dr"}]}),
        json!({"resourceType": "Patient", "id": "someone-else"}),
        json!({"resourceType": "Encounter", "id": "enc", "status": "finished", "class": {"code": "AMB"},
            "subject": {"reference": "Patient/pat"}, "location": [{"location": {"reference": "Location/ward"}}],
            "participant": [{"individual": {"reference": "Practitioner/dr"}}]}),
        json!({"resourceType": "MedicationRequest", "id": "mr", "status": "active", "intent": "order",
            "subject": {"reference": "Patient/pat"}, "medicationReference": {"reference": "Medication/med"}}),
        json!({"resourceType": "Observation", "id": "obs", "status": "final", "code": {"text": "x"},
            "subject": {"reference": "Patient/pat"}, "performer": [{"reference": "Practitioner/dr"}]}),
        json!({"resourceType": "Observation", "id": "obs-else", "status": "final", "code": {"text": "x"},
            "subject": {"reference": "Patient/someone-else"}, "performer": [{"reference": "Practitioner/unrelated-dr"}]}),
    ] {
        put_resource(c, r);
    }
}

backend_tests! {
    /// The compartment plus what it references, one level, each once, in
    /// one Bundle without a `next` link.
    fn everything_adds_referenced_resources(server) {
        let c = server.client();
        seed(&c);
        let r = c.get("/Patient/pat/$everything");
        r.expect_status(200);
        let b = r.json();
        assert_eq!(b["type"], "searchset");
        assert_eq!(next(&b), None, "one Bundle");
        let got = entries(&b);
        let want: BTreeMap<String, String> = [
            ("Patient/pat", "match"),
            ("Encounter/enc", "match"),
            ("MedicationRequest/mr", "match"),
            ("Observation/obs", "match"),
            ("Organization/org", "include"),
            ("Practitioner/dr", "include"),
            ("Location/ward", "include"),
            ("Medication/med", "include"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(got, want);
        assert_eq!(b["total"], 4, "total counts the matches");
        // Encounter/$everything likewise.
        let got = entries(&c.get("/Encounter/enc/$everything").json());
        assert!(got.contains_key("Location/ward"), "{got:?}");
        assert!(got.contains_key("Practitioner/dr"), "{got:?}");
        // `_type` limits the matches; what they reference still comes.
        let got = entries(&c.get("/Patient/pat/$everything?_type=MedicationRequest").json());
        assert_eq!(got.get("MedicationRequest/mr").map(String::as_str), Some("match"));
        assert_eq!(got.get("Medication/med").map(String::as_str), Some("include"));
        assert!(!got.contains_key("Observation/obs"), "{got:?}");
    }

    /// Without `_count` every resource comes in one Bundle, however many;
    /// with `_count` the answer is paged and the pages together hold
    /// every match once.
    fn everything_is_one_bundle_unless_count_is_given(server) {
        let c = server.client();
        seed(&c);
        let mut entries_tx = Vec::new();
        for i in 0..620 {
            entries_tx.push(json!({
                "resource": {"resourceType": "Observation", "id": format!("many-{i}"), "status": "final",
                    "code": {"text": "x"}, "subject": {"reference": "Patient/pat"}},
                "request": {"method": "PUT", "url": format!("Observation/many-{i}")}}));
        }
        c.post("", &json!({"resourceType": "Bundle", "type": "transaction", "entry": entries_tx}))
            .expect_status(200);
        let b = c.get("/Patient/pat/$everything").json();
        assert_eq!(next(&b), None);
        let got = entries(&b);
        assert_eq!(got.values().filter(|m| *m == "match").count(), 624);
        assert_eq!(b["total"], 624);
        assert_eq!(got.get("Practitioner/dr").map(String::as_str), Some("include"));
        // Paged on request.
        let mut url = "/Patient/pat/$everything?_count=100".to_owned();
        let mut matches = std::collections::BTreeSet::new();
        let mut pages = 0;
        loop {
            let b = c.get(&url).json();
            pages += 1;
            for e in b["entry"].as_array().into_iter().flatten() {
                if e["search"]["mode"] == "match" {
                    assert!(matches.insert(e["fullUrl"].as_str().unwrap_or("").to_owned()));
                }
            }
            match next(&b) {
                Some(n) => url = n,
                None => break,
            }
            assert!(pages < 20);
        }
        assert_eq!(matches.len(), 624);
        assert_eq!(pages, 7);
    }
}
