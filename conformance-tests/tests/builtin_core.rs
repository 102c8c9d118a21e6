//! The R4 core definitions built into the binary (issue #17, item 15):
//! with no `--package` and no network, validation applies the base spec's
//! required bindings (`fhir-server validate` and `$validate`), and the
//! terminology operations and `:in` searches know the core CodeSystems
//! and ValueSets; stored resources win over core ones of the same url.

use std::path::Path;
use std::process::Command;

use conformance_tests::server::server_binary;
use conformance_tests::{backend_tests, TestServer};
use serde_json::{json, Value};

const GENDER_VS: &str = "http://hl7.org/fhir/ValueSet/administrative-gender";
const GENDER_CS: &str = "http://hl7.org/fhir/administrative-gender";

fn bogus_patient() -> Value {
    json!({"resourceType": "Patient", "name": [{"family": "Yamada"}], "gender": "bogus"})
}

/// `fhir-server validate [ARGS] FILE` on `resource`: (exit 0, stdout JSON).
fn validate_cli(resource: &Value, args: &[&str]) -> (bool, Value) {
    let file = std::env::temp_dir().join(format!(
        "builtin-core-{}.json",
        conformance_tests::server::unique_suffix()
    ));
    std::fs::write(&file, resource.to_string()).expect("write resource");
    let out = Command::new(server_binary())
        .arg("validate")
        .args(args)
        .arg(&file)
        .output()
        .expect("run fhir-server validate");
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), json)
}

/// The error issues of an OperationOutcome, as (expression, text).
fn errors(oo: &Value) -> Vec<(String, String)> {
    oo["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["severity"] == "error" || i["severity"] == "fatal")
        .map(|i| {
            (
                i["expression"][0].as_str().unwrap_or_default().to_owned(),
                i["details"]["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn gender_error(oo: &Value) -> bool {
    errors(oo).iter().any(|(at, text)| {
        at == "Patient.gender" && text.contains("bogus") && text.contains(GENDER_VS)
    })
}

#[test]
fn validate_cli_applies_base_bindings_without_any_package() {
    let (ok, oo) = validate_cli(&bogus_patient(), &[]);
    assert!(!ok, "exit 1 on a bogus gender: {oo}");
    assert!(gender_error(&oo), "{oo}");

    let mut good = bogus_patient();
    good["gender"] = json!("female");
    let (ok, oo) = validate_cli(&good, &[]);
    assert!(ok, "{oo}");
    assert!(errors(&oo).is_empty(), "{oo}");
}

#[test]
fn validate_cli_with_the_core_package_named_gives_the_same_answer() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fhir-packages/hl7.fhir.r4.core-4.0.1.tgz")
        .display()
        .to_string();
    let (ok, oo) = validate_cli(&bogus_patient(), &["--package", &core]);
    assert!(!ok, "{oo}");
    assert!(gender_error(&oo), "{oo}");
    assert_eq!(
        errors(&oo).len(),
        1,
        "one package per id and version, so one error: {oo}"
    );
}

fn search_ids(server: &TestServer, query: &str) -> Vec<String> {
    let bundle = server.client().get(query).expect_status(200).json();
    let mut ids: Vec<String> = bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

fn expanded_codes(expansion: &Value) -> Vec<String> {
    let mut codes: Vec<String> = expansion["expansion"]["contains"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["code"].as_str().map(str::to_owned))
        .collect();
    codes.sort();
    codes
}

backend_tests! {
    /// `$validate` on a fresh server knows `administrative-gender`.
    fn validate_operation_applies_base_bindings_on_a_fresh_server(server) {
        let oo = server.client().post("/Patient/$validate", &bogus_patient()).json();
        assert_eq!(oo["resourceType"], "OperationOutcome", "{oo}");
        assert!(gender_error(&oo), "{oo}");
    }

    /// The README's own examples, on a server started with no package.
    fn expand_and_lookup_know_the_core_on_a_fresh_server(server) {
        let c = server.client();
        let vs = c
            .get(&format!("/ValueSet/$expand?url={GENDER_VS}"))
            .expect_status(200)
            .json();
        assert_eq!(expanded_codes(&vs), ["female", "male", "other", "unknown"], "{vs}");

        let p = c
            .get(&format!("/CodeSystem/$lookup?system={GENDER_CS}&code=male"))
            .expect_status(200)
            .json();
        let display = p["parameter"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|x| x["name"] == "display")
            .and_then(|x| x["valueString"].as_str());
        assert_eq!(display, Some("Male"), "{p}");

        let unknown = c.get(&format!("/CodeSystem/$lookup?system={GENDER_CS}&code=bogus"));
        assert_eq!(unknown.status, 404, "{}", unknown.text());
    }

    /// `:in` expands a core ValueSet (v3/terminology.hl7.org codes).
    fn in_search_expands_a_core_value_set(server) {
        let c = server.client();
        let obs = |id: &str, system: &str, code: &str| {
            json!({"resourceType": "Observation", "id": id, "status": "final",
                   "category": [{"coding": [{"system": system, "code": code}]}],
                   "code": {"text": "x"}})
        };
        let cat = "http://terminology.hl7.org/CodeSystem/observation-category";
        c.put("/Observation/vitals", &obs("vitals", cat, "vital-signs")).expect_status(201);
        c.put("/Observation/lab", &obs("lab", cat, "laboratory")).expect_status(201);
        c.put("/Observation/local", &obs("local", "http://hospital.example/cat", "vital-signs"))
            .expect_status(201);
        assert_eq!(
            search_ids(server, "/Observation?category:in=http://hl7.org/fhir/ValueSet/observation-category"),
            ["lab", "vitals"]
        );
        assert_eq!(
            search_ids(server, "/Observation?category:not-in=http://hl7.org/fhir/ValueSet/observation-category"),
            ["local"]
        );
    }

    /// A stored ValueSet of a core url wins over the built-in one; deleting
    /// it brings the core one back.
    fn a_stored_value_set_wins_over_the_core_one(server) {
        let c = server.client();
        let mine = json!({"resourceType": "ValueSet", "id": "my-gender", "url": GENDER_VS,
            "status": "active",
            "compose": {"include": [{"system": GENDER_CS, "concept": [{"code": "male"}]}]}});
        c.put("/ValueSet/my-gender", &mine).expect_status(201);
        let vs = c.get(&format!("/ValueSet/$expand?url={GENDER_VS}")).expect_status(200).json();
        assert_eq!(expanded_codes(&vs), ["male"], "{vs}");
        c.delete("/ValueSet/my-gender");
        let vs = c.get(&format!("/ValueSet/$expand?url={GENDER_VS}")).expect_status(200).json();
        assert_eq!(expanded_codes(&vs).len(), 4, "{vs}");
    }
}
