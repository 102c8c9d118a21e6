//! The committed search data (`fhir-store/data`) is exactly what the
//! generator makes today: a change to the generator without
//! `cargo run -p fhir-codegen`, or a hand edit, fails here.

use fhir_codegen::search_data;

#[test]
fn committed_search_data_matches_a_fresh_generation() {
    let root = fhir_codegen::workspace_root();
    let package = root.join(fhir_codegen::DEFAULT_PACKAGE);
    let out = root.join(search_data::DEFAULT_DATA_OUT);
    let files = search_data::generate(&package)
        .unwrap_or_else(|e| panic!("generating from {}: {e}", package.display()));

    let mut stale = Vec::new();
    for (path, text) in &files {
        match std::fs::read_to_string(out.join(path)) {
            Ok(committed) if committed == *text => {}
            Ok(_) => stale.push(format!("{} differs", path.display())),
            Err(e) => stale.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(
        stale.is_empty(),
        "fhir-store/data is stale; run `cargo run -p fhir-codegen`:\n{}",
        stale.join("\n")
    );
    assert_eq!(
        files.len(),
        3,
        "search-parameters.json, compartments.json and code-systems.json"
    );
}

#[test]
fn every_core_parameter_and_compartment_is_there() {
    let root = fhir_codegen::workspace_root();
    let files = search_data::generate(&root.join(fhir_codegen::DEFAULT_PACKAGE))
        .unwrap_or_else(|e| panic!("{e}"));
    let params: serde_json::Value =
        serde_json::from_str(&files[std::path::Path::new("search-parameters.json")])
            .expect("search-parameters.json is JSON");
    assert_eq!(params["parameters"].as_array().map(Vec::len), Some(1378));
    let compartments: serde_json::Value =
        serde_json::from_str(&files[std::path::Path::new("compartments.json")])
            .expect("compartments.json is JSON");
    let codes: Vec<&String> = compartments["compartments"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(
        codes,
        [
            "Device",
            "Encounter",
            "Patient",
            "Practitioner",
            "RelatedPerson"
        ]
    );
    assert_eq!(
        compartments["compartments"]["Patient"]["Observation"],
        serde_json::json!(["subject", "performer"])
    );
}

#[test]
fn required_bound_code_elements_have_their_system() {
    let root = fhir_codegen::workspace_root();
    let files = search_data::generate(&root.join(fhir_codegen::DEFAULT_PACKAGE))
        .unwrap_or_else(|e| panic!("{e}"));
    let data: serde_json::Value =
        serde_json::from_str(&files[std::path::Path::new("code-systems.json")])
            .expect("code-systems.json is JSON");
    let systems = &data["code_systems"];
    assert_eq!(
        systems["Patient.gender"],
        "http://hl7.org/fhir/administrative-gender"
    );
    assert_eq!(
        systems["Patient.contact.gender"],
        "http://hl7.org/fhir/administrative-gender"
    );
    assert_eq!(systems["Address.use"], "http://hl7.org/fhir/address-use");
    assert_eq!(
        systems["Observation.status"],
        "http://hl7.org/fhir/observation-status"
    );
    // A value set over several systems gives no entry.
    assert!(systems.get("Task.intent").is_none());
    // Not a code element (a CodeableConcept) gives no entry.
    assert!(systems.get("Observation.code").is_none());
}
