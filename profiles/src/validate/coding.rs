//! Coding rules (datatypes.html#Coding): the system is an absolute URI;
//! a local reference (`Location1`, `#cs`) names no code system anyone
//! else can know. It names a code system, not a supplement of one
//! (codesystem.html#supplements: supplements add designations and
//! properties, they define no codes).

use fhir_model::json::tree::Value as Json;
use fhirpath::Node;

use super::{canonical, Issue, Severity, Validator};

pub(crate) fn check(v: &Validator, node: Node<'_>, location: &str, issues: &mut Vec<Issue>) {
    let Some(coding) = node.value else {
        return;
    };
    if let Some(Json::String(system)) = super::field(coding, "system") {
        let supplement = || {
            canonical::fetch(v.packages(), system).is_some_and(|cs| {
                super::resource_type(cs) == Some("CodeSystem")
                    && (super::str_field(cs, "content") == Some("supplement")
                        || super::field(cs, "supplements").is_some())
            })
        };
        if canonical::is_absolute(system) && supplement() {
            issues.push(Issue::new(
                Severity::Error,
                "invalid",
                format!("{location}.system"),
                format!(
                    "CodeSystem {system} is a supplement, so can't be used as a value in Coding.system"
                ),
            ));
        }
        if !canonical::is_absolute(system) {
            issues.push(Issue::new(
                Severity::Error,
                "invalid",
                format!("{location}.system"),
                format!(
                    "Coding.system must be an absolute reference, not a local reference ({system})"
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::Validator;

    fn errors(system: &str) -> Vec<String> {
        let json = format!(
            r#"{{"resourceType":"Patient","maritalStatus":{{"coding":[{{"system":"{system}","code":"M"}}]}}}}"#
        );
        Validator::default()
            .validate_json(json.as_bytes(), &[])
            .into_iter()
            .filter(|i| i.severity.is_error())
            .map(|i| format!("{}: {}", i.expression, i.message))
            .collect()
    }

    #[test]
    fn a_coding_system_is_absolute() {
        assert!(errors("http://terminology.hl7.org/CodeSystem/v3-MaritalStatus").is_empty());
        let e = errors("Location1");
        assert!(
            e.len() == 1 && e[0].starts_with("Patient.maritalStatus.coding[0].system:"),
            "{e:?}"
        );
    }

    #[test]
    fn a_supplement_is_no_coding_system() {
        use std::sync::Arc;
        let cs = br#"{"resourceType":"CodeSystem","id":"s","url":"http://example.org/supp",
            "status":"draft","content":"supplement","supplements":"http://loinc.org"}"#;
        let mut set = crate::PackageSet::new();
        set.add(
            crate::Package::from_resources("t", "0.0.0", vec![("s.json".to_owned(), cs.to_vec())])
                .expect("package"),
        );
        let v = Validator::new(Arc::new(set));
        let e: Vec<String> = v
            .validate_json(
                br#"{"resourceType":"Patient","maritalStatus":{"coding":[{"system":"http://example.org/supp","code":"M"}]}}"#,
                &[],
            )
            .into_iter()
            .filter(|i| i.severity.is_error())
            .map(|i| i.expression)
            .collect();
        assert_eq!(e, vec!["Patient.maritalStatus.coding[0].system"]);
    }
}
