use std::sync::Arc;

use super::*;
use crate::Package;

fn base(json: &str) -> Vec<Issue> {
    Validator::default().validate_json(json.as_bytes(), &[])
}

/// The errors base validation finds in `json`, as `location: message`:
/// the shared helper of the rule modules' tests.
pub(crate) fn base_errors(json: &str) -> Vec<String> {
    base(json)
        .into_iter()
        .filter(|i| i.severity.is_error())
        .map(|i| format!("{}: {}", i.expression, i.message))
        .collect()
}

fn errors(issues: &[Issue]) -> Vec<&Issue> {
    issues.iter().filter(|i| i.severity.is_error()).collect()
}

#[test]
fn a_valid_patient_has_no_issues() {
    let issues = base(
        r#"{"resourceType":"Patient","id":"p","name":[{"family":"Yamada","given":["Taro"]}],
            "contact":[{"name":{"family":"Yamada"}}],"gender":"male"}"#,
    );
    // Only dom-6 (a warning: no narrative).
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert!(issues[0].message.contains("dom-6"), "{issues:?}");
}

#[test]
fn structure_issues_are_errors_with_their_location() {
    let issues = base(r#"{"resourceType":"Patient","name":[{"given":["a",1]}],"foo":1}"#);
    let e = errors(&issues);
    assert!(
        e.iter().any(|i| i.expression == "Patient.name[0].given[1]"),
        "{e:?}"
    );
    assert!(e.iter().any(|i| i.expression.contains("foo")), "{e:?}");
}

#[test]
fn missing_mandatory_element_is_a_cardinality_error() {
    // Observation.status and .code are 1..1.
    let issues = base(r#"{"resourceType":"Observation","code":{"text":"x"}}"#);
    let e = errors(&issues);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].code, IssueType::Required);
    assert!(
        e[0].message.contains("Observation.status"),
        "{}",
        e[0].message
    );
}

#[test]
fn failing_invariants_pat_1_and_ele_1() {
    // pat-1: a contact has a name, telecom, address or organization.
    let issues = base(r#"{"resourceType":"Patient","contact":[{"gender":"male"}]}"#);
    let e = errors(&issues);
    assert!(
        e.iter()
            .any(|i| i.message.contains("pat-1") && i.expression == "Patient.contact[0]"),
        "{e:?}"
    );
    // A warning-level constraint keeps its severity (dom-6: narrative).
    let dom6 = base(r#"{"resourceType":"Patient","active":true}"#);
    assert!(dom6
        .iter()
        .any(|i| i.severity == Severity::Warning && i.message.contains("dom-6")));
}

#[test]
fn contained_resources_are_walked() {
    let issues = base(
        r##"{"resourceType":"Observation","status":"final","code":{"text":"x"},
            "subject":{"reference":"#p"},"contained":[{"resourceType":"Patient","id":"p","contact":[{"gender":"male"}]}]}"##,
    );
    let e = errors(&issues);
    assert!(
        e.iter()
            .any(|i| i.expression == "Observation.contained[0].contact[0]"
                && i.message.contains("pat-1")),
        "{e:?}"
    );
}

const PROFILE: &str = r#"{"resourceType":"StructureDefinition","id":"test-patient",
 "url":"http://example.org/StructureDefinition/test-patient","type":"Patient",
 "kind":"resource","derivation":"constraint","snapshot":{"element":[
  {"id":"Patient","path":"Patient","min":0,"max":"*"},
  {"id":"Patient.identifier","path":"Patient.identifier","min":1,"max":"*","type":[{"code":"Identifier"}],
   "slicing":{"discriminator":[{"type":"value","path":"system"}],"rules":"closed"}},
  {"id":"Patient.identifier:mrn","path":"Patient.identifier","sliceName":"mrn","min":1,"max":"1","type":[{"code":"Identifier"}]},
  {"id":"Patient.identifier:mrn.system","path":"Patient.identifier.system","min":1,"max":"1","type":[{"code":"uri"}],"fixedUri":"urn:example:mrn"},
  {"id":"Patient.identifier:mrn.value","path":"Patient.identifier.value","min":1,"max":"1","type":[{"code":"string"}],"maxLength":8},
  {"id":"Patient.extension","path":"Patient.extension","min":0,"max":"*","type":[{"code":"Extension"}],
   "slicing":{"discriminator":[{"type":"value","path":"url"}],"rules":"open"}},
  {"id":"Patient.extension:birthPlace","path":"Patient.extension","sliceName":"birthPlace","min":0,"max":"1",
   "type":[{"code":"Extension","profile":["http://hl7.org/fhir/StructureDefinition/patient-birthPlace"]}]},
  {"id":"Patient.multipleBirth[x]","path":"Patient.multipleBirth[x]","min":0,"max":"1","type":[{"code":"integer"}],"maxValueInteger":5},
  {"id":"Patient.gender","path":"Patient.gender","min":0,"max":"1","type":[{"code":"code"}],"fixedCode":"female"},
  {"id":"Patient.maritalStatus","path":"Patient.maritalStatus","min":0,"max":"1","type":[{"code":"CodeableConcept"}],
   "patternCodeableConcept":{"coding":[{"system":"urn:example:ms"}]}},
  {"id":"Patient.name","path":"Patient.name","min":1,"max":"1","type":[{"code":"HumanName"}],
   "constraint":[{"key":"tp-1","severity":"error","human":"a family name","expression":"family.exists()"}]}
 ]}}"#;

