//! FHIR package loading, snapshot generation and validation to
//! OperationOutcome issues.
//!
//! This crate depends only on `fhir-model`; it reaches terminology through a
//! small trait of its own so each can be tested alone. The engine itself is
//! the work of the profile-engine issue; today the crate holds nothing.
