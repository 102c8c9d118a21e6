//! The FHIR R4 REST server: the layer that joins `fhir-model` to HTTP
//! (actix-web) and to storage (diesel).
//!
//! How the pieces fit:
//! - [`cli`] parses the command line and starts the server; `main.rs` only
//!   turns its result into an exit code.
//! - [`app`] is the route table: every URL the server answers, in one place,
//!   each routed to one module of [`interaction`].
//! - [`interaction`] has one module per FHIR interaction (read, create, …);
//!   each is a thin handler: check the input, call the [`store`], answer.
//! - [`store`] keeps every version of every resource in SQLite or
//!   PostgreSQL, chosen at run time from the database URL.
//! - [`error`] is the only place that turns failures into HTTP statuses and
//!   OperationOutcome bodies.
//!
//! **Invariant:** this is the only crate that knows actix-web and diesel; no
//! crate depends on it.

pub mod app;
pub mod audit;
pub mod binary_raw;
pub mod cli;
pub mod content_coding;
pub mod error;
pub mod fhirpath_cmd;
pub mod format;
pub mod forwarded;
pub mod http_headers;
pub mod import_cmd;
pub mod import_codes_cmd;
pub mod interaction;
pub mod jp_master_cmd;
pub mod local_codes;
pub mod log_levels;
pub mod operation;
pub mod packages;
pub mod profile_enforcement;
pub mod reference_fetch;
pub mod request_target;
pub mod route;
pub mod search;
pub mod security;
pub mod store;
pub mod stored_profiles;
pub mod validate_cmd;
