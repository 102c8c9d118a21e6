//! Rules on one element by its type (a Coding, an Identifier, a URL),
//! called by the base walk ([`crate::validate::base::invariants`]) at every element with
//! its FHIR type, its element paths and its location.

use fhirpath::Node;

use crate::validate::datatypes::canonical;
use crate::validate::datatypes::coding;
use crate::validate::datatypes::identifier;
use crate::validate::{Issue, Validator};

pub(crate) fn check(
    v: &Validator,
    node: Node<'_>,
    paths: &[&str],
    contained: bool,
    location: &str,
    issues: &mut Vec<Issue>,
) {
    canonical::check(node, paths, contained, location, issues);
    match node.ty {
        "Coding" => coding::check(v, node, location, issues),
        "Identifier" => identifier::check(node, location, issues),
        _ => {}
    }
}
