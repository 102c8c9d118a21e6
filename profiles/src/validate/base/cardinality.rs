//! Base cardinality from the generated type tables (`fhir_model::meta`):
//! a mandatory element (`min` 1) that is absent is an error. A repeating
//! element sent as one value (or the reverse) is the parser's structure
//! issue already.

use fhir_model::meta::TypeInfo;

use crate::validate::IssueType;
use crate::validate::{Issue, Severity};

/// `present[i]` tells whether element `i` of `info` occurs in the object at
/// `location`, whose definition path is `def_path`.
pub fn check(
    info: &TypeInfo,
    present: &[bool],
    def_path: &str,
    location: &str,
    issues: &mut Vec<Issue>,
) {
    for (e, here) in info.elements.iter().zip(present) {
        if e.required && !here {
            let suffix = if e.choice { "[x]" } else { "" };
            issues.push(Issue::new(
                Severity::Error,
                IssueType::Required,
                location,
                format!(
                    "{def_path}.{}{suffix}: minimum required = 1, but only found 0",
                    e.name
                ),
            ));
        }
    }
}
