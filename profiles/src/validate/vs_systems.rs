//! Membership a required binding can decide without listing the value
//! set's codes: a value set whose `compose.include`s all name a code
//! system (none includes another value set) holds no code of any other
//! system (valueset.html#compose). So a Coding whose `system` is none of
//! those is not in it, even when the included systems are too large or
//! absent here (SNOMED CT, LOINC) to list their codes.

use super::{field, str_field};
use crate::PackageSet;
use fhir_model::json::tree::Value as Json;

/// The code systems the value set `url` (`url|version` allowed) can draw
/// codes from, when that is known from its compose alone.
pub(crate) fn included_systems(packages: &PackageSet, url: &str) -> Option<Vec<String>> {
    let vs = packages.json_by_canonical(url)?;
    let Some(Json::Array(includes)) = field(vs, "compose").and_then(|c| field(c, "include")) else {
        return None;
    };
    let mut out = Vec::new();
    for inc in includes {
        if field(inc, "valueSet").is_some() {
            return None;
        }
        out.push(str_field(inc, "system")?.to_owned());
    }
    Some(out)
}

/// Whether every coding (system, code) names a system outside `systems`
/// (codings without a system decide nothing).
pub(crate) fn all_outside(systems: &[String], codings: &[(Option<&str>, &str)]) -> bool {
    !codings.is_empty()
        && codings
            .iter()
            .all(|(s, _)| s.is_some_and(|s| !systems.iter().any(|x| x == s)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Package;

    #[test]
    fn codings_of_other_systems_are_outside_a_value_set_of_whole_systems() {
        let vs = r#"{"resourceType":"ValueSet","id":"v","url":"http://x/vs","version":"0.1.0",
          "compose":{"include":[{"system":"http://snomed.info/sct"}]}}"#;
        let mut set = PackageSet::new();
        set.add(
            Package::from_resources("t", "1", [("vs.json".to_owned(), vs.as_bytes().to_vec())])
                .expect("package"),
        );
        let systems = included_systems(&set, "http://x/vs|0.1.0").expect("systems");
        assert!(all_outside(&systems, &[(Some("http://loinc.org"), "1-8")]));
        assert!(!all_outside(
            &systems,
            &[(Some("http://snomed.info/sct"), "1")]
        ));
        assert!(!all_outside(&systems, &[(None, "1")]));
    }
}
