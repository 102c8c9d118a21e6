//! Many CodeSystems, by canonical url and version.

use std::collections::HashMap;
use std::sync::Arc;

use crate::code_system::CodeSystem;
use crate::concept_map::ConceptMap;
use crate::operations::{Lookup, Subsumption, ValidateOptions, Validation};
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

    pub(crate) fn concept_maps_mut(&mut self) -> &mut HashMap<String, Vec<ConceptMap>> {
        &mut self.concept_maps
    }

    pub(crate) fn concept_maps_ref(&self) -> &HashMap<String, Vec<ConceptMap>> {
        &self.concept_maps
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

    /// `CodeSystem/$lookup` by system url.
    pub fn lookup(
        &self,
        system: &str,
        code: &str,
        version: Option<&str>,
        properties: &[&str],
        display_language: Option<&str>,
    ) -> Result<Lookup, Error> {
        match self.get(system, version) {
            Ok(cs) => cs.lookup(code, properties, display_language),
            // A Japanese standard system: a master under another of its
            // urls, or the parts its shape defines (`japanese`).
            Err(e) => match crate::japanese::system_for(system) {
                Some(jp) => self.jp_lookup(jp, version, code, properties, display_language, e),
                None => Err(e),
            },
        }
    }

    /// `CodeSystem/$validate-code` by system url. An unknown system is an
    /// answer (`result = false` and a message), as terminology servers
    /// give it, not an error.
    pub fn validate_code(
        &self,
        system: &str,
        version: Option<&str>,
        code: &str,
        options: &ValidateOptions<'_>,
    ) -> Validation {
        let (url, version) = split_canonical(system, version);
        let japanese = crate::japanese::system_for(url);
        // A Japanese standard code of the wrong shape fails whether or not
        // a master is loaded; a well-formed one without a master is
        // checked for shape only (`japanese`).
        let jp_code = match japanese.map(|jp| jp.check(code)).transpose() {
            Ok(c) => c,
            Err(e) => return crate::japanese::malformed(&e),
        };
        if let Ok(cs) = self.get(url, version) {
            return cs.validate_code(code, options);
        }
        if let (Some(jp), Some(c)) = (japanese, &jp_code) {
            if let Some(v) = self.jp_validate(jp, version, c, options) {
                return v;
            }
        }
        // The tx ecosystem suite's wording; naming the versions held helps
        // a client whose version pin is stale.
        let message = match version {
            None => format!(
                "A definition for CodeSystem '{url}' could not be found, so the code cannot be validated"
            ),
            Some(v) => {
                let known: Vec<&str> = self.versions(url).collect();
                let mut m = format!(
                    "A definition for CodeSystem '{url}' version '{v}' could not be found, so the code cannot be validated"
                );
                if !known.is_empty() {
                    m.push_str(". Valid versions: ");
                    m.push_str(&join_or(&known));
                }
                m
            }
        };
        Validation {
            result: false,
            message: Some(message),
            display: None,
            inactive: false,
        }
    }

    /// `CodeSystem/$subsumes` by system url.
    pub fn subsumes(
        &self,
        system: &str,
        version: Option<&str>,
        a: &str,
        b: &str,
    ) -> Result<Subsumption, Error> {
        if let Some(jp) = crate::japanese::system_for(system) {
            let (url, version) = split_canonical(system, version);
            return self.jp_subsumes(jp, url, version, a, b);
        }
        self.get(system, version)?.subsumes(a, b)
    }
}

/// Splits `url|version`; an explicit version wins over the piped one.
fn split_canonical<'a>(system: &'a str, version: Option<&'a str>) -> (&'a str, Option<&'a str>) {
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
fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cs(version: &str, display: &str) -> CodeSystem {
        let json = format!(
            r#"{{"resourceType":"CodeSystem","url":"http://ex/cs","version":"{version}",
               "concept":[{{"code":"a","display":"{display}"}}]}}"#
        );
        CodeSystem::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn versions_and_defaults() {
        let mut r = Registry::new();
        assert!(r.insert(cs("1", "one")).is_none());
        r.insert(cs("2", "two"));
        assert_eq!(r.len(), 2);
        let display = |v| r.lookup("http://ex/cs", "a", v, &[], None).unwrap().display;
        assert_eq!(display(None).as_deref(), Some("two"));
        assert_eq!(display(Some("1")).as_deref(), Some("one"));
        assert_eq!(r.get("http://ex/cs|1", None).unwrap().version(), Some("1"));
        assert!(r.insert(cs("1", "uno")).is_some());
        assert_eq!(r.len(), 2);
        assert!(matches!(
            r.get("http://ex/cs", Some("9")),
            Err(Error::UnknownSystem { .. })
        ));
        let v = r.validate_code("http://nope", None, "a", &ValidateOptions::default());
        assert!(!v.result);
        assert_eq!(
            v.message.as_deref(),
            Some("A definition for CodeSystem 'http://nope' could not be found, so the code cannot be validated")
        );
        let v = r.validate_code("http://ex/cs|3", None, "a", &ValidateOptions::default());
        assert_eq!(
            v.message.as_deref(),
            Some("A definition for CodeSystem 'http://ex/cs' version '3' could not be found, so the code cannot be validated. Valid versions: 2 or 1")
        );
        assert_eq!(join_or(&["a", "b", "c"]), "a, b or c");
        assert!(version_matches("1.x.x", "1.2.0") && !version_matches("1", "1.0.0"));
        assert!(!version_matches("1.x", "2.0") && !version_matches("1.2.3.4", "1.2.3"));
    }
}
