//! FHIR JSON (json.html) for the generated types.
//!
//! The generated code calls the small functions in [`parse`] and [`write`]
//! once per element; everything that knows the JSON rules (primitive
//! extensions in `_name`, `null` placeholders in primitive arrays, choice
//! names, empty objects) lives here, so the generated code stays a flat
//! list of field names and the rules are written once.
//!
//! Reading goes through [`tree::Value`], which keeps every number's text,
//! and moves the strings out of it; writing appends straight to a byte
//! buffer.

pub mod parse;
pub mod tree;
pub mod write;

use crate::generated::Extension;

/// A primitive element: its value and the `id` and extensions that FHIR
/// JSON carries in the sibling `_name` property. Either part may be absent,
/// but not both.
#[derive(Debug, Clone, PartialEq)]
pub struct Primitive<T> {
    pub id: Option<String>,
    pub extension: Vec<Extension>,
    pub value: Option<T>,
}

impl<T> Default for Primitive<T> {
    fn default() -> Self {
        Self {
            id: None,
            extension: Vec::new(),
            value: None,
        }
    }
}

impl<T> Primitive<T> {
    pub fn new(value: T) -> Self {
        Self {
            id: None,
            extension: Vec::new(),
            value: Some(value),
        }
    }

    /// Whether the `_name` property is needed to carry this element.
    pub fn has_extension_part(&self) -> bool {
        self.id.is_some() || !self.extension.is_empty()
    }
}
