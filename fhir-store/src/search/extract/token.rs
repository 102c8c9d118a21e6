//! Token parameters (search.html#token): Coding, CodeableConcept (each
//! coding, plus its text for `:text`), Identifier (system|value, with the
//! type's codings for `:of-type` and its text), ContactPoint (the value,
//! no system), and primitives (code, string, uri, id, … as a code without
//! system; boolean as `true`/`false`). A `code` element whose required
//! binding draws from one code system is indexed with that system, as
//! HAPI does, so `gender=http://hl7.org/fhir/administrative-gender|male`
//! finds it ([`crate::search::param::ParamDef::code_system`]).

use fhir_model::json::tree::Value as Json;
use fhirpath::Item;

use super::{field, many, node, primitive_text, str_field};
use crate::search::index::{IndexEntries, TokenEntry};
use crate::search::normalize::fold;

pub(super) fn entries(
    item: &Item,
    param: &str,
    group: i32,
    code_system: Option<&str>,
    out: &mut IndexEntries,
) {
    let mut push = |system: Option<&str>,
                    code: Option<&str>,
                    text: Option<&str>,
                    ty: Option<(Option<&str>, Option<&str>)>| {
        let text = text.map(fold).filter(|t| !t.is_empty());
        let (type_system, type_code) = ty.unwrap_or((None, None));
        if code.is_none() && text.is_none() && system.is_none() && type_code.is_none() {
            return;
        }
        out.tokens.push(TokenEntry {
            param: param.to_owned(),
            group,
            system: system.map(str::to_owned),
            code: code.map(str::to_owned),
            text,
            type_system: type_system.map(str::to_owned),
            type_code: type_code.map(str::to_owned),
        });
    };
    if let Some((ty, json)) = node(item) {
        match ty {
            "Coding" => {
                let (s, c, d) = coding(json);
                push(s, c, d, None);
                return;
            }
            "CodeableConcept" => {
                for cd in many(json, "coding") {
                    let (s, c, d) = coding(cd);
                    push(s, c, d, None);
                }
                if let Some(text) = str_field(json, "text") {
                    push(None, None, Some(text), None);
                }
                return;
            }
            "Identifier" => {
                let system = str_field(json, "system");
                let value = str_field(json, "value");
                let ty = field(json, "type");
                let type_text = ty.and_then(|t| str_field(t, "text"));
                let type_codings = ty.map(|t| many(t, "coding")).unwrap_or_default();
                if type_codings.is_empty() {
                    push(system, value, type_text, None);
                }
                for tc in type_codings {
                    let (ts, tcode, _) = coding(tc);
                    push(system, value, type_text, Some((ts, tcode)));
                }
                return;
            }
            "ContactPoint" => {
                push(None, str_field(json, "value"), None, None);
                return;
            }
            _ if !matches!(item, Item::Node(n) if n.is_primitive()) => return,
            _ => {}
        }
    }
    let system = match item {
        Item::Node(n) if n.ty == "code" => code_system,
        _ => None,
    };
    if let Some(code) = primitive_text(item) {
        if !code.is_empty() {
            push(system, Some(&code), None, None);
        }
    }
}

/// A Coding's system, code and display.
fn coding(json: &Json) -> (Option<&str>, Option<&str>, Option<&str>) {
    (
        str_field(json, "system"),
        str_field(json, "code"),
        str_field(json, "display"),
    )
}

#[cfg(test)]
mod tests {
    use crate::search::extract::tests::one;
    use crate::search::index::TokenEntry;
    use crate::search::param::ParamKind;

    fn tokens(expr: &str, res: &str) -> Vec<TokenEntry> {
        one(ParamKind::Token, expr, res).tokens
    }

    fn t(system: Option<&str>, code: Option<&str>, text: Option<&str>) -> TokenEntry {
        TokenEntry {
            param: "p".into(),
            group: 0,
            system: system.map(Into::into),
            code: code.map(Into::into),
            text: text.map(Into::into),
            type_system: None,
            type_code: None,
        }
    }

    #[test]
    fn codeable_concept_and_coding() {
        let obs = r#"{"resourceType":"Observation","status":"final","code":{
            "coding":[{"system":"http://loinc.org","code":"29463-7","display":"Body Weight"},
                      {"system":"http://snomed.info/sct","code":"27113001"}],
            "text":"Gewicht Körper"}}"#;
        assert_eq!(
            tokens("Observation.code", obs),
            vec![
                t(
                    Some("http://loinc.org"),
                    Some("29463-7"),
                    Some("body weight")
                ),
                t(Some("http://snomed.info/sct"), Some("27113001"), None),
                t(None, None, Some("gewicht korper")),
            ]
        );
        assert_eq!(
            tokens("Observation.code.coding[0]", obs),
            vec![t(
                Some("http://loinc.org"),
                Some("29463-7"),
                Some("body weight")
            )]
        );
    }

    #[test]
    fn identifier_with_type() {
        let pat = r#"{"resourceType":"Patient","identifier":[
            {"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}],
                     "text":"Medical Record"},
             "system":"urn:oid:1.2.36.146.595.217.0.1","value":"12345"},
            {"system":"urn:x"}]}"#;
        let got = tokens("Patient.identifier", pat);
        assert_eq!(
            got,
            vec![
                TokenEntry {
                    type_system: Some("http://terminology.hl7.org/CodeSystem/v2-0203".into()),
                    type_code: Some("MR".into()),
                    ..t(
                        Some("urn:oid:1.2.36.146.595.217.0.1"),
                        Some("12345"),
                        Some("medical record")
                    )
                },
                t(Some("urn:x"), None, None),
            ]
        );
    }

    #[test]
    fn contact_point_is_its_value() {
        let pat = r#"{"resourceType":"Patient","telecom":[
            {"system":"phone","value":"+1 555 0100","use":"home"},
            {"system":"email","value":"a@b.example"}, {"system":"fax"}]}"#;
        assert_eq!(
            tokens("Patient.telecom.where(system='phone')", pat),
            vec![t(None, Some("+1 555 0100"), None)]
        );
        assert_eq!(tokens("Patient.telecom", pat).len(), 2);
    }

    #[test]
    fn primitives() {
        let pat = r#"{"resourceType":"Patient","id":"p1","gender":"female","active":true,
            "deceasedBoolean":false,"implicitRules":"http://x.example/r"}"#;
        assert_eq!(
            tokens("Patient.gender", pat),
            vec![t(None, Some("female"), None)]
        );
        assert_eq!(
            tokens("Patient.active", pat),
            vec![t(None, Some("true"), None)]
        );
        assert_eq!(
            tokens("Patient.deceased.ofType(boolean)", pat),
            vec![t(None, Some("false"), None)]
        );
        assert_eq!(tokens("Patient.id", pat), vec![t(None, Some("p1"), None)]);
        assert_eq!(
            tokens("Patient.implicitRules", pat),
            vec![t(None, Some("http://x.example/r"), None)]
        );
        // System values from an expression.
        assert_eq!(
            tokens("Patient.active.not()", pat),
            vec![t(None, Some("false"), None)]
        );
        assert_eq!(tokens("'abc'", pat), vec![t(None, Some("abc"), None)]);
        // Complex types a token does not cover yield nothing.
        assert!(tokens(
            "Patient.name",
            r#"{"resourceType":"Patient","name":[{"family":"x"}]}"#
        )
        .is_empty());
    }
}
