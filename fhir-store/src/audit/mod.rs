//! The storage side of the audit trail: the HMAC key and the hash chain
//! records are sealed onto ([`key`], [`chain`]), and [`WriteAudit`], the
//! one way a request's audit record reaches a write's transaction.
//!
//! The HTTP side (fhir-server's `audit`) knows the request — method, path,
//! caller, peer — and builds the AuditEvent; the store knows when a write
//! commits. A write asks [`active`] for the scope of the storage call
//! running on its thread and stores the record in its own transaction, so
//! a write and its record commit together and no storage signature
//! carries a request type.

pub mod chain;
pub mod key;

use std::cell::RefCell;
use std::sync::Arc;

use serde_json::Value;

/// What a write needs of the request it serves to record itself.
pub trait WriteAudit: Send + Sync {
    /// The AuditEvent of one write of this request: `rt/id` stored as
    /// `version` by `method` (`POST`, `PUT`, `DELETE`), `body` the stored
    /// resource.
    fn write_event(
        &self,
        rt: &str,
        id: &str,
        version: i32,
        method: &str,
        body: Option<&[u8]>,
    ) -> Value;

    /// The key the record's MAC is made with.
    fn key(&self) -> &key::AuditKey;

    /// Notes that a write's record was stored (so the request need not be
    /// recorded again).
    fn mark_recorded(&self);
}

thread_local! {
    static BLOCKING: RefCell<Option<Arc<dyn WriteAudit>>> = const { RefCell::new(None) };
}

/// Runs `f` on this (blocking) thread with `scope` as the audit context
/// [`active`] answers; the previous one is restored afterwards, even if
/// `f` panics.
pub fn on_this_thread<T>(scope: Option<Arc<dyn WriteAudit>>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Arc<dyn WriteAudit>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            BLOCKING.with(|b| *b.borrow_mut() = previous);
        }
    }
    let previous = BLOCKING.with(|b| b.replace(scope));
    let _restore = Restore(previous);
    f()
}

/// The audit context of the storage call running on this thread.
pub fn active() -> Option<Arc<dyn WriteAudit>> {
    BLOCKING.with(|b| b.borrow().clone())
}
