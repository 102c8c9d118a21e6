//! FHIR XML (xml.html), by way of the JSON tree.
//!
//! Both directions go through [`crate::json::tree::Value`] and the type
//! tables of [`crate::meta`]: XML is read into the tree that FHIR JSON would
//! give, then into the typed model by the same code that reads JSON, so the
//! two formats cannot disagree about what is valid. Writing prints the
//! model's JSON tree as XML in definition order. What XML adds lives here
//! and nowhere else: `value` attributes, `id` and `url` as attributes,
//! resources wrapped in the element that holds them, the XHTML narrative as
//! markup, and element order.

mod read;
mod write;

pub use read::{read, read_lenient};
pub use write::write;

/// The FHIR namespace, on the root element of every resource.
pub const FHIR_NS: &str = "http://hl7.org/fhir";
/// The XHTML namespace, on every narrative `div`.
pub use crate::xhtml::XHTML_NS;

/// Primitive types are the ones whose names start lower-case.
fn is_primitive(type_code: &str) -> bool {
    type_code.starts_with(|c: char| c.is_ascii_lowercase())
}

/// The JSON type of a primitive's value: numbers and booleans are bare in
/// JSON, everything else is a string.
fn is_json_number(type_code: &str) -> bool {
    matches!(
        type_code,
        "integer" | "decimal" | "positiveInt" | "unsignedInt"
    )
}

/// In XML, `Element.id` and `Extension.url` are attributes, while
/// `Resource.id` is an element like any other.
fn is_attribute(owner_is_resource: bool, owner: &str, element: &str) -> bool {
    (element == "id" && !owner_is_resource) || (owner == "Extension" && element == "url")
}

/// `dateTime` → `DateTime`: the suffix of a choice element's name.
fn type_suffix(type_code: &str) -> String {
    let mut c = type_code.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}
