//! Audit: every request is recorded as an AuditEvent following the IHE
//! Basic Audit Log Patterns, stored durably on a hash chain, and
//! AuditEvents cannot be changed through the API.
//!
//! - [`event`] builds the AuditEvent of one request and its answer (who,
//!   what, which patient, when, outcome);
//! - [`middleware`] records it for every request and answers 500 when the
//!   record cannot be written (see there for the trade-off on writes);
//! - [`immutable`] refuses writes of AuditEvents (405, or 403 for a Bundle);
//! - [`chain`] seals records onto a SHA-256 hash chain and verifies it;
//!   [`crate::store::Store::append_audit`] appends under a lock;
//! - [`verify_cmd`] is `fhir-server audit verify`.
//!
//! Auditing is on with `serve --audit`. It is off by default because it
//! doubles the writes of a read-mostly server and fills system history and
//! `_type` searches with AuditEvents, which tools and test suites that
//! count resources do not expect; production deployments turn it on.

pub mod chain;
pub mod event;
pub mod immutable;
pub mod middleware;
pub mod verify_cmd;
