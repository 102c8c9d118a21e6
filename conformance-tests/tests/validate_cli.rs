//! `fhir-server validate`: the CLI over the profile engine, run as a real
//! process against JP Core and JP-CLINS. It prints the OperationOutcome as
//! JSON and exits 1 when there is an error. See issue 8.

use std::path::{Path, PathBuf};
use std::process::Command;

use conformance_tests::server::server_binary;
use serde_json::Value;

fn shared(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared")
        .join(rel)
        .display()
        .to_string()
}

/// (exit status 0, stdout as JSON, stderr).
fn validate(files: &[&str]) -> (bool, Value, String) {
    let out = Command::new(server_binary())
        .arg("validate")
        .args(["--package", &shared("fhir-packages/jp-core.r4-1.1.2.tgz")])
        .args([
            "--package",
            &shared("fhir-packages/jp-eCSCLINS.r4-1.5.2.tgz"),
        ])
        .args(files)
        .output()
        .expect("run fhir-server validate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn example(name: &str) -> String {
    shared(&format!("data/jp-clins-examples/{name}"))
}

#[test]
fn a_clean_example_exits_0_with_an_outcome_without_errors() {
    let (ok, oo, err) = validate(&[&example("Patient-Example-JP-Patient-eCS-MAKINO.json")]);
    assert!(ok, "{err}\n{oo}");
    assert_eq!(oo["resourceType"], "OperationOutcome");
    let issues = oo["issue"].as_array().expect("issues");
    assert!(issues
        .iter()
        .all(|i| i["severity"] != "error" && i["severity"] != "fatal"));
}

#[test]
fn an_error_example_exits_1_and_names_the_place() {
    let (ok, oo, _) = validate(&[&example(
        "MedicationRequest-ErrorExample-JP-MedReq-ExtEye-Total1.json",
    )]);
    assert!(!ok);
    let errors: Vec<&Value> = oo["issue"]
        .as_array()
        .expect("issues")
        .iter()
        .filter(|i| i["severity"] == "error")
        .collect();
    assert!(
        errors
            .iter()
            .any(|i| i["expression"][0] == "MedicationRequest"
                && i["details"]["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("needs-anyOfStandardCode-medication"))),
        "{oo}"
    );
}

#[test]
fn several_files_give_a_bundle_of_outcomes() {
    let good = example("Patient-Example-JP-Patient-eCS-MAKINO.json");
    let bad = example("MedicationRequest-ErrorExample-JP-MedReq-ExtEye-Total1.json");
    let (ok, bundle, err) = validate(&[&good, &bad]);
    assert!(!ok);
    assert!(err.contains("1 of 2 file(s) have errors"), "{err}");
    assert_eq!(bundle["type"], "collection");
    let entries = bundle["entry"].as_array().expect("entries");
    assert_eq!(entries.len(), 2);
    let name = |e: &Value| {
        PathBuf::from(e["fullUrl"].as_str().unwrap_or(""))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
    };
    assert_eq!(
        name(&entries[1]).as_deref(),
        Some("MedicationRequest-ErrorExample-JP-MedReq-ExtEye-Total1.json")
    );
    assert!(entries
        .iter()
        .all(|e| e["resource"]["resourceType"] == "OperationOutcome"));
}
