//! Several loaded packages seen as one pool of conformance resources.
//!
//! Lookups go through the packages in the order they were added and the
//! first match wins, so a server that adds its own packages before the
//! built-in core can shadow a core resource deliberately.

use std::collections::HashSet;
use std::sync::Arc;

use crate::package::{Package, PackageCache, PackageResource};
use crate::Error;

/// The conformance resource types a package set is asked to list; other
/// types (examples) are loaded and findable by type and id too.
pub const CONFORMANCE_TYPES: &[&str] = &[
    "StructureDefinition",
    "ValueSet",
    "CodeSystem",
    "ConceptMap",
    "SearchParameter",
    "NamingSystem",
    "CapabilityStatement",
    "OperationDefinition",
    "CompartmentDefinition",
    "ImplementationGuide",
    "StructureMap",
];

/// Something the set can work with but the caller should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// A dependency that is neither loaded nor in the package cache: its
    /// resources (often the value sets bindings point to) are unknown.
    MissingDependency {
        /// `id#version` of the package that declares it.
        required_by: String,
        id: String,
        version: String,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::MissingDependency {
                required_by,
                id,
                version,
            } => write!(
                f,
                "package {required_by} depends on {id}#{version}, which is not loaded and not in the package cache; its definitions are unknown"
            ),
        }
    }
}

/// Loaded packages, searched in the order they were added.
///
/// **Invariant:** at most one package per `id#version`; adding one again is
/// a no-op.
#[derive(Debug, Default)]
pub struct PackageSet {
    /// Shared so that one parsed package (R4 core: ~0.3 s to load) can
    /// serve several sets, e.g. one per test case or per tenant.
    packages: Vec<Arc<Package>>,
}

impl PackageSet {
    pub fn new() -> PackageSet {
        PackageSet::default()
    }

    /// Adds a package; returns `false` (and drops it) when the same
    /// `id#version` is already loaded.
    pub fn add(&mut self, package: Package) -> bool {
        self.add_shared(Arc::new(package))
    }

    /// [`add`](Self::add) for a package already shared with other sets.
    pub fn add_shared(&mut self, package: Arc<Package>) -> bool {
        let m = package.manifest();
        if self.is_loaded(&m.name, Some(&m.version)) {
            return false;
        }
        self.packages.push(package);
        true
    }

    /// Adds the R4 core definitions built into the binary
    /// ([`crate::builtin`]) unless `hl7.fhir.r4.core#4.0.1` is loaded
    /// already (from a `.tgz` given by the user, which then wins). Add it
    /// after the packages that should shadow core resources and before
    /// [`resolve_dependencies`](Self::resolve_dependencies), which it then
    /// satisfies for packages built on R4. Returns whether it was added.
    pub fn add_builtin_core(&mut self) -> Result<bool, Error> {
        if self.is_loaded(crate::builtin::CORE_ID, Some(crate::builtin::CORE_VERSION)) {
            return Ok(false);
        }
        Ok(self.add_shared(crate::builtin::r4_core()?))
    }

    pub fn packages(&self) -> &[Arc<Package>] {
        &self.packages
    }

    /// Is a package named `id` loaded (of `version`, when given)?
    pub fn is_loaded(&self, id: &str, version: Option<&str>) -> bool {
        self.packages.iter().any(|p| {
            let m = p.manifest();
            m.name == id && version.is_none_or(|v| version_matches(v, &m.version))
        })
    }

    /// Loads every missing dependency it can find in `cache`, repeatedly
    /// (dependencies of dependencies too), and returns one warning for
    /// each dependency that is in neither the set nor the cache. A
    /// dependency is matched by id and version (`4.0.x` patterns allowed).
    pub fn resolve_dependencies(
        &mut self,
        cache: Option<&PackageCache>,
    ) -> Result<Vec<Warning>, Error> {
        let mut warned = HashSet::new();
        let mut warnings = Vec::new();
        let mut i = 0;
        while i < self.packages.len() {
            let required_by = self.packages[i].manifest().label();
            let deps = self.packages[i].manifest().dependencies.clone();
            for dep in deps {
                if self.is_loaded(&dep.id, Some(&dep.version)) {
                    continue;
                }
                if let Some(cache) = cache.filter(|c| c.contains(&dep.id, &dep.version)) {
                    let p = cache.load(&dep.id, &dep.version)?;
                    self.add(p);
                    continue;
                }
                if warned.insert((dep.id.clone(), dep.version.clone())) {
                    warnings.push(Warning::MissingDependency {
                        required_by: required_by.clone(),
                        id: dep.id,
                        version: dep.version,
                    });
                }
            }
            i += 1;
        }
        Ok(warnings)
    }

