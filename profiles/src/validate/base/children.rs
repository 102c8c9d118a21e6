//! The child values of an element by the generated type tables: each
//! with its element, its FHIR type and its location (`Patient.name[0]`),
//! array items one by one. The reference walks (references among Bundle
//! entries, references that must exist) go through it.

use fhir_model::json::tree::Value as Json;
use fhir_model::meta::{ElementInfo, TypeInfo};

/// One child value.
pub struct Child<'a> {
    pub element: &'static ElementInfo,
    /// Its FHIR type (a choice's by the property name).
    pub ty: &'static str,
    pub value: &'a Json,
    pub location: String,
}

/// The children of `v` (of type `info`, at `location`), in the order of
/// its properties; properties the type lacks (and `_name` twins) are left
/// out.
pub fn children<'a>(info: &TypeInfo, v: &'a Json, location: &str) -> Vec<Child<'a>> {
    let Json::Object(m) = v else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, val) in m {
        let Some((_, element, ty)) = info.element_named(k) else {
            continue;
        };
        let mut push = |value, location| {
            out.push(Child {
                element,
                ty,
                value,
                location,
            })
        };
        match val {
            Json::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    push(x, format!("{location}.{}[{i}]", element.name));
                }
            }
            x => push(x, format!("{location}.{}", element.name)),
        }
    }
    out
}
