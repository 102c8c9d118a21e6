//! The target of a reference must be of a type the element allows
//! (references.html, ElementDefinition.type.targetProfile): the type of
//! the resource it resolves to (contained, or a Bundle entry), or, when
//! the validator assumes valid REST references (the HL7 validator's
//! `assumeValidRestReferences`), the type implied by the reference URL
//! (`Group/12345`, or an absolute URL ending `/Group/12345[/_history/n]`),
//! must be the type of one of the target profiles. Target profiles the
//! package set does not have are not judged.

use fhir_model::json::tree::Value as Json;
use fhir_model::meta::{self, Kind};

use super::{str_field, Issue, Severity, Validator};

/// Checks the Reference `value` at `loc` against the element's
/// `targets` (its `targetProfile`s).
pub(crate) fn check(
    v: &Validator,
    container: &Json,
    targets: &[String],
    value: Option<&Json>,
    loc: &str,
    issues: &mut Vec<Issue>,
) {
    let Some(value) = value else {
        return;
    };
    if targets.is_empty() {
        return;
    }
    let Some(reference) = str_field(value, "reference") else {
        return;
    };
    let resolved = super::resolve::resolve(container, reference);
    let ty = match resolved.and_then(super::resource_type) {
        Some(t) => t,
        None if resolved.is_none() && v.assume_valid_rest_references => {
            match implied_type(reference) {
                Some(t) => t,
                None => return,
            }
        }
        None => return,
    };
    let Some(choices) = super::discriminator::target_choices(v, targets) else {
        return;
    };
    if choices
        .iter()
        .any(|(t, _)| t == ty || t == "Resource" || t == "DomainResource")
    {
        return;
    }
    let mut names: Vec<&str> = choices.iter().map(|(t, _)| t.as_str()).collect();
    names.dedup();
    issues.push(Issue::new(
        Severity::Error,
        "structure",
        loc,
        format!(
            "The type '{ty}' implied by the reference URL {reference} is not a valid Target for this element (must be one of [{}])",
            names.join(", ")
        ),
    ));
}

/// The resource type a literal reference names, if any.
fn implied_type(reference: &str) -> Option<&str> {
    if reference.starts_with('#') || reference.starts_with("urn:") {
        return None;
    }
    let path = reference.split(['?', '#']).next()?;
    let segs: Vec<&str> = path.split('/').collect();
    let n = segs.len();
    let at = if n >= 4 && segs[n - 2] == "_history" {
        n.checked_sub(4)?
    } else {
        n.checked_sub(2)?
    };
    let ty = segs[at];
    let id = segs.get(at + 1)?;
    if id.is_empty() {
        return None;
    }
    meta::type_info(ty)
        .filter(|t| t.kind == Kind::Resource)
        .map(|_| ty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhir_model::json::tree;

    fn errors(reference: &str) -> usize {
        let v = Validator::default().assume_valid_rest_references(true);
        let value =
            tree::parse(format!(r#"{{"reference":"{reference}"}}"#).as_bytes()).expect("json");
        let targets = vec![
            "http://hl7.org/fhir/StructureDefinition/Patient".to_owned(),
            "http://hl7.org/fhir/StructureDefinition/Location".to_owned(),
        ];
        let mut issues = Vec::new();
        check(
            &v,
            &Json::Null,
            &targets,
            Some(&value),
            "Observation.subject",
            &mut issues,
        );
        issues.len()
    }

    #[test]
    fn a_reference_to_a_type_the_element_does_not_allow_is_an_error() {
        assert_eq!(errors("Group/12345"), 1);
        assert_eq!(errors("http://x.org/fhir/Group/1/_history/2"), 1);
    }

    #[test]
    fn without_the_assumption_only_resolved_targets_are_judged() {
        let v = Validator::default();
        let targets = vec!["http://hl7.org/fhir/StructureDefinition/Patient".to_owned()];
        let container = tree::parse(
            br#"{"resourceType":"Observation","contained":[{"resourceType":"Group","id":"g"}]}"#,
        )
        .expect("json");
        let count = |r: &str| {
            let value = tree::parse(format!(r#"{{"reference":"{r}"}}"#).as_bytes()).expect("json");
            let mut issues = Vec::new();
            check(&v, &container, &targets, Some(&value), "X", &mut issues);
            issues.len()
        };
        assert_eq!(count("#g"), 1);
        assert_eq!(count("Group/1"), 0);
    }

    #[test]
    fn allowed_or_untyped_references_pass() {
        assert_eq!(errors("Patient/1"), 0);
        assert_eq!(errors("http://x.org/fhir/Location/1"), 0);
        assert_eq!(errors("#c1"), 0);
        assert_eq!(errors("urn:uuid:0c5a1c1e-1f2b-4d3c-8e9f-000000000000"), 0);
    }
}
