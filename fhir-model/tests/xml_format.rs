//! FHIR XML (xml.html): real XML documents read to the same resource as
//! their JSON twins, and XML that breaks the rules is refused with a path.

use fhir_model::{IssueKind, Resource};
use serde_json::Value;

fn shared(name: &str) -> Vec<u8> {
    let path = fhir_codegen_free_root()
        .join("../shared/tests/fhirpath")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fhir_codegen_free_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The XML inputs of the FHIRPath suite are authoritative; the JSON beside
/// each was converted from it.
#[test]
fn xml_documents_read_like_their_json_twins() {
    for name in [
        "patient-example",
        "questionnaire-example",
        "valueset-example-expansion",
        "codesystem-example",
        "patient-example-period",
    ] {
        let from_xml = Resource::from_xml_slice(&shared(&format!("{name}.xml")))
            .unwrap_or_else(|e| panic!("{name}.xml: {e}"));
        let mut twin: Value =
            serde_json::from_slice(&shared(&format!("{name}.json"))).expect("json");
        strip_comments(&mut twin);
        let from_json =
            Resource::from_json_value(twin).unwrap_or_else(|e| panic!("{name}.json: {e}"));
        let a: Value = serde_json::from_slice(&from_xml.to_json_vec()).expect("json");
        let b: Value = serde_json::from_slice(&from_json.to_json_vec()).expect("json");
        if a != b {
            // Narratives differ in insignificant white space between the
            // converted JSON and the XML; everything else must match.
            let strip = |mut v: Value| {
                if let Some(o) = v.as_object_mut() {
                    o.remove("text");
                }
                v
            };
            let (a, b) = (strip(a), strip(b));
            assert!(a == b, "{name}: {}", first_difference(&a, &b, ""));
        }
    }
}

/// The converter kept XML comments as `fhir_comments`, which R4 JSON does
/// not have (a `_name` left empty by that goes too), and kept line breaks
/// in attribute values, which an XML parser must turn into spaces (XML 1.0
/// §3.3.3); the twin is brought to what a conforming reader sees.
fn strip_comments(v: &mut Value) {
    match v {
        Value::String(s) if !s.starts_with("<div") => {
            *s = s.replace(['\n', '\r', '\t'], " ");
        }
        Value::Object(o) => {
            o.remove("fhir_comments");
            o.values_mut().for_each(strip_comments);
            let empty = |v: &Value| {
                v.as_object().is_some_and(|m| m.is_empty())
                    || v.as_array().is_some_and(|a| a.iter().all(Value::is_null))
            };
            o.retain(|k, v| !(k.starts_with('_') && empty(v)));
        }
        Value::Array(a) => {
            a.iter_mut().for_each(strip_comments);
            if a.iter()
                .all(|x| x.is_null() || x.as_object().is_some_and(|m| m.is_empty()))
            {
                a.iter_mut().for_each(|x| *x = Value::Null);
            }
        }
        _ => {}
    }
}

/// Its JSON twin is broken (`"valueUuid": {"value": …}`), so the XML is
/// checked alone: every primitive type reads from its `value` attribute.
#[test]
fn parameters_of_every_type_read_from_xml() {
    let r = Resource::from_xml_slice(&shared("parameters-example-types.xml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let json: Value = serde_json::from_slice(&r.to_json_vec()).expect("json");
    let params = json["parameter"].as_array().expect("parameters");
    assert_eq!(params.len(), 4);
    let uuid = params.iter().find(|p| p["name"] == "uuid").expect("uuid");
    assert_eq!(
        uuid["valueUuid"],
        "urn:uuid:79a14950-442c-11ed-b878-0242ac120002"
    );
}

/// This suite input puts `extension` after `status`; XML must keep the
/// definition's order, and the reader says exactly where it does not.
#[test]
fn out_of_order_suite_input_is_refused_with_its_location() {
    let e = Resource::from_xml_slice(&shared("observation-example.xml")).expect_err("out of order");
    let found: Vec<_> = e
        .issues
        .iter()
        .map(|i| (i.kind, i.expression.as_str()))
        .collect();
    assert_eq!(found, [(IssueKind::Structure, "Observation.extension")]);
}

fn issues(xml: &str) -> Vec<(IssueKind, String)> {
    match Resource::from_xml_slice(xml.as_bytes()) {
        Ok(_) => panic!("accepted: {xml}"),
        Err(e) => e
            .issues
            .into_iter()
            .map(|i| (i.kind, i.expression))
            .collect(),
    }
}

const NS: &str = r#"xmlns="http://hl7.org/fhir""#;

#[test]
fn primitives_extensions_and_narrative() {
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Patient {NS}>
  <!-- a comment -->
  <id value="x1"/>
  <text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p>Hi &amp; <b>bye</b></p></div></text>
  <name id="n1"><family value="O&apos;Brien"/><given value="A"/><given><extension url="http://example.org/e"><valueString value="B&#xA;C"/></extension></given></name>
  <birthDate value="1970-03-30"/>
  <deceasedBoolean value="false"/>
  <contact><name><family value="x"/></name></contact>
</Patient>"#
    );
    let r = Resource::from_xml_slice(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let json: Value = serde_json::from_slice(&r.to_json_vec()).expect("json");
    assert_eq!(
        json["text"]["div"],
        r#"<div xmlns="http://www.w3.org/1999/xhtml"><p>Hi &amp; <b>bye</b></p></div>"#
    );
    assert_eq!(json["name"][0]["id"], "n1");
    assert_eq!(json["name"][0]["family"], "O'Brien");
    assert_eq!(json["name"][0]["given"], serde_json::json!(["A", null]));
    assert_eq!(
        json["name"][0]["_given"][1]["extension"][0]["valueString"],
        "B\nC"
    );
    assert_eq!(json["deceasedBoolean"], false);
    // And back: the same XML facts, in definition order.
    let again = Resource::from_xml_slice(&r.to_xml_vec()).expect("own XML");
    assert_eq!(again, r);
    // Indented XML says the same: white space between elements is not content.
    let tree = fhir_model::json::tree::parse(&r.to_json_vec()).expect("json");
    let pretty = fhir_model::xml::write(&tree, true);
    assert!(String::from_utf8_lossy(&pretty).contains("\n  <name id=\"n1\">\n    <family"));
    assert_eq!(Resource::from_xml_slice(&pretty).expect("pretty XML"), r);
}

#[test]
fn xml_that_breaks_the_rules() {
    for (xml, kind, path) in [
        (
            format!(r#"<Patient {NS}><foo value="1"/></Patient>"#),
            IssueKind::UnknownElement,
            "Patient.foo",
        ),
        (
            format!(r#"<Patient {NS}><birthDate value="1970-13-01"/></Patient>"#),
            IssueKind::Value,
            "Patient.birthDate",
        ),
        (
            format!(r#"<Patient {NS}><active value="yes"/></Patient>"#),
            IssueKind::Value,
            "Patient.active",
        ),
        (
            format!(r#"<Patient {NS}><gender value="male"/><active value="true"/></Patient>"#),
            IssueKind::Structure,
            "Patient.active",
        ),
        (
            format!(r#"<Patient {NS}><gender value="male"/><gender value="female"/></Patient>"#),
            IssueKind::Structure,
            "Patient.gender",
        ),
        (
            format!(r#"<Patient {NS}>hello</Patient>"#),
            IssueKind::Structure,
            "Patient",
        ),
        (
            r#"<Patient><active value="true"/></Patient>"#.to_owned(),
            IssueKind::Structure,
            "",
        ),
        (
            format!(r#"<Nothing {NS}/>"#),
            IssueKind::UnknownResourceType,
            "",
        ),
        (
            format!(r#"<Patient {NS}><active value="true"></Patient>"#),
            IssueKind::Syntax,
            "",
        ),
        (
            format!(r#"<!DOCTYPE x [<!ENTITY a "b">]><Patient {NS}/>"#),
            IssueKind::Syntax,
            "",
        ),
        (
            format!(
                r#"<Patient {NS}><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml">CPT&reg;</div></text></Patient>"#
            ),
            IssueKind::Syntax,
            "",
        ),
        (
            format!(r#"<Patient {NS}><multipleBirthInteger value="1.5"/></Patient>"#),
            IssueKind::Value,
            "Patient.multipleBirthInteger",
        ),
        // Control characters, as character references or raw: as in JSON.
        (
            format!(r#"<Patient {NS}><name><family value="A&#1;B"/></name></Patient>"#),
            IssueKind::Value,
            "Patient.name[0].family",
        ),
        (
            format!("<Patient {NS}><name><family value=\"A\u{1f}B\"/></name></Patient>"),
            IssueKind::Value,
            "Patient.name[0].family",
        ),
        (
            format!(
                r#"<Patient {NS}><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml">a&#1;b</div></text></Patient>"#
            ),
            IssueKind::Value,
            "Patient.text.div",
        ),
        // Active content: the same check as for JSON.
        (
            format!(
                r#"<Patient {NS}><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></div></text></Patient>"#
            ),
            IssueKind::Value,
            "Patient.text.div",
        ),
        (
            format!(
                r#"<Patient {NS}><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()">a</p></div></text></Patient>"#
            ),
            IssueKind::Value,
            "Patient.text.div",
        ),
    ] {
        assert_eq!(issues(&xml), vec![(kind, path.to_owned())], "{xml}");
    }
}

fn first_difference(a: &Value, b: &Value, at: &str) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    None => return format!("{at}.{k} only in the XML"),
                    Some(w) if w != v => return first_difference(v, w, &format!("{at}.{k}")),
                    _ => {}
                }
            }
            match y.keys().find(|k| !x.contains_key(*k)) {
                Some(k) => format!("{at}.{k} only in the JSON"),
                None => format!("{at} differs"),
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            match x.iter().zip(y).position(|(v, w)| v != w) {
                Some(i) => first_difference(&x[i], &y[i], &format!("{at}[{i}]")),
                None => format!("{at} differs"),
            }
        }
        _ => format!("{at}: XML gives {a}, JSON gives {b}"),
    }
}
