//! The shared PATCH suites (`../shared/tests/patch/`), applied directly
//! through [`fhir_server::interaction::patch`]: 33 FHIRPath Patch cases
//! (`fhir-patch-tests.xml`, input/diff/output as FHIR XML) and 16 JSON
//! Patch cases (`json-patch-tests.json`, from RFC 6902 appendix A). A case
//! that names an error must fail; every other must give its output exactly.

use std::path::PathBuf;

use fhir_model::json::tree;
use fhir_model::Resource;
use fhir_server::format::Format;
use fhir_server::interaction::patch::{patch_resource, JsonPatch, Patch, PatchFormat};

fn suite(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/tests/patch")
        .join(name)
}

/// The text between `<tag>` and `</tag>` in `case`, if any.
fn inner<'a>(case: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = case.find(&open)? + open.len();
    let end = case[start..].find(&close)? + start;
    Some(case[start..end].trim())
}

struct FhirPathCase<'a> {
    name: &'a str,
    input: &'a str,
    diff: &'a str,
    /// `None` when the case expects an error.
    output: Option<&'a str>,
}

fn fhirpath_cases(text: &str) -> Vec<FhirPathCase<'_>> {
    text.split("<case ")
        .skip(1)
        .map(|case| {
            let name = case
                .split('"')
                .nth(1)
                .expect("every case has a name attribute");
            let body = &case[..case.find("</case>").expect("</case>")];
            FhirPathCase {
                name,
                input: inner(body, "input").expect("input"),
                diff: inner(body, "diff").expect("diff"),
                output: inner(body, "output"),
            }
        })
        .collect()
}

/// The resource's JSON with its narrative normalised as an XML reader
/// sees it: the suite's expected outputs carry CRLF line ends and `&quot;`
/// inside the XHTML, which our XML reader keeps as sent, while the patch
/// values spell the same markup with LF and `"` (XML 1.0 §2.11 makes them
/// equal).
fn comparable(r: &Resource) -> Vec<u8> {
    fn walk(v: &mut tree::Value) {
        match v {
            tree::Value::Object(m) => {
                for (k, c) in m.iter_mut() {
                    match c {
                        tree::Value::String(s) if k == "div" => {
                            *s = s.replace("\r\n", "\n").replace("&quot;", "\"");
                        }
                        other => walk(other),
                    }
                }
            }
            tree::Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut t = tree::parse(&r.to_json_vec()).expect("the model writes JSON");
    walk(&mut t);
    tree::to_pretty_json(&t)
}

/// Runs one FHIRPath Patch case; `Err` says how it went wrong.
fn check_fhirpath(case: &FhirPathCase<'_>) -> Result<(), String> {
    let input = Resource::from_xml_slice(case.input.as_bytes())
        .map_err(|e| format!("input does not parse: {e:?}"))?;
    let patch = Patch::parse(PatchFormat::FhirPath(Format::Xml), case.diff.as_bytes())
        .map_err(|e| format!("patch does not parse: {e}"));
    let result = patch.and_then(|p| {
        patch_resource(&input.to_json_vec(), &p, input.resource_type(), input.id())
            .map_err(|e| e.to_string())
    });
    match (case.output, result) {
        (Some(out), Ok(got)) => {
            let expected = Resource::from_xml_slice(out.as_bytes())
                .map_err(|e| format!("output does not parse: {e:?}"))?;
            let (e, g) = (comparable(&expected), comparable(&got));
            if e == g {
                Ok(())
            } else {
                Err(format!(
                    "expected {}\n     got {}",
                    String::from_utf8_lossy(&e),
                    String::from_utf8_lossy(&g)
                ))
            }
        }
        (Some(_), Err(e)) => Err(format!("failed: {e}")),
        (None, Err(_)) => Ok(()),
        (None, Ok(got)) => Err(format!(
            "expected an error, got {}",
            String::from_utf8_lossy(&got.to_json_vec())
        )),
    }
}

#[test]
fn fhirpath_patch_suite() {
    let text = std::fs::read_to_string(suite("fhir-patch-tests.xml")).expect("suite");
    let cases = fhirpath_cases(&text);
    assert_eq!(cases.len(), 33, "the suite has 33 cases");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| check_fhirpath(c).err().map(|e| format!("{}: {e}", c.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} FHIRPath Patch cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn check_json(case: &serde_json::Value) -> Result<(), String> {
    let doc = serde_json::to_vec(&case["doc"]).map_err(|e| e.to_string())?;
    let mut doc = tree::parse(&doc).map_err(|e| e.to_string())?;
    let patch = serde_json::to_vec(&case["patch"]).map_err(|e| e.to_string())?;
    let result = JsonPatch::parse(&patch).and_then(|p| p.apply(&mut doc));
    match (case.get("expected"), result) {
        (Some(expected), Ok(())) => {
            let got: serde_json::Value =
                serde_json::from_slice(&tree::to_pretty_json(&doc)).map_err(|e| e.to_string())?;
            if &got == expected {
                Ok(())
            } else {
                Err(format!("expected {expected}, got {got}"))
            }
        }
        (Some(_), Err(e)) => Err(format!("failed: {e}")),
        (None, Err(_)) => Ok(()),
        (None, Ok(())) => Err("expected an error, the patch applied".into()),
    }
}

#[test]
fn json_patch_suite() {
    let text = std::fs::read(suite("json-patch-tests.json")).expect("suite");
    let cases: Vec<serde_json::Value> = serde_json::from_slice(&text).expect("suite JSON");
    assert_eq!(cases.len(), 16, "the suite has 16 cases");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            check_json(c)
                .err()
                .map(|e| format!("{}: {e}", c["comment"].as_str().unwrap_or("?")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} JSON Patch cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
