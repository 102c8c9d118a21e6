//! The one place the validator learns what a value set holds: required
//! bindings of profiles and of the base spec, `memberOf()` in invariants
//! and constraints, and `answerValueSet` of Questionnaire items all ask a
//! [`ValueSets`]. [`PackageValueSets`] answers from the loaded packages
//! alone (value sets of concept lists and whole, complete, small code
//! systems); a server may hand the validator its terminology engine
//! instead ([`crate::Validator::value_sets`]).

use std::collections::HashSet;
use std::sync::Arc;

use fhir_model::json::tree::Value as Json;

use crate::json::{field, list, resource_type, str_field};
use crate::{Error, PackageSet};

/// What a value set says of a code: `None` not in it, `Some(displays)`
/// in it with these valid displays (empty when none is known).
pub type Lookup = Option<Vec<String>>;

/// Value-set membership, as the validator asks it.
pub trait ValueSets: Send + Sync {
    /// Every (system, code) pair the value set `url` (`url|version`
    /// allowed) holds, or why they cannot be listed here.
    fn codes(&self, url: &str) -> Result<HashSet<(String, String)>, Error>;

    /// The code systems the value set `url` draws its codes from, when its
    /// compose alone says so (every include names a system, none another
    /// value set): a code of any other system is not in it, even when the
    /// included systems are too large to list (SNOMED CT, LOINC).
    fn included_systems(&self, url: &str) -> Option<Vec<String>>;

    /// What the value set `vs` (a resource, which may be contained in the
    /// resource being validated) says of `code`; a `system` of `None`
    /// looks in every system it includes. `None` when it cannot tell.
    fn lookup(&self, vs: &Json, system: Option<&str>, code: &str) -> Option<Lookup>;

    /// Whether a code is in the value set `vs` by its `compose` alone, a
    /// whole included code system holding every code (Questionnaire unit
    /// value sets): `None` when that cannot be told without a terminology
    /// server (filters, imported value sets, no compose).
    fn by_compose(&self, vs: &Json, system: Option<&str>, code: Option<&str>) -> Option<bool> {
        let compose = field(vs, "compose")?;
        let (Some(system), Some(code)) = (system, code) else {
            return Some(false);
        };
        let mut found = false;
        for inc in list(compose, "include") {
            if field(inc, "valueSet").is_some() {
                return None;
            }
            if str_field(inc, "system") != Some(system) {
                continue;
            }
            if field(inc, "filter").is_some() {
                return None;
            }
            let concepts = list(inc, "concept");
            if concepts.is_empty() || concepts.iter().any(|c| str_field(c, "code") == Some(code)) {
                found = true;
            }
        }
        if found
            && list(compose, "exclude")
                .iter()
                .any(|e| str_field(e, "system") == Some(system))
        {
            return None;
        }
        Some(found)
    }
}

/// [`ValueSets`] answered from the value sets and code systems of a
/// package set.
#[derive(Debug, Clone)]
pub struct PackageValueSets {
    packages: Arc<PackageSet>,
}

impl PackageValueSets {
    pub fn new(packages: Arc<PackageSet>) -> PackageValueSets {
        PackageValueSets { packages }
    }

    /// The complete CodeSystem `system`, if the packages hold it.
    fn complete_code_system(&self, system: &str) -> Option<&Json> {
        let (p, r) = self.packages.by_url(system)?;
        let cs = r.json(p.source()).ok()?;
        (resource_type(cs) == Some("CodeSystem") && str_field(cs, "content") == Some("complete"))
            .then_some(cs)
    }
}

/// The largest code system whose concept list a binding check reads.
const MAX_CODES: usize = 5_000;

