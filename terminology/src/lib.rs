//! CodeSystem, ValueSet and ConceptMap operations, the Japanese code
//! systems, and the mapping of local codes to standard codes.
//!
//! This crate depends only on `fhir-model`. The engine itself is the work of
//! the terminology issue; today the crate holds nothing.
