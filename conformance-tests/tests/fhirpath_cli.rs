//! `fhir-server fhirpath`: the CLI over the FHIRPath engine, run as a
//! real process. See issue 5.

use std::path::Path;
use std::process::Command;

use conformance_tests::server::server_binary;

fn fhirpath(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(server_binary())
        .arg("fhirpath")
        .args(args)
        .output()
        .expect("run fhir-server fhirpath");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn patient() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/tests/fhirpath/patient-example.json")
        .display()
        .to_string()
}

#[test]
fn prints_typed_values_of_a_resource() {
    let file = patient();
    let (ok, out, err) = fhirpath(&["--resource", &file, "Patient.birthDate | Patient.active"]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        r#"[{"type":"date","value":"1974-12-25"},{"type":"boolean","value":true}]"#
    );
}

#[test]
fn prints_system_values_and_variables() {
    let (ok, out, err) = fhirpath(&["--var", "who=Jim", "%who & '!' | 2.50 | 4 'mg'"]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        r#"[{"type":"string","value":"Jim!"},{"type":"decimal","value":2.50},{"type":"Quantity","value":{"value":4,"unit":"mg"}}]"#
    );
}

#[test]
fn complex_values_carry_their_fhir_type() {
    let file = patient();
    let (ok, out, err) = fhirpath(&["--resource", &file, "Patient.name.first()"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with(r#"[{"type":"HumanName","value":{"#),
        "{out}"
    );
}

#[test]
fn invalid_expression_exits_1_with_a_message() {
    let (ok, out, err) = fhirpath(&["1 +"]);
    assert!(!ok);
    assert!(out.is_empty());
    assert!(err.contains("syntax error"), "{err}");
    let (ok, _, err) = fhirpath(&["(1 | 2).single()"]);
    assert!(!ok);
    assert!(err.contains("evaluation"), "{err}");
}
