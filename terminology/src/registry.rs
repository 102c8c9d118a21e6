//! Many CodeSystems, by canonical url and version.

use std::collections::HashMap;
use std::sync::Arc;

use crate::code_system::CodeSystem;
use crate::concept_map::ConceptMap;
use crate::value_set::ValueSet;
use crate::Error;

/// CodeSystems by canonical url, each url holding one or more versions.
///
/// Without a version, a url means the version added last: versions are
/// free text (`2018-08-12`, `4.0.1`, `1.1.2`) with no order FHIR defines,
/// and a package loader adds newer packages after older ones.
///
/// **Invariant:** at most one CodeSystem per (url, version); finding a url
/// is one hash lookup, whatever the number of systems.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    systems: HashMap<String, Vec<CodeSystem>>,
    value_sets: HashMap<String, Vec<ValueSet>>,
    concept_maps: HashMap<String, Vec<ConceptMap>>,
    /// Where lookups go for what this registry lacks: a request's
    /// `tx-resource`s sit in a small registry over the server's.
    parent: Option<Arc<Registry>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// An empty registry over `parent`: what it holds wins, and every
    /// lookup it cannot answer goes to the parent. For the resources a
    /// request brings along (`tx-resource`), without copying the server's.
    pub fn over(parent: Arc<Registry>) -> Registry {
        Registry {
            parent: Some(parent),
            ..Registry::default()
        }
    }

    /// The registry this one falls back to.
    pub fn parent(&self) -> Option<&Registry> {
        self.parent.as_deref()
    }

    /// Adds a CodeSystem, replacing (and returning) one with the same url
    /// and version. The new one becomes the url's default version.
    pub fn insert(&mut self, cs: CodeSystem) -> Option<CodeSystem> {
        let versions = self.systems.entry(cs.url().to_owned()).or_default();
        let old = versions
            .iter()
            .position(|v| v.version() == cs.version())
            .map(|i| versions.remove(i));
        versions.push(cs);
        old
    }

    /// Indexes a CodeSystem's JSON and adds it.
    pub fn insert_json(&mut self, bytes: &[u8]) -> Result<&CodeSystem, Error> {
        let cs = CodeSystem::from_json(bytes)?;
        let url = cs.url().to_owned();
        self.insert(cs);
        // Just pushed, so present; the fallback error keeps this panic-free.
        self.systems
            .get(&url)
            .and_then(|v| v.last())
            .ok_or(Error::UnknownSystem {
                system: url,
                version: None,
            })
    }

    /// The CodeSystem for `system` (a url, or `url|version` as canonical
    /// references write it) and an optional version; an explicit `version`
    /// wins over one in the url.
    pub fn get(&self, system: &str, version: Option<&str>) -> Result<&CodeSystem, Error> {
        let (url, version) = split_canonical(system, version);
        let found = self.systems.get(url).and_then(|versions| match version {
            None => versions.last(),
            Some(v) => versions
                .iter()
                .rev()
                .find(|cs| cs.version() == Some(v))
                .or_else(|| {
                    versions
                        .iter()
                        .rev()
                        .find(|cs| cs.version().is_some_and(|have| version_matches(v, have)))
                }),
        });
        if let (None, Some(p)) = (found, &self.parent) {
            return p.get(url, version);
        }
        found.ok_or_else(|| Error::UnknownSystem {
            system: url.to_owned(),
            version: version.map(str::to_owned),
        })
    }

    /// Adds a ValueSet (one with a url; others can only be expanded
    /// whole), replacing one with the same url and version. The new one
    /// becomes the url's default version.
    pub fn insert_value_set(&mut self, vs: ValueSet) {
        let Some(url) = vs.url().map(str::to_owned) else {
            return;
        };
        let versions = self.value_sets.entry(url).or_default();
        versions.retain(|v| v.version() != vs.version());
        versions.push(vs);
    }

    /// The ValueSet for `url` (or `url|version`) and an optional version.
    pub fn value_set(&self, url: &str, version: Option<&str>) -> Result<&ValueSet, Error> {
        let (url, version) = split_canonical(url, version);
        let found = self.value_sets.get(url).and_then(|versions| match version {
            None => versions.last(),
            Some(v) => versions.iter().rev().find(|vs| vs.version() == Some(v)),
        });
        if let (None, Some(p)) = (found, &self.parent) {
            return p.value_set(url, version);
        }
        found.ok_or_else(|| Error::UnknownValueSet {
            url: url.to_owned(),
            version: version.map(str::to_owned),
        })
    }

    /// Adds a ConceptMap, replacing one with the same url and version.
    pub fn insert_concept_map(&mut self, cm: ConceptMap) {
        let key = cm.url().unwrap_or_default().to_owned();
        let versions = self.concept_maps.entry(key).or_default();
        versions.retain(|v| v.version() != cm.version());
        versions.push(cm);
    }

    /// The ConceptMap for `url` (or `url|version`).
    pub fn concept_map(&self, url: &str, version: Option<&str>) -> Result<&ConceptMap, Error> {
        let (u, v) = split_canonical(url, version);
        let found = self.concept_maps.get(u).and_then(|versions| match v {
            None => versions.last(),
            Some(v) => versions.iter().rev().find(|cm| cm.version() == Some(v)),
        });
        if let (None, Some(p)) = (found, &self.parent) {
            return p.concept_map(url, version);
        }
        found.ok_or_else(|| Error::UnknownConceptMap {
            url: url.to_owned(),
        })
    }

    /// Every ConceptMap of this registry (not its parent's), in no
    /// particular order.
    pub(crate) fn own_concept_maps(&self) -> impl Iterator<Item = &ConceptMap> {
        self.concept_maps.values().flatten()
    }

    /// Every ValueSet, in no particular order.
    pub fn value_sets(&self) -> impl Iterator<Item = &ValueSet> {
        self.value_sets.values().flatten()
    }

    /// The versions held for a url, in the order added (unversioned ones
    /// left out).
    pub fn versions<'a>(&'a self, url: &str) -> impl Iterator<Item = &'a str> {
        self.systems
            .get(url)
            .into_iter()
            .flatten()
            .filter_map(CodeSystem::version)
    }

    /// How many CodeSystems (counting versions).
    pub fn len(&self) -> usize {
        self.systems.values().map(Vec::len).sum()
    }

    /// No CodeSystems.
    pub fn is_empty(&self) -> bool {
        self.systems.is_empty()
    }

    /// Every CodeSystem, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &CodeSystem> {
        self.systems.values().flatten()
    }
}

/// Splits `url|version`; an explicit version wins over the piped one.
pub(crate) fn split_canonical<'a>(
    system: &'a str,
    version: Option<&'a str>,
) -> (&'a str, Option<&'a str>) {
    match system.split_once('|') {
        Some((u, v)) => (u, version.or(Some(v))),
        None => (system, version),
    }
}

/// Whether a version pattern (`1.x.x`, `1.*.*`: `x` or `*` for any part,
/// as many parts as the version) matches a version, as value sets pin
/// code system versions.
pub(crate) fn version_matches(pattern: &str, have: &str) -> bool {
    let want: Vec<&str> = pattern.split('.').collect();
    let got: Vec<&str> = have.split('.').collect();
    if want.len() != got.len() {
        return false;
    }
    want.iter()
        .zip(&got)
        .all(|(w, g)| *w == "x" || *w == "X" || *w == "*" || w == g)
}

/// `a`, `a or b`, `a, b or c`.
pub(crate) fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