/// A set with the test profile, in memory: tests run in parallel, so no
/// shared folder.
fn profiled() -> Validator {
    let files = [(
        "StructureDefinition-test-patient.json".to_owned(),
        PROFILE.as_bytes().to_vec(),
    )];
    let mut set = PackageSet::new();
    set.add(Package::from_resources("example.test", "0.1.0", files).expect("package"));
    set.add_builtin_core().expect("built-in core");
    Validator::new(Arc::new(set))
}

const URL: &str = "http://example.org/StructureDefinition/test-patient";

#[test]
fn a_conforming_resource_passes_the_profile() {
    let v = profiled();
    let issues = v.validate_json(
        br#"{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
            "identifier":[{"system":"urn:example:mrn","value":"123"}],"gender":"female",
            "extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthPlace","valueAddress":{"city":"Kyoto"}}],
            "maritalStatus":{"coding":[{"system":"urn:example:ms","code":"M"}]},"name":[{"family":"Sato"}]}"#,
        &[URL],
    );
    assert!(issues.is_empty(), "{issues:?}");
}

#[test]
fn fixed_pattern_closed_slice_cardinality_and_constraints() {
    let v = profiled();
    let issues = v.validate_json(
        br#"{"resourceType":"Patient","meta":{"profile":["http://example.org/StructureDefinition/test-patient"]},
            "identifier":[{"system":"urn:other","value":"1"},{"system":"urn:example:mrn","value":"123456789"}],
            "gender":"male","maritalStatus":{"coding":[{"system":"urn:x","code":"M"}]},"multipleBirthBoolean":true,
            "name":[{"given":["A"]},{"family":"B"}]}"#,
        &[],
    );
    let e = errors(&issues);
    let has = |loc: &str, text: &str| {
        e.iter()
            .any(|i| i.expression == loc && i.message.contains(text))
    };
    assert!(has("Patient.gender", "exactly \"female\""), "{e:#?}");
    assert!(has("Patient.maritalStatus", "pattern"), "{e:#?}");
    assert!(has("Patient.identifier[0]", "closed"), "{e:#?}");
    assert!(has("Patient.identifier[1].value", "maxLength"), "{e:#?}");
    assert!(
        has("Patient", "Patient.name: maximum allowed = 1"),
        "{e:#?}"
    );
    assert!(has("Patient.name[0]", "tp-1"), "{e:#?}");
    assert!(
        has("Patient.multipleBirth", "type boolean is not allowed"),
        "{e:#?}"
    );
}

