//! Validation over real data: the examples inside the JP Core package
//! against their declared profiles, and the JP-CLINS `-ErrorExample-`
//! files (each must give at least one error).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use profiles::{has_errors, Package, PackageSet, Severity, Validator, CONFORMANCE_TYPES};

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared")
        .join(rel)
}

fn validator(packages: &[&str]) -> Validator {
    let mut set = PackageSet::new();
    for p in packages {
        set.add(Package::from_tgz(shared(&format!("fhir-packages/{p}"))).expect(p));
    }
    Validator::new(Arc::new(set))
}

/// What JP Core 1.1.2's own examples give today (errors-free count), so a
/// regression shows; raise it as the engine improves.
const JP_CORE_CLEAN_AT_LEAST: usize = 46; // 48/48 observed

#[test]
fn jp_core_examples_against_their_profiles() {
    let v = validator(&["jp-core.r4-1.1.2.tgz", "hl7.fhir.r4.core-4.0.1.tgz"]);
    let jp = &v.packages().packages()[0];
    let mut total = 0;
    let mut clean = 0;
    let mut failures = Vec::new();
    let start = std::time::Instant::now();
    for r in jp.resources() {
        if CONFORMANCE_TYPES.contains(&r.resource_type.as_str()) {
            continue;
        }
        total += 1;
        let issues = v.validate_json(r.bytes(), &[]);
        if has_errors(&issues) {
            let first = issues.iter().find(|i| i.severity.is_error()).unwrap();
            failures.push(format!("{}: {first}", r.file));
        } else {
            clean += 1;
        }
    }
    let first = start.elapsed();
    // Again, with every profile compiled: the steady-state cost.
    let start = std::time::Instant::now();
    for r in jp.resources() {
        if !CONFORMANCE_TYPES.contains(&r.resource_type.as_str()) {
            let _ = v.validate_json(r.bytes(), &[]);
        }
    }
    let again = start.elapsed();
    eprintln!(
        "JP Core examples: {clean}/{total} without errors ({:.2} ms each with profile compilation, {:.2} ms each after)",
        first.as_secs_f64() * 1000.0 / total.max(1) as f64,
        again.as_secs_f64() * 1000.0 / total.max(1) as f64
    );
    for f in &failures {
        eprintln!("  {f}");
    }
    assert!(total > 0);
    assert!(
        clean >= JP_CORE_CLEAN_AT_LEAST,
        "{clean} < {JP_CORE_CLEAN_AT_LEAST}"
    );
}

#[test]
fn jp_clins_error_examples_give_errors() {
    let v = validator(&[
        "jp-eCSCLINS.r4-1.5.2.tgz",
        "jp-core.r4-1.1.2.tgz",
        "hl7.fhir.r4.core-4.0.1.tgz",
    ]);
    let dir = shared("data/jp-clins-examples");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("jp-clins-examples")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let (mut caught, mut errs, mut clean, mut examples) = (Vec::new(), Vec::new(), 0, 0);
    for n in &names {
        let bytes = std::fs::read(dir.join(n)).unwrap();
        let issues = v.validate_json(&bytes, &[]);
        let first = issues.iter().find(|i| i.severity.is_error());
        if n.contains("-ErrorExample-") {
            match first {
                Some(i) => caught.push(format!("{n}: {i}")),
                None => errs.push(n.clone()),
            }
        } else {
            examples += 1;
            match first {
                None => clean += 1,
                Some(i) => eprintln!("  example with an error: {n}: {i}"),
            }
        }
    }
    eprintln!("JP-CLINS examples: {clean}/{examples} without errors");
    eprintln!(
        "JP-CLINS ErrorExamples: {}/{} caught",
        caught.len(),
        caught.len() + errs.len()
    );
    for c in &caught {
        eprintln!("  caught {c}");
    }
    for e in &errs {
        eprintln!("  missed {e}");
    }
    // 54/58 and 1/3 observed. The four examples with errors: two
    // Organizations whose JP_Organization_InsuranceOrganizationNo extension
    // has the system http://jpfhir.jp/fhir/core/mhlw/IdSystem/MedicalOrganizationID
    // where JP Core 1.1.2 fixes urn:oid:1.2.392.100495.20.3.23 (a real
    // disagreement between the example and the package), and the two
    // eReferral Bundles that hold them (their organization slices need
    // conforming Organizations). The two missed ErrorExamples break rules
    // no loaded definition states: a wrong drug code (2124030F2ZZZ for
    // 1124030F2ZZZ; its code system is not in the packages) and a missing
    // local lab code (no slice or constraint of the profile requires one).
    assert!(clean + 4 >= examples, "{clean}/{examples}");
    assert!(
        caught.iter().any(
            |c| c.contains("ExtEye-Total1") && c.contains("needs-anyOfStandardCode-medication")
        ),
        "{caught:?}"
    );
    let _ = Severity::Error;
}
