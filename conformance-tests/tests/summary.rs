//! `_summary` and `_elements` on read and vread
//! (https://hl7.org/fhir/R4/search.html#summary, #elements).

use conformance_tests::{assert_outcome, backend_tests};
use serde_json::Value;

/// Built from text so that `6.30` keeps its trailing zero.
fn observation() -> Value {
    serde_json::from_str(OBSERVATION).expect("test JSON")
}

const OBSERVATION: &str = r#"{
        "resourceType": "Observation",
        "id": "obs-s",
        "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">glucose</div>"},
        "status": "final",
        "category": [{"text": "laboratory"}],
        "code": {"text": "glucose"},
        "subject": {"reference": "Patient/p1"},
        "valueQuantity": {"value": 6.30, "unit": "mmol/L"},
        "interpretation": [{"text": "high"}],
        "note": [{"text": "fasting"}],
        "referenceRange": [{"low": {"value": 3.1}, "high": {"value": 6.2}}]
    }"#;

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn subsetted(v: &Value) -> bool {
    v["meta"]["tag"]
        .as_array()
        .is_some_and(|tags| tags.iter().any(|t| t["code"] == "SUBSETTED"))
}

backend_tests! {
    /// Each `_summary` mode keeps what search.html says and marks the
    /// resource SUBSETTED; `false` and no parameter return it whole.
    fn summary_modes_on_read(server) {
        let c = server.client();
        c.put("/Observation/obs-s", &observation()).expect_status(201);
        let whole = c.get("/Observation/obs-s").json();
        assert!(!subsetted(&whole));
        let t = c.get("/Observation/obs-s?_summary=true").json();
        assert!(subsetted(&t));
        // Observation's isSummary elements include status, code, subject and
        // value[x]; category, interpretation, note and referenceRange are not.
        for kept in ["status", "code", "subject", "valueQuantity"] {
            assert!(t.get(kept).is_some(), "_summary=true keeps {kept}: {t}");
        }
        for dropped in ["text", "note", "category", "interpretation", "referenceRange"] {
            assert!(t.get(dropped).is_none(), "_summary=true drops {dropped}: {t}");
        }
        assert_eq!(t["valueQuantity"]["value"].to_string(), "6.30", "numbers keep their text");
        let text = c.get("/Observation/obs-s?_summary=text").json();
        let mut k = keys(&text);
        k.sort();
        assert_eq!(k, ["code", "id", "meta", "resourceType", "status", "text"], "text, id, meta and mandatory elements");
        let data = c.get("/Observation/obs-s?_summary=data").json();
        assert!(data.get("text").is_none() && data.get("note").is_some() && subsetted(&data));
        let all = c.get("/Observation/obs-s?_summary=false").json();
        assert_eq!(all, whole);
        let v1 = c.get("/Observation/obs-s/_history/1?_summary=text").json();
        assert!(subsetted(&v1) && v1.get("note").is_none(), "vread too");
    }

    /// `_elements` keeps the listed top-level elements (a choice by its
    /// name without type), plus id, meta and mandatory elements.
    fn elements_on_read(server) {
        let c = server.client();
        c.put("/Observation/obs-s", &observation()).expect_status(201);
        let e = c.get("/Observation/obs-s?_elements=subject,value").json();
        let mut k = keys(&e);
        k.sort();
        assert_eq!(k, ["code", "id", "meta", "resourceType", "status", "subject", "valueQuantity"]);
        assert!(subsetted(&e));
    }

    /// An unknown `_summary` value is a 400 that says which values exist.
    fn bad_summary_value_is_400(server) {
        let c = server.client();
        c.put("/Observation/obs-s", &observation()).expect_status(201);
        let resp = c.get("/Observation/obs-s?_summary=maybe");
        assert_outcome(&resp, 400, &["value"], None);
    }
}
