//! Local lab and drug codes: the mapping writes apply lives with the store
//! ([`fhir_store::local_codes`]); the server adds the import of a
//! hospital's master ([`import`]), shared by `import-codes` and
//! `CodeSystem/$import-codes`.

pub use fhir_store::local_codes::*;

pub mod import;
