//! JP Core 1.1.2's CodeSystems: Japanese displays, hierarchies, OID urls.
//! JP Core writes Japanese in `display` and carries no designations, so
//! designations in Japanese and English are covered by the unit tests in
//! `src/operations.rs`.

mod common;

use terminology::{Subsumption, ValidateOptions};

const JP_CORE: &str = "jp-core.r4-1.1.2.tgz";
const DOCUMENT_CODES: &str = "http://jpfhir.jp/fhir/core/CodeSystem/JP_DocumentCodes_CS";
const ANTI_MICROBIAL: &str = "urn:oid:1.2.392.100495.10.3.100.5.11.5.2";

#[test]
fn jp_core_lookup_validate_and_subsumes_in_japanese() {
    let (r, elapsed, failures) = common::load(JP_CORE);
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(r.len(), 22);
    println!("indexed 22 JP Core CodeSystems in {elapsed:?}");

    let l = r
        .lookup(DOCUMENT_CODES, "34107-3", None, &[], Some("ja"))
        .unwrap();
    assert_eq!(l.display.as_deref(), Some("在宅指導書"));
    assert_eq!(l.parents, ["34895-3"]);
    assert_eq!(
        r.subsumes(DOCUMENT_CODES, None, "34895-3", "34107-3")
            .unwrap(),
        Subsumption::Subsumes
    );

    let l = r.lookup(ANTI_MICROBIAL, "1101", None, &[], None).unwrap();
    assert_eq!(l.display.as_deref(), Some("AZT"));
    assert_eq!(l.definition.as_deref(), Some("アズトレオナム"));
    assert_eq!(l.parents, ["1100"]);
    let group = r
        .lookup(ANTI_MICROBIAL, "1100", None, &["child"], None)
        .unwrap();
    assert_eq!(group.display.as_deref(), Some("モノバクタム系"));
    assert!(group.children.iter().any(|c| c == "1101"));

    let outcome = "http://jpfhir.jp/fhir/core/CodeSystem/JP_ProcedureOutcome_CS";
    let ok = ValidateOptions {
        display: Some("成功"),
        ..Default::default()
    };
    assert!(r.validate_code(outcome, None, "JPPOC001", &ok).result);
    let wrong = ValidateOptions {
        display: Some("不成功"),
        ..Default::default()
    };
    let v = r.validate_code(outcome, None, "JPPOC001", &wrong);
    assert!(!v.result);
    assert_eq!(
        v.message.as_deref(),
        Some("Wrong Display Name '不成功' for http://jpfhir.jp/fhir/core/CodeSystem/JP_ProcedureOutcome_CS#JPPOC001. Valid display is '成功'")
    );
}
