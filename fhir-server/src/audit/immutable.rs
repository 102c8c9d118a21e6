//! AuditEvents are read-only through the API while auditing is on: the
//! record of who did what must not be editable by those it records.
//!
//! `PUT`, `PATCH`, `DELETE` (plain or conditional) and `$meta-add` /
//! `$meta-delete` of an AuditEvent answer 405; so does `POST AuditEvent`:
//! the server writes its own records, and a client-sent AuditEvent could
//! not be told apart from them in searches (clients that must report
//! events keep their own log). A batch or transaction with any entry that
//! would write an AuditEvent is refused whole with 403, before any entry
//! runs. Reading and searching AuditEvents stays allowed (and is audited).

use actix_web::http::Method;
use serde_json::Value;

use crate::error::Error;
use crate::route::Route;
use fhir_model::ResourceType;

const AUDIT: &str = "AuditEvent";

/// Refuses a request that would change or add an AuditEvent. `bundle`:
/// the body of `POST [base]`, when there is one.
pub fn check(method: &Method, path: &str, bundle: Option<&Value>) -> Result<(), Error> {
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
        Route::Bundle => match bundle.and_then(writing_entry) {
            Some(i) => Err(Error::Forbidden(format!(
                "Bundle.entry[{i}] would write an AuditEvent; AuditEvents are written by the \
                 server only"
            ))),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// The index of the first entry whose request writes an AuditEvent.
fn writing_entry(bundle: &Value) -> Option<usize> {
    let entries = bundle.get("entry")?.as_array()?;
    entries.iter().position(|e| {
        let Some(req) = e.get("request") else {
            return false;
        };
        let method = req.get("method").and_then(Value::as_str).unwrap_or("");
        let url = req.get("url").and_then(Value::as_str).unwrap_or("");
        let Ok(method) = Method::from_bytes(method.as_bytes()) else {
            return false;
        };
        if method == Method::GET || method == Method::HEAD {
            return false;
        }
        let writes_audit = match crate::route::classify_url(&method, url) {
            Ok((c, _)) => {
                c.route.writes() && c.route.resource_type() == Some(ResourceType::AuditEvent)
            }
            Err(_) => false, // refused by the Bundle handler as malformed
        };
        writes_audit
            || e.get("resource")
                .and_then(|r| r.get("resourceType"))
                .and_then(Value::as_str)
                == Some(AUDIT)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
            assert!(check(&m, p, None).is_err(), "{m} {p}");
        }
        assert!(check(&Method::GET, "/fhir/AuditEvent/1", None).is_ok());
        assert!(check(&Method::GET, "/fhir/AuditEvent", None).is_ok());
        assert!(check(&Method::PUT, "/fhir/Patient/1", None).is_ok());
    }

    #[test]
    fn bundles_writing_audit_events_are_refused() {
        let b = |method: &str, url: &str| {
            json!({"resourceType": "Bundle", "type": "batch", "entry": [
                {"request": {"method": "GET", "url": "Patient/1"}},
                {"request": {"method": method, "url": url}}
            ]})
        };
        assert!(check(&Method::POST, "/fhir", Some(&b("DELETE", "AuditEvent/1"))).is_err());
        assert!(check(&Method::POST, "/fhir", Some(&b("PUT", "AuditEvent?_id=1"))).is_err());
        assert!(check(&Method::POST, "/fhir", Some(&b("GET", "AuditEvent/1"))).is_ok());
        assert!(check(&Method::POST, "/fhir", Some(&b("DELETE", "Patient/1"))).is_ok());
    }
}
