//! Obligation profiles (the `obligation-profile` and `inherit-obligations`
//! extensions, obligations.html of the FHIR tooling): a profile that
//! inherits the obligations of other profiles names them with
//! `inherit-obligations`; each named profile must itself be an obligation
//! profile (`obligation-profile` = true) and constrain the same base, or
//! its obligations could not apply to the elements of this one.
//!
//! Profiles the package set lacks are not judged.

use fhir_model::json::tree::Value as Json;

use crate::json::{field, str_field};
use crate::validate::IssueType;

use crate::validate::{Issue, Severity, Validator};

const INHERIT: &str = "http://hl7.org/fhir/StructureDefinition/inherit-obligations";
const MARKER: &str = "http://hl7.org/fhir/StructureDefinition/obligation-profile";

/// Checks the `inherit-obligations` extensions of StructureDefinition
/// `sd` at `location`.
pub(crate) fn check(v: &Validator, sd: &Json, location: &str, issues: &mut Vec<Issue>) {
    let Some(Json::Array(exts)) = field(sd, "extension") else {
        return;
    };
    let base = str_field(sd, "baseDefinition");
    for (i, ext) in exts.iter().enumerate() {
        if str_field(ext, "url") != Some(INHERIT) {
            continue;
        }
        let Some(url) = str_field(ext, "valueCanonical") else {
            continue;
        };
        let Some(other) = v.packages().json_by_canonical(url) else {
            continue;
        };
        let loc = format!("{location}.extension[{i}]");
        if !is_obligation_profile(other) {
            issues.push(Issue::new(
                Severity::Error,
                IssueType::BusinessRule,
                loc,
                format!("The profile '{url}' is not marked as an obligation profile"),
            ));
            continue;
        }
        let other_base = str_field(other, "baseDefinition");
        if let (Some(expected), Some(found)) = (base, other_base) {
            if expected != found {
                issues.push(Issue::new(
                    Severity::Error,
                    IssueType::BusinessRule,
                    loc,
                    format!(
                        "The profile '{url}' has a different base '{found}' from that expected '{expected}'"
                    ),
                ));
            }
        }
    }
}

fn is_obligation_profile(sd: &Json) -> bool {
    let Some(Json::Array(exts)) = field(sd, "extension") else {
        return false;
    };
    exts.iter().any(|e| {
        str_field(e, "url") == Some(MARKER)
            && matches!(field(e, "valueBoolean"), Some(Json::Bool(true)))
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{Package, PackageSet, Validator};

    fn sd(id: &str, base: &str, obligation: bool, inherits: &[&str]) -> String {
        let mut ext: Vec<String> = inherits
            .iter()
            .map(|u| format!(r#"{{"url":"{}","valueCanonical":"{u}"}}"#, super::INHERIT))
            .collect();
        if obligation {
            ext.push(format!(
                r#"{{"url":"{}","valueBoolean":true}}"#,
                super::MARKER
            ));
        }
        format!(
            r#"{{"resourceType":"StructureDefinition","id":"{id}","extension":[{}],
            "url":"http://x.test/{id}","name":"N","status":"draft","kind":"resource","abstract":false,
            "type":"Patient","baseDefinition":"{base}","derivation":"constraint",
            "differential":{{"element":[{{"id":"Patient","path":"Patient"}}]}}}}"#,
            ext.join(",")
        )
    }

    #[test]
    fn inherited_obligations_come_from_obligation_profiles_of_the_same_base() {
        let p = "http://hl7.org/fhir/StructureDefinition/Patient";
        let files = [
            ("a.json", sd("a", p, true, &[])),
            ("b.json", sd("b", p, false, &[])),
            ("c.json", sd("c", "http://x.test/a", true, &[])),
        ]
        .map(|(n, b)| (n.to_owned(), b.into_bytes()));
        let mut set = PackageSet::new();
        set.add(Package::from_resources("x.test", "0.1.0", files).expect("package"));
        let v = Validator::new(Arc::new(set));
        let errors = |inherits: &[&str]| -> Vec<String> {
            v.validate_json(sd("t", p, true, inherits).as_bytes(), &[])
                .into_iter()
                // (not the warning that the set has no core definitions)
                .filter(|i| i.code != crate::IssueType::NotSupported)
                .filter(|i| i.message.contains("obligation") || i.message.contains("base"))
                .map(|i| format!("{}: {}", i.expression, i.message))
                .collect()
        };
        assert!(errors(&["http://x.test/a"]).is_empty());
        let e = errors(&["http://x.test/a", "http://x.test/b", "http://x.test/c"]);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with("StructureDefinition.extension[1]: "),
            "{e:?}"
        );
        assert!(
            e[0].contains("not marked as an obligation profile"),
            "{e:?}"
        );
        assert!(
            e[1].starts_with("StructureDefinition.extension[2]: "),
            "{e:?}"
        );
        assert!(e[1].contains("different base"), "{e:?}");
    }
}
