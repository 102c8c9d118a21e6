//! One module per FHIR `$operation`, each a thin adapter from HTTP to the
//! store or a library crate.

pub mod bulk_export;
pub mod everything;
pub mod local_codes;
pub mod meta;
pub mod reindex;
pub mod searchset_stream;
pub mod terminology;
pub mod validate;
