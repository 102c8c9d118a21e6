//! The committed `profiles/data/required-codes.json` is exactly what the
//! generator makes today.

use fhir_codegen::required_codes;

#[test]
fn committed_required_codes_match_a_fresh_generation() {
    let root = fhir_codegen::workspace_root();
    let package = root.join(fhir_codegen::DEFAULT_PACKAGE);
    let out = root.join(required_codes::DEFAULT_OUT);
    let files = required_codes::generate(&package)
        .unwrap_or_else(|e| panic!("generating from {}: {e}", package.display()));
    assert_eq!(files.len(), 1);
    let stale = fhir_codegen::stale_files(&files, &out);
    assert!(
        stale.is_empty(),
        "{stale:?} in profiles/data is stale; run `cargo run -p fhir-codegen`"
    );
    let v: serde_json::Value =
        serde_json::from_str(&files[std::path::Path::new("required-codes.json")]).expect("JSON");
    let status = &v["elements"]["Observation.status"]["codes"];
    assert!(status
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c == "final")));
    assert!(v["elements"]["BundleEntryRequest.method"].is_object());
    assert!(v["elements"]["ContactPoint.system"].is_object());
    // MIME types are an external system: not listed, so not judged.
    assert!(v["elements"]["Attachment.contentType"].is_null());
}
