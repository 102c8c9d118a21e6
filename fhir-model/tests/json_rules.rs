//! The rules of FHIR JSON (json.html) that the model must keep, each with
//! the smallest document that shows it.

use fhir_model::{IssueKind, Resource, ResourceType};
use serde_json::Value;

fn round_trip(text: &str) -> String {
    let r = Resource::from_json_slice(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8(r.to_json_vec()).expect("utf-8")
}

fn assert_same_json(text: &str) {
    let back = round_trip(text);
    let a: Value = serde_json::from_str(text).expect("test JSON");
    let b: Value = serde_json::from_str(&back).expect("written JSON");
    assert_eq!(a, b, "\n  in: {text}\n out: {back}");
}

/// `(kind, expression)` of every issue.
fn issues(text: &str) -> Vec<(IssueKind, String)> {
    match Resource::from_json_slice(text.as_bytes()) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e
            .issues
            .into_iter()
            .map(|i| (i.kind, i.expression))
            .collect(),
    }
}

#[test]
fn decimals_keep_their_text() {
    let text = r#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50,"unit":"mg"},"component":[{"code":{"text":"y"},"valueQuantity":{"value":1.0e2}}]}"#;
    let back = round_trip(text);
    assert!(back.contains(r#""value":1.50"#), "{back}");
    assert!(back.contains(r#""value":1.0e2"#), "{back}");
}

#[test]
fn primitive_extensions_and_null_placeholders() {
    assert_same_json(
        r#"{"resourceType":"Patient","birthDate":"1970-03-30","_birthDate":{"id":"b","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1970-03-30T14:35:45-05:00"}]},"name":[{"given":["Jim",null],"_given":[null,{"extension":[{"url":"http://example.org/x","valueString":"y"}]}]}]}"#,
    );
    // Only extensions, no value.
    assert_same_json(
        r#"{"resourceType":"Patient","_gender":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}}"#,
    );
}

#[test]
fn choice_elements_contained_and_nested_resources() {
    assert_same_json(
        r##"{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:8c0f2e3a-9d4b-4c6e-8f00-123456789abc","resource":{"resourceType":"Observation","contained":[{"resourceType":"Patient","id":"p"}],"status":"final","code":{"text":"t"},"subject":{"reference":"#p"},"valueBoolean":true,"_valueBoolean":{"id":"v"}}},{"resource":{"resourceType":"Parameters","parameter":[{"name":"r","resource":{"resourceType":"Patient","active":false}},{"name":"n","valueInteger":-3}]}}]}"##,
    );
}

#[test]
fn resource_type_is_read() {
    let r = Resource::from_json_slice(br#"{"resourceType":"Patient","id":"a1"}"#).expect("valid");
    assert_eq!(r.resource_type(), ResourceType::Patient);
    assert_eq!(r.id().map(|i| i.as_str()), Some("a1"));
    assert_eq!(ResourceType::ALL.len(), 146);
}

#[test]
fn unknown_elements_are_named_by_path() {
    assert_eq!(
        issues(
            r#"{"resourceType":"Patient","contact":[{"name":{"family":"x","nickname":"y"}}],"foo":1}"#
        ),
        vec![
            (
                IssueKind::UnknownElement,
                "Patient.contact[0].name.nickname".to_owned()
            ),
            (IssueKind::UnknownElement, "Patient.foo".to_owned()),
        ]
    );
}

#[test]
fn invalid_primitives_are_named_by_path() {
    assert_eq!(
        issues(r#"{"resourceType":"Patient","birthDate":"1990-13-01","name":[{"given":["a",7]}]}"#),
        vec![
            (IssueKind::Value, "Patient.birthDate".to_owned()),
            (IssueKind::Value, "Patient.name[0].given[1]".to_owned()),
        ]
    );
    for (doc, path) in [
        (r#"{"resourceType":"Patient","id":"a b"}"#, "Patient.id"),
        (
            r#"{"resourceType":"Patient","active":"true"}"#,
            "Patient.active",
        ),
        (
            r#"{"resourceType":"Patient","multipleBirthInteger":1.5}"#,
            "Patient.multipleBirthInteger",
        ),
        (
            r#"{"resourceType":"Observation","valueTime":"25:00:00"}"#,
            "Observation.valueTime",
        ),
        (
            r#"{"resourceType":"Observation","issued":"2020-01-01"}"#,
            "Observation.issued",
        ),
        (
            r#"{"resourceType":"Patient","identifier":[{"system":"urn:oid:x"}]}"#,
            "",
        ),
        (
            r#"{"resourceType":"Binary","contentType":"a","data":"@@@@"}"#,
            "Binary.data",
        ),
        (
            r#"{"resourceType":"Patient","name":[{"given":[""]}]}"#,
            "Patient.name[0].given[0]",
        ),
        (r#"{"resourceType":"Bundle","total":-1}"#, "Bundle.total"),
        (
            r#"{"resourceType":"Patient","photo":[{"size":0,"url":"a b"}]}"#,
            "Patient.photo[0].url",
        ),
    ] {
        if path.is_empty() {
            // `uri` only forbids white space: an odd URN is still a uri.
            assert!(Resource::from_json_slice(doc.as_bytes()).is_ok(), "{doc}");
        } else {
            assert_eq!(
                issues(doc),
                vec![(IssueKind::Value, path.to_owned())],
                "{doc}"
            );
        }
    }
}

#[test]
fn json_shapes_that_fhir_forbids() {
    for (doc, kind, path) in [
        (
            r#"{"resourceType":"Patient","name":{"family":"x"}}"#,
            IssueKind::Structure,
            "Patient.name",
        ),
        (
            r#"{"resourceType":"Patient","gender":["male"]}"#,
            IssueKind::Structure,
            "Patient.gender",
        ),
        (
            r#"{"resourceType":"Patient","name":[]}"#,
            IssueKind::Structure,
            "Patient.name",
        ),
        (
            r#"{"resourceType":"Patient","maritalStatus":{}}"#,
            IssueKind::Structure,
            "Patient.maritalStatus",
        ),
        (
            r#"{"resourceType":"Patient","active":null}"#,
            IssueKind::Structure,
            "Patient.active",
        ),
        (
            r#"{"resourceType":"Patient","deceasedBoolean":true,"deceasedDateTime":"2020"}"#,
            IssueKind::Structure,
            "Patient.deceasedDateTime",
        ),
        (
            r#"{"resourceType":"Patient","name":[{"given":["a",null]}]}"#,
            IssueKind::Structure,
            "Patient.name[0].given[1]",
        ),
        (
            r#"{"resourceType":"Patient","name":[{"given":["a"],"_given":[null,null]}]}"#,
            IssueKind::Structure,
            "Patient.name[0].given",
        ),
        (
            r#"{"resourceType":"Patient","_active":{"foo":1}}"#,
            IssueKind::UnknownElement,
            "Patient.active.foo",
        ),
        (
            r#"{"resourceType":"Nope"}"#,
            IssueKind::UnknownResourceType,
            "resourceType",
        ),
        (r#"{"id":"x"}"#, IssueKind::UnknownResourceType, ""),
        (r#"[1]"#, IssueKind::Structure, ""),
        (
            r#"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Bogus"}}]}"#,
            IssueKind::UnknownResourceType,
            "Bundle.entry[0].resource.resourceType",
        ),
        (r#"{"resourceType":"Patient""#, IssueKind::Syntax, ""),
    ] {
        assert_eq!(issues(doc), vec![(kind, path.to_owned())], "{doc}");
    }
}

#[test]
fn writing_escapes_strings() {
    assert_same_json(
        r#"{"resourceType":"Patient","name":[{"text":"a\"b\\c\n\r\t\u007f é 日本"}]}"#,
    );
}

/// datatypes.html#string: no code point below U+0020 but tab, CR and LF,
/// in any string-based primitive (and `Element.id`, `Extension.url`).
#[test]
fn control_characters_are_refused_in_strings() {
    for (doc, path) in [
        (
            r#"{"resourceType":"Patient","name":[{"family":"A\u0000B"}]}"#,
            "Patient.name[0].family",
        ),
        (
            r#"{"resourceType":"Patient","name":[{"given":["ok","A\u001fB"]}]}"#,
            "Patient.name[0].given[1]",
        ),
        (
            r#"{"resourceType":"Patient","gender":"ma\u0001le"}"#,
            "Patient.gender",
        ),
        (
            r#"{"resourceType":"Patient","language":"e\u001bn"}"#,
            "Patient.language",
        ),
        (
            r#"{"resourceType":"Patient","implicitRules":"http://x/\u0002"}"#,
            "Patient.implicitRules",
        ),
        (
            r#"{"resourceType":"Patient","name":[{"id":"a\u0003","family":"x"}]}"#,
            "Patient.name[0].id",
        ),
        (
            r#"{"resourceType":"Patient","extension":[{"url":"http://x\u0004","valueString":"x"}]}"#,
            "Patient.extension[0].url",
        ),
        (
            r#"{"resourceType":"Patient","extension":[{"url":"http://x","valueMarkdown":"a\u0005"}]}"#,
            "Patient.extension[0].valueMarkdown",
        ),
    ] {
        assert_eq!(
            issues(doc),
            vec![(IssueKind::Value, path.to_owned())],
            "{doc}"
        );
    }
    let e =
        Resource::from_json_slice(br#"{"resourceType":"Patient","name":[{"family":"A\u0000B"}]}"#)
            .expect_err("refused");
    assert!(e.to_string().contains("U+0000"), "{e}");
}

/// narrative.html#xhtml: the `div` is XHTML in the XHTML namespace with no
/// active content, from JSON as from XML.
#[test]
fn narrative_div_must_be_xhtml() {
    let doc = |div: &str| {
        format!(
            r#"{{"resourceType":"Patient","text":{{"status":"generated","div":{}}}}}"#,
            serde_json::to_string(div).expect("json")
        )
    };
    let ns = r#"xmlns="http://www.w3.org/1999/xhtml""#;
    for bad in [
        "<p>x</p>".to_owned(),
        "plain text".to_owned(),
        format!("<div {ns}><p>x</div>"),
        format!("<div {ns}>a&nbsp;b</div>"),
        format!("<div {ns}><script>alert(1)</script></div>"),
        format!(r#"<div {ns}><img src="x" onerror="alert(1)"/></div>"#),
        format!(r#"<div {ns}><a href="javascript:alert(1)">x</a></div>"#),
    ] {
        assert_eq!(
            issues(&doc(&bad)),
            vec![(IssueKind::Value, "Patient.text.div".to_owned())],
            "{bad}"
        );
    }
    assert_same_json(&doc(&format!(
        r#"<div {ns}><p class="x">a &amp; b&#160;c</p><table><tr><td>1</td></tr></table></div>"#
    )));
}
