//! The committed `profiles/data/core-constraints.json` is exactly what the
//! generator makes today.

use fhir_codegen::invariants;

#[test]
fn committed_core_constraints_match_a_fresh_generation() {
    let root = fhir_codegen::workspace_root();
    let package = root.join(fhir_codegen::DEFAULT_PACKAGE);
    let out = root.join(invariants::DEFAULT_OUT);
    let files = invariants::generate(&package)
        .unwrap_or_else(|e| panic!("generating from {}: {e}", package.display()));
    assert_eq!(files.len(), 1);
    let stale = fhir_codegen::stale_files(&files, &out);
    assert!(
        stale.is_empty(),
        "{stale:?} in profiles/data is stale; run `cargo run -p fhir-codegen`"
    );
    let v: serde_json::Value =
        serde_json::from_str(&files[std::path::Path::new("core-constraints.json")]).expect("JSON");
    let constraints = v["constraints"].as_array().expect("constraints");
    let pat1 = v["elements"]["Patient.contact"]
        .as_array()
        .expect("Patient.contact");
    assert!(pat1
        .iter()
        .any(|i| constraints[i.as_u64().unwrap_or(0) as usize]["key"] == "pat-1"));
    assert!(v["elements"]["DomainResource"].is_array());
}
