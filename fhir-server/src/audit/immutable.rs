//! AuditEvents are read-only through the API while auditing is on (and in
//! any database that holds an audit trail): the record of who did what
//! must not be editable by those it records.
//!
//! The rule is enforced where every write passes, in the store
//! (`store/audit.rs`, `refuse_audit_write`): a REST write, PATCH,
//! `$meta-add`/`-delete`, conditional delete, batch or transaction entry
//! or import that would create, change or delete an AuditEvent fails
//! there, whatever route or spelling asked for it, and a transaction
//! holding such an entry is rolled back whole. The check here only
//! answers the plain REST forms early, with 405 and without reading any
//! body: `PUT`, `PATCH`, `DELETE` (plain or conditional), `POST
//! AuditEvent` (a client-sent AuditEvent could not be told apart from the
//! server's records) and `$meta-add`/`$meta-delete`. Reading and
//! searching AuditEvents stays allowed (and is audited).

use actix_web::http::Method;

use crate::error::Error;
use crate::route::Route;
use fhir_model::ResourceType;

/// Refuses a request whose (decoded) path would change or add an
/// AuditEvent.
pub fn check(method: &Method, path: &str) -> Result<(), Error> {
    let refuse = |allow: &'static str| {
        Err(Error::MethodNotAllowed {
            method: format!("{method} (AuditEvents are written by the server only)"),
            allow,
        })
    };
    let route = match crate::route::classify_path(method, path) {
        Ok(c) => c.route,
        Err(_) => return Ok(()), // refused as a malformed path anyway
    };
    let audit = route.resource_type() == Some(ResourceType::AuditEvent);
    match route {
        Route::Create(_) | Route::ConditionalUpdate(_) | Route::ConditionalDelete(_) if audit => {
            refuse("GET")
        }
        Route::Update(..) | Route::Patch(..) | Route::Delete(..) if audit => refuse("GET, HEAD"),
        Route::InstanceOperation(..) | Route::VersionOperation(..) if audit && route.writes() => {
            refuse("GET")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_of_audit_events_are_refused() {
        for (m, p) in [
            (Method::PUT, "/fhir/AuditEvent/1"),
            (Method::PATCH, "/fhir/AuditEvent/1"),
            (Method::DELETE, "/fhir/AuditEvent/1"),
            (Method::DELETE, "/fhir/AuditEvent"),
            (Method::POST, "/fhir/AuditEvent"),
            (Method::POST, "/fhir/AuditEvent/1/$meta-delete"),
        ] {
            assert!(check(&m, p).is_err(), "{m} {p}");
        }
        assert!(check(&Method::GET, "/fhir/AuditEvent/1").is_ok());
        assert!(check(&Method::GET, "/fhir/AuditEvent").is_ok());
        assert!(check(&Method::PUT, "/fhir/Patient/1").is_ok());
    }
}
