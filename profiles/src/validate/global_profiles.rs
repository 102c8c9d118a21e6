//! Global profiles (ImplementationGuide.global,
//! implementationguide-definitions.html#ImplementationGuide.global): an
//! implementation guide in the package set may declare that every
//! resource of a type conforms to a profile; validation applies it as if
//! the resource named it in `meta.profile`.

use fhir_model::json::tree::Value as Json;

use super::{field, str_field};
use crate::PackageSet;

/// The profiles the package set's ImplementationGuides declare global for
/// resource type `ty`.
pub(crate) fn for_type(packages: &PackageSet, ty: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (pkg, res) in packages.of_type("ImplementationGuide") {
        let Ok(ig) = res.json(pkg.source()) else {
            continue;
        };
        let Some(Json::Array(globals)) = field(ig, "global") else {
            continue;
        };
        for g in globals {
            if str_field(g, "type") == Some(ty) {
                if let Some(p) = str_field(g, "profile") {
                    if !out.iter().any(|o| o == p) {
                        out.push(p.to_owned());
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Package;

    #[test]
    fn globals_are_listed_by_type() {
        let ig = r#"{"resourceType":"ImplementationGuide","id":"ig","url":"http://x/ig",
          "global":[{"type":"Patient","profile":"http://x/p"},{"type":"Observation","profile":"http://x/o"}]}"#;
        let mut set = PackageSet::new();
        set.add(
            Package::from_resources("t", "1", [("ig.json".to_owned(), ig.as_bytes().to_vec())])
                .expect("package"),
        );
        assert_eq!(for_type(&set, "Patient"), vec!["http://x/p".to_owned()]);
        assert!(for_type(&set, "Basic").is_empty());
    }
}
