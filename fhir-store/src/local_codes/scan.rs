//! The walk over a resource's JSON that finds its CodeableConcepts (the
//! only FHIR type with a `coding` array, so no type information is needed,
//! and contained resources are covered too), adds the standard codings in
//! enrich mode and collects the local codes without a mapping.

use serde_json::{json, Map, Value};
use terminology::local_codes::{Mapper, MAPPED_FROM_EXTENSION};

/// What [`scan`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Whether codings were added.
    pub changed: bool,
    /// Local (system, code)s with no mapping, each once, sorted.
    pub unmapped: Vec<(String, String)>,
}

/// Whether `body` can contain a code of a local system at all (a substring
/// test, so resources without local codes are never parsed for this).
pub fn mentions_local(mapper: &Mapper, body: &[u8]) -> bool {
    mapper.systems().any(|s| super::contains(body, s))
}

/// Walks `value`; with `enrich`, adds to every CodeableConcept whose
/// codings are all of local systems the standard codings they map to.
pub fn scan(value: &mut Value, mapper: &Mapper, enrich: bool) -> Scan {
    let mut out = Scan::default();
    walk(value, mapper, enrich, &mut out);
    out.unmapped.sort();
    out.unmapped.dedup();
    out
}

fn walk(value: &mut Value, mapper: &Mapper, enrich: bool, out: &mut Scan) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(codings)) = map.get_mut("coding") {
                concept(codings, mapper, enrich, out);
            }
            for (_, v) in map.iter_mut() {
                walk(v, mapper, enrich, out);
            }
        }
        Value::Array(items) => {
            for v in items {
                walk(v, mapper, enrich, out);
            }
        }
        _ => {}
    }
}

fn concept(codings: &mut Vec<Value>, mapper: &Mapper, enrich: bool, out: &mut Scan) {
    let mut only_local = !codings.is_empty();
    let mut add: Vec<Value> = Vec::new();
    for c in codings.iter() {
        let system = c["system"].as_str().unwrap_or_default();
        let code = c["code"].as_str().unwrap_or_default();
        let Some(mapped) = mapper.lookup(system, code).filter(|_| !code.is_empty()) else {
            only_local = false;
            continue;
        };
        if mapped.is_empty() {
            out.unmapped.push((system.to_owned(), code.to_owned()));
        }
        for m in mapped {
            let mut coding = Map::new();
            coding.insert(
                "extension".into(),
                json!([{"url": MAPPED_FROM_EXTENSION, "valueCanonical": m.concept_map}]),
            );
            coding.insert("system".into(), Value::String(m.system.clone()));
            coding.insert("code".into(), Value::String(m.code.clone()));
            if let Some(d) = &m.display {
                coding.insert("display".into(), Value::String(d.clone()));
            }
            coding.insert("userSelected".into(), Value::Bool(false));
            add.push(Value::Object(coding));
        }
    }
    if !enrich || !only_local {
        return;
    }
    for c in add {
        let present = codings
            .iter()
            .any(|x| x["system"] == c["system"] && x["code"] == c["code"]);
        if !present {
            codings.push(c);
            out.changed = true;
        }
    }
}

/// The OperationOutcome issues (warnings) for the unmapped local codes in
/// a stored body; empty when there are none.
pub fn warnings(mapper: &Mapper, body: &[u8]) -> Vec<Value> {
    if mapper.is_empty() || !mentions_local(mapper, body) {
        return Vec::new();
    }
    let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    scan(&mut value, mapper, false)
        .unmapped
        .into_iter()
        .map(|(system, code)| issue(&system, &code))
        .collect()
}

fn issue(system: &str, code: &str) -> Value {
    json!({
        "severity": "warning",
        "code": "not-found",
        "details": {"text": "unmapped local code"},
        "diagnostics": format!(
            "the local code {code} of {system} has no mapping to a standard code; \
             it is stored as sent and listed by CodeSystem/$unmapped-codes"
        ),
    })
}

/// Adds `response.outcome` warnings to the entries of a batch or
/// transaction answer whose resource carries unmapped local codes.
pub fn annotate_bundle(mapper: &Mapper, bundle: Vec<u8>) -> Vec<u8> {
    if mapper.is_empty() || !mentions_local(mapper, &bundle) {
        return bundle;
    }
    let Ok(mut value) = serde_json::from_slice::<Value>(&bundle) else {
        return bundle;
    };
    let mut changed = false;
    for entry in value["entry"].as_array_mut().into_iter().flatten() {
        let Some(resource) = entry.get("resource") else {
            continue;
        };
        if entry["response"].get("outcome").is_some() {
            continue;
        }
        let mut r = resource.clone();
        let issues: Vec<Value> = scan(&mut r, mapper, false)
            .unmapped
            .iter()
            .map(|(s, c)| issue(s, c))
            .collect();
        if issues.is_empty() {
            continue;
        }
        if let Some(response) = entry.get_mut("response").and_then(Value::as_object_mut) {
            response.insert(
                "outcome".into(),
                json!({"resourceType": "OperationOutcome", "issue": issues}),
            );
            changed = true;
        }
    }
    if !changed {
        return bundle;
    }
    serde_json::to_vec(&value).unwrap_or(bundle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAB: &str = "http://h/CodeSystem/lab";

    fn mapper() -> Mapper {
        let mut m = Mapper::new();
        m.add_local_system(LAB);
        let cm = terminology::ConceptMap::from_json(
            br#"{"resourceType":"ConceptMap","url":"http://h/ConceptMap/lab-to-loinc",
              "group":[{"source":"http://h/CodeSystem/lab","target":"http://loinc.org",
                "element":[{"code":"L1","target":[{"code":"2823-3","equivalence":"equivalent"}]}]}]}"#,
        )
        .expect("map");
        m.add_concept_map(&cm);
        m
    }

    #[test]
    fn enriches_concepts_coded_only_locally_and_reports_unmapped_codes() {
        let m = mapper();
        let mut v = json!({"resourceType": "Observation",
            "code": {"coding": [{"system": LAB, "code": "L1"}]},
            "category": [{"coding": [{"system": LAB, "code": "L9"}]}],
            "valueCodeableConcept": {"coding": [{"system": LAB, "code": "L1"},
                                                {"system": "http://loinc.org", "code": "1-8"}]}});
        let s = scan(&mut v, &m, true);
        assert!(s.changed);
        assert_eq!(s.unmapped, vec![(LAB.to_owned(), "L9".to_owned())]);
        let added = &v["code"]["coding"][1];
        assert_eq!(added["system"], "http://loinc.org");
        assert_eq!(added["code"], "2823-3");
        assert_eq!(added["userSelected"], false);
        assert_eq!(added["extension"][0]["url"], MAPPED_FROM_EXTENSION);
        assert_eq!(
            added["extension"][0]["valueCanonical"],
            "http://h/ConceptMap/lab-to-loinc"
        );
        assert_eq!(
            v["valueCodeableConcept"]["coding"].as_array().map(Vec::len),
            Some(2),
            "a concept the sender also coded in a standard system is left alone"
        );
        let again = scan(&mut v, &m, true);
        assert!(!again.changed, "enriching twice adds nothing");
    }

    #[test]
    fn codes_of_other_systems_are_not_local() {
        let m = mapper();
        let body = br#"{"resourceType":"Observation","code":{"coding":[{"system":"http://x","code":"L9"}]}}"#;
        assert!(warnings(&m, body).is_empty());
        let body = br#"{"resourceType":"Observation","code":{"coding":[{"system":"http://h/CodeSystem/lab","code":"L9"}]}}"#;
        let w = warnings(&m, body);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0]["severity"], "warning");
    }
}
