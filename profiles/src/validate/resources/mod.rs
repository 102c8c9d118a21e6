//! Rules particular to one resource type (and the few that look at a
//! whole resource at once), called once per resource by the base walk
//! ([`crate::validate::base::invariants::walk_resource`]) with the resource's location.

pub mod capability_statement;
pub mod code_system;
pub mod measure;
pub mod search_parameter;
pub mod value_set;

use fhir_model::json::tree::Value as Json;

use crate::validate::base::element_ids;
use crate::validate::{Issue, Validator};

pub(crate) fn check(
    v: &Validator,
    resource: &Json,
    ty: &str,
    location: &str,
    issues: &mut Vec<Issue>,
) {
    element_ids::check(resource, location, issues);
    match ty {
        "Measure" => measure::check_measure(v, resource, location, issues),
        "MeasureReport" => measure::check_report(v, resource, location, issues),
        "ValueSet" => value_set::check(v, resource, location, issues),
        "CodeSystem" => code_system::check(resource, location, issues),
        "SearchParameter" => search_parameter::check(v, resource, location, issues),
        "CapabilityStatement" => capability_statement::check(v, resource, location, issues),
        _ => {}
    }
}
