//! Identifier rules (datatypes.html#Identifier): with the system
//! `urn:ietf:rfc:3986` the value is itself a URI, so it carries a scheme
//! (`urn:oid:2.16…`, not a bare OID).

use fhir_model::json::tree::Value as Json;
use fhirpath::Node;

use crate::validate::datatypes::canonical;
use crate::validate::IssueType;

use crate::validate::{Issue, Severity};

pub(crate) fn check(node: Node<'_>, location: &str, issues: &mut Vec<Issue>) {
    let Some(value) = node.value else {
        return;
    };
    if crate::json::str_field(value, "system") != Some("urn:ietf:rfc:3986") {
        return;
    }
    let Some(Json::String(v)) = crate::json::field(value, "value") else {
        return;
    };
    if !canonical::is_absolute(v) {
        issues.push(Issue::new(
            Severity::Error,
            IssueType::Invalid,
            location,
            format!(
                "if identifier.system is 'urn:ietf:rfc:3986', then the identifier.value must be a full URI (e.g. start with a scheme), not '{v}'"
            ),
        ));
    }
}

#[cfg(test)]
mod tests {

    fn errors(value: &str) -> Vec<String> {
        let json = format!(
            r#"{{"resourceType":"Patient","identifier":[{{"system":"urn:ietf:rfc:3986","value":"{value}"}}]}}"#
        );
        crate::validate::tests::base_errors(&json)
    }

    #[test]
    fn an_rfc3986_identifier_value_is_a_uri() {
        assert!(errors("urn:oid:2.16.840.1.113883.6.57").is_empty());
        let e = errors("2.16.840.1.113883.6.57");
        assert!(
            e.len() == 1 && e[0].starts_with("Patient.identifier[0]:"),
            "{e:?}"
        );
    }
}
