//! FHIR R4 storage and search: the diesel schema and migrations for SQLite
//! and PostgreSQL, the write paths (versions, history, conditional
//! operations, index rows), the search engine (parameters, extraction,
//! SQL), the keyed audit chain and local-code mapping.
//!
//! **fhir-store knows SQL, not HTTP; fhir-server knows HTTP, not SQL.**
//! Nothing here depends on actix (a test of `fhir-server` checks the
//! dependency tree), so the storage engine can be used, fuzzed and
//! benchmarked without a web server, and no request type leaks into a
//! storage signature. What a request contributes to a write — its audit
//! record — arrives through [`audit::WriteAudit`].

pub mod audit;
pub mod local_codes;
pub mod search;
pub mod store;
