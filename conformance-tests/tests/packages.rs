//! `serve --package PATH` (issue #8): the conformance resources of a FHIR
//! package are stored at start and read like any resource.

use conformance_tests::{run_on, Backend};

fn jp_core() -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fhir-packages/jp-core.r4-1.1.2.tgz");
    p.to_string_lossy().into_owned()
}

fn check(backend: Backend) {
    let package = jp_core();
    run_on(backend, &["--package", &package], |server| {
        let c = server.client();
        let sd = c.get("/StructureDefinition/jp-patient");
        sd.expect_status(200);
        assert_eq!(
            sd.json()["url"],
            "http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"
        );
        // Published with `"comment": ""` (empty strings are not FHIR); the
        // empty strings are dropped and the profile is kept.
        c.get("/StructureDefinition/jp-medicationdispense")
            .expect_status(200);
        let totals = |t: &str| c.get(&format!("/{t}/_history?_count=0")).json()["total"].as_i64();
        assert_eq!(totals("StructureDefinition"), Some(89));
        assert_eq!(totals("CodeSystem"), Some(22));
        assert_eq!(totals("ValueSet"), Some(37));
        assert_eq!(totals("SearchParameter"), Some(8));
        // Examples are not conformance resources: not stored.
        assert_eq!(totals("Patient"), Some(0));
        let log = server.log_text();
        assert!(
            log.contains("jpfhir-terminology"),
            "the missing dependency is reported: {log}"
        );
    });
}

#[test]
fn package_conformance_resources_are_stored_sqlite() {
    check(Backend::Sqlite);
}

#[test]
fn package_conformance_resources_are_stored_postgres() {
    check(Backend::Postgres);
}
