//! The FHIR R4 REST server: the layer that joins `fhir-model` and the
//! storage engine (`fhir-store`) to HTTP (actix-web).
//!
//! How the pieces fit:
//! - [`cli`] parses the command line and starts the server; `main.rs` only
//!   turns its result into an exit code.
//! - [`app`] is the route table: every URL the server answers, in one place,
//!   each routed to one module of [`interaction`].
//! - [`interaction`] has one module per FHIR interaction (read, create, …);
//!   each is a thin handler: check the input, call the [`store`], answer.
//! - [`store`] (the `fhir-store` crate) keeps every version of every
//!   resource in SQLite or PostgreSQL, chosen at run time from the
//!   database URL.
//! - [`error`] is the only place that turns failures into HTTP statuses and
//!   OperationOutcome bodies.
//!
//! **Invariant:** this is the only crate that knows actix-web, and it
//! writes no SQL (fhir-store knows SQL, not HTTP); no crate depends on it.

pub mod access_log;
pub mod app;
pub mod audit;
pub mod binary_raw;
pub mod cli;
pub mod content_coding;
pub mod database_args;
pub mod error;
pub mod fhirpath_cmd;
pub mod format;
pub mod forwarded;
pub mod health;
pub mod http_headers;
pub mod import_cmd;
pub mod import_codes_cmd;
pub mod interaction;
pub mod jp_master_cmd;
pub mod local_codes;
pub mod log_levels;
pub mod migrate_cmd;
pub mod node_id;
pub mod operation;
pub mod packages;
pub mod profile_enforcement;
pub mod read_replicas;
pub mod reference_fetch;
pub mod request_id;
pub mod request_target;
pub mod route;
pub mod security;
pub mod stored_profiles;
pub mod validate_cmd;
pub mod wire;

/// Storage and search live in `fhir-store`; the server reaches them under
/// their old names so its modules read `crate::store`/`crate::search`.
pub use fhir_store::{search, store};
