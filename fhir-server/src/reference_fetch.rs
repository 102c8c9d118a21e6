//! Lets the validator read what a reference names from this server's
//! store, so `$validate` and write enforcement can check a reference's
//! target (its type, and its conformance to the element's target
//! profiles) when the target is neither contained nor in the Bundle.
//!
//! Only relative REST references (`Patient/123`, `Patient/123/_history/2`
//! reads the current version too) are read: an absolute URL names a
//! resource on some server, which may not be this one, and a `urn:uuid:`
//! only makes sense inside its Bundle.

use std::sync::Arc;

use fhir_model::json::tree;
use fhir_model::primitives::Id;
use fhir_model::ResourceType;

use crate::store::Store;

/// The fetcher for [`profiles::Validator::fetcher`].
pub fn fetcher(store: Store) -> profiles::Fetcher {
    Arc::new(move |reference: &str| {
        let (rt, id) = relative_target(reference)?;
        let version = store.read(rt, &id).ok()?;
        tree::parse(version.body.as_deref()?).ok()
    })
}

/// (type, id) of a relative REST reference; `None` for anything else.
fn relative_target(reference: &str) -> Option<(ResourceType, Id)> {
    if reference.contains(':') || reference.starts_with('#') || reference.contains('?') {
        return None;
    }
    let mut parts = reference.split('/');
    let rt = ResourceType::parse(parts.next()?)?;
    let id = Id::new(parts.next()?.to_owned()).ok()?;
    match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) | (Some("_history"), Some(_), None) => Some((rt, id)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use profiles::{Package, PackageSet, Validator};

    #[test]
    fn only_relative_rest_references_are_read() {
        assert!(relative_target("Patient/p1").is_some());
        assert!(relative_target("Patient/p1/_history/2").is_some());
        assert!(relative_target("http://elsewhere.test/fhir/Patient/p1").is_none());
        assert!(relative_target("urn:uuid:0c5a1c1e-1f2b-4d3c-8e9f-000000000000").is_none());
        assert!(relative_target("#c1").is_none());
        assert!(relative_target("Patient?identifier=x").is_none());
        assert!(relative_target("Patience/p1").is_none());
        assert!(relative_target("Patient/p1/extra").is_none());
    }

    /// An Observation profile whose subject must be a Patient with a name.
    fn validator(store: Store) -> Validator {
        let named = r#"{"resourceType":"StructureDefinition","id":"named","url":"http://x.test/named",
          "type":"Patient","kind":"resource","snapshot":{"element":[
            {"id":"Patient","path":"Patient","min":0,"max":"*"},
            {"id":"Patient.name","path":"Patient.name","min":1,"max":"*","type":[{"code":"HumanName"}]}]}}"#;
        let obs = r#"{"resourceType":"StructureDefinition","id":"obs","url":"http://x.test/obs",
          "type":"Observation","kind":"resource","snapshot":{"element":[
            {"id":"Observation","path":"Observation","min":0,"max":"*"},
            {"id":"Observation.subject","path":"Observation.subject","min":1,"max":"1",
             "type":[{"code":"Reference","targetProfile":["http://x.test/named"]}]}]}}"#;
        let files = [("named.json", named), ("obs.json", obs)]
            .map(|(n, b)| (n.to_owned(), b.as_bytes().to_vec()));
        let mut set = PackageSet::new();
        set.add(Package::from_resources("x.test", "0.1.0", files).expect("package"));
        Validator::new(Arc::new(set)).fetcher(fetcher(store))
    }

    #[test]
    fn a_stored_target_is_checked_against_the_target_profile() {
        let db = crate::store::testutil::sqlite();
        for body in [
            r#"{"resourceType":"Patient","id":"named","name":[{"family":"Yamada"}]}"#,
            r#"{"resourceType":"Patient","id":"nameless","active":true}"#,
        ] {
            let mut r = fhir_model::Resource::from_json_slice(body.as_bytes()).expect("patient");
            db.store.update_if(&mut r, None).expect("stored");
        }
        let v = validator(db.store.clone());
        let errors = |subject: &str| {
            let obs = format!(
                r#"{{"resourceType":"Observation","status":"final","code":{{"text":"x"}},
                "subject":{{"reference":"{subject}"}}}}"#
            );
            v.validate_json(obs.as_bytes(), &["http://x.test/obs"])
                .into_iter()
                .filter(|i| i.severity.is_error())
                .map(|i| format!("{}: {}", i.expression, i.message))
                .collect::<Vec<_>>()
        };
        assert!(
            errors("Patient/named").is_empty(),
            "{:?}",
            errors("Patient/named")
        );
        let bad = errors("Patient/nameless");
        assert!(
            bad.iter().any(|e| e.starts_with("Observation.subject")),
            "{bad:?}"
        );
        // Not stored: nothing to judge.
        assert!(errors("Patient/absent").is_empty());
    }
}
