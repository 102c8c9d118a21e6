//! `_summary` and `_elements` (search.html#summary, search.html#elements):
//! cutting a resource down to the elements a client asked for.
//!
//! Works on the JSON tree with the type tables of [`crate::meta`], which
//! carry each element's `isSummary` flag and whether it is mandatory. A
//! resource that was cut is marked with the `SUBSETTED` tag, as the
//! specification requires, so no client mistakes it for the whole.

use crate::json::tree::{Map, Value};
use crate::meta::{type_info, ElementInfo, Kind, TypeInfo};

/// The system and code of the tag that marks a subsetted resource.
pub const SUBSETTED_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
pub const SUBSETTED_CODE: &str = "SUBSETTED";

/// The `_summary` values that apply to one resource (`count` is about a
/// search result, not a resource).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    /// Elements marked `isSummary`, at every level.
    True,
    /// `text`, `id`, `meta` and the mandatory top-level elements.
    Text,
    /// Everything but `text`.
    Data,
    /// Everything.
    False,
}

impl Summary {
    pub fn parse(value: &str) -> Option<Summary> {
        Some(match value {
            "true" => Summary::True,
            "text" => Summary::Text,
            "data" => Summary::Data,
            "false" => Summary::False,
            _ => return None,
        })
    }
}

fn resource_info(map: &Map) -> Option<&'static TypeInfo> {
    match map.iter().find(|(k, _)| k == "resourceType") {
        Some((_, Value::String(name))) => type_info(name),
        _ => None,
    }
}

/// The element a JSON property belongs to: `birthDate` and `_birthDate` to
/// `birthDate`, `valueQuantity` to `value[x]`.
fn element_of(info: &TypeInfo, key: &str) -> Option<&'static ElementInfo> {
    let key = key.strip_prefix('_').unwrap_or(key);
    info.element_named(key).map(|(_, e, _)| e)
}

/// Cuts `resource` to `mode`; returns whether anything may have been left
/// out (and the resource is marked `SUBSETTED`).
pub fn summary(resource: &mut Value, mode: Summary) -> bool {
    let Value::Object(map) = resource else {
        return false;
    };
    let Some(info) = resource_info(map) else {
        return false;
    };
    match mode {
        Summary::False => return false,
        Summary::Data => map.retain(|(k, _)| k != "text" && k != "_text"),
        Summary::Text => map.retain(|(k, _)| {
            matches!(k.as_str(), "resourceType" | "id" | "meta" | "text")
                || element_of(info, k).is_some_and(|e| e.required)
        }),
        Summary::True => keep_summary(info, map),
    }
    mark_subsetted(map);
    true
}

/// Keeps the summary elements of a resource or backbone element, and
/// recurses into those that are backbone elements. Data types are kept
/// whole: their own flags describe the type, not this use of it.
fn keep_summary(info: &TypeInfo, map: &mut Map) {
    map.retain(|(k, _)| k == "resourceType" || element_of(info, k).is_some_and(|e| e.summary));
    for (k, v) in map.iter_mut() {
        let Some(el) = element_of(info, k) else {
            continue;
        };
        let Some(child) = el.types.first().and_then(|t| type_info(t)) else {
            continue;
        };
        if child.kind != Kind::Backbone {
            continue;
        }
        match v {
            Value::Object(m) => keep_summary(child, m),
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(m) = item {
                        keep_summary(child, m);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Keeps the listed top-level elements (`_elements=identifier,name`) plus
/// `id`, `meta` and the mandatory ones, and marks the resource.
pub fn elements(resource: &mut Value, names: &[&str]) {
    let Value::Object(map) = resource else { return };
    let Some(info) = resource_info(map) else {
        return;
    };
    map.retain(|(k, _)| {
        matches!(k.as_str(), "resourceType" | "id" | "meta")
            || element_of(info, k).is_some_and(|e| e.required || names.contains(&e.name))
    });
    mark_subsetted(map);
}

fn mark_subsetted(map: &mut Map) {
    let tag = Value::Object(vec![
        (
            "system".to_owned(),
            Value::String(SUBSETTED_SYSTEM.to_owned()),
        ),
        ("code".to_owned(), Value::String(SUBSETTED_CODE.to_owned())),
    ]);
    let meta = match map.iter().position(|(k, _)| k == "meta") {
        Some(i) => &mut map[i].1,
        None => {
            let at = map
                .iter()
                .position(|(k, _)| k == "id")
                .map_or(1, |i| i + 1)
                .min(map.len());
            map.insert(at, ("meta".to_owned(), Value::Object(Map::new())));
            &mut map[at].1
        }
    };
    let Value::Object(meta) = meta else { return };
    match meta.iter_mut().find(|(k, _)| k == "tag") {
        Some((_, Value::Array(tags))) => {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        _ => meta.push(("tag".to_owned(), Value::Array(vec![tag]))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::tree::parse;
    use crate::Resource;

    fn patient() -> Value {
        parse(
            br#"{"resourceType":"Patient","id":"p","meta":{"versionId":"2"},
            "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},
            "extension":[{"url":"http://e","valueString":"x"}],
            "identifier":[{"value":"1"}],"active":true,"name":[{"family":"F"}],
            "birthDate":"1970-01-01","_birthDate":{"id":"b"},"deceasedBoolean":false,
            "maritalStatus":{"text":"M"},"contact":[{"name":{"family":"C"}}],
            "link":[{"other":{"reference":"Patient/q"},"type":"seealso"}]}"#,
        )
        .expect("json")
    }

    fn keys(v: &Value) -> Vec<&str> {
        match v {
            Value::Object(m) => m.iter().map(|(k, _)| k.as_str()).collect(),
            _ => vec![],
        }
    }

    #[test]
    fn summary_true_keeps_summary_elements_and_is_marked() {
        let mut v = patient();
        assert!(summary(&mut v, Summary::True));
        assert_eq!(
            keys(&v),
            [
                "resourceType",
                "id",
                "meta",
                "identifier",
                "active",
                "name",
                "birthDate",
                "_birthDate",
                "deceasedBoolean",
                "link"
            ]
        );
        let Value::Object(m) = &v else { panic!() };
        let meta = &m.iter().find(|(k, _)| k == "meta").expect("meta").1;
        assert!(format!("{meta:?}").contains("SUBSETTED"));
        // Still a valid Patient.
        let bytes = crate::json::tree::to_json(&v);
        assert!(Resource::from_json_slice(&bytes).is_ok());
    }

    #[test]
    fn text_data_and_elements() {
        let mut v = patient();
        summary(&mut v, Summary::Text);
        assert_eq!(keys(&v), ["resourceType", "id", "meta", "text"]);
        let mut v = patient();
        summary(&mut v, Summary::Data);
        assert!(!keys(&v).contains(&"text") && keys(&v).contains(&"contact"));
        let mut v = patient();
        assert!(!summary(&mut v, Summary::False));
        assert_eq!(v, patient());
        let mut v = patient();
        elements(&mut v, &["birthDate", "deceased"]);
        assert_eq!(
            keys(&v),
            [
                "resourceType",
                "id",
                "meta",
                "birthDate",
                "_birthDate",
                "deceasedBoolean"
            ]
        );
    }
}
