//! Questionnaires ([`definition`]: rules the base invariants do not
//! express) and QuestionnaireResponses against their Questionnaire
//! ([`response`], with the answers in [`answers`] and
//! [`answer_value_set`], and item enabling in [`enable_when`]).

pub mod answer_value_set;
pub mod answers;
pub mod context;
pub mod definition;
pub mod enable_when;
pub mod items;
pub mod response;

use fhir_model::json::tree::Value as Json;

use crate::json::resource_type;
use crate::validate::{Issue, Validator};

/// Runs the Questionnaire or QuestionnaireResponse rules on one resource
/// found at `location` (the root, a contained or a Bundle entry resource).
pub fn check(v: &Validator, resource: &Json, location: &str, issues: &mut Vec<Issue>) {
    match resource_type(resource) {
        Some("Questionnaire") => definition::check(resource, location, issues),
        Some("QuestionnaireResponse") => response::check(v, resource, location, issues),
        _ => {}
    }
}
