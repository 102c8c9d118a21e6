//! FHIR R4 (4.0.1) resources and data types, generated from the official
//! StructureDefinitions, with JSON that round-trips exactly.

pub mod error;
pub mod primitives;
mod resource_stub;
mod resource_type_stub;

pub use error::{IssueKind, ParseError, ParseIssue};
pub use resource_stub::Resource;
pub use resource_type_stub::ResourceType;
