//! Profile enforcement on write (issue #8): `serve --require-profile
//! Patient=…JP_Patient` rejects a non-conforming Patient with 422 and an
//! OperationOutcome (alone and inside a transaction), `--profile-enforcement
//! warn` stores it and answers the issues as warnings, and without either
//! flag writes are checked structurally only, as before.

use conformance_tests::{backend_tests, TestServer};
use serde_json::{json, Value};

const JP_PATIENT: &str = "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient";

fn jp_core() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fhir-packages/jp-core.r4-1.1.2.tgz")
        .to_string_lossy()
        .into_owned()
}

fn require_patient() -> String {
    format!("Patient={JP_PATIENT}")
}

/// JP_Patient requires an identifier (min 1).
fn patient_without_identifier() -> Value {
    json!({"resourceType": "Patient", "active": true, "name": [{"family": "山田"}]})
}

fn conforming_patient() -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.392.100495.20.3.51.11234567890", "value": "00000010"}],
        "active": true,
        "name": [{"family": "山田", "given": ["太郎"]}]
    })
}

/// A POST with `Prefer: return=OperationOutcome` (the harness client
/// sets no extra headers).
fn post_for_outcome(server: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let resp = ureq::post(&format!("{}{path}", server.base_url()))
        .set("Content-Type", "application/fhir+json")
        .set("Prefer", "return=OperationOutcome")
        .send_bytes(&serde_json::to_vec(body).expect("json"));
    let resp = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST {path}: {e}"),
    };
    let status = resp.status();
    let text = resp.into_string().expect("a body");
    (
        status,
        serde_json::from_str(&text).expect("an OperationOutcome"),
    )
}

fn expressions(outcome: &Value) -> Vec<String> {
    outcome["issue"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|i| i["expression"][0].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

backend_tests! {
    /// In a batch the non-conforming entry fails alone, 422 with its
    /// OperationOutcome; the conforming one is stored (issue #17 item 17).
    fn a_required_profile_fails_only_that_batch_entry(server) with
        ["--package", &jp_core(), "--require-profile", &require_patient()]
    {
        let c = server.client();
        let batch = json!({
            "resourceType": "Bundle", "type": "batch",
            "entry": [
                {"resource": conforming_patient(), "request": {"method": "POST", "url": "Patient"}},
                {"resource": patient_without_identifier(), "request": {"method": "POST", "url": "Patient"}}
            ]
        });
        let r = c.post("", &batch);
        r.expect_status(200);
        let out = r.json();
        assert_eq!(out["entry"][0]["response"]["status"], "201 Created", "{out}");
        assert!(
            out["entry"][1]["response"]["status"].as_str().is_some_and(|s| s.starts_with("422")),
            "{out}"
        );
        let exprs = expressions(&out["entry"][1]["response"]["outcome"]);
        assert!(exprs.iter().any(|e| e.starts_with("Bundle.entry[1].resource")), "{exprs:?}");
        assert_eq!(
            c.get("/Patient?_count=0&_total=accurate").json()["total"].as_i64(),
            Some(1),
            "the conforming entry was stored"
        );
    }

    fn a_required_profile_rejects_non_conforming_writes(server) with
        ["--package", &jp_core(), "--require-profile", &require_patient()]
    {
        let c = server.client();
        let bad = c.post("/Patient", &patient_without_identifier());
        bad.expect_status(422);
        let outcome = bad.json();
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert!(
            outcome["issue"].as_array().is_some_and(|l| l.iter().any(|i| i["severity"] == "error"
                && i["diagnostics"].as_str().is_some_and(|d| d.contains("Patient.identifier")))),
            "{outcome}"
        );
        assert_eq!(
            c.get("/Patient?_count=0&_total=accurate").json()["total"].as_i64(),
            Some(0),
            "nothing stored"
        );

        let good = c.post("/Patient", &conforming_patient());
        good.expect_status(201);

        // PUT is a write too.
        let mut p1 = patient_without_identifier();
        p1["id"] = json!("p1");
        c.put("/Patient/p1", &p1).expect_status(422);

        // Other types have no required profile: a valid Observation passes.
        c.post("/Observation", &json!({
            "resourceType": "Observation", "status": "final",
            "code": {"text": "体温"}
        }))
        .expect_status(201);

        // In a transaction, the failing entry is named and nothing is written.
        let tx = json!({
            "resourceType": "Bundle", "type": "transaction",
            "entry": [
                {"fullUrl": "urn:uuid:5c4e1d1c-7d6a-4d0e-9a0e-2f1b6a3c9d01",
                 "resource": conforming_patient(),
                 "request": {"method": "POST", "url": "Patient"}},
                {"fullUrl": "urn:uuid:5c4e1d1c-7d6a-4d0e-9a0e-2f1b6a3c9d02",
                 "resource": patient_without_identifier(),
                 "request": {"method": "POST", "url": "Patient"}}
            ]
        });
        let r = c.post("", &tx);
        r.expect_status(422);
        let exprs = expressions(&r.json());
        assert!(
            exprs.iter().any(|e| e.starts_with("Bundle.entry[1].resource")),
            "{exprs:?}"
        );
        assert_eq!(
            c.get("/Patient?_count=0&_total=accurate").json()["total"].as_i64(),
            Some(1),
            "only the single conforming create was stored"
        );
    }

    fn warn_mode_stores_and_returns_the_issues(server) with
        ["--package", &jp_core(), "--require-profile", &require_patient(),
         "--profile-enforcement", "warn"]
    {

        let (status, outcome) = post_for_outcome(server, "/Patient", &patient_without_identifier());
        assert_eq!(status, 201, "{outcome}");
        assert!(
            outcome["issue"].as_array().is_some_and(|l| l.iter().any(|i| i["severity"] == "warning"
                && i["diagnostics"].as_str().is_some_and(|d| d.contains("Patient.identifier")))),
            "{outcome}"
        );
    }

    fn by_default_writes_get_the_structural_check_only(server) {
        let c = server.client();
        // pat-1 fails (a contact with nothing but a gender), which full
        // validation reports; the default stores it, as before.
        c.post("/Patient", &json!({
            "resourceType": "Patient", "contact": [{"gender": "male"}]
        }))
        .expect_status(201);
        // The structural check still refuses unknown elements.
        c.post("/Patient", &json!({"resourceType": "Patient", "colour": "blue"}))
            .expect_status(400);
    }
}