impl ValueSets for PackageValueSets {
    fn codes(&self, url: &str) -> Result<HashSet<(String, String)>, Error> {
        let packages = &self.packages;
        let unknown = || Error::ValueSetUnknown {
            url: url.to_owned(),
        };
        let (pkg, res) = packages.by_canonical(url).ok_or_else(unknown)?;
        let vs = res.json(pkg.source()).map_err(|_| unknown())?;
        let mut out = HashSet::new();
        let Some(Json::Array(includes)) = field(vs, "compose").and_then(|c| field(c, "include"))
        else {
            return Err(Error::ValueSetNoCompose {
                url: url.to_owned(),
            });
        };
        if matches!(
            field(vs, "compose").and_then(|c| field(c, "exclude")),
            Some(Json::Array(_))
        ) {
            return Err(Error::ValueSetExcludes {
                url: url.to_owned(),
            });
        }
        for inc in includes {
            if field(inc, "valueSet").is_some() || field(inc, "filter").is_some() {
                return Err(Error::ValueSetNotEnumerated {
                    url: url.to_owned(),
                });
            }
            let Some(system) = str_field(inc, "system") else {
                return Err(Error::IncludeWithoutSystem {
                    url: url.to_owned(),
                });
            };
            if let Some(Json::Array(cs)) = field(inc, "concept") {
                for c in cs {
                    if let Some(code) = str_field(c, "code") {
                        out.insert((system.to_owned(), code.to_owned()));
                    }
                }
                continue;
            }
            let code_system = || Error::CodeSystemUnknown {
                system: system.to_owned(),
            };
            let (cpkg, cres) = packages.by_url(system).ok_or_else(code_system)?;
            let cs = cres.json(cpkg.source()).map_err(|_| code_system())?;
            if str_field(cs, "content") != Some("complete") {
                return Err(Error::CodeSystemIncomplete {
                    system: system.to_owned(),
                });
            }
            let before = out.len();
            collect_concepts(system, field(cs, "concept"), &mut out);
            if out.len() - before > MAX_CODES {
                return Err(Error::CodeSystemTooLarge {
                    system: system.to_owned(),
                });
            }
        }
        Ok(out)
    }

    fn included_systems(&self, url: &str) -> Option<Vec<String>> {
        let vs = self.packages.json_by_canonical(url)?;
        let Some(Json::Array(includes)) = field(vs, "compose").and_then(|c| field(c, "include"))
        else {
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

    fn lookup(&self, vs: &Json, system: Option<&str>, code: &str) -> Option<Lookup> {
        let compose = field(vs, "compose")?;
        if !list(compose, "exclude").is_empty() {
            return None;
        }
        let mut found: Option<Vec<String>> = None;
        for inc in list(compose, "include") {
            if field(inc, "valueSet").is_some() {
                return None;
            }
            let inc_system = str_field(inc, "system")?;
            if system.is_some_and(|s| s != inc_system) {
                continue;
            }
            if field(inc, "filter").is_some() {
                return None;
            }
            let concepts = list(inc, "concept");
            let from_cs = || -> Option<Lookup> {
                let cs = self.complete_code_system(inc_system)?;
                Some(find_concept(list(cs, "concept"), code).map(displays))
            };
            if concepts.is_empty() {
                match from_cs()? {
                    Some(d) => found = Some(d),
                    None => continue,
                }
            } else if let Some(c) = concepts.iter().find(|c| str_field(c, "code") == Some(code)) {
                let mut d = displays(c);
                if let Some(Some(more)) = from_cs() {
                    d.extend(more);
                }
                found = Some(d);
            }
        }
        Some(found)
    }
}

fn collect_concepts(system: &str, list: Option<&Json>, out: &mut HashSet<(String, String)>) {
    if let Some(Json::Array(cs)) = list {
        for c in cs {
            if let Some(code) = str_field(c, "code") {
                out.insert((system.to_owned(), code.to_owned()));
            }
            collect_concepts(system, field(c, "concept"), out);
        }
    }
}

fn find_concept<'a>(concepts: &'a [Json], code: &str) -> Option<&'a Json> {
    for c in concepts {
        if str_field(c, "code") == Some(code) {
            return Some(c);
        }
        if let Some(x) = find_concept(list(c, "concept"), code) {
            return Some(x);
        }
    }
    None
}

fn displays(c: &Json) -> Vec<String> {
    let mut out: Vec<String> = str_field(c, "display")
        .map(str::to_owned)
        .into_iter()
        .collect();
    out.extend(
        list(c, "designation")
            .iter()
            .filter_map(|d| str_field(d, "value").map(str::to_owned)),
    );
    out
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
        let value_sets = PackageValueSets::new(Arc::new(set));
        let systems = value_sets
            .included_systems("http://x/vs|0.1.0")
            .expect("systems");
        assert!(all_outside(&systems, &[(Some("http://loinc.org"), "1-8")]));
        assert!(!all_outside(
            &systems,
            &[(Some("http://snomed.info/sct"), "1")]
        ));
        assert!(!all_outside(&systems, &[(None, "1")]));
        assert!(matches!(
            value_sets.codes("http://x/vs"),
            Err(Error::CodeSystemUnknown { .. })
        ));
    }
}
