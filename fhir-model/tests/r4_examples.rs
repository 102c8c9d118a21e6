//! Every official R4 example (npm `hl7.fhir.r4.examples@4.0.1`, fetched by
//! `scripts/fetch-test-data.sh`) reads and writes back JSON-equal to the
//! file, numbers compared by their exact text.

use std::io::Read;
use std::path::PathBuf;

use fhir_model::Resource;
use serde_json::Value;

fn examples_package() -> PathBuf {
    let cache = std::env::var_os("FHIR_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/fhir-server-tests")
        });
    cache.join("hl7.fhir.r4.examples-4.0.1.tgz")
}

/// `(file name, reason)` for the examples that cannot pass, from
/// `known-failures.txt` beside this file.
fn known_failures() -> Vec<(String, String)> {
    include_str!("known-failures.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .map(|(f, r)| (f.to_owned(), r.to_owned()))
        .collect()
}

#[test]
fn official_examples_round_trip() {
    check_all_examples("JSON", round_trip);
}

#[test]
fn official_examples_round_trip_through_xml() {
    check_all_examples("JSON → XML → JSON", xml_round_trip);
}

fn check_all_examples(what: &str, check: fn(&[u8]) -> Result<(), String>) {
    let path = examples_package();
    let file = std::fs::File::open(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `bash scripts/fetch-test-data.sh` first",
            path.display()
        )
    });
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let known = known_failures();
    let (mut passed, mut failed_as_known) = (0, 0);
    let mut unexpected = Vec::new();
    for entry in archive.entries().expect("examples archive") {
        let mut entry = entry.expect("archive entry");
        let name = entry
            .path()
            .expect("entry path")
            .to_string_lossy()
            .into_owned();
        let file_name = name.rsplit('/').next().unwrap_or_default().to_owned();
        if !file_name.ends_with(".json")
            || file_name == "package.json"
            || file_name.starts_with('.')
        {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read entry");
        let outcome = check(&bytes);
        let is_known = known.iter().any(|(f, _)| *f == file_name);
        match (outcome, is_known) {
            (Ok(()), false) => passed += 1,
            (Err(_), true) => failed_as_known += 1,
            (Ok(()), true) => {
                unexpected.push(format!("{file_name}: listed as a known failure but passes"))
            }
            (Err(e), false) => unexpected.push(format!("{file_name}: {e}")),
        }
    }
    println!(
        "official examples ({what}): {passed} round-trip exactly, {failed_as_known} known failures"
    );
    assert!(passed > 5000, "only {passed} examples read");
    assert!(
        unexpected.is_empty(),
        "{} unexpected results:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
}

fn round_trip(bytes: &[u8]) -> Result<(), String> {
    let original: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let resource = Resource::from_json_slice(bytes).map_err(|e| format!("rejected: {e}"))?;
    let written = resource.to_json_vec();
    let back: Value =
        serde_json::from_slice(&written).map_err(|e| format!("wrote bad JSON: {e}"))?;
    if back == original {
        Ok(())
    } else {
        Err(format!(
            "differs: {}",
            first_difference(&original, &back, "")
        ))
    }
}

fn xml_round_trip(bytes: &[u8]) -> Result<(), String> {
    let original: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let resource = Resource::from_json_slice(bytes).map_err(|e| format!("rejected: {e}"))?;
    let xml = resource.to_xml_vec();
    let again = Resource::from_xml_slice(&xml)
        .map_err(|e| format!("XML rejected: {e}\n{}", String::from_utf8_lossy(&xml)))?;
    let back: Value =
        serde_json::from_slice(&again.to_json_vec()).map_err(|e| format!("wrote bad JSON: {e}"))?;
    if back == original {
        Ok(())
    } else {
        Err(format!(
            "differs: {}",
            first_difference(&original, &back, "")
        ))
    }
}

fn first_difference(a: &Value, b: &Value, at: &str) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    None => return format!("{at}.{k} missing"),
                    Some(w) if w != v => return first_difference(v, w, &format!("{at}.{k}")),
                    _ => {}
                }
            }
            match y.keys().find(|k| !x.contains_key(*k)) {
                Some(k) => format!("{at}.{k} added"),
                None => format!("{at} differs"),
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                if v != w {
                    return first_difference(v, w, &format!("{at}[{i}]"));
                }
            }
            format!("{at} differs")
        }
        _ => format!("{at}: {a} became {b}"),
    }
}
