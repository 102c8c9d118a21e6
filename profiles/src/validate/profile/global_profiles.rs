//! Global profiles (ImplementationGuide.global): an implementation guide
//! may state that every resource of a type conforms to a profile. A
//! resource is checked against the global profiles of the guides in the
//! package set as if it declared them, as the HL7 validator does.

use std::collections::HashMap;

use fhir_model::json::tree::Value as Json;

use crate::json::{field, str_field};

use crate::validate::Validator;
use crate::PackageSet;

/// Resource type → the global profiles stated for it.
pub(crate) type Globals = HashMap<String, Vec<String>>;

/// The global profiles for resources of type `ty`.
pub(crate) fn for_type<'v>(v: &'v Validator, ty: &str) -> &'v [String] {
    v.globals
        .get_or_init(|| collect(v.packages()))
        .get(ty)
        .map_or(&[], Vec::as_slice)
}

fn collect(packages: &PackageSet) -> Globals {
    let mut out = Globals::new();
    for (pkg, res) in packages.of_type("ImplementationGuide") {
        let Ok(ig) = res.json(pkg.source()) else {
            continue;
        };
        let Some(Json::Array(list)) = field(ig, "global") else {
            continue;
        };
        for g in list {
            if let (Some(ty), Some(profile)) = (str_field(g, "type"), str_field(g, "profile")) {
                let entry = out.entry(ty.to_owned()).or_default();
                if !entry.iter().any(|p| p == profile) {
                    entry.push(profile.to_owned());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::{has_errors, Package, PackageSet, Validator};

    #[test]
    fn a_global_profile_applies_to_every_resource_of_its_type() {
        let ig = r#"{"resourceType":"ImplementationGuide","id":"ig","url":"http://x.test/ig",
            "global":[{"type":"Patient","profile":"http://x.test/p"}]}"#;
        let sd = r#"{"resourceType":"StructureDefinition","id":"p","url":"http://x.test/p","type":"Patient",
            "kind":"resource","derivation":"constraint","snapshot":{"element":[
            {"id":"Patient","path":"Patient","min":0,"max":"*"},
            {"id":"Patient.name","path":"Patient.name","min":1,"max":"*","type":[{"code":"HumanName"}]}]}}"#;
        let files =
            [("ig.json", ig), ("p.json", sd)].map(|(n, b)| (n.to_owned(), b.as_bytes().to_vec()));
        let mut set = PackageSet::new();
        set.add(Package::from_resources("x.test", "0.1.0", files).expect("package"));
        let v = Validator::new(Arc::new(set));
        assert!(has_errors(&v.validate_json(
            br#"{"resourceType":"Patient","active":true}"#,
            &[]
        )));
        assert!(!has_errors(&v.validate_json(
            br#"{"resourceType":"Patient","name":[{"family":"A"}]}"#,
            &[]
        )));
        assert!(!has_errors(&v.validate_json(
            br#"{"resourceType":"Basic","code":{"text":"x"}}"#,
            &[]
        )));
    }
}