    /// The warnings [`resolve_dependencies`](Self::resolve_dependencies)
    /// would give without a cache, loading nothing.
    pub fn missing_dependencies(&self) -> Vec<Warning> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for p in &self.packages {
            for dep in &p.manifest().dependencies {
                if !self.is_loaded(&dep.id, Some(&dep.version))
                    && seen.insert((dep.id.clone(), dep.version.clone()))
                {
                    out.push(Warning::MissingDependency {
                        required_by: p.manifest().label(),
                        id: dep.id.clone(),
                        version: dep.version.clone(),
                    });
                }
            }
        }
        out
    }

    /// A resource by canonical URL, `url` or `url|version`. A version
    /// that is only the start of a semantic version (`|0.2`) matches the
    /// latest one it starts (`0.2.1` over `0.2.0`), as canonical
    /// references may state only major.minor.
    pub fn by_url(&self, canonical: &str) -> Option<(&Package, &PackageResource)> {
        self.packages
            .iter()
            .find_map(|p| p.by_url(canonical).map(|r| (&**p, r)))
            .or_else(|| self.by_partial_version(canonical))
    }

    /// [`PackageSet::by_url`], falling back to the url's other version
    /// when the version named is not loaded: validators judge against the
    /// definition at hand rather than skip the check.
    pub fn by_canonical(&self, canonical: &str) -> Option<(&Package, &PackageResource)> {
        self.by_url(canonical)
            .or_else(|| match canonical.split_once('|') {
                Some((bare, _)) => self.by_url(bare),
                None => None,
            })
    }

    /// The JSON of the resource [`PackageSet::by_canonical`] finds.
    pub fn json_by_canonical(&self, canonical: &str) -> Option<&fhir_model::json::tree::Value> {
        let (pkg, res) = self.by_canonical(canonical)?;
        res.json(pkg.source()).ok()
    }

    fn by_partial_version(&self, canonical: &str) -> Option<(&Package, &PackageResource)> {
        let (url, version) = canonical.split_once('|')?;
        // Only a partial semantic version (`1`, `1.2`): a full one that
        // is missing stays missing, without a scan.
        if version.is_empty()
            || version.split('.').count() > 2
            || !version.chars().all(|c| c.is_ascii_digit() || c == '.')
        {
            return None;
        }
        let prefix = format!("{version}.");
        let key = |v: &str| -> Vec<u64> { v.split('.').map(|n| n.parse().unwrap_or(0)).collect() };
        let mut best: Option<(&Package, &PackageResource, Vec<u64>)> = None;
        for p in &self.packages {
            for r in p.resources() {
                let (Some(u), Some(v)) = (&r.url, &r.version) else {
                    continue;
                };
                if u != url || !v.starts_with(&prefix) {
                    continue;
                }
                let k = key(v);
                if best.as_ref().is_none_or(|(_, _, b)| k > *b) {
                    best = Some((&**p, r, k));
                }
            }
        }
        best.map(|(p, r, _)| (p, r))
    }

    pub fn by_type_id(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Option<(&Package, &PackageResource)> {
        self.packages
            .iter()
            .find_map(|p| p.by_type_id(resource_type, id).map(|r| (&**p, r)))
    }

    /// Every resource of one type across all packages, in load order.
    pub fn of_type<'a>(
        &'a self,
        resource_type: &'a str,
    ) -> impl Iterator<Item = (&'a Package, &'a PackageResource)> + 'a {
        self.packages
            .iter()
            .flat_map(move |p| p.of_type(resource_type).map(move |r| (&**p, r)))
    }
}

/// npm-style version match as FHIR packages use it: exact, or with `x`
/// (or `*`) standing for any value of that part (`4.0.x`); `current` and
/// `dev` accept whatever is loaded.
fn version_matches(wanted: &str, have: &str) -> bool {
    if wanted == have || wanted == "current" || wanted == "dev" || wanted == "*" {
        return true;
    }
    let w: Vec<&str> = wanted.split('.').collect();
    let h: Vec<&str> = have.split('.').collect();
    w.len() == h.len()
        && w.iter()
            .zip(&h)
            .all(|(w, h)| *w == "x" || *w == "*" || w == h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_patterns() {
        assert!(version_matches("4.0.1", "4.0.1"));
        assert!(version_matches("4.0.x", "4.0.1"));
        assert!(!version_matches("4.0.x", "4.1.0"));
        assert!(!version_matches("4.0.1", "4.0.2"));
        assert!(version_matches("current", "1.2.3"));
    }

    #[test]
    fn a_partial_version_finds_the_latest_it_starts() {
        let sd = |v: &str| {
            format!(
                r#"{{"resourceType":"StructureDefinition","id":"p{}","url":"http://x.test/p","version":"{v}"}}"#,
                v.replace('.', "-")
            )
        };
        let files = ["0.1.3", "0.2.1", "0.2.0", "0.10.0"]
            .map(|v| (format!("p{v}.json"), sd(v).into_bytes()));
        let mut set = PackageSet::new();
        set.add(Package::from_resources("x.test", "0.1.0", files).expect("package"));
        let version = |c: &str| set.by_url(c).and_then(|(_, r)| r.version.clone());
        assert_eq!(version("http://x.test/p|0.2").as_deref(), Some("0.2.1"));
        assert_eq!(version("http://x.test/p|0.1.3").as_deref(), Some("0.1.3"));
        assert_eq!(version("http://x.test/p|0").as_deref(), Some("0.10.0"));
        assert_eq!(version("http://x.test/p|0.3"), None);
        assert_eq!(version("http://x.test/p|0.2.9"), None);
    }
}
