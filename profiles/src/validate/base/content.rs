//! The per-element content rules of the base walk, by the element's FHIR
//! type: primitive text ([`crate::validate::datatypes::strings`]), the narrative's XHTML
//! ([`crate::validate::datatypes::xhtml`]) and attachments ([`crate::validate::datatypes::attachment`]). One hook
//! for the walk in [`crate::validate::base::invariants`].

use fhir_model::json::tree::Value as Json;
use fhirpath::Node;

use crate::validate::datatypes::attachment;

use crate::validate::datatypes::strings;

use crate::validate::datatypes::xhtml;

use crate::validate::{Issue, Validator};

/// Checks `node` at `location`; `root` is `%rootResource` (the resource
/// internal narrative links may point into).
pub fn check(v: &Validator, root: &Json, node: Node<'_>, location: &str, issues: &mut Vec<Issue>) {
    match (node.ty, node.value) {
        ("xhtml", Some(Json::String(div))) => xhtml::check_div(div, root, location, issues),
        ("Attachment", Some(_)) => attachment::check(node, location, issues),
        (ty, Some(Json::String(s))) if ty.starts_with(|c: char| c.is_ascii_lowercase()) => {
            strings::check(s, ty, &v.policy, location, issues)
        }
        _ => {}
    }
}
