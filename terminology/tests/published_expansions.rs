//! `$expand` against the expansions the R4 publication produced (npm
//! `hl7.fhir.r4.expansions@4.0.1`, fetched by `scripts/fetch-test-data.sh`
//! into `$FHIR_TEST_CACHE`): for every value set whose codes all come from
//! HL7 code systems (`http://hl7.org/fhir/…`, `http://terminology.hl7.org/…`),
//! the engine's expansion over the R4 core package must hold the same
//! (system, code) pairs. The agreement is printed; each disagreement is
//! listed with the codes missing and extra, so a regression names itself.
//!
//! The publication's expansions are an oracle independent of this engine:
//! they were produced by the HL7 IG publisher in 2019.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;

use serde_json::Value;
use terminology::{ExpandOptions, ValueSet};

/// The fetched package, or a panic naming the command that fetches it.
fn expansions_package() -> PathBuf {
    let cache = std::env::var_os("FHIR_TEST_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/fhir-server-tests"))
        })
        .expect("FHIR_TEST_CACHE or HOME");
    let path = cache.join("hl7.fhir.r4.expansions-4.0.1.tgz");
    assert!(
        path.exists(),
        "{} is missing: run `bash scripts/fetch-test-data.sh`",
        path.display()
    );
    path
}

/// The published ValueSets by url. The package carries most of them twice
/// (`ValueSet-x` and `ValueSet-x.json`, differing only in the expansion's
/// identifier and timestamp), so one per url is kept.
fn published() -> BTreeMap<String, Value> {
    let file = std::fs::File::open(expansions_package()).expect("open expansions package");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut out = BTreeMap::new();
    for entry in archive.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        let name = entry.path().expect("path").to_string_lossy().into_owned();
        if !name.starts_with("package/ValueSet-") {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read entry");
        let vs: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Some(url) = vs["url"].as_str() {
            out.insert(url.to_owned(), vs);
        }
    }
    out
}

fn is_hl7(system: &str) -> bool {
    system.starts_with("http://hl7.org/fhir/") || system.starts_with("http://terminology.hl7.org/")
}

/// Every (system, code) of `expansion.contains`, nested entries included.
fn contained(items: &Value, out: &mut BTreeSet<(String, String)>) {
    for item in items.as_array().into_iter().flatten() {
        if let (Some(system), Some(code)) = (item["system"].as_str(), item["code"].as_str()) {
            out.insert((system.to_owned(), code.to_owned()));
        }
        contained(&item["contains"], out);
    }
}

/// The systems a value set's compose names directly.
fn compose_systems(vs: &Value) -> Vec<String> {
    ["include", "exclude"]
        .iter()
        .flat_map(|part| vs["compose"][part].as_array().into_iter().flatten())
        .filter_map(|inc| inc["system"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn expansions_agree_with_the_r4_publication() {
    let (mut registry, _, _) = common::load("hl7.fhir.r4.core-4.0.1.tgz");
    for (name, bytes) in common::files("hl7.fhir.r4.core-4.0.1.tgz", "package/ValueSet-") {
        let vs = ValueSet::from_json(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        registry.insert_value_set(vs);
    }
    // The publisher left abstract (`notSelectable`) codes out of every
    // expansion (none of its 553 carries `abstract`), so the comparison
    // asks for the same with `excludeNotForUI`. It kept some retired codes
    // (v3 ActCode `COPAY`) and dropped some deprecated ones (v2-0074 `IMG`),
    // so `activeOnly` would not match it better: left off.
    let options = ExpandOptions {
        limit: 200_000,
        exclude_not_for_ui: true,
        ..ExpandOptions::default()
    };

    let mut compared = 0;
    let mut agree = 0;
    let mut skipped_no_expansion = 0;
    let mut skipped_non_hl7 = 0;
    let mut failures = Vec::new();
    for (url, vs) in published() {
        let mut expected = BTreeSet::new();
        contained(&vs["expansion"]["contains"], &mut expected);
        if vs.get("expansion").is_none() {
            skipped_no_expansion += 1;
            continue;
        }
        let systems = compose_systems(&vs);
        if expected.iter().any(|(s, _)| !is_hl7(s)) || systems.iter().any(|s| !is_hl7(s)) {
            skipped_non_hl7 += 1;
            continue;
        }
        compared += 1;
        let ours: BTreeSet<(String, String)> = match registry.expand(&url, None, &options) {
            Ok(e) => e.contains.into_iter().map(|c| (c.system, c.code)).collect(),
            Err(e) => {
                failures.push(format!("{url}: not expanded: {e}"));
                continue;
            }
        };
        if ours == expected {
            agree += 1;
        } else {
            let missing: Vec<_> = expected
                .difference(&ours)
                .map(|(_, c)| c.as_str())
                .collect();
            let extra: Vec<_> = ours
                .difference(&expected)
                .map(|(_, c)| c.as_str())
                .collect();
            failures.push(format!(
                "{url}: {} published, {} ours; missing {:?}{}; extra {:?}{}",
                expected.len(),
                ours.len(),
                &missing[..missing.len().min(5)],
                if missing.len() > 5 { " …" } else { "" },
                &extra[..extra.len().min(5)],
                if extra.len() > 5 { " …" } else { "" },
            ));
        }
    }
    println!(
        "R4 publication expansions: {agree} of {compared} HL7-only value sets agree code for code \
         ({:.1}%); skipped {skipped_non_hl7} using non-HL7 systems, {skipped_no_expansion} \
         published without an expansion",
        100.0 * agree as f64 / compared.max(1) as f64
    );
    for f in &failures {
        println!("  differs: {f}");
    }
    assert!(compared >= 400, "only {compared} value sets compared");
    assert!(
        agree * 100 >= compared * 95,
        "{agree} of {compared} agree; disagreements above"
    );
}
