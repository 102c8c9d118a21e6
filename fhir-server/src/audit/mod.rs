//! Audit: every request is recorded as an AuditEvent following the IHE
//! Basic Audit Log Patterns, stored in the transaction of the write it
//! records, sealed onto a keyed hash chain with signed head checkpoints
//! outside the database; AuditEvents cannot be changed through the API.
//!
//! - [`event`] builds the AuditEvent of one request and its answer (who,
//!   what, which patient, when, outcome);
//! - [`context`] carries a request's audit scope to the store, so each
//!   write stores its record in its own transaction;
//! - [`middleware`] records every request and binds the scope;
//! - [`recorder`] stores the records of requests that wrote nothing,
//!   many per transaction (a group commit each request waits for);
//! - [`immutable`] answers plain REST writes of AuditEvents with 405 (the
//!   store refuses every other way in);
//! - [`target`] is the one place a request path is decoded for auditing;
//! - [`key`], [`chain`], [`sealer`], [`checkpoint`]: the HMAC key, the
//!   chain, the sealer that chains records after commit, and the signed
//!   checkpoints that make truncation visible;
//! - [`verify_cmd`] is `fhir-server audit verify`.
//!
//! Auditing is on with `serve --audit`, which needs `--audit-key-file`:
//! the server refuses to start without a key, since a chain without one
//! proves nothing against a database administrator. It is off by default
//! because it doubles the writes of a read-mostly server and fills system
//! history and `_type` searches with AuditEvents, which tools and test
//! suites that count resources do not expect; production deployments turn
//! it on.

pub mod checkpoint;
pub mod context;
pub use fhir_store::audit::{chain, key};
pub mod event;
pub mod immutable;
pub mod middleware;
pub mod recorder;
pub mod sealer;
pub mod target;
pub mod verify_cmd;

/// `serve --audit` as the request path sees it: the key records are
/// signed with, the group commit that stores the records of requests
/// that wrote nothing, and the sealer to wake after a write's record.
#[derive(Debug, Clone)]
pub struct Trail {
    pub key: key::AuditKey,
    pub recorder: recorder::Recorder,
    pub nudge: sealer::Nudge,
}
