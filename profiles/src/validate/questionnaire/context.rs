//! What one QuestionnaireResponse is checked against, handed to the
//! response walk and the answer checks.

use fhir_model::json::tree::Value as Json;

use crate::validate::Validator;

/// What one response is checked against.
pub(crate) struct Ctx<'a> {
    pub v: &'a Validator,
    pub q: &'a Json,
    pub qr: &'a Json,
    /// Status neither `completed` nor `amended`: missing answers warn.
    pub not_completed: bool,
}
