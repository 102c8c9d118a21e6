//! The committed built-in core (`profiles/data/hl7.fhir.r4.core-4.0.1.tar.zst`)
//! holds exactly what `fhir_codegen::core_bundle` makes of the R4 core
//! package: a generator change without `scripts/core-bundle.sh`, or a
//! hand edit, fails here. The artifact is made from the npm bundles and
//! checked against the repackaged `.tgz` in `../shared`; the two agree
//! resource for resource, so either source gives the same files.

use fhir_codegen::core_bundle;

#[test]
fn committed_core_bundle_matches_a_fresh_generation() {
    let root = fhir_codegen::workspace_root();
    let package = root.join(fhir_codegen::DEFAULT_PACKAGE);
    let resources = core_bundle::from_package(&package)
        .unwrap_or_else(|e| panic!("reading {}: {e}", package.display()));
    let fresh = core_bundle::files(resources).expect("files");
    let committed = std::fs::read(root.join(core_bundle::DEFAULT_OUT)).expect("artifact");
    let committed = core_bundle::unpack(&committed).expect("the artifact unpacks");

    let mut stale: Vec<String> = fresh
        .iter()
        .filter(|(name, bytes)| committed.get(*name) != Some(bytes))
        .map(|(name, _)| format!("{name} differs or is missing"))
        .collect();
    stale.extend(
        committed
            .keys()
            .filter(|name| !fresh.contains_key(*name))
            .map(|name| format!("{name} should not be there")),
    );
    stale.truncate(20);
    assert!(
        stale.is_empty(),
        "the built-in core is stale; run scripts/core-bundle.sh:\n{}",
        stale.join("\n")
    );
    // StructureDefinitions without the 6,775 data elements, every
    // CodeSystem and ValueSet, the SearchParameters and the rest.
    let count = |prefix: &str| {
        committed
            .keys()
            .filter(|k| k.starts_with(&format!("package/{prefix}-")))
            .count()
    };
    assert_eq!(count("StructureDefinition"), 650);
    assert_eq!(count("CodeSystem"), 1063);
    assert_eq!(count("ValueSet"), 1317);
    assert_eq!(count("SearchParameter"), 1378);
    assert_eq!(count("CompartmentDefinition"), 5);
}
