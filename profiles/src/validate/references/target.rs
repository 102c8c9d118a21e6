//! The target of a reference must be of a type the element allows
//! (references.html, ElementDefinition.type.targetProfile): the type of
//! the resource it resolves to (contained, or a Bundle entry), or, when
//! the validator assumes valid REST references (the HL7 validator's
//! `assumeValidRestReferences`), the type implied by the reference URL
//! (`Group/12345`, or an absolute URL ending `/Group/12345[/_history/n]`),
//! must be the type of one of the target profiles. A target outside the
//! resource is read through the validator's fetcher when it has one. Target profiles the
//! package set does not have are not judged.

use fhir_model::json::tree::Value as Json;
use fhir_model::meta::{self, Kind};

use crate::json::str_field;
use crate::validate::IssueType;

use crate::validate::profile::discriminator;
use crate::validate::references::resolve;
use crate::validate::{Issue, Severity, Validator};

/// Checks the Reference `value` at `loc` against the element's
/// `targets` (its `targetProfile`s).
pub(crate) fn check(
    v: &Validator,
    container: &Json,
    bundle: Option<&Json>,
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
    let local =
        resolve::resolve(container, reference).or_else(|| resolve::resolve(bundle?, reference));
    let fetched = match local {
        None if !reference.starts_with('#') => v.fetch(reference),
        _ => None,
    };
    let resolved = local.or(fetched.as_ref());
    let ty = match resolved.and_then(crate::json::resource_type) {
        Some(t) => t,
        None if resolved.is_none() && v.assume_valid_rest_references => {
            match implied_type(reference) {
                Some(t) => t,
                None => return,
            }
        }
        None => return,
    };
    let Some(choices) = discriminator::target_choices(v, targets) else {
        return;
    };
    let mine: Vec<&Option<String>> = choices
        .iter()
        .filter(|(t, _)| t == ty || t == "Resource" || t == "DomainResource")
        .map(|(_, p)| p)
        .collect();
    if !mine.is_empty() {
        if let Some(target) = resolved {
            if mine.iter().all(|p| p.is_some()) {
                let urls: Vec<&str> = mine.iter().filter_map(|p| p.as_deref()).collect();
                target_profiles(v, target, bundle, reference, &urls, loc, issues);
            }
        }
        return;
    }
    let mut names: Vec<&str> = choices.iter().map(|(t, _)| t.as_str()).collect();
    names.dedup();
    issues.push(Issue::new(
        Severity::Error,
        IssueType::Structure,
        loc,
        format!(
            "The type '{ty}' implied by the reference URL {reference} is not a valid Target for this element (must be one of [{}])",
            names.join(", ")
        ),
    ));
}

/// How many references deep target profiles are followed (references
/// may form cycles: two patients linking each other).
const MAX_DEPTH: usize = 3;

thread_local! {
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The resolved target must conform to one of the target profiles.
fn target_profiles(
    v: &Validator,
    target: &Json,
    bundle: Option<&Json>,
    reference: &str,
    urls: &[&str],
    loc: &str,
    issues: &mut Vec<Issue>,
) {
    let depth = DEPTH.with(|d| d.get());
    if depth >= MAX_DEPTH {
        return;
    }
    DEPTH.with(|d| d.set(depth + 1));
    let mut any = false;
    let mut known = false;
    for url in urls {
        let Some(p) = v.profile(url) else {
            continue;
        };
        known = true;
        let mut scratch = Vec::new();
        p.validate_in(v, target, bundle, loc, &mut scratch);
        if !crate::validate::has_errors(&scratch) {
            any = true;
            break;
        }
    }
    DEPTH.with(|d| d.set(depth));
    if known && !any {
        issues.push(Issue::new(
            Severity::Error,
            IssueType::Structure,
            loc,
            format!(
                "Unable to find a profile match for {reference} among choices: {}",
                urls.join(", ")
            ),
        ));
    }
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
            None,
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
            check(
                &v,
                &container,
                None,
                &targets,
                Some(&value),
                "X",
                &mut issues,
            );
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

    #[test]
    fn a_resolved_target_must_conform_to_a_target_profile() {
        use crate::{Package, PackageSet};
        use std::sync::Arc;
        let named = r#"{"resourceType":"StructureDefinition","id":"named","url":"http://x/named",
          "type":"Patient","kind":"resource","snapshot":{"element":[
            {"id":"Patient","path":"Patient","min":0,"max":"*"},
            {"id":"Patient.name","path":"Patient.name","min":1,"max":"*","type":[{"code":"HumanName"}]}]}}"#;
        let mut set = PackageSet::new();
        set.add(
            Package::from_resources("t", "1", [("p.json".to_owned(), named.as_bytes().to_vec())])
                .expect("package"),
        );
        let v = Validator::new(Arc::new(set));
        let bundle = tree::parse(
            br#"{"resourceType":"Bundle","entry":[
              {"fullUrl":"http://x/Patient/a","resource":{"resourceType":"Patient","id":"a"}},
              {"fullUrl":"http://x/Patient/b","resource":{"resourceType":"Patient","id":"b","name":[{"family":"B"}]}}]}"#,
        )
        .expect("json");
        let targets = vec!["http://x/named".to_owned()];
        let count = |r: &str| {
            let value = tree::parse(format!(r#"{{"reference":"{r}"}}"#).as_bytes()).expect("json");
            let mut issues = Vec::new();
            check(
                &v,
                &Json::Null,
                Some(&bundle),
                &targets,
                Some(&value),
                "X",
                &mut issues,
            );
            issues.len()
        };
        assert_eq!(count("Patient/a"), 1);
        assert_eq!(count("Patient/b"), 0);
        assert_eq!(count("Patient/elsewhere"), 0);
    }
}
