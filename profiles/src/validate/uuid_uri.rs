//! A `urn:uuid:` URI must carry a valid UUID in lower case (RFC 4122, and
//! datatypes.html#uuid: "the UUID must be in lower case"), in every
//! uri-like element, as the HL7 validator checks ("UUIDs must be valid and
//! lowercase").

use fhir_model::json::tree::Value as Json;
use fhirpath::Node;

use super::{Issue, Severity};

fn is_lower_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// Checks one element of a uri-like type at `location`.
pub fn check(node: Node<'_>, location: &str, issues: &mut Vec<Issue>) {
    if !matches!(node.ty, "uri" | "url" | "canonical" | "uuid") {
        return;
    }
    let Some(Json::String(s)) = node.value else {
        return;
    };
    if let Some(id) = s.strip_prefix("urn:uuid:") {
        if !is_lower_uuid(id) {
            issues.push(Issue::new(
                Severity::Error,
                "invalid",
                location,
                format!("UUIDs must be valid and lowercase ({id})"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_lower_uuid;

    #[test]
    fn uuids() {
        assert!(is_lower_uuid("c757873d-ec9a-4326-a141-556f43239520"));
        assert!(!is_lower_uuid("C757873D-EC9A-4326-A141-556F43239520"));
        assert!(!is_lower_uuid("c757873d-ec9a-4326-a141-556f43239520asdf"));
    }
}
