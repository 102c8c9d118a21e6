//! Element ids (`Element.id`) are unique within a resource
//! (element.html: "Unique id for the element within a resource"). The HL7
//! validator reports a repeated one ("Duplicate id value"). Checked among
//! the items of one repeating element: a StructureDefinition's snapshot
//! and differential rightly repeat their element ids, each list once.
//! Resources inside the resource (contained, Bundle entries) are checked
//! on their own.

use fhir_model::json::tree::Value as Json;

use crate::validate::IssueType;
use crate::validate::{Issue, Severity};

pub(crate) fn check(resource: &Json, location: &str, issues: &mut Vec<Issue>) {
    if let Json::Object(m) = resource {
        object(m, location, issues);
    }
}

fn object(m: &[(String, Json)], location: &str, issues: &mut Vec<Issue>) {
    for (k, v) in m {
        if k.starts_with('_') {
            continue;
        }
        match v {
            Json::Array(items) => {
                let mut seen: Vec<&str> = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let Json::Object(child) = item else {
                        continue;
                    };
                    if is_resource(child) {
                        continue;
                    }
                    let at = format!("{location}.{k}[{i}]");
                    if let Some((_, Json::String(id))) = child.iter().find(|(n, _)| n == "id") {
                        if seen.contains(&id.as_str()) {
                            issues.push(Issue::new(
                                Severity::Error,
                                IssueType::Invalid,
                                at.clone(),
                                format!("Duplicate id value '{id}'"),
                            ));
                        } else {
                            seen.push(id);
                        }
                    }
                    object(child, &at, issues);
                }
            }
            Json::Object(child) if !is_resource(child) => {
                object(child, &format!("{location}.{k}"), issues)
            }
            _ => {}
        }
    }
}

fn is_resource(m: &[(String, Json)]) -> bool {
    m.iter().any(|(k, _)| k == "resourceType")
}

#[cfg(test)]
mod tests {
    use crate::validate::tests::base_errors as errors;

    #[test]
    fn a_repeated_element_id_is_an_error() {
        let e = errors(
            r#"{"resourceType":"Patient","name":[{"id":"n","family":"A"},{"id":"n","family":"B"}]}"#,
        );
        assert_eq!(e, vec!["Patient.name[1]: Duplicate id value 'n'"]);
        let e = errors(
            r#"{"resourceType":"Patient","name":[{"id":"n1","family":"A"},{"id":"n2","family":"B"}]}"#,
        );
        assert!(e.is_empty(), "{e:?}");
    }
}
