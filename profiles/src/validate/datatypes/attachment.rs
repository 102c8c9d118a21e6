//! Attachment.size is the size of the data in bytes (datatypes.html#Attachment):
//! when both `size` and `data` are given they must agree, as the HL7
//! validator checks ("Stated Attachment Size … does not match actual
//! attachment size …").

use fhir_model::json::tree::Value as Json;
use fhirpath::Node;

use crate::json::{field, str_field};
use crate::validate::IssueType;

use crate::validate::{Issue, Severity};

/// The number of bytes base64 text decodes to (whitespace ignored).
pub fn decoded_len(data: &str) -> usize {
    let chars: Vec<u8> = data.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let pad = chars
        .iter()
        .rev()
        .take_while(|b| **b == b'=')
        .count()
        .min(2);
    (chars.len() * 3 / 4).saturating_sub(pad)
}

/// Checks one Attachment at `location`.
pub fn check(node: Node<'_>, location: &str, issues: &mut Vec<Issue>) {
    if node.ty != "Attachment" {
        return;
    }
    let Some(v) = node.value else {
        return;
    };
    let (Some(Json::Number(size)), Some(data)) = (field(v, "size"), str_field(v, "data")) else {
        return;
    };
    let Ok(size) = size.parse::<u64>() else {
        return;
    };
    let actual = decoded_len(data) as u64;
    if size != actual {
        issues.push(Issue::new(
            Severity::Error,
            IssueType::Structure,
            location,
            format!("Stated Attachment Size {size} does not match actual attachment size {actual}"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::decoded_len;
    use crate::validate::Validator;

    #[test]
    fn base64_lengths() {
        assert_eq!(decoded_len("YQ=="), 1);
        assert_eq!(decoded_len("YWI="), 2);
        assert_eq!(decoded_len("YWJj"), 3);
        assert_eq!(decoded_len(""), 0);
    }

    #[test]
    fn stated_size_must_match_the_data() {
        let doc = |size: u32| {
            format!(
                r#"{{"resourceType":"Media","status":"completed","content":{{"contentType":"text/plain","data":"YWJj","size":{size}}}}}"#
            )
        };
        let issues = Validator::default().validate_json(doc(100).as_bytes(), &[]);
        assert!(
            issues
                .iter()
                .any(|i| i.severity.is_error() && i.message.contains("Attachment Size")),
            "{issues:?}"
        );
        let issues = Validator::default().validate_json(doc(3).as_bytes(), &[]);
        assert!(
            !issues.iter().any(|i| i.message.contains("Attachment Size")),
            "{issues:?}"
        );
    }
}
