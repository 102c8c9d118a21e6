//! A StructureDefinition's element types may name profiles
//! (`type.profile`, elementdefinition.html#ElementDefinition.type.profile):
//! each must be a profile of that very type (`Quantity` takes profiles
//! of Quantity, not `Count`, a specialization of its own), and an
//! extension definition fits `modifierExtension` exactly when it is a
//! modifier extension.
//!
//! Profiles the package set lacks, and logical models, are not judged.

use fhir_model::json::tree::Value as Json;

use crate::json::{field, str_field};
use crate::validate::IssueType;

use crate::validate::{Issue, Severity, Validator};

/// Checks the type profiles of StructureDefinition `sd` at `location`.
pub(crate) fn check(v: &Validator, sd: &Json, location: &str, issues: &mut Vec<Issue>) {
    for part in ["differential", "snapshot"] {
        let Some(Json::Array(elements)) = field(sd, part).and_then(|p| field(p, "element")) else {
            continue;
        };
        for (ei, e) in elements.iter().enumerate() {
            let Some(Json::Array(types)) = field(e, "type") else {
                continue;
            };
            let path = str_field(e, "path").unwrap_or("");
            for (ti, t) in types.iter().enumerate() {
                let Some(code) = str_field(t, "code") else {
                    continue;
                };
                let Some(Json::Array(profiles)) = field(t, "profile") else {
                    continue;
                };
                for (pi, p) in profiles.iter().enumerate() {
                    let Json::String(url) = p else {
                        continue;
                    };
                    let loc = format!("{location}.{part}.element[{ei}].type[{ti}].profile[{pi}]");
                    if let Some(msg) = mismatch(v, code, path, url) {
                        issues.push(Issue::new(Severity::Error, IssueType::Structure, loc, msg));
                    }
                }
            }
        }
    }
}

/// What is wrong with profile `url` on a type `code` of element `path`.
fn mismatch(v: &Validator, code: &str, path: &str, url: &str) -> Option<String> {
    let (pkg, res) = v.packages().by_canonical(url)?;
    if res.resource_type != "StructureDefinition" {
        return None;
    }
    let p = res.json(pkg.source()).ok()?;
    if str_field(p, "kind") == Some("logical") {
        return None;
    }
    let ty = str_field(p, "type")?;
    let resource_ok =
        matches!(code, "Resource" | "DomainResource") && str_field(p, "kind") == Some("resource");
    if ty != code && !resource_ok {
        return Some(format!(
            "Profile {url} is for type {ty}, but the {path} element has type {code}"
        ));
    }
    if code != "Extension" {
        return None;
    }
    let modifier_element = path.ends_with(".modifierExtension") || path == "modifierExtension";
    let plain_element = path.ends_with(".extension") || path == "extension";
    let modifier_profile = is_modifier(p);
    if modifier_profile && plain_element {
        return Some(format!(
            "Profile {url} is for a modifier extension, but the {path} element is not a modifier"
        ));
    }
    if !modifier_profile && modifier_element {
        return Some(format!(
            "Profile {url} is not for a modifier extension, but the {path} element is a modifier"
        ));
    }
    None
}

/// The root element's `isModifier` (snapshot, else differential).
fn is_modifier(sd: &Json) -> bool {
    ["snapshot", "differential"].iter().any(|part| {
        let Some(Json::Array(list)) = field(sd, part).and_then(|p| field(p, "element")) else {
            return false;
        };
        list.iter()
            .find(|e| str_field(e, "path") == Some("Extension"))
            .is_some_and(|e| matches!(field(e, "isModifier"), Some(Json::Bool(true))))
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{Package, PackageSet, Validator};

    const DEFS: [(&str, &str); 2] = [
        (
            "StructureDefinition-mod.json",
            r#"{"resourceType":"StructureDefinition","id":"mod","url":"http://x.test/mod",
 "type":"Extension","kind":"complex-type","derivation":"constraint",
 "snapshot":{"element":[{"id":"Extension","path":"Extension","isModifier":true}]}}"#,
        ),
        (
            "StructureDefinition-qty.json",
            r#"{"resourceType":"StructureDefinition","id":"qty","url":"http://x.test/qty",
 "type":"Quantity","kind":"complex-type","derivation":"constraint",
 "snapshot":{"element":[{"id":"Quantity","path":"Quantity"}]}}"#,
        ),
    ];

    fn errors(path: &str, code: &str, profile: &str) -> Vec<String> {
        let files = DEFS.map(|(n, b)| (n.to_owned(), b.as_bytes().to_vec()));
        let mut set = PackageSet::new();
        set.add(Package::from_resources("x.test", "0.1.0", files).expect("package"));
        let sd = format!(
            r#"{{"resourceType":"StructureDefinition","url":"http://x.test/p","name":"P","status":"draft",
            "kind":"resource","abstract":true,"type":"Observation","derivation":"constraint",
            "differential":{{"element":[{{"id":"{path}","path":"{path}",
            "type":[{{"code":"{code}","profile":["{profile}"]}}]}}]}}}}"#
        );
        Validator::new(Arc::new(set))
            .validate_json(sd.as_bytes(), &[])
            .into_iter()
            .filter(|i| i.message.starts_with("Profile "))
            .map(|i| format!("{}: {}", i.expression, i.message))
            .collect()
    }

    #[test]
    fn a_type_profile_must_be_of_that_type() {
        assert!(errors("Observation.valueQuantity", "Quantity", "http://x.test/qty").is_empty());
        let e = errors(
            "Observation.valueQuantity",
            "CodeableConcept",
            "http://x.test/qty",
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with(
            "StructureDefinition.differential.element[0].type[0].profile[0]: Profile http://x.test/qty is for type Quantity"
        ));
    }

    #[test]
    fn a_modifier_extension_profile_fits_modifier_extension_only() {
        assert!(errors(
            "Observation.modifierExtension",
            "Extension",
            "http://x.test/mod"
        )
        .is_empty());
        let e = errors("Observation.extension", "Extension", "http://x.test/mod");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("is for a modifier extension"), "{e:?}");
    }
}
