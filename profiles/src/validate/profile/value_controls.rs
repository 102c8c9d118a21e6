//! Element-definition extensions that control a primitive's value:
//! `minLength` (http://hl7.org/fhir/StructureDefinition/minLength: a
//! string at least that long), and the R5 `mustHaveValue` (a primitive
//! must carry a value, not only extensions) and `valueAlternatives` (a
//! primitive without a value must carry one of the listed extensions
//! instead), used in R4 through their cross-version extensions
//! (`http://hl7.org/fhir/5.0/StructureDefinition/extension-ElementDefinition.mustHaveValue`).

use fhir_model::json::tree::Value as Json;

use crate::json::{field, str_field};
use crate::validate::IssueType;

use crate::validate::{Issue, Severity};

/// The value controls of one element.
#[derive(Debug, Default)]
pub(crate) struct ValueControls {
    min_length: Option<usize>,
    must_have_value: bool,
    alternatives: Vec<String>,
}

impl ValueControls {
    pub(crate) fn compile(e: &Json) -> ValueControls {
        let mut out = ValueControls::default();
        let Some(Json::Array(exts)) = field(e, "extension") else {
            return out;
        };
        for x in exts {
            let url = str_field(x, "url").unwrap_or("");
            if url == "http://hl7.org/fhir/StructureDefinition/minLength"
                || url.ends_with("ElementDefinition.minLength")
            {
                if let Some(Json::Number(n)) = field(x, "valueInteger") {
                    out.min_length = n.parse().ok();
                }
            } else if url.ends_with("ElementDefinition.mustHaveValue") {
                out.must_have_value = matches!(field(x, "valueBoolean"), Some(Json::Bool(true)));
            } else if url.ends_with("ElementDefinition.valueAlternatives") {
                if let Some(c) = str_field(x, "valueCanonical") {
                    out.alternatives.push(c.to_owned());
                }
            }
        }
        out
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.min_length.is_none() && !self.must_have_value && self.alternatives.is_empty()
    }

    /// Checks a primitive's value and its `_name` object at `loc` for the
    /// element `id`.
    pub(crate) fn check(
        &self,
        id: &str,
        value: Option<&Json>,
        ext: Option<&Json>,
        loc: &str,
        issues: &mut Vec<Issue>,
    ) {
        if let (Some(min), Some(Json::String(s))) = (self.min_length, value) {
            if s.chars().count() < min {
                issues.push(Issue::new(
                    Severity::Error,
                    IssueType::Value,
                    loc,
                    format!("Value '{s}' is shorter than permitted minimum length of {min}"),
                ));
            }
        }
        if value.is_some() || ext.is_none() {
            return;
        }
        if self.must_have_value {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Value,
                loc,
                format!(
                    "The element definition {id} requires that a value be present in this element"
                ),
            ));
        } else if !self.alternatives.is_empty() {
            let urls: Vec<&str> = match ext.and_then(|e| field(e, "extension")) {
                Some(Json::Array(xs)) => xs.iter().filter_map(|x| str_field(x, "url")).collect(),
                _ => Vec::new(),
            };
            if !urls
                .iter()
                .any(|u| self.alternatives.iter().any(|a| a == u))
            {
                issues.push(Issue::new(
                    Severity::Error,
                    IssueType::Value,
                    loc,
                    format!(
                        "The element definition {id} requires that if a value is not present, one of the extensions {} must be present",
                        self.alternatives.join(", ")
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhir_model::json::tree;

    fn count(def: &str, value: Option<&str>, ext: Option<&str>) -> usize {
        let c = ValueControls::compile(&tree::parse(def.as_bytes()).expect("def"));
        let v = value.map(|v| tree::parse(v.as_bytes()).expect("value"));
        let x = ext.map(|x| tree::parse(x.as_bytes()).expect("ext"));
        let mut issues = Vec::new();
        c.check(
            "Patient.active",
            v.as_ref(),
            x.as_ref(),
            "Patient.active",
            &mut issues,
        );
        issues.len()
    }

    const DAR: &str = r#"{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}"#;
    const NULL_FLAVOR: &str = r#"{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/iso21090-nullFlavor","valueCode":"MSK"}]}"#;

    #[test]
    fn min_length() {
        let d = r#"{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/minLength","valueInteger":3}]}"#;
        assert_eq!(count(d, Some(r#""ab""#), None), 1);
        assert_eq!(count(d, Some(r#""abc""#), None), 0);
    }

    #[test]
    fn must_have_value_and_value_alternatives() {
        let must = r#"{"extension":[{"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-ElementDefinition.mustHaveValue","valueBoolean":true}]}"#;
        assert_eq!(count(must, None, Some(DAR)), 1);
        assert_eq!(count(must, Some("true"), Some(DAR)), 0);
        let alt = r#"{"extension":[{"url":"http://hl7.org/fhir/5.0/StructureDefinition/extension-ElementDefinition.valueAlternatives","valueCanonical":"http://hl7.org/fhir/StructureDefinition/data-absent-reason"}]}"#;
        assert_eq!(count(alt, None, Some(NULL_FLAVOR)), 1);
        assert_eq!(count(alt, None, Some(DAR)), 0);
    }
}
