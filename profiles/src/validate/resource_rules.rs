//! Rules particular to one resource type (and the few that look at a
//! whole resource at once), called once per resource by the base walk
//! ([`super::invariants::walk_resource`]) with the resource's location.

use fhir_model::json::tree::Value as Json;

use super::{Issue, Validator};

pub(crate) fn check(
    v: &Validator,
    resource: &Json,
    ty: &str,
    location: &str,
    issues: &mut Vec<Issue>,
) {
    super::element_ids::check(resource, location, issues);
    match ty {
        "Measure" => super::measure::check_measure(v, resource, location, issues),
        "MeasureReport" => super::measure::check_report(v, resource, location, issues),
        "ValueSet" => super::value_set::check(v, resource, location, issues),
        "CodeSystem" => super::code_system::check(resource, location, issues),
        "SearchParameter" => super::search_parameter::check(v, resource, location, issues),
        "CapabilityStatement" => super::capability_statement::check(v, resource, location, issues),
        _ => {}
    }
}
