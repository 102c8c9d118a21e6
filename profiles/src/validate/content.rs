//! The per-element content rules of the base walk, by the element's FHIR
//! type: primitive text ([`super::strings`]), the narrative's XHTML
//! ([`super::xhtml`]) and attachments ([`super::attachment`]). One hook
//! for the walk in [`super::invariants`].

use fhir_model::json::tree::Value as Json;
use fhirpath::Node;

use super::{attachment, strings, xhtml, Issue, Validator};

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
