//! Rules on one FHIR data type wherever it occurs: attachments, canonical
//! URLs, Codings, Identifiers, primitive strings and the narrative's XHTML.

pub mod attachment;
pub mod canonical;
pub mod coding;
pub mod identifier;
pub mod strings;
pub mod xhtml;
