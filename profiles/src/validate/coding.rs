//! Coding rules (datatypes.html#Coding): the system is an absolute URI;
//! a local reference (`Location1`, `#cs`) names no code system anyone
//! else can know.

use fhir_model::json::tree::Value as Json;
use fhirpath::Node;

use super::{canonical, Issue, Severity, Validator};

pub(crate) fn check(_v: &Validator, node: Node<'_>, location: &str, issues: &mut Vec<Issue>) {
    let Some(coding) = node.value else {
        return;
    };
    if let Some(Json::String(system)) = super::field(coding, "system") {
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
}
