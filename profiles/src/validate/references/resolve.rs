//! Resolving a reference inside the resource being validated
//! (references.html): `#id` to a contained resource, and in a Bundle a
//! `fullUrl` or a `Type/id` (relative, or absolute ending so) to the
//! entry's resource. References to anything outside are not resolved.

use fhir_model::json::tree::Value as Json;

use crate::json::{field, resource_type, str_field};

/// The resource `reference` points at inside `container`, if any.
pub(crate) fn resolve<'r>(container: &'r Json, reference: &str) -> Option<&'r Json> {
    if let Some(id) = reference.strip_prefix('#') {
        let Some(Json::Array(list)) = field(container, "contained") else {
            return None;
        };
        return list.iter().find(|r| str_field(r, "id") == Some(id));
    }
    if resource_type(container) != Some("Bundle") {
        return None;
    }
    let Some(Json::Array(entries)) = field(container, "entry") else {
        return None;
    };
    let resources = entries.iter().filter_map(|e| {
        let r = field(e, "resource")?;
        Some((str_field(e, "fullUrl"), r))
    });
    let mut by_type_id = None;
    let tail: Vec<&str> = reference.rsplit('/').take(2).collect();
    for (full_url, r) in resources {
        if full_url == Some(reference) {
            return Some(r);
        }
        if let [id, ty] = tail[..] {
            if by_type_id.is_none()
                && resource_type(r) == Some(ty)
                && str_field(r, "id") == Some(id)
            {
                by_type_id = Some(r);
            }
        }
    }
    by_type_id
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhir_model::json::tree;

    #[test]
    fn contained_and_bundle_references_resolve() {
        let list = tree::parse(
            br#"{"resourceType":"List","contained":[{"resourceType":"Condition","id":"c1"}]}"#,
        )
        .expect("json");
        assert_eq!(
            resolve(&list, "#c1").and_then(resource_type),
            Some("Condition")
        );
        assert!(resolve(&list, "#nope").is_none());
        let bundle = tree::parse(
            br#"{"resourceType":"Bundle","entry":[
              {"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","id":"a"}},
              {"fullUrl":"http://x/Practitioner/b","resource":{"resourceType":"Practitioner","id":"b"}}]}"#,
        )
        .expect("json");
        assert_eq!(
            resolve(&bundle, "urn:uuid:1").and_then(resource_type),
            Some("Patient")
        );
        assert_eq!(
            resolve(&bundle, "Practitioner/b").and_then(resource_type),
            Some("Practitioner")
        );
        assert!(resolve(&bundle, "Patient/b").is_none());
    }
}
