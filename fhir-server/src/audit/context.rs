//! The audit context of one request, carried to the store so that a write
//! and its AuditEvent commit in ONE database transaction.
//!
//! The audit middleware ([`super::middleware::bind`], inside the
//! authorization middleware, so the verified caller is known) makes a
//! [`Scope`] and runs the rest of the request inside it (a tokio task
//! local). Every storage call of a handler goes through
//! [`crate::interaction::run`], which carries the scope onto the blocking
//! thread ([`on_this_thread`]); every write the store makes there
//! ([`crate::store`]'s `write_once` and `change_meta`) asks [`active`] and
//! stores the record of that write in its own transaction. So one
//! mechanism covers REST create/update/patch/delete, conditional writes,
//! `$meta-add`/`-delete` and every batch or transaction entry, and no
//! handler signature carries it. Writes outside a request (`import`,
//! `--package` loading at start) have no scope and are not audited per
//! request.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix_web::http::Method;
use serde_json::Value;

use super::event::{self, Caller, Exchange};
use fhir_store::audit::key::AuditKey;
use fhir_store::audit::WriteAudit;

/// What the audit middleware knows of a request before it runs.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub method: Method,
    /// Percent-decoded ([`super::target::path`]).
    pub path: String,
    pub query: String,
    pub peer: Option<String>,
    pub host: String,
    /// Set once a write of this request stored its record (so the
    /// middleware need not record the answer again).
    pub recorded: Arc<AtomicBool>,
}

impl RequestInfo {
    pub fn write_recorded(&self) -> bool {
        self.recorded.load(Ordering::Acquire)
    }

    /// `POST [base]`: a batch or transaction, whose entries' writes are
    /// recorded one by one and the Bundle by its own record.
    pub fn is_bundle(&self) -> bool {
        self.method == Method::POST && self.path.trim_end_matches('/') == "/fhir"
    }
}

/// The audit context of one request.
#[derive(Debug)]
pub struct Scope {
    pub info: RequestInfo,
    pub caller: Caller,
    pub key: AuditKey,
}

impl WriteAudit for Scope {
    /// The AuditEvent of one write of this request: `rt/id` stored as
    /// `version` by `method` (`POST`, `PUT`, `DELETE`), `body` the stored
    /// resource. Entries of a batch or transaction are recorded as the
    /// create, update or delete they are; the Bundle itself gets its own
    /// record from the middleware.
    fn write_event(
        &self,
        rt: &str,
        id: &str,
        version: i32,
        method: &str,
        body: Option<&[u8]>,
    ) -> Value {
        let is_bundle = self.info.is_bundle();
        let (method, path) = if is_bundle {
            let m = Method::from_bytes(method.as_bytes()).unwrap_or(Method::PUT);
            let path = if m == Method::POST {
                format!("/fhir/{rt}")
            } else {
                format!("/fhir/{rt}/{id}")
            };
            (m, path)
        } else {
            (self.info.method.clone(), self.info.path.clone())
        };
        let answer: Option<Value> = body.and_then(|b| serde_json::from_slice(b).ok());
        let location = format!("/fhir/{rt}/{id}/_history/{version}");
        let recorded = crate::store::now_instant();
        let status = if method == Method::POST && version == 1 {
            201
        } else {
            200
        };
        event::build(
            &uuid::Uuid::new_v4().to_string(),
            &Exchange {
                method: &method,
                path: &path,
                query: if is_bundle { "" } else { &self.info.query },
                status,
                caller: &self.caller,
                peer: self.info.peer.clone(),
                host: &self.info.host,
                answer: answer.as_ref(),
                location: Some(&location),
                recorded: &recorded,
            },
        )
    }

    /// Notes that a write's record was stored.
    fn key(&self) -> &AuditKey {
        &self.key
    }

    fn mark_recorded(&self) {
        self.info.recorded.store(true, Ordering::Release);
    }
}

tokio::task_local! {
    static REQUEST: Arc<Scope>;
}

/// Runs `f` (the rest of a request) with `scope` as its audit context.
pub async fn within<F: Future>(scope: Arc<Scope>, f: F) -> F::Output {
    REQUEST.scope(scope, f).await
}

/// The audit context of the request being served on this task, if any.
pub fn current() -> Option<Arc<Scope>> {
    REQUEST.try_with(Arc::clone).ok()
}

/// Runs `f` on this (blocking) thread with `scope` as the audit context
/// the store's writes record into ([`fhir_store::audit::active`]).
pub fn on_this_thread<T>(scope: Option<Arc<Scope>>, f: impl FnOnce() -> T) -> T {
    fhir_store::audit::on_this_thread(scope.map(|s| s as Arc<dyn WriteAudit>), f)
}

/// Whether the storage call running on this thread serves an audited request.
pub fn active() -> bool {
    fhir_store::audit::active().is_some()
}
