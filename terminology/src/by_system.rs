//! The code-system operations by system url (`$lookup`,
//! `$validate-code`, `$subsumes` as the REST operations are called): the
//! registry's CodeSystem for the url when it has one, else, for a Japanese
//! standard system, what [`crate::japanese`] answers from a master under
//! another url or from the code's shape.
//!
//! Kept out of [`crate::registry`], which only holds resources, so that the
//! Japanese answers can use the registry without the registry using them.

use crate::japanese::{malformed, system_for, HotCode, JpSystem};
use crate::operations::{Lookup, Subsumption, ValidateOptions, Validation};
use crate::registry::{join_or, split_canonical, Registry};
use crate::Error;

impl Registry {
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
            Err(e) => match system_for(system) {
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
        let japanese = system_for(url);
        // A Japanese standard code of the wrong shape fails whether or not
        // a master is loaded; a well-formed one without a master is
        // checked for shape only (`japanese`).
        let jp_code = match japanese.map(|jp| jp.check(code)).transpose() {
            Ok(c) => c,
            Err(e) => return malformed(&e),
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
        if let Some(jp) = system_for(system) {
            let (url, version) = split_canonical(system, version);
            return self.jp_subsumes(jp, url, version, a, b);
        }
        self.get(system, version)?.subsumes(a, b)
    }

    /// `$subsumes` of two codings that may be of different systems. Only
    /// the HOT levels relate across systems (HOT7 ⊒ HOT9 ⊒ HOT11 ⊒ HOT13
    /// when each is a prefix of the next); for one system this is
    /// [`Registry::subsumes`], and other pairs of systems are
    /// [`Error::NotSupported`].
    pub fn subsumes_codings(
        &self,
        system_a: &str,
        a: &str,
        system_b: &str,
        b: &str,
        version: Option<&str>,
    ) -> Result<Subsumption, Error> {
        let strip = |s: &str| s.split_once('|').map_or(s, |(u, _)| u).to_owned();
        match (system_for(system_a), system_for(system_b)) {
            (Some(JpSystem::Hot(la)), Some(JpSystem::Hot(lb))) => {
                let ha = HotCode::parse(a, la)?;
                let hb = HotCode::parse(b, lb)?;
                self.hot_subsumes(&ha, &hb)
            }
            _ if strip(system_a) == strip(system_b) => self.subsumes(system_a, version, a, b),
            _ => Err(Error::NotSupported(format!(
                "$subsumes compares codes of one system (or HOT codes of two levels); {system_a} and {system_b} differ"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code_system::CodeSystem;
    use crate::registry::{join_or, version_matches};

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