#[test]
fn a_missing_required_slice_is_reported() {
    let v = profiled();
    let issues = v.validate_json(
        br#"{"resourceType":"Patient","identifier":[{"system":"urn:example:mrn2","value":"1"}],"name":[{"family":"B"}],"multipleBirthInteger":7}"#,
        &[URL],
    );
    let e = errors(&issues);
    assert!(
        e.iter().any(|i| i
            .message
            .contains("Patient.identifier:mrn: minimum required = 1")),
        "{e:#?}"
    );
}

#[test]
fn unknown_profile_is_a_warning() {
    let issues = Validator::default().validate_json(
        br#"{"resourceType":"Basic","code":{"text":"x"},"meta":{"profile":["http://example.org/nope"]},
            "extension":[{"url":"http://example.org/ext","valueString":"a"}]}"#,
        &[],
    );
    assert!(
        issues.iter().any(|i| i.severity == Severity::Warning
            && i.message.contains("http://example.org/nope is not known")),
        "{issues:?}"
    );
    assert!(
        issues.iter().any(|i| i.severity == Severity::Warning
            && i.expression == "Basic.extension[0]"
            && i.message
                .contains("extension http://example.org/ext is not known")),
        "{issues:?}"
    );
    assert!(!has_errors(&issues));
}

#[test]
fn outcome_has_an_information_issue_when_clean() {
    let o = operation_outcome(&[]);
    let text = String::from_utf8(fhir_model::json::tree::to_json(&o)).unwrap();
    assert!(
        text.contains("\"information\"") && text.contains("no issues"),
        "{text}"
    );
}

#[test]
fn issues_on_json_text_carry_line_and_column() {
    let v = Validator::default();
    let text =
        "{\n  \"resourceType\": \"Patient\",\n  \"contact\": [\n    {\"gender\": \"male\"}\n  ]\n}";
    let issues = v.validate_json(text.as_bytes(), &[]);
    let pat1 = issues
        .iter()
        .find(|i| i.message.contains("pat-1"))
        .expect("pat-1 fails");
    assert_eq!(pat1.expression, "Patient.contact[0]");
    assert_eq!(pat1.position, Some((4, 5)));
    let oo = fhir_model::json::tree::to_json(&operation_outcome(&issues));
    let oo = String::from_utf8(oo).expect("utf-8");
    assert!(
        oo.contains("operationoutcome-issue-line\",\"valueInteger\":4"),
        "{oo}"
    );
    assert!(oo.contains("operationoutcome-issue-col\",\"valueInteger\":5"));
}

#[test]
fn data_types_based_on_backbone_element_get_their_own_constraints() {
    // ElementDefinition (like Timing and Dosage) specializes
    // BackboneElement; eld-18 applies to each snapshot element.
    let sd = |el: &str| {
        format!(
            r#"{{"resourceType":"StructureDefinition","url":"http://x.test/sd","name":"X","status":"draft",
            "kind":"resource","abstract":true,"type":"Patient","differential":{{"element":[{el}]}}}}"#
        )
    };
    let bad = base(&sd(
        r#"{"id":"Patient","path":"Patient","isModifier":true}"#,
    ));
    assert!(
        errors(&bad).iter().any(|i| i.message.contains("eld-18")
            && i.expression == "StructureDefinition.differential.element[0]"),
        "{bad:?}"
    );
    let good = base(&sd(
        r#"{"id":"Patient","path":"Patient","isModifier":true,"isModifierReason":"why"}"#,
    ));
    assert!(errors(&good).is_empty(), "{good:?}");
}

