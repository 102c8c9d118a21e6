//! What a profile demands of a primitive's value beyond the core
//! element properties. Whether it may stand without one (R5's
//! `ElementDefinition.mustHaveValue` and `valueAlternatives`, used in R4
//! profiles through their cross-version extensions): a primitive can
//! carry only extensions (`"_active": {"extension": [...]}`); a profile
//! may demand a real value (`mustHaveValue`), or allow its absence only
//! when one of the listed extensions (`data-absent-reason`, …) says why
//! (`valueAlternatives`). And how short a string value may be (the core
//! `minLength` extension, the counterpart of `maxLength`).

use fhir_model::json::tree::Value as Json;

use super::{field, str_field, Issue, Severity};

const MUST_HAVE_VALUE: &str =
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ElementDefinition.mustHaveValue";
const VALUE_ALTERNATIVES: &str =
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-ElementDefinition.valueAlternatives";
const MIN_LENGTH: &str = "http://hl7.org/fhir/StructureDefinition/minLength";

/// The rules of one element definition.
#[derive(Debug, Default)]
pub(crate) struct Rules {
    must_have_value: bool,
    alternatives: Vec<String>,
    min_length: Option<usize>,
}

/// Reads the rules from an element definition (the R5 properties or the
/// R4 cross-version extensions).
pub(crate) fn rules(e: &Json) -> Rules {
    let mut r = Rules {
        must_have_value: matches!(field(e, "mustHaveValue"), Some(Json::Bool(true))),
        alternatives: match field(e, "valueAlternatives") {
            Some(Json::Array(list)) => list
                .iter()
                .filter_map(|v| match v {
                    Json::String(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        },
        min_length: None,
    };
    if let Some(Json::Array(exts)) = field(e, "extension") {
        for x in exts {
            match str_field(x, "url") {
                Some(MUST_HAVE_VALUE) => {
                    r.must_have_value |= matches!(field(x, "valueBoolean"), Some(Json::Bool(true)))
                }
                Some(VALUE_ALTERNATIVES) => {
                    if let Some(u) = str_field(x, "valueCanonical") {
                        r.alternatives.push(u.to_owned());
                    }
                }
                Some(MIN_LENGTH) => {
                    if let Some(Json::Number(n)) = field(x, "valueInteger") {
                        r.min_length = n.parse().ok();
                    }
                }
                _ => {}
            }
        }
    }
    r
}

/// Checks one instance: `value` is the primitive's value, `ext` its
/// `_name` object. Only a primitive present without a value is judged.
pub(crate) fn check(
    r: &Rules,
    element: &str,
    profile: &str,
    value: Option<&Json>,
    ext: Option<&Json>,
    location: &str,
    issues: &mut Vec<Issue>,
) {
    if let (Some(min), Some(Json::String(s))) = (r.min_length, value) {
        let n = s.chars().count();
        if n < min {
            issues.push(Issue::new(
                Severity::Error,
                "value",
                location,
                format!("Value '{s}' is shorter than permitted minimum length of {min} ({element} in profile '{profile}')"),
            ));
        }
    }
    if value.is_some() || ext.is_none() || (!r.must_have_value && r.alternatives.is_empty()) {
        return;
    }
    if r.must_have_value {
        issues.push(Issue::new(
            Severity::Error,
            "required",
            location,
            format!(
                "The element definition {element} in the profile '{profile}' requires that a value be present in this element"
            ),
        ));
        return;
    }
    let urls: Vec<&str> = match ext.and_then(|x| field(x, "extension")) {
        Some(Json::Array(list)) => list.iter().filter_map(|x| str_field(x, "url")).collect(),
        _ => Vec::new(),
    };
    if !r.alternatives.iter().any(|a| urls.contains(&a.as_str())) {
        issues.push(Issue::new(
            Severity::Error,
            "required",
            location,
            format!(
                "The element definition {element} in the profile '{profile}' requires that if a value is not present, one of the extensions {} must be present",
                r.alternatives.join(", ")
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use fhir_model::json::tree;

    use super::*;

    fn run(def: &str, value: Option<&str>, ext: &str) -> Vec<Issue> {
        let def = tree::parse(def.as_bytes()).expect("def");
        let value = value.map(|v| tree::parse(v.as_bytes()).expect("value"));
        let ext = tree::parse(ext.as_bytes()).expect("ext");
        let mut issues = Vec::new();
        check(
            &rules(&def),
            "Patient.active",
            "http://x.test/p",
            value.as_ref(),
            Some(&ext),
            "Patient.active",
            &mut issues,
        );
        issues
    }

    const DAR: &str = r#"{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}"#;

    #[test]
    fn must_have_value_wants_a_value_not_only_extensions() {
        let def = format!(r#"{{"extension":[{{"url":"{MUST_HAVE_VALUE}","valueBoolean":true}}]}}"#);
        assert_eq!(run(&def, None, DAR).len(), 1);
        assert!(run(&def, Some("true"), DAR).is_empty());
        assert!(run("{}", None, DAR).is_empty());
    }

    #[test]
    fn min_length_bounds_a_string_from_below() {
        let def = format!(r#"{{"extension":[{{"url":"{MIN_LENGTH}","valueInteger":3}}]}}"#);
        assert_eq!(run(&def, Some(r#""ab""#), "{}").len(), 1);
        assert!(run(&def, Some(r#""abc""#), "{}").is_empty());
    }

    #[test]
    fn value_alternatives_name_the_extensions_that_may_stand_for_it() {
        let def = format!(
            r#"{{"extension":[{{"url":"{VALUE_ALTERNATIVES}","valueCanonical":"http://hl7.org/fhir/StructureDefinition/data-absent-reason"}}]}}"#
        );
        assert!(run(&def, None, DAR).is_empty());
        let other = DAR.replace("data-absent-reason", "iso21090-nullFlavor");
        assert_eq!(run(&def, None, &other).len(), 1);
    }
}
