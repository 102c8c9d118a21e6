//! Attachment.size, when stated, is the size of the content
//! (datatypes.html#Attachment: "The number of bytes of data that make up
//! this attachment (before base64 encoding, if that is done)"): with the
//! data inline, the two must agree.

use fhirpath::Node;

use super::{Issue, Severity};

/// Checks one Attachment at `location`.
pub fn check(node: Node<'_>, location: &str, issues: &mut Vec<Issue>) {
    let (Some(data), Some(size)) = (node.str_field("data"), node.field("size")) else {
        return;
    };
    let stated = match size {
        fhir_model::json::tree::Value::Number(n) => n.parse::<u64>().ok(),
        _ => None,
    };
    let (Some(stated), Some(actual)) = (stated, decoded_len(data)) else {
        return;
    };
    if stated != actual {
        issues.push(Issue::new(
            Severity::Error,
            "structure",
            location,
            format!("Stated Attachment Size {stated} does not match actual attachment size {actual} (the bytes of the base64 data)"),
        ));
    }
}

/// The number of bytes base64 text decodes to; `None` when it is not
/// base64 (the primitive's format check reports that).
fn decoded_len(data: &str) -> Option<u64> {
    let chars: Vec<u8> = data.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !chars.len().is_multiple_of(4) {
        return None;
    }
    let pad = chars.iter().rev().take_while(|b| **b == b'=').count();
    if pad > 2 {
        return None;
    }
    u64::try_from(chars.len() / 4 * 3 - pad).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhir_model::json::tree;

    fn run(json: &str) -> Vec<Issue> {
        let v = tree::parse(json.as_bytes()).expect("json");
        let node = Node {
            value: Some(&v),
            ext: None,
            ty: "Attachment",
        };
        let mut issues = Vec::new();
        check(node, "Media.content", &mut issues);
        issues
    }

    #[test]
    fn size_matches_data() {
        assert!(run(r#"{"data":"aGVscCBpJ20gYSBidWc=","size":14}"#).is_empty());
        assert!(run(r#"{"data":"aGk=","size":2}"#).is_empty());
        assert!(run(r#"{"url":"http://x.org/a","size":100}"#).is_empty());
        let bad = run(r#"{"data":"aGVscCBpJ20gYSBidWc=","size":100}"#);
        assert_eq!(bad.len(), 1);
        assert!(bad[0]
            .message
            .starts_with("Stated Attachment Size 100 does not match actual attachment size 14"));
    }
}