#[test]
fn a_data_type_profile_the_set_lacks_is_an_error_where_it_applies() {
    let profile = |ty: &str| {
        format!(
            r#"{{"resourceType":"StructureDefinition","id":"p","url":"http://x.test/p","type":"Patient",
            "kind":"resource","derivation":"constraint","snapshot":{{"element":[
            {{"id":"Patient","path":"Patient","min":0,"max":"*"}},
            {{"id":"Patient.identifier","path":"Patient.identifier","min":0,"max":"*","type":[{ty}]}}]}}}}"#
        )
    };
    let check = |ty: &str| {
        let files = [(
            "StructureDefinition-p.json".to_owned(),
            profile(ty).into_bytes(),
        )];
        let mut set = PackageSet::new();
        set.add(Package::from_resources("x.test", "0.1.0", files).expect("package"));
        let v = Validator::new(Arc::new(set));
        v.validate_json(
            br#"{"resourceType":"Patient","identifier":[{"value":"1"}]}"#,
            &["http://x.test/p"],
        )
    };
    let issues = check(r#"{"code":"Identifier","profile":["http://unknown.test/id"]}"#);
    let e = errors(&issues);
    assert_eq!(e.len(), 1, "{issues:?}");
    assert_eq!(e[0].expression, "Patient.identifier[0]");
    assert!(e[0]
        .message
        .contains("Unknown profile http://unknown.test/id"));
    assert!(errors(&check(r#"{"code":"Identifier"}"#)).is_empty());
}

#[test]
fn constraints_of_types_that_specialize_backbone_element_apply() {
    // Timing and ElementDefinition derive from BackboneElement in R4, yet
    // their constraints (tim-1 at Timing.repeat, eld-13 at
    // ElementDefinition) apply wherever they are used.
    let obs = |repeat: &str| {
        format!(
            r#"{{"resourceType":"Observation","status":"final","code":{{"text":"x"}},
                "effectiveTiming":{{"repeat":{repeat}}}}}"#
        )
    };
    let e = base(&obs(r#"{"duration":2}"#));
    assert!(
        errors(&e)
            .iter()
            .any(|i| i.message.contains("tim-1") && i.expression.ends_with(".repeat")),
        "{e:?}"
    );
    let e = base(&obs(r#"{"duration":2,"durationUnit":"h"}"#));
    assert!(errors(&e).is_empty(), "{e:?}");

    let sd = |types: &str| {
        format!(
            r#"{{"resourceType":"StructureDefinition","url":"http://example.org/sd","name":"X",
                "status":"draft","kind":"resource","abstract":false,"type":"Patient",
                "baseDefinition":"http://hl7.org/fhir/StructureDefinition/Patient",
                "derivation":"constraint","differential":{{"element":[
                {{"id":"Patient.link.other","path":"Patient.link.other","type":[{types}]}}]}}}}"#
        )
    };
    let e = base(&sd(r#"{"code":"Reference"},{"code":"Reference"}"#));
    assert!(
        errors(&e).iter().any(|i| i.message.contains("eld-13")
            && i.expression == "StructureDefinition.differential.element[0]"),
        "{e:?}"
    );
    let e = base(&sd(r#"{"code":"Reference"}"#));
    assert!(errors(&e).is_empty(), "{e:?}");
}

#[test]
fn json_comments_only_when_allowed() {
    let text = b"// note\n{\"resourceType\":\"Basic\", /* c */ \"code\":{\"text\":\"x\"}}";
    assert!(has_errors(&Validator::default().validate_json(text, &[])));
    let v = Validator::default().allow_json_comments(true);
    let issues = v.validate_json(text, &[]);
    assert!(!has_errors(&issues), "{issues:?}");
}

#[test]
fn contained_resources_can_be_left_alone() {
    let id = "1".repeat(65);
    let text = format!(
        r##"{{"resourceType":"Basic","code":{{"text":"x"}},"author":{{"reference":"#{id}"}},
        "contained":[{{"resourceType":"Practitioner","id":"{id}"}}]}}"##
    );
    assert!(has_errors(
        &Validator::default().validate_json(text.as_bytes(), &[])
    ));
    let v = Validator::default().policy(Policy {
        validate_contained: false,
        ..Policy::default()
    });
    let issues = v.validate_json(text.as_bytes(), &[]);
    assert!(!has_errors(&issues), "{issues:?}");
}
