//! The R4 core package's 1,062 CodeSystems: all index, and the operations
//! answer on real v3 hierarchies and FHIR code systems.

mod common;

use std::sync::OnceLock;

use terminology::{PropertyValue, Registry, Subsumption, ValidateOptions};

const CORE: &str = "hl7.fhir.r4.core-4.0.1.tgz";
const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
const ROLE_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";
const GENDER: &str = "http://hl7.org/fhir/administrative-gender";

fn core() -> &'static Registry {
    static CORE_REGISTRY: OnceLock<Registry> = OnceLock::new();
    CORE_REGISTRY.get_or_init(|| {
        let (registry, _, failures) = common::load(CORE);
        assert!(failures.is_empty(), "{failures:#?}");
        registry
    })
}

#[test]
fn every_core_code_system_indexes_and_the_time_is_printed() {
    let (registry, elapsed, failures) = common::load(CORE);
    assert!(failures.is_empty(), "{failures:#?}");
    let concepts: usize = registry.iter().map(|cs| cs.len()).sum();
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "indexed {} core CodeSystems ({concepts} concepts) in {elapsed:?} ({profile} build)",
        registry.len()
    );
    // The package holds 1,063 CodeSystem files, each a distinct url and
    // version (the issue counts 1,062).
    assert_eq!(registry.len(), 1_063);
}

#[test]
fn subsumes_on_v3_act_code_follows_nesting_and_child_properties() {
    let r = core();
    let s = |a, b| r.subsumes(ACT_CODE, None, a, b).unwrap();
    // Nesting: _ActAccountCode > CC > AE.
    assert_eq!(s("_ActAccountCode", "AE"), Subsumption::Subsumes);
    assert_eq!(s("AE", "_ActAccountCode"), Subsumption::SubsumedBy);
    assert_eq!(s("CASH", "AE"), Subsumption::NotSubsumed);
    assert_eq!(s("CC", "CC"), Subsumption::Equivalent);
    // FFCS sits under FFC and, through a `child` property, under FFSS.
    assert_eq!(s("FFSS", "FFCS"), Subsumption::Subsumes);
    assert_eq!(s("FFC", "FFCS"), Subsumption::Subsumes);
    assert_eq!(s("FFCS", "_ActPharmacySupplyType"), Subsumption::SubsumedBy);
    assert!(r.subsumes(ACT_CODE, None, "CC", "no-such-code").is_err());
}

#[test]
fn v3_role_code_has_several_parents() {
    let r = core();
    let dau = r.lookup(ROLE_CODE, "DAU", None, &["parent"], None).unwrap();
    assert!(
        dau.parents.iter().any(|p| p == "NCHILD"),
        "{:?}",
        dau.parents
    );
    assert!(dau.parents.len() >= 2, "{:?}", dau.parents);
    assert_eq!(
        r.subsumes(ROLE_CODE, None, "FAMMEMB", "SONADOPT").unwrap(),
        Subsumption::Subsumes
    );
    assert_eq!(
        r.subsumes(ROLE_CODE, None, "CHILD", "DAU").unwrap(),
        Subsumption::Subsumes
    );
    let child = r.lookup(ROLE_CODE, "SONC", None, &["child"], None).unwrap();
    for c in ["SONADOPT", "SONFOST", "SON"] {
        assert!(
            child.children.iter().any(|x| x == c),
            "{c} in {:?}",
            child.children
        );
    }
}

#[test]
fn administrative_gender_lookup_and_validate_code() {
    let r = core();
    let l = r.lookup(GENDER, "female", None, &[], None).unwrap();
    assert_eq!(l.display.as_deref(), Some("Female"));
    assert_eq!(l.name, "AdministrativeGender");
    assert_eq!(l.version.as_deref(), Some("4.0.1"));
    assert!(l.parents.is_empty() && !l.inactive && !l.abstract_);

    let ok = ValidateOptions {
        display: Some("Male"),
        ..Default::default()
    };
    let v = r.validate_code(GENDER, None, "male", &ok);
    assert!(v.result && v.message.is_none(), "{v:?}");
    let wrong = ValidateOptions {
        display: Some("Man"),
        ..Default::default()
    };
    let v = r.validate_code(GENDER, Some("4.0.1"), "male", &wrong);
    assert!(!v.result);
    assert_eq!(
        v.message.as_deref(),
        Some("Wrong Display Name 'Man' for http://hl7.org/fhir/administrative-gender#male. Valid display is 'Male'")
    );
    assert_eq!(v.display.as_deref(), Some("Male"));
    // administrative-gender is case-sensitive: `Male` is not a code.
    let v = r.validate_code(GENDER, None, "Male", &ValidateOptions::default());
    assert!(!v.result);
    assert!(v.message.unwrap().starts_with("Unknown code 'Male'"));
    assert!(
        !r.validate_code(GENDER, Some("3.0.0"), "male", &ValidateOptions::default())
            .result
    );
}

#[test]
fn retired_and_not_selectable_v3_concepts() {
    let r = core();
    let act_class = "http://terminology.hl7.org/CodeSystem/v3-ActClass";
    // _ActClassContainer: notSelectable and status=retired.
    let l = r
        .lookup(act_class, "_ActClassContainer", None, &[], None)
        .unwrap();
    assert!(l.inactive && l.abstract_);
    assert!(l
        .properties
        .iter()
        .any(|p| p.code == "status" && p.value == PropertyValue::Code("retired".into())));
    let v = r.validate_code(
        act_class,
        None,
        "_ActClassContainer",
        &ValidateOptions::default(),
    );
    assert!(v.result && v.inactive);
    let strict = ValidateOptions {
        abstract_allowed: false,
        ..Default::default()
    };
    let v = r.validate_code(act_class, None, "_ActClassContainer", &strict);
    assert!(!v.result);
    let msg = v.message.unwrap();
    assert!(
        msg.contains("abstract") && msg.contains("inactive"),
        "{msg}"
    );
}

#[test]
fn designations_in_another_language() {
    let r = core();
    let sys = "http://hl7.org/fhir/animal-genderstatus";
    let l = r.lookup(sys, "neutered", None, &[], Some("nl")).unwrap();
    assert_eq!(l.display.as_deref(), Some("gesteriliseerd"));
    let l = r.lookup(sys, "neutered", None, &[], Some("ja")).unwrap();
    assert_eq!(
        l.display.as_deref(),
        Some("Neutered"),
        "no ja designation: the display"
    );
    let nl = ValidateOptions {
        display: Some("gesteriliseerd"),
        ..Default::default()
    };
    assert!(r.validate_code(sys, None, "neutered", &nl).result);
}
