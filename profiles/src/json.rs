//! Reading the JSON tree of a resource or a definition: a field by name,
//! a string field, the `resourceType`. Shared by the validator and the
//! snapshot generator, which is why it sits at the crate root.

use fhir_model::json::tree::Value as Json;

/// `resourceType` of a JSON object.
pub(crate) fn resource_type(v: &Json) -> Option<&str> {
    match field(v, "resourceType")? {
        Json::String(s) => Some(s),
        _ => None,
    }
}

pub(crate) fn field<'a>(v: &'a Json, name: &str) -> Option<&'a Json> {
    match v {
        Json::Object(m) => m.iter().find(|(k, _)| k == name).map(|(_, v)| v),
        _ => None,
    }
}

pub(crate) fn str_field<'a>(v: &'a Json, name: &str) -> Option<&'a str> {
    match field(v, name)? {
        Json::String(s) => Some(s),
        _ => None,
    }
}

/// The elements of an array property (`[]` when absent or not an array).
pub(crate) fn list<'a>(v: &'a Json, name: &str) -> &'a [Json] {
    match field(v, name) {
        Some(Json::Array(a)) => a,
        _ => &[],
    }
}
