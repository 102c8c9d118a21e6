//! The structure check: the `fhir-model` parser reads the resource into
//! the generated R4 types and every issue it reports (unknown elements,
//! wrong JSON shapes, primitive formats) becomes an error at its location.

use fhir_model::json::tree::{self, Value as Json};
use fhir_model::{IssueKind, Resource};

use crate::validate::{Issue, IssueType, Severity};

/// Parses `bytes`; pushes the parser's issues. Returns the JSON tree when
/// the bytes are JSON with a known `resourceType` (the other checks run
/// on it even when some element is broken).
pub fn check(bytes: &[u8], issues: &mut Vec<Issue>) -> Option<Json> {
    if let Err(e) = Resource::from_json_slice(bytes) {
        for i in e.issues {
            let code = match i.kind {
                IssueKind::Syntax => IssueType::Structure,
                IssueKind::Structure => IssueType::Structure,
                IssueKind::UnknownElement => IssueType::Structure,
                IssueKind::Value => IssueType::Value,
                IssueKind::UnknownResourceType => IssueType::Structure,
            };
            let fatal = matches!(i.kind, IssueKind::Syntax | IssueKind::UnknownResourceType);
            issues.push(Issue::new(
                if fatal {
                    Severity::Fatal
                } else {
                    Severity::Error
                },
                code,
                i.expression,
                i.message,
            ));
            if fatal {
                return None;
            }
        }
    }
    tree::parse(bytes).ok()
}
