//! A resource held by an element of a profile (`Bundle.entry.resource`,
//! `Parameters.parameter.resource`) whose type lists resource types or
//! profiles (elementdefinition-definitions.html#ElementDefinition.type):
//! the resource must be of one of the types those name, and must conform
//! to one of the profiles given for its type. A profile the package set
//! does not have is not judged (neither its type nor its content).

use fhir_model::json::tree::Value as Json;

use crate::json::resource_type;
use crate::validate::IssueType;

use crate::validate::profile::discriminator;
use crate::validate::{has_errors, Issue, Severity, Validator};

/// Checks `resource` at `loc` against the element's `types` (type code
/// and its profiles).
pub(crate) fn check(
    v: &Validator,
    types: &[(String, Vec<String>)],
    resource: &Json,
    bundle: Option<&Json>,
    loc: &str,
    issues: &mut Vec<Issue>,
) {
    let Some(rt) = resource_type(resource) else {
        return;
    };
    if types.is_empty() {
        return;
    }
    // The resource types allowed, with the profiles to check for each.
    let mut allowed: Vec<(String, Option<String>)> = Vec::new();
    for (code, profiles) in types {
        if profiles.is_empty() {
            if matches!(code.as_str(), "Resource" | "DomainResource" | "*") {
                return;
            }
            allowed.push((code.clone(), None));
            continue;
        }
        for url in profiles {
            match discriminator::profile_choice(v, url) {
                Some(choice) => allowed.push(choice),
                // An unknown profile: nothing can be said.
                None => return,
            }
        }
    }
    if allowed
        .iter()
        .any(|(t, _)| matches!(t.as_str(), "Resource" | "DomainResource"))
        && allowed.iter().all(|(_, p)| p.is_none())
    {
        return;
    }
    let mine: Vec<&Option<String>> = allowed
        .iter()
        .filter(|(t, _)| t == rt || t == "Resource" || t == "DomainResource")
        .map(|(_, p)| p)
        .collect();
    if mine.is_empty() {
        let mut names: Vec<&str> = allowed.iter().map(|(t, _)| t.as_str()).collect();
        names.dedup();
        issues.push(Issue::new(
            Severity::Error,
            IssueType::Structure,
            loc,
            format!(
                "The type '{rt}' is not valid - must be {}",
                names.join(" or ")
            ),
        ));
        return;
    }
    // Any entry without a profile of this type lets the resource pass.
    if mine.iter().any(|p| p.is_none()) {
        return;
    }
    let mut first: Option<Vec<Issue>> = None;
    for url in mine.into_iter().flatten() {
        let Some(p) = v.profile(url) else {
            continue;
        };
        let mut scratch = Vec::new();
        p.validate_in(v, resource, bundle, loc, &mut scratch);
        if !has_errors(&scratch) {
            issues.extend(scratch);
            return;
        }
        first.get_or_insert(scratch);
    }
    if let Some(found) = first {
        issues.extend(found);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use fhir_model::json::tree;

    use crate::{Package, PackageSet, Validator};

    fn validator() -> Validator {
        let pat = r#"{"resourceType":"StructureDefinition","id":"named","url":"http://example.org/named",
          "type":"Patient","kind":"resource","snapshot":{"element":[
            {"id":"Patient","path":"Patient","min":0,"max":"*"},
            {"id":"Patient.name","path":"Patient.name","min":1,"max":"*","type":[{"code":"HumanName"}]}]}}"#;
        let files = [("p.json".to_owned(), pat.as_bytes().to_vec())];
        let mut set = PackageSet::new();
        set.add(Package::from_resources("t", "0.1.0", files).expect("package"));
        Validator::new(Arc::new(set))
    }

    fn errors(types: &[(String, Vec<String>)], json: &str) -> Vec<String> {
        let v = validator();
        let r = tree::parse(json.as_bytes()).expect("json");
        let mut issues = Vec::new();
        super::check(&v, types, &r, None, "X.resource", &mut issues);
        issues
            .into_iter()
            .filter(|i| i.severity.is_error())
            .map(|i| i.message)
            .collect()
    }

    #[test]
    fn the_wrong_resource_type_is_reported() {
        let types = vec![(
            "Resource".to_owned(),
            vec!["http://hl7.org/fhir/StructureDefinition/DocumentManifest".to_owned()],
        )];
        let e = errors(&types, r#"{"resourceType":"Patient"}"#);
        assert!(
            e.iter()
                .any(|m| m.contains("'Patient' is not valid - must be DocumentManifest")),
            "{e:?}"
        );
        assert!(errors(&types, r#"{"resourceType":"DocumentManifest"}"#).is_empty());
    }

    #[test]
    fn the_resource_must_conform_to_the_profile() {
        let types = vec![(
            "Resource".to_owned(),
            vec!["http://example.org/named".to_owned()],
        )];
        let e = errors(&types, r#"{"resourceType":"Patient"}"#);
        assert!(e.iter().any(|m| m.contains("Patient.name")), "{e:?}");
        assert!(errors(
            &types,
            r#"{"resourceType":"Patient","name":[{"family":"A"}]}"#
        )
        .is_empty());
        // Unknown profiles are not judged.
        let unknown = vec![("Resource".to_owned(), vec!["http://x/y".to_owned()])];
        assert!(errors(&unknown, r#"{"resourceType":"Basic"}"#).is_empty());
    }
}
