//! FHIR R4 (4.0.1) resources and data types, generated from the official
//! StructureDefinitions, with JSON that round-trips exactly.
//!
//! # How the pieces fit
//! - [`generated`] holds one Rust type per resource, data type and backbone
//!   element, and one enum per choice element (`value[x]`). It is written
//!   by `fhir-codegen` and never edited by hand.
//! - [`json`] holds the rules of FHIR JSON that the generated code calls:
//!   primitive extensions (`_birthDate`), `null` placeholders, choice
//!   names, and error paths.
//! - [`primitives`] holds the primitive value types, each checked against
//!   its format when built.
//! - [`xhtml`] checks the narrative `div` as XHTML (txt-1), for JSON and
//!   XML alike.
//! - [`meta`] describes every type for FHIRPath: base type, elements and
//!   their type codes, from a generated table.
//! - [`Resource`] is the enum over all resources; [`ResourceType`] names
//!   them.
//!
//! **Invariant:** this crate does no IO.

pub mod error;
#[rustfmt::skip]
#[allow(clippy::all, unused_imports, unused_variables, missing_docs)]
pub mod generated;
pub mod json;
pub mod meta;
pub mod primitives;
mod resource;
pub mod subset;
pub mod xhtml;
pub mod xml;

pub use error::{IssueKind, ParseError, ParseIssue};
pub use json::Primitive;
pub use resource::{Resource, ResourceType};
