//! Rules on one element by its type (a Coding, an Identifier, a URL),
//! called by the base walk ([`super::invariants`]) at every element with
//! its FHIR type, its element paths and its location.

use fhirpath::Node;

use super::{Issue, Validator};

pub(crate) fn check(
    v: &Validator,
    node: Node<'_>,
    paths: &[&str],
    contained: bool,
    location: &str,
    issues: &mut Vec<Issue>,
) {
    super::canonical::check(node, paths, contained, location, issues);
    match node.ty {
        "Coding" => super::coding::check(v, node, location, issues),
        "Identifier" => super::identifier::check(node, location, issues),
        _ => {}
    }
}
